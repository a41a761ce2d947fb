package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

var unitOrLeaderRE = regexp.MustCompile(`^[a-z][a-z0-9-]*/([0-9]+|leader)$`)

type actionDoc struct {
	ID      int            `json:"id"`
	Unit    string         `json:"unit"`
	Name    string         `json:"name"`
	Status  string         `json:"status"`
	Message string         `json:"message"`
	Results map[string]any `json:"results"`
	Log     []struct {
		Timestamp time.Time `json:"timestamp"`
		Message   string    `json:"message"`
	} `json:"log"`
	Enqueued  time.Time `json:"enqueued"`
	Started   time.Time `json:"started"`
	Completed time.Time `json:"completed"`
}

func setDotted(m map[string]any, key string, v any) {
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		sub, ok := m[p].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[p] = sub
		}
		m = sub
	}
	m[parts[len(parts)-1]] = v
}

func cmdRun(e *Env, args []string) error {
	var model string
	fs := flags("run", e, &model)
	format := fs.String("format", "plain", "")
	wait := fs.Duration("wait", 0, "")
	background := fs.Bool("background", false, "")
	stringArgs := fs.Bool("string-args", false, "")
	utc := fs.Bool("utc", false, "")
	_ = fs.Bool("quiet", false, "")
	var paramsFile string
	fs.StringVar(&paramsFile, "params", "", "")
	if err := parse(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	var targets []string
	for len(rest) > 0 && unitOrLeaderRE.MatchString(rest[0]) {
		targets = append(targets, rest[0])
		rest = rest[1:]
	}
	if len(targets) == 0 {
		if len(rest) > 0 {
			return usagef("invalid unit or action name %q", rest[0])
		}
		return usagef("no unit specified")
	}
	if len(rest) == 0 {
		return usagef("no action specified")
	}
	action := rest[0]
	params := map[string]any{}
	if paramsFile != "" {
		b, err := os.ReadFile(paramsFile)
		if err != nil {
			return err
		}
		if err := yaml.Unmarshal(b, &params); err != nil {
			return fmt.Errorf("parsing %s: %w", paramsFile, err)
		}
	}
	for _, kv := range rest[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return usagef("argument %q must be of the form key...=value", kv)
		}
		var val any = v
		if !*stringArgs {
			var parsed any
			if err := yaml.Unmarshal([]byte(v), &parsed); err == nil && parsed != nil {
				val = parsed
			}
		}
		setDotted(params, k, val)
	}
	c := newClient(e)
	var queued []struct {
		Unit string `json:"unit"`
		ID   int    `json:"id"`
	}
	if err := c.call("run", model, map[string]any{"targets": targets, "action": action, "params": params}, &queued); err != nil {
		return err
	}
	if len(queued) == 1 {
		fmt.Fprintf(e.Stderr, "Running operation %d with 1 task\n", queued[0].ID)
	} else {
		fmt.Fprintf(e.Stderr, "Running operation %d with %d tasks\n", queued[0].ID, len(queued))
	}
	for _, q := range queued {
		fmt.Fprintf(e.Stderr, "  - task %d on unit-%s\n", q.ID, strings.ReplaceAll(q.Unit, "/", "-"))
	}
	fmt.Fprintln(e.Stderr)
	if *background {
		for _, q := range queued {
			fmt.Fprintf(e.Stderr, "Check task status with 'juju show-task %d'\n", q.ID)
		}
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *wait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *wait)
		defer cancel()
	}
	results := map[string]any{}
	failed := false
	var plain []string
	for _, q := range queued {
		fmt.Fprintf(e.Stderr, "Waiting for task %d...\n", q.ID)
		var a actionDoc
		for {
			if err := c.call("action", model, map[string]any{"name": strconv.Itoa(q.ID)}, &a); err != nil {
				return err
			}
			if a.Status == "completed" || a.Status == "failed" || a.Status == "cancelled" || a.Status == "error" {
				break
			}
			if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
				return fmt.Errorf("timed out waiting for results from: unit %s", q.Unit)
			}
		}
		if a.Status != "completed" {
			failed = true
		}
		tf := func(t time.Time) string {
			if *utc {
				return t.UTC().String()
			}
			return t.Local().String()
		}
		doc := map[string]any{"id": strconv.Itoa(a.ID), "status": a.Status, "unit": a.Unit,
			"results": a.Results,
			"timing":  map[string]any{"enqueued": tf(a.Enqueued), "started": tf(a.Started), "completed": tf(a.Completed)}}
		if a.Message != "" {
			doc["message"] = a.Message
		}
		if len(a.Log) > 0 {
			var lines []string
			for _, l := range a.Log {
				lines = append(lines, fmt.Sprintf("%s %s", tf(l.Timestamp), l.Message))
			}
			doc["log"] = lines
		}
		results[a.Unit] = doc
		// plain output
		var sb strings.Builder
		for _, l := range a.Log {
			fmt.Fprintf(e.Stderr, "%s %s\n", tf(l.Timestamp), l.Message)
		}
		shown := map[string]any{}
		for k, v := range a.Results {
			if k != "return-code" && k != "stdout" && k != "stderr" && k != "stdout-encoding" && k != "stderr-encoding" {
				shown[k] = v
			}
		}
		if len(shown) > 0 {
			b, _ := yamlMarshal(shown)
			sb.Write(b)
		}
		if s, ok := a.Results["stdout"].(string); ok && s != "" {
			sb.WriteString(s)
		}
		if s, ok := a.Results["stderr"].(string); ok && s != "" {
			fmt.Fprint(e.Stderr, s)
		}
		if a.Status != "completed" {
			msg := a.Message
			fmt.Fprintf(e.Stderr, "Action id %d failed: %s\n", a.ID, msg)
		}
		plain = append(plain, sb.String())
	}
	switch *format {
	case "json":
		if err := jsonOut(e.Stdout, results); err != nil {
			return err
		}
	case "yaml":
		b, err := yamlMarshal(results)
		if err != nil {
			return err
		}
		e.Stdout.Write(b)
	default:
		for i, p := range plain {
			if len(plain) > 1 {
				fmt.Fprintf(e.Stdout, "%s:\n", queued[i].Unit)
			}
			fmt.Fprint(e.Stdout, p)
		}
	}
	if failed {
		return exitCode(1)
	}
	return nil
}

// cmdShowTask is `juju show-task ID`: the task's result as YAML (or JSON).
func cmdShowTask(e *Env, args []string) error {
	var model string
	fs := flags("show-task", e, &model)
	format := fs.String("format", "yaml", "")
	_ = fs.Duration("wait", 0, "")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("no task ID specified")
	}
	var a actionDoc
	if err := newClient(e).call("action", model, map[string]any{"name": fs.Arg(0)}, &a); err != nil {
		return err
	}
	doc := map[string]any{"id": strconv.Itoa(a.ID), "status": a.Status, "unit": a.Unit, "results": a.Results,
		"timing": map[string]any{"enqueued": a.Enqueued.String(), "started": a.Started.String(), "completed": a.Completed.String()}}
	if a.Message != "" {
		doc["message"] = a.Message
	}
	return printFormatted(e, *format, doc)
}
