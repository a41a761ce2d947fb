package charm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/pgwatch"
)

// A steady update-status (docs/HA.md, "A steady update-status").
//
// Every change to what Juju holds for a unit (config, relations, leadership, secrets) comes
// with a hook of its own, and every timer the charm sets comes back as a hook of its own
// (timers.go). What update-status adds is a look at the workload, which sends no event for
// most of its changes: the watcher (internal/pgwatch) now takes that look every second and
// keeps it in its observation file. So an update-status whose view of Juju is the one the
// last full reconcile ended steady with, and whose server has the shape that reconcile saw,
// has nothing to do: it ends after one round of two Pebble reads (the observation and the
// timers), without a SQL session or the full reconcile's dozen Pebble calls. It checks everything again (files, plan, roles,
// slots) at least every steadyMaxAge.

// localSteady (unit charm state): the steadyRecord of the last full reconcile that ended
// steady; any other ending removes it.
const localSteady = "steady"

const (
	// steadyMaxAge: a unit runs a full reconcile at least this often.
	steadyMaxAge = 30 * time.Minute
	// steadyRefresh: a full reconcile that finds the record unchanged rewrites it (for its
	// time) only once it is this old.
	steadyRefresh = 10 * time.Minute
	// observationMaxAge: an older observation is from a watcher that stopped.
	observationMaxAge = 3 * pgwatch.DefaultHeartbeat
)

// steadyRecord is what a full reconcile that ended steady saw and did.
type steadyRecord struct {
	Inputs  string `json:"inputs"` // inputsDigest of its view
	Shape   string `json:"shape"`  // its own observation of its server (pgwatch.Observation.Shape)
	Status  string `json:"status"` // the unit status it set, and its message
	Message string `json:"message"`
	At      int64  `json:"at"` // unix seconds
}

func parseSteady(raw string) (steadyRecord, bool) {
	var r steadyRecord
	if raw == "" || json.Unmarshal([]byte(raw), &r) != nil || r.Inputs == "" || r.Shape == "" || r.At == 0 {
		return steadyRecord{}, false
	}
	return r, true
}

// sameAs reports whether r and o record the same view, shape and status (their times aside).
func (r steadyRecord) sameAs(o steadyRecord) bool {
	r.At, o.At = 0, 0
	return r == o
}

func (r steadyRecord) encode() string {
	b, _ := json.Marshal(r) // plain strings and an int
	return string(b)
}

// inputsDigest is a digest of what readState read of Juju: config, leadership, address,
// statuses aside (compared on their own), the peer relation, the unit's charm state but for
// the steady record itself, the relations and secrets it read ahead. It is taken before the
// reconcile changes any of it, so a hook that wrote something is followed by one full
// reconcile more, which sees its own writes and finds nothing to do.
func inputsDigest(st *State) string {
	local := maps.Clone(st.Local)
	delete(local, localSteady)
	type bucketsAhead struct {
		Units   []string                     `json:"units"`
		App     string                       `json:"app"`
		Buckets map[string]map[string]string `json:"buckets"`
	}
	relations := map[string]bucketsAhead{}
	for id, r := range st.relAhead {
		r.mu.Lock()
		relations[id] = bucketsAhead{Units: r.units, App: r.app, Buckets: maps.Clone(r.buckets)}
		r.mu.Unlock()
	}
	secrets := map[string]map[string]string{}
	for uri, s := range st.secretsAhead {
		secrets[uri] = s.content
	}
	if st.certKeyAhead != nil {
		secrets["certificates-key"] = st.certKeyAhead.content
	}
	configErr := ""
	if st.ConfigErr != nil {
		configErr = st.ConfigErr.Error()
	}
	view := struct {
		Unit, App, Address, PeerRelID string
		Leader                        bool
		Config                        Config
		ConfigErr                     string
		Peers                         []string
		PeerData                      map[string]map[string]string
		AppData, MyData, Local        map[string]string
		RelationIDs                   map[string][]string
		Relations                     map[string]bucketsAhead
		Secrets                       map[string]map[string]string
	}{st.Unit, st.App, st.Address, st.PeerRelID, st.Leader, st.Config, configErr, st.Peers, st.PeerData,
		st.AppData, st.MyData, local, st.relationIDs, relations, secrets}
	b, err := json.Marshal(view) // maps marshal with sorted keys
	if err != nil {
		return "" // never steady on a view that cannot be digested
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// steadyUpdateStatus reports whether this update-status has nothing to do (see above), and
// why not when it has. inputs is inputsDigest of the hook's view.
func (c *Charm) steadyUpdateStatus(ctx context.Context, st *State, inputs string) (bool, string) {
	rec, why := c.steadyView(st, inputs)
	if why != "" {
		return false, why
	}
	return c.steadyServer(ctx, st, rec)
}

// steadyView checks what the hook read of Juju against the record; it returns the record when
// they agree, and why not otherwise.
func (c *Charm) steadyView(st *State, inputs string) (steadyRecord, string) {
	rec, ok := parseSteady(st.Local[localSteady])
	switch {
	case !ok:
		return rec, "the last reconcile did not end steady"
	case inputs == "" || rec.Inputs != inputs:
		return rec, "Juju's view changed"
	case c.Now().Sub(time.Unix(rec.At, 0)) >= steadyMaxAge:
		return rec, "due for a full check"
	case st.Leader && st.Primary() == st.Unit && len(st.Peers) > 0:
		// It hands the primary off to a replica (leader.go).
		return rec, "the leader is the primary"
	}
	for _, ep := range c.extension().prefetchEndpoints() {
		if len(st.relationIDs[ep]) > 0 {
			return rec, "cross-regional replication"
		}
	}
	if cur, ok := st.shown[false]; !ok || cur.Status != rec.Status || cur.Message != rec.Message {
		return rec, "the unit status changed"
	}
	return rec, ""
}

// steadyServer checks the watcher's observation and the timers file against the record: one
// round of two Pebble reads.
func (c *Charm) steadyServer(ctx context.Context, st *State, rec steadyRecord) (bool, string) {
	w, err := c.aheadWorkload(ctx, st)
	if err != nil {
		return false, "no workload: " + err.Error()
	}
	// A timer that is due, or a timers file the watcher cannot read, is the full
	// reconcile's (timers.go).
	var obs pgwatch.Observation
	var timers pgwatch.Timers
	var obsErr, timersErr error
	_ = parallel(
		func() error { obs, obsErr = w.ReadObservation(ctx); return nil },
		func() error { timers, timersErr = w.ReadTimers(ctx); return nil },
	)
	switch age := c.Now().Sub(obs.At); {
	case timersErr != nil:
		return false, "the timers file: " + timersErr.Error()
	case !timers.Next().IsZero() && !timers.Next().After(c.Now()):
		return false, "a timer is due"
	case obsErr != nil:
		return false, "no observation: " + obsErr.Error()
	case obs.Error != "":
		return false, "the watcher cannot observe the server: " + obs.Error
	case age > observationMaxAge || age < -observationMaxAge:
		return false, "the observation is " + age.Round(time.Second).String() + " old"
	case obs.Shape() != rec.Shape:
		return false, "the server changed"
	case st.Leader && st.Primary() != st.Unit && !streamsFrom(obs, st.PrimaryAddress()):
		// The leader's full reconcile probes the primary, to fail over from one that is
		// down. Its own server streaming from the primary is the same answer, from the
		// watcher a second ago; the primary's loss stops the stream, which the next
		// observation shows, and fires the leader's upstream check, whose hook reconciles.
		return false, "the leader does not stream from the primary"
	}
	return true, ""
}

// streamsFrom reports whether the observed server streams WAL from host.
func streamsFrom(o pgwatch.Observation, host string) bool {
	return o.Streaming() && host != "" && o.Receiver.Host == host
}

// aheadWorkload waits for the workload readState started opening, without taking it: the
// full reconcile that may follow takes it (openHookWorkload).
func (c *Charm) aheadWorkload(ctx context.Context, st *State) (Workload, error) {
	o := st.opening
	if o == nil || o.addr != st.Address {
		return nil, errors.New("none opened ahead")
	}
	select {
	case <-o.done:
		return o.w, o.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// recordSteady keeps, for the next update-status, what a full reconcile that ended steady saw
// (or removes the record when it did not): it ended without an error and active, and it
// observed its own server once it had verified its role (State.observed), streaming if it is
// a standby meant to stream.
func (c *Charm) recordSteady(ctx context.Context, st *State, inputs string, ended error) {
	var unit *statusWrite
	for i := range st.statuses {
		if !st.statuses[i].app {
			unit = &st.statuses[i]
		}
	}
	steady := ended == nil && inputs != "" && st.observed != nil && st.observed.Shape() != "" && !st.observed.Stalled() &&
		unit != nil && unit.status == "active" && !c.unitStatusSet.Load()
	if !steady {
		st.SetLocal(localSteady, "")
		return
	}
	rec := steadyRecord{Inputs: inputs, Shape: st.observed.Shape(), Status: unit.status, Message: unit.message, At: c.Now().Unix()}
	if old, ok := parseSteady(st.Local[localSteady]); ok && old.sameAs(rec) && c.Now().Sub(time.Unix(old.At, 0)) < steadyRefresh {
		return
	}
	c.logf(ctx, slog.LevelDebug, "steady: %s", rec.encode())
	st.SetLocal(localSteady, rec.encode())
}

// observedSelf keeps the hook's own observation of its server (recordSteady).
func (st *State) observedSelf(o pgwatch.Observation) { st.observed = &o }
