package state

import (
	"fmt"
	"strings"
	"time"

	"github.com/juju/charm/v12"
)

// EnqueueAction validates params against the charm's schema (filling defaults) and
// queues the action.
func (s *Store) EnqueueAction(t *Tx, u *Unit, name string, params map[string]any) (*Action, error) {
	a, err := t.App(u.Model, u.App)
	if err != nil {
		return nil, err
	}
	ch, err := s.Charm(a.CharmDir)
	if err != nil {
		return nil, err
	}
	var spec charm.ActionSpec
	var ok bool
	if acts := ch.Actions(); acts != nil {
		spec, ok = acts.ActionSpecs[name]
	}
	if !ok {
		return nil, fmt.Errorf("action %q not defined on unit %q", name, u.Name)
	}
	if params == nil {
		params = map[string]any{}
	}
	withDefaults, err := spec.InsertDefaults(params)
	if err != nil {
		return nil, fmt.Errorf("inserting defaults: %w", err)
	}
	if err := spec.ValidateParams(withDefaults); err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, "validation failed") {
			msg = "validation failed: " + msg
		}
		return nil, fmt.Errorf("%s", msg)
	}
	act := &Action{ID: t.NextID(), Model: u.Model, Unit: u.Name, Name: name, Params: withDefaults,
		Status: "pending", Enqueued: time.Now().UTC()}
	t.PutAction(act)
	return act, t.err
}

// PutAction stores an action.
func (t *Tx) PutAction(a *Action) { t.Put(kAction, relKey(a.ID), a) }

// Action returns an action by id.
func (t *Tx) Action(id int) (*Action, error) {
	a := &Action{}
	if !t.Get(kAction, relKey(id), a) {
		if t.err != nil {
			return nil, t.err
		}
		return nil, fmt.Errorf("action %d not found", id)
	}
	return a, nil
}

// PendingActions lists the pending or running actions of a unit, oldest first.
func (t *Tx) PendingActions(model, unit string) []*Action {
	var out []*Action
	for _, a := range list[Action](t, kAction, "") {
		if a.Model == model && a.Unit == unit && (a.Status == "pending" || a.Status == "running") {
			out = append(out, a)
		}
	}
	return out
}
