package cli

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/controller/api"
)

// operationInfo is `juju show-operation`'s document (Juju's operationInfo: same fields,
// same order).
type operationInfo struct {
	Summary string              `json:"summary" yaml:"summary"`
	Status  string              `json:"status" yaml:"status"`
	Action  *actionSummary      `json:"action,omitempty" yaml:"action,omitempty"`
	Timing  timingInfo          `json:"timing,omitempty" yaml:"timing,omitempty"`
	Tasks   map[string]taskInfo `json:"tasks,omitempty" yaml:"tasks,omitempty"`
}

type timingInfo struct {
	Enqueued  string `json:"enqueued,omitempty" yaml:"enqueued,omitempty"`
	Started   string `json:"started,omitempty" yaml:"started,omitempty"`
	Completed string `json:"completed,omitempty" yaml:"completed,omitempty"`
}

type actionSummary struct {
	Name       string         `json:"name" yaml:"name"`
	Parameters map[string]any `json:"parameters" yaml:"parameters"`
}

type taskInfo struct {
	Host    string         `json:"host" yaml:"host"`
	Status  string         `json:"status" yaml:"status"`
	Timing  timingInfo     `json:"timing,omitempty" yaml:"timing,omitempty"`
	Log     []string       `json:"log,omitempty" yaml:"log,omitempty"`
	Message string         `json:"message,omitempty" yaml:"message,omitempty"`
	Results map[string]any `json:"results,omitempty" yaml:"results,omitempty"`
}

func timing(tf func(time.Time) time.Time, enq, start, done time.Time) timingInfo {
	f := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return tf(t).String()
	}
	return timingInfo{Enqueued: f(enq), Started: f(start), Completed: f(done)}
}

// operationStatus is an operation's status from its tasks': running while any task has
// not finished, then the worst of theirs.
func operationStatus(tasks []api.Action) string {
	rank := map[string]int{"completed": 0, "cancelled": 1, "failed": 2, "error": 3}
	status, worst := "completed", 0
	pending := false
	for _, t := range tasks {
		switch t.Status {
		case "running":
			return "running"
		case "pending":
			pending = true
		default:
			if rank[t.Status] > worst {
				status, worst = t.Status, rank[t.Status]
			}
		}
	}
	if pending {
		return "pending"
	}
	return status
}

// formatOperation builds the document of op.
func formatOperation(op api.Operation, tf func(time.Time) time.Time) operationInfo {
	info := operationInfo{Summary: op.Summary, Status: operationStatus(op.Tasks), Tasks: map[string]taskInfo{}}
	var enq, start, done time.Time
	single := true
	for i, t := range op.Tasks {
		ti := taskInfo{Host: t.Unit, Status: t.Status, Timing: timing(tf, t.Enqueued, t.Started, t.Completed),
			Message: t.Message, Results: t.Results}
		for _, l := range t.Log {
			ti.Log = append(ti.Log, fmt.Sprintf("%s %s", tf(l.Timestamp), l.Message))
		}
		info.Tasks[strconv.Itoa(t.ID)] = ti
		if enq.IsZero() || t.Enqueued.Before(enq) {
			enq = t.Enqueued
		}
		if !t.Started.IsZero() && (start.IsZero() || t.Started.Before(start)) {
			start = t.Started
		}
		if t.Completed.After(done) {
			done = t.Completed
		}
		if i == 0 {
			info.Action = &actionSummary{Name: t.Name, Parameters: t.Params}
			if info.Action.Parameters == nil {
				info.Action.Parameters = map[string]any{}
			}
		} else if t.Name != info.Action.Name || !reflect.DeepEqual(t.Params, info.Action.Parameters) {
			single = false
		}
	}
	if !single {
		info.Action = nil
	}
	if info.Status == "pending" || info.Status == "running" {
		done = time.Time{}
	}
	info.Timing = timing(tf, enq, start, done)
	return info
}

// cmdShowOperation is `juju show-operation ID`.
func cmdShowOperation(ctx context.Context, e *Env, args []string) error {
	fs := flags("show-operation", e, nil)
	var model string
	fs.StringVar(&model, "m", "", "")
	fs.StringVar(&model, "model", "", "")
	format := fs.String("format", "yaml", "")
	wait := fs.Duration("wait", -1, "")
	watch := fs.Bool("watch", false, "")
	utc := fs.Bool("utc", false, "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := checkFormat(*format, "yaml", "json"); err != nil {
		return err
	}
	if *watch && *wait >= 0 {
		return usagef("specify either --watch or --wait but not both")
	}
	if fs.NArg() == 0 {
		return usagef("no operation ID specified")
	}
	id, err := strconv.Atoi(fs.Arg(0))
	if err != nil || id <= 0 {
		return usagef("operation ID %q not valid", fs.Arg(0))
	}
	if fs.NArg() > 1 {
		return usagef("unrecognized args: %q", fs.Args()[1:])
	}
	tf := localTime
	if *utc {
		tf = utcTime
	}
	c := newClient(e)
	if *watch {
		*wait = 0
	}
	if *wait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *wait)
		defer cancel()
	}
	for {
		op, err := c.Operation(ctx, id)
		if err != nil {
			return err
		}
		info := formatOperation(op, tf)
		done := info.Status != "pending" && info.Status != "running"
		if done || *wait < 0 {
			return printFormatted(e, *format, info)
		}
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("timeout reached")
			}
			return err
		}
	}
}
