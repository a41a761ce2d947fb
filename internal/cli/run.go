package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/juju/charm/v12"
	"gopkg.in/yaml.v2"

	"github.com/jujulet/postgresql-k8s/internal/controller/api"
	"github.com/jujulet/postgresql-k8s/internal/controller/client"
)

// unitOrLeaderRE is Juju's unit-or-leader target of `juju run`; group 1 is the application.
var unitOrLeaderRE = regexp.MustCompile(`^([a-z][a-z0-9]*(?:-[a-z0-9]*[a-z][a-z0-9]*)*)/([0-9]+|leader)$`)

// defaultRunWait is how long `juju run` waits for its tasks when --wait is not given.
const defaultRunWait = 60 * time.Second

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

// runFlags are `juju run`'s options.
type runFlags struct {
	model, format, paramsFile string
	wait                      time.Duration
	background, stringArgs    bool
	utc, quiet                bool
}

func cmdRun(ctx context.Context, e *Env, args []string) error {
	var f runFlags
	fs := flags("run", e, &f.model)
	fs.StringVar(&f.format, "format", "plain", "")
	fs.StringVar(&f.format, "o", "plain", "")
	fs.DurationVar(&f.wait, "wait", 0, "")
	fs.BoolVar(&f.background, "background", false, "")
	fs.BoolVar(&f.stringArgs, "string-args", false, "")
	fs.BoolVar(&f.utc, "utc", false, "")
	fs.BoolVar(&f.quiet, "quiet", false, "")
	_ = fs.Bool("color", false, "")
	_ = fs.Bool("no-color", false, "")
	fs.StringVar(&f.paramsFile, "params", "", "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	switch f.format {
	case "plain", "yaml", "json":
	default:
		return usagef("invalid value %q for option --format: unknown format %q", f.format, f.format)
	}
	if f.background && f.wait > 0 {
		return usagef("cannot specify both --wait and --background")
	}
	if !f.background && f.wait == 0 {
		f.wait = defaultRunWait
	}
	p, err := runParams(fs.Args(), f.paramsFile, f.stringArgs)
	if err != nil {
		return err
	}
	c := newClient(e)
	queued, err := c.Run(ctx, f.model, p)
	if err != nil {
		return err
	}
	if len(queued) == 0 {
		return errors.New("the controller queued no task")
	}
	infof := func(format string, a ...any) {
		if !f.quiet {
			s := fmt.Sprintf(format, a...)
			if !strings.HasSuffix(s, "\n") {
				s += "\n"
			}
			fmt.Fprint(e.Stderr, s)
		}
	}
	op := queued[0].Operation
	if f.background {
		return printScheduled(e, infof, op, queued)
	}
	plural := ""
	if len(queued) > 1 {
		plural = "s"
	}
	infof("Running operation %d with %d task%s", op, len(queued), plural)
	for _, q := range queued {
		infof("  - task %d on %s", q.ID, unitTag(q.Unit))
	}
	infof("")
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	var cancel context.CancelFunc
	if f.wait < 0 {
		ctx, cancel = context.WithCancel(ctx)
		cancel()
	} else {
		ctx, cancel = context.WithTimeout(ctx, f.wait)
		defer cancel()
	}
	tf := localTime
	if f.utc {
		tf = utcTime
	}
	info := map[string]any{}
	failed := map[int]int{}
	for i, q := range queued {
		infof("Waiting for task %d...\n", q.ID)
		var onLog func(api.ActionLog)
		if i == 0 && len(queued) == 1 {
			onLog = func(l api.ActionLog) { infof("%s %s", tf(l.Timestamp).Format("15:04:05"), l.Message) }
		}
		a, logged, err := waitTask(ctx, c, q, onLog)
		if logged {
			infof("\n")
		}
		if errors.Is(err, errWaitTimeout) {
			return fmt.Errorf("timed out waiting for results from: %s", timedOut(queued[i:]))
		}
		if err != nil {
			return err
		}
		doc, code := taskDoc(a, tf)
		info[a.Unit] = doc
		if code >= 1 {
			failed[a.ID] = code
		}
	}
	if err := printRunResults(e.Stdout, f.format, info); err != nil {
		return err
	}
	return taskFailures(failed)
}

// printScheduled is `juju run --background`'s report of the operation it queued.
func printScheduled(e *Env, infof func(string, ...any), op int, queued []api.Task) error {
	if len(queued) == 1 {
		infof("Scheduled operation %d with task %d", op, queued[0].ID)
		infof("Check operation status with 'juju show-operation %d'", op)
		infof("Check task status with 'juju show-task %d'", queued[0].ID)
		return nil
	}
	infof("Scheduled operation %d with %d tasks", op, len(queued))
	tasks := map[string]any{}
	for _, q := range queued {
		tasks[q.Unit] = map[string]string{"id": strconv.Itoa(q.ID)}
	}
	if err := yamlOut(e.Stdout, tasks); err != nil {
		return err
	}
	infof("Check operation status with 'juju show-operation %d'", op)
	infof("Check task status with 'juju show-task <id>'")
	return nil
}

// taskFailures is `juju run`'s error for the tasks whose return code is 1 or more (by
// task id); a task that failed through action-fail but exited 0 is not one of them.
func taskFailures(failed map[int]int) error {
	if len(failed) == 0 {
		return nil
	}
	plural := ""
	if len(failed) > 1 {
		plural = "s"
	}
	var list []string
	for id, code := range failed {
		list = append(list, fmt.Sprintf(" - id %q with return code %d", strconv.Itoa(id), code))
	}
	sort.Strings(list)
	//lint:ignore ST1005 Juju's text, final newline included
	return fmt.Errorf("the following task%s failed:\n%s\n\nuse 'juju show-task' to inspect the failure%s\n",
		plural, strings.Join(list, "\n"), plural)
}

func unitTag(unit string) string { return "unit-" + strings.ReplaceAll(unit, "/", "-") }

// timedOut names the units whose tasks did not finish, as Juju does.
func timedOut(tasks []api.Task) string {
	var units []string
	for _, t := range tasks {
		units = append(units, "unit "+t.Unit)
	}
	sort.Strings(units)
	return strings.Join(units, ", ")
}

// actionKeyRE is the rule for action names and param keys (charm's action name rule).
var actionKeyRE = charm.GetActionNameRule()

// runParams parses `juju run`'s arguments after the flags as Juju does: targets (all of one
// application), the action, key.key=value params (values parsed as YAML by yaml.v2 unless
// stringArgs), with the params of paramsFile under them.
func runParams(rest []string, paramsFile string, stringArgs bool) (api.RunParams, error) {
	var p api.RunParams
	apps := map[string]bool{}
	for _, arg := range rest {
		if m := unitOrLeaderRE.FindStringSubmatch(arg); m != nil {
			apps[m[1]] = true
			p.Targets = append(p.Targets, arg)
		} else if actionKeyRE.MatchString(arg) {
			p.Action = arg
			break
		} else {
			return p, usagef("invalid unit or action name %q", arg)
		}
	}
	if len(p.Targets) == 0 {
		return p, usagef("no unit specified")
	}
	if p.Action == "" {
		return p, usagef("no action specified")
	}
	if len(apps) > 1 {
		return p, usagef("all units must be of the same application")
	}
	type kv struct {
		keys  []string
		value string
	}
	var kvs []kv
	for _, arg := range rest[len(p.Targets)+1:] {
		k, v, ok := strings.Cut(arg, "=")
		if !ok {
			return p, usagef("argument %q must be of the form key.key.key...=value", arg)
		}
		keys := strings.Split(k, ".")
		for _, key := range keys {
			if !actionKeyRE.MatchString(key) {
				return p, usagef("key %q must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric and hyphens", key)
			}
		}
		kvs = append(kvs, kv{keys, v})
	}
	p.Params = map[string]any{}
	if paramsFile != "" {
		b, err := os.ReadFile(paramsFile)
		if err != nil {
			return p, err
		}
		var raw any
		if err := yaml.Unmarshal(b, &raw); err != nil {
			return p, err
		}
		conformed, err := conformYAML(raw)
		if err != nil {
			return p, err
		}
		if conformed != nil {
			m, ok := conformed.(map[string]any)
			if !ok {
				return p, errors.New("params must contain a YAML map with string keys")
			}
			p.Params = m
		}
	}
	for _, a := range kvs {
		var val any = a.value
		if !stringArgs {
			if err := yaml.Unmarshal([]byte(a.value), &val); err != nil {
				return p, err
			}
		}
		conformed, err := conformYAML(val)
		if err != nil {
			return p, err
		}
		setDotted(p.Params, strings.Join(a.keys, "."), conformed)
	}
	return p, nil
}

// conformYAML turns yaml.v2's map[interface{}]interface{} into map[string]any, all the
// way down, so that params travel as JSON.
func conformYAML(v any) (any, error) {
	switch x := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, val := range x {
			ks, ok := k.(string)
			if !ok {
				return nil, errors.New("map keyed with non-string value")
			}
			c, err := conformYAML(val)
			if err != nil {
				return nil, err
			}
			m[ks] = c
		}
		return m, nil
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, val := range x {
			c, err := conformYAML(val)
			if err != nil {
				return nil, err
			}
			m[k] = c
		}
		return m, nil
	case []any:
		s := make([]any, len(x))
		for i, val := range x {
			c, err := conformYAML(val)
			if err != nil {
				return nil, err
			}
			s[i] = c
		}
		return s, nil
	}
	return v, nil
}

var errWaitTimeout = errors.New("maximum wait time reached")

// waitTask polls a task until it has finished, or ctx ends (errWaitTimeout). onLog, if
// set, sees each of the task's log messages once, as they come; logged says whether any
// came.
func waitTask(ctx context.Context, c *client.Client, q api.Task, onLog func(api.ActionLog)) (a api.Action, logged bool, err error) {
	seen := 0
	for {
		a, err = c.Action(ctx, q.ID)
		if err != nil {
			if ctx.Err() != nil {
				return a, logged, errWaitTimeout
			}
			return a, logged, err
		}
		if onLog != nil {
			for ; seen < len(a.Log); seen++ {
				onLog(a.Log[seen])
				logged = true
			}
		}
		switch a.Status {
		case "pending", "running":
		default:
			return a, logged, nil
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return a, logged, errWaitTimeout
		}
	}
}

func localTime(t time.Time) time.Time { return t.Local() }
func utcTime(t time.Time) time.Time   { return t.UTC() }

// taskDoc is a finished task as `juju run --format yaml|json` shows it, and its return
// code (-1 when it has none), as Juju's formatActionResult makes them.
func taskDoc(a api.Action, tf func(time.Time) time.Time) (map[string]any, int) {
	doc := map[string]any{"id": strconv.Itoa(a.ID), "status": a.Status, "unit": a.Unit}
	if a.Message != "" {
		doc["message"] = a.Message
	}
	code := -1
	if len(a.Results) > 0 {
		res := make(map[string]any, len(a.Results))
		for k, v := range a.Results {
			res[k] = v
		}
		for _, k := range []string{"stdout", "stderr"} {
			if s, ok := res[k].(string); ok && s != "" {
				res[k] = strings.ReplaceAll(s, "\r\n", "\n")
			} else {
				delete(res, k)
			}
		}
		if v, ok := res["return-code"]; ok && v != nil {
			if n, err := strconv.Atoi(fmt.Sprint(v)); err == nil {
				code = n
				res["return-code"] = n
			}
		} else {
			delete(res, "return-code")
		}
		doc["results"] = res
	}
	if len(a.Log) > 0 {
		var lines []string
		for _, l := range a.Log {
			lines = append(lines, fmt.Sprintf("%s %s", tf(l.Timestamp), l.Message))
		}
		doc["log"] = lines
	}
	timing := map[string]string{}
	for k, t := range map[string]time.Time{"enqueued": a.Enqueued, "started": a.Started, "completed": a.Completed} {
		if !t.IsZero() {
			timing[k] = tf(t).String()
		}
	}
	if len(timing) > 0 {
		doc["timing"] = timing
	}
	return doc, code
}

// filteredResultKeys are the results the plain format prints apart from the YAML.
var filteredResultKeys = map[string]bool{"return-code": true, "stdout": true, "stderr": true,
	"stdout-encoding": true, "stderr-encoding": true}

// printRunResults writes the finished tasks (taskDoc by unit) in format. The plain format
// is Juju's: for one task, "Action id N failed: msg" if it failed, its results as YAML, a
// blank line, then its stdout and stderr; for several, one YAML map of their summaries.
func printRunResults(w io.Writer, format string, info map[string]any) error {
	switch format {
	case "json":
		return jsonOut(w, info)
	case "yaml":
		return yamlOut(w, info)
	}
	summaries := map[string]map[string]any{}
	var stdout, stderr string
	for unit, v := range info {
		doc := v.(map[string]any)
		out := ""
		if res, ok := doc["results"].(map[string]any); ok {
			shown := map[string]any{}
			for k, r := range res {
				k = strings.ToLower(k)
				if k == "stdout" && r != "" {
					stdout = fmt.Sprint(r)
				}
				if k == "stderr" && r != "" {
					stderr = fmt.Sprint(r)
				}
				if !filteredResultKeys[k] {
					shown[k] = r
				}
			}
			if len(shown) > 0 {
				b, err := yaml.Marshal(shown)
				if err != nil {
					return fmt.Errorf("formatting results: %w", err)
				}
				out = string(b)
			}
		} else {
			out = fmt.Sprintf("Task %v %v\n", doc["id"], doc["status"])
		}
		s := map[string]any{"id": doc["id"], "output": out, "status": doc["status"]}
		if msg, ok := doc["message"]; ok {
			s["message"] = msg
		}
		summaries[unit] = s
	}
	if len(summaries) > 1 {
		return yamlOut(w, summaries)
	}
	for _, s := range summaries {
		if s["status"] == "failed" {
			fmt.Fprintf(w, "Action id %v failed: %v\n", s["id"], s["message"])
		}
		fmt.Fprintln(w, s["output"])
	}
	if stdout != "" {
		fmt.Fprintln(w, strings.Trim(stdout, "\n"))
	}
	if stderr != "" {
		fmt.Fprintln(w, strings.Trim(stderr, "\n"))
	}
	return nil
}

// cmdShowTask is `juju show-task ID`: the task's result as YAML (or JSON).
func cmdShowTask(ctx context.Context, e *Env, args []string) error {
	var model string
	fs := flags("show-task", e, &model)
	format := fs.String("format", "yaml", "")
	_ = fs.Duration("wait", 0, "")
	_ = fs.Bool("utc", false, "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	switch *format {
	case "yaml", "json", "plain":
	default:
		return usagef("invalid value %q for option --format: unknown format %q", *format, *format)
	}
	if fs.NArg() != 1 {
		return usagef("no task ID specified")
	}
	id, err := strconv.Atoi(fs.Arg(0))
	if err != nil || id <= 0 {
		return usagef("task ID %q not valid", fs.Arg(0))
	}
	a, err := newClient(e).Action(ctx, id)
	if err != nil {
		return err
	}
	doc, _ := taskDoc(a, localTime)
	if *format == "plain" {
		return printRunResults(e.Stdout, "plain", map[string]any{a.Unit: doc})
	}
	return printFormatted(e, *format, doc)
}
