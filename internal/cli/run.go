package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/jujulet/postgresql-k8s/internal/controller/api"
	"github.com/jujulet/postgresql-k8s/internal/controller/client"
)

var unitOrLeaderRE = regexp.MustCompile(`^[a-z][a-z0-9-]*/([0-9]+|leader)$`)

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

func cmdRun(ctx context.Context, e *Env, args []string) error {
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
	p, err := runParams(fs.Args(), paramsFile, *stringArgs)
	if err != nil {
		return err
	}
	c := newClient(e)
	queued, err := c.Run(ctx, model, p)
	if err != nil {
		return err
	}
	if len(queued) == 0 {
		return errors.New("the controller queued no task")
	}
	printQueued(e, queued)
	if *background {
		for _, q := range queued {
			fmt.Fprintf(e.Stderr, "Check task status with 'juju show-task %d'\n", q.ID)
		}
		return nil
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	if *wait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *wait)
		defer cancel()
	}
	tf := localTime
	if *utc {
		tf = utcTime
	}
	results := map[string]any{}
	failed := false
	var plain []string
	for _, q := range queued {
		fmt.Fprintf(e.Stderr, "Waiting for task %d...\n", q.ID)
		a, err := waitTask(ctx, c, q)
		if err != nil {
			return err
		}
		failed = failed || a.Status != "completed"
		results[a.Unit] = taskDoc(a, tf)
		plain = append(plain, plainResult(e, a, tf))
	}
	if err := printRunResults(e, *format, results, queued, plain); err != nil {
		return err
	}
	if failed {
		return exitCode(1)
	}
	return nil
}

// runParams parses `juju run`'s arguments after the flags: targets, the action, key=value
// params (YAML values unless stringArgs), with params from paramsFile under them.
func runParams(rest []string, paramsFile string, stringArgs bool) (api.RunParams, error) {
	var p api.RunParams
	for len(rest) > 0 && unitOrLeaderRE.MatchString(rest[0]) {
		p.Targets = append(p.Targets, rest[0])
		rest = rest[1:]
	}
	if len(p.Targets) == 0 {
		if len(rest) > 0 {
			return p, usagef("invalid unit or action name %q", rest[0])
		}
		return p, usagef("no unit specified")
	}
	if len(rest) == 0 {
		return p, usagef("no action specified")
	}
	p.Action = rest[0]
	p.Params = map[string]any{}
	if paramsFile != "" {
		b, err := os.ReadFile(paramsFile)
		if err != nil {
			return p, err
		}
		if err := yaml.Unmarshal(b, &p.Params); err != nil {
			return p, fmt.Errorf("parsing %s: %w", paramsFile, err)
		}
	}
	for _, kv := range rest[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return p, usagef("argument %q must be of the form key...=value", kv)
		}
		var val any = v
		if !stringArgs {
			var parsed any
			if err := yaml.Unmarshal([]byte(v), &parsed); err == nil && parsed != nil {
				val = parsed
			}
		}
		setDotted(p.Params, k, val)
	}
	return p, nil
}

func printQueued(e *Env, queued []api.Task) {
	if len(queued) == 1 {
		fmt.Fprintf(e.Stderr, "Running operation %d with 1 task\n", queued[0].ID)
	} else {
		fmt.Fprintf(e.Stderr, "Running operation %d with %d tasks\n", queued[0].ID, len(queued))
	}
	for _, q := range queued {
		fmt.Fprintf(e.Stderr, "  - task %d on unit-%s\n", q.ID, strings.ReplaceAll(q.Unit, "/", "-"))
	}
	fmt.Fprintln(e.Stderr)
}

// waitTask polls a task until it has finished, or ctx ends.
func waitTask(ctx context.Context, c *client.Client, q api.Task) (api.Action, error) {
	for {
		a, err := c.Action(ctx, q.ID)
		if err != nil {
			if ctx.Err() != nil {
				return a, fmt.Errorf("timed out waiting for results from: unit %s", q.Unit)
			}
			return a, err
		}
		switch a.Status {
		case "completed", "failed", "cancelled", "error":
			return a, nil
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return a, fmt.Errorf("timed out waiting for results from: unit %s", q.Unit)
		}
	}
}

func localTime(t time.Time) string { return t.Local().String() }
func utcTime(t time.Time) string   { return t.UTC().String() }

// taskDoc is a finished task as `juju run --format yaml|json` shows it.
func taskDoc(a api.Action, tf func(time.Time) string) map[string]any {
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
	return doc
}

// plainResult writes a finished task's log, stderr and failure to e.Stderr and returns
// what `juju run` prints on stdout for it: its results, then its stdout.
func plainResult(e *Env, a api.Action, tf func(time.Time) string) string {
	var sb strings.Builder
	for _, l := range a.Log {
		fmt.Fprintf(e.Stderr, "%s %s\n", tf(l.Timestamp), l.Message)
	}
	shown := map[string]any{}
	for k, v := range a.Results {
		switch k {
		case "return-code", "stdout", "stderr", "stdout-encoding", "stderr-encoding":
		default:
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
		fmt.Fprintf(e.Stderr, "Action id %d failed: %s\n", a.ID, a.Message)
	}
	return sb.String()
}

func printRunResults(e *Env, format string, results map[string]any, queued []api.Task, plain []string) error {
	switch format {
	case "json":
		return jsonOut(e.Stdout, results)
	case "yaml":
		b, err := yamlMarshal(results)
		if err != nil {
			return err
		}
		_, err = e.Stdout.Write(b)
		return err
	}
	for i, p := range plain {
		if len(plain) > 1 {
			fmt.Fprintf(e.Stdout, "%s:\n", queued[i].Unit)
		}
		fmt.Fprint(e.Stdout, p)
	}
	return nil
}

// cmdShowTask is `juju show-task ID`: the task's result as YAML (or JSON).
func cmdShowTask(ctx context.Context, e *Env, args []string) error {
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
	id, err := strconv.Atoi(fs.Arg(0))
	if err != nil || id <= 0 {
		return fmt.Errorf("task ID %q not valid", fs.Arg(0))
	}
	a, err := newClient(e).Action(ctx, id)
	if err != nil {
		return err
	}
	doc := map[string]any{"id": strconv.Itoa(a.ID), "status": a.Status, "unit": a.Unit, "results": a.Results,
		"timing": map[string]any{"enqueued": a.Enqueued.String(), "started": a.Started.String(), "completed": a.Completed.String()}}
	if a.Message != "" {
		doc["message"] = a.Message
	}
	return printFormatted(e, *format, doc)
}
