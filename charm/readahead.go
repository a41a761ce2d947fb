package charm

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
)

// The relations of the extension's prefetch endpoints are read ahead by readState, in the
// same round as the peer relation: their units, remote application, this unit's bucket, the
// leader's application bucket, and the buckets of the remote units and application the last
// hook saw (kept in the unit's charm state under aheadKey). The handlers read them through
// relationList, relationRemoteApp and relationGet, which answer from what was read ahead and
// read only what was not: a stale or absent record costs a round, never a wrong answer.

// aheadKey is the charm state key of what the last hook saw of endpoint's relation.
func aheadKey(endpoint string) string { return "ahead-" + endpoint }

// aheadRecord is what a hook saw of a relation, for the next hook's read-ahead.
type aheadRecord struct {
	Rel   string   `json:"rel"`
	App   string   `json:"app,omitempty"`
	Units []string `json:"units,omitempty"`
}

func parseAheadRecord(raw string) aheadRecord {
	var r aheadRecord
	if raw != "" && json.Unmarshal([]byte(raw), &r) != nil {
		return aheadRecord{} // damaged: read everything, as with no record
	}
	return r
}

func (r aheadRecord) encode() string {
	b, _ := json.Marshal(r) // plain struct: cannot fail
	return string(b)
}

// relationAhead is one relation as readState read it ahead. A read that failed is absent:
// the handler that needs it reads it again (and reports its error).
type relationAhead struct {
	units   []string
	unitsOK bool
	app     string
	appOK   bool

	mu      sync.Mutex // buckets are taken concurrently (relationGetAll)
	buckets map[string]map[string]string
}

// take returns the bucket of unitOrApp read ahead, once: a later read goes to the tool, and
// so sees what this hook wrote since.
func (r *relationAhead) take(unitOrApp string) (map[string]string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.buckets[unitOrApp]
	delete(r.buckets, unitOrApp)
	return b, ok
}

// readRelationAhead reads relID concurrently: its units and remote application, this unit's
// bucket, the leader's application bucket and the buckets of the remote units and application
// in rec (what the last hook saw, when it saw this relation).
func (c *Charm) readRelationAhead(ctx context.Context, relID string, leader bool, rec aheadRecord) *relationAhead {
	r := &relationAhead{buckets: map[string]map[string]string{}}
	get := func(owner string, app bool) func() error {
		return func() error {
			if b, err := c.Tools.RelationGet(ctx, relID, owner, app); err == nil {
				r.mu.Lock()
				r.buckets[owner] = b
				r.mu.Unlock()
			}
			return nil
		}
	}
	fns := []func() error{
		func() error {
			units, err := c.Tools.RelationList(ctx, relID)
			r.units, r.unitsOK = units, err == nil
			return nil
		},
		func() error {
			app, err := c.Tools.RelationRemoteApp(ctx, relID)
			r.app, r.appOK = app, err == nil
			return nil
		},
		get(c.Env.UnitName, false),
	}
	if leader {
		fns = append(fns, get(c.Env.AppName(), true))
	}
	if rec.Rel == relID {
		for _, u := range rec.Units {
			if u != c.Env.DepartingUnit {
				fns = append(fns, get(u, false))
			}
		}
		if rec.App != "" {
			fns = append(fns, get(rec.App, true))
		}
	}
	_ = parallel(fns...) // the reads keep their own errors
	return r
}

// readAhead is readState's read-ahead of endpoint's relations, once their ids are in: known
// waits for the unit's charm state and the leadership, which the first round reads
// concurrently.
func (c *Charm) readAhead(ctx context.Context, endpoint string, ids []string, known func() (local map[string]string, leader bool)) map[string]*relationAhead {
	ids = slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return c.relationBroken(endpoint, id) })
	if len(ids) == 0 {
		return nil
	}
	local, leader := known()
	rec := parseAheadRecord(local[aheadKey(endpoint)])
	out := make([]*relationAhead, len(ids))
	fns := make([]func() error, len(ids))
	for i, id := range ids {
		fns[i] = func() error {
			out[i] = c.readRelationAhead(ctx, id, leader, rec)
			return nil
		}
	}
	_ = parallel(fns...)
	m := make(map[string]*relationAhead, len(ids))
	for i, id := range ids {
		m[id] = out[i]
	}
	return m
}

// recordAhead keeps in the unit's charm state what this hook saw of endpoint's first
// relation, for the next hook's read-ahead; nothing when the relation's units or remote
// application could not be read (the record stays as it was).
func (st *State) recordAhead(endpoint string, ids []string, broken func(endpoint, id string) bool) {
	for _, id := range ids {
		if broken(endpoint, id) {
			continue
		}
		r := st.relAhead[id]
		if r == nil || !r.unitsOK || !r.appOK {
			return
		}
		st.SetLocal(aheadKey(endpoint), aheadRecord{Rel: id, App: r.app, Units: r.units}.encode())
		return
	}
	st.SetLocal(aheadKey(endpoint), "") // no relation: nothing to read ahead
}

// relationBroken reports whether this hook is relation-broken of relation id of endpoint:
// the relation is going away, and the handlers see it as gone.
func (c *Charm) relationBroken(endpoint, id string) bool {
	return c.Env.HookName == endpoint+"-relation-broken" && c.Env.RelationID == id
}

// relationList lists the remote units of relID (read ahead, or now).
func (c *Charm) relationList(ctx context.Context, st *State, relID string) ([]string, error) {
	if r := st.relAhead[relID]; r != nil && r.unitsOK {
		return slices.Clone(r.units), nil
	}
	return c.Tools.RelationList(ctx, relID)
}

// relationRemoteApp is the application at the other end of relID (read ahead, or now).
func (c *Charm) relationRemoteApp(ctx context.Context, st *State, relID string) (string, error) {
	if r := st.relAhead[relID]; r != nil && r.appOK {
		return r.app, nil
	}
	return c.Tools.RelationRemoteApp(ctx, relID)
}

// relationGet reads a bucket of relID: the one read ahead the first time, else relation-get.
func (c *Charm) relationGet(ctx context.Context, st *State, relID, unitOrApp string, app bool) (map[string]string, error) {
	if r := st.relAhead[relID]; r != nil {
		if b, ok := r.take(unitOrApp); ok {
			return b, nil
		}
	}
	return c.Tools.RelationGet(ctx, relID, unitOrApp, app)
}

// bucketRef names one bucket of a relation: a unit's, or an application's when app is set.
type bucketRef struct {
	owner string
	app   bool
}

// relationGetAll reads buckets of relID in one round of concurrent reads (none for those read
// ahead), in the order of refs.
func (c *Charm) relationGetAll(ctx context.Context, st *State, relID string, refs []bucketRef) ([]map[string]string, error) {
	out := make([]map[string]string, len(refs))
	fns := make([]func() error, len(refs))
	for i, ref := range refs {
		fns[i] = func() (err error) {
			if out[i], err = c.relationGet(ctx, st, relID, ref.owner, ref.app); err != nil {
				if ref.app {
					return fmt.Errorf("relation-get --app %s %s: %w", relID, ref.owner, err)
				}
				return fmt.Errorf("relation-get %s %s: %w", relID, ref.owner, err)
			}
			return nil
		}
	}
	if err := parallel(fns...); err != nil {
		return nil, err
	}
	return out, nil
}
