package state

import (
	"encoding/json"
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

// OperationActions lists the actions (tasks) of operation op, by id.
func (t *Tx) OperationActions(op int) []*Action {
	return t.queryActions(`SELECT body FROM docs WHERE kind=? AND json_extract(body, '$.operation')=? ORDER BY id`, kAction, op)
}

// PendingActions lists the pending or running actions of a unit, oldest first.
func (t *Tx) PendingActions(model, unit string) []*Action {
	return t.queryActions(`SELECT body FROM docs WHERE kind=? AND json_extract(body, '$.model')=? AND json_extract(body, '$.unit')=? AND json_extract(body, '$.status') IN ('pending','running') ORDER BY id`, kAction, model, unit)
}

func (t *Tx) queryActions(query string, args ...any) []*Action {
	if t.err != nil {
		return nil
	}
	rows, err := t.tx.Query(query, args...)
	if err != nil {
		t.Err(err)
		return nil
	}
	defer rows.Close()
	var out []*Action
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			t.Err(err)
			return nil
		}
		a := &Action{}
		if err := json.Unmarshal(body, a); err != nil {
			t.Err(err)
			return nil
		}
		out = append(out, a)
	}
	t.Err(rows.Err())
	return out
}
