package controller

import (
	"fmt"
	"strings"

	"github.com/jujulet/postgresql-k8s/internal/controller/api"
	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
)

// handleRun queues an action on each target unit ("app/N", or "app/leader" for the
// application's leader) as one operation; nothing is queued unless every target is valid.
func handleRun(c *call, p api.RunParams) ([]api.Task, error) {
	var out []api.Task
	err := c.update(func(t *st.Tx, m *st.Model) error {
		op := t.NextID()
		for _, target := range p.Targets {
			u, err := runTarget(t, m, target)
			if err != nil {
				return err
			}
			act, err := c.d.store.EnqueueAction(t, u, p.Action, p.Params)
			if err != nil {
				return err
			}
			act.Operation = op
			t.PutAction(act)
			out = append(out, api.Task{Unit: u.Name, ID: act.ID, Operation: op})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// runTarget resolves an action target to its unit.
func runTarget(t *st.Tx, m *st.Model, target string) (*st.Unit, error) {
	name := target
	if app, ok := strings.CutSuffix(target, "/leader"); ok {
		a, err := t.App(m.UUID, app)
		if err != nil {
			return nil, err
		}
		if a.Leader == "" {
			return nil, fmt.Errorf("could not determine leader for %q", a.Name)
		}
		name = a.Leader
	} else if !strings.Contains(target, "/") {
		return nil, fmt.Errorf("invalid unit or action name %q", target)
	}
	return t.Unit(m.UUID, name)
}

// handleAction returns an action (task) by id.
func handleAction(c *call, p api.ActionParams) (api.Action, error) {
	var out api.Action
	err := c.d.store.View(func(t *st.Tx) error {
		a, err := t.Action(p.ID)
		if err != nil {
			return err
		}
		out = actionDoc(a)
		return nil
	})
	return out, err
}

// handleOperation returns an operation (a run) with its tasks.
func handleOperation(c *call, p api.ActionParams) (api.Operation, error) {
	out := api.Operation{ID: p.ID}
	err := c.d.store.View(func(t *st.Tx) error {
		acts := t.OperationActions(p.ID)
		if len(acts) == 0 {
			return fmt.Errorf("operation %d not found", p.ID)
		}
		var receivers []string
		for _, a := range acts {
			receivers = append(receivers, "unit-"+strings.ReplaceAll(a.Unit, "/", "-"))
			out.Tasks = append(out.Tasks, actionDoc(a))
		}
		out.Summary = fmt.Sprintf("%s run on %s", acts[0].Name, strings.Join(receivers, ","))
		return nil
	})
	return out, err
}

func actionDoc(a *st.Action) api.Action {
	out := api.Action{ID: a.ID, Operation: a.Operation, Unit: a.Unit, Name: a.Name, Params: a.Params, Status: a.Status,
		Message: a.Message, Results: a.Results, Enqueued: a.Enqueued, Started: a.Started, Completed: a.Completed}
	for _, l := range a.Log {
		out.Log = append(out.Log, api.ActionLog{Timestamp: l.Timestamp, Message: l.Message})
	}
	return out
}
