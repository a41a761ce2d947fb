package charm

import (
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/hookenv/hookenvtest"
	"github.com/jujulet/postgresql-k8s/internal/pgwatch"
)

// steadyWorld is offLeader's cluster (leader pg/0, primary pg/1, replica pg/2) with the
// standbys caught up, after every unit ran update-status three times: whatever the hand-off
// left to do is done, the standbys are synchronous, and each unit that may end an
// update-status early has its steady record.
func steadyWorld(t *testing.T) *world {
	t.Helper()
	w := offLeader(t)
	for _, u := range w.units {
		u.s.received, u.s.replayed = 600, 600
	}
	for range 3 {
		for _, u := range w.names() {
			w.mustRun(u, "update-status")
		}
	}
	for _, u := range []string{"pg/1", "pg/2"} {
		if _, ok := parseSteady(w.units[u].f.State[localSteady]); !ok {
			t.Fatalf("%s has no steady record after two update-status: state %v", u, w.units[u].f.State)
		}
	}
	return w
}

// fullReconcile runs update-status on unit and reports whether it ran the full reconcile
// (it logged in to its own server, or called its workload) rather than ending steady. A
// steady one sets no status and writes nothing.
func fullReconcile(t *testing.T, w *world, unit string) bool {
	t.Helper()
	u := w.units[unit]
	logins, calls := len(u.s.logins), len(u.s.calls)
	status := u.f.UnitStatus
	w.mustRun(unit, "update-status")
	full := len(u.s.logins) != logins || len(u.s.calls) != calls
	if !full && u.f.UnitStatus != status {
		t.Errorf("%s: a steady update-status changed the status %+v → %+v", unit, status, u.f.UnitStatus)
	}
	return full
}

func TestSteadyUpdateStatusSkipsTheFullReconcile(t *testing.T) {
	w := steadyWorld(t)
	for range 3 {
		for _, u := range w.names() {
			if fullReconcile(t, w, u) {
				t.Fatalf("%s: a full reconcile in a steady cluster", u)
			}
		}
	}
	wantStatus(t, w.units["pg/0"], "active", "Replica")
	wantStatus(t, w.units["pg/1"], "active", "Primary")
	wantStatus(t, w.units["pg/2"], "active", "Replica")
}

// Anything the full reconcile would look at again that changed since it ended steady makes
// update-status run it: Juju's view, the server's shape, the watcher, the timers, time. The
// one after that ends early again.
func TestSteadyUpdateStatusRunsTheFullReconcileOnAChange(t *testing.T) {
	later := func(w *world) time.Time { return w.now().Add(time.Minute) }
	for _, tt := range []struct {
		name   string
		unit   string // the unit whose update-status must reconcile fully
		change func(w *world)
		undo   func(w *world) // puts things back before the next update-status (nil: none)
	}{
		{"the primary stopped (the leader streams from it)", "pg/0", func(w *world) { w.units["pg/1"].s.running = false },
			func(w *world) { w.units["pg/1"].s.running = true }},
		{"its server restarted", "pg/2", func(w *world) { w.units["pg/2"].s.started = later(w) }, nil},
		{"a standby stopped streaming", "pg/1", func(w *world) { w.units["pg/2"].s.replState = "catchup" },
			func(w *world) { w.units["pg/2"].s.replState = "" }},
		{"the server is in recovery", "pg/1", func(w *world) { w.units["pg/1"].s.inRecovery = true },
			func(w *world) { w.units["pg/1"].s.inRecovery = false }},
		{"a slot was dropped", "pg/1", func(w *world) { clear(w.units["pg/1"].s.slots) }, nil},
		{"the peer app data changed", "pg/2", func(w *world) { w.app["note"] = "x" }, nil},
		{"a peer's unit data changed", "pg/2", func(w *world) {
			w.units["pg/1"].f.Relations[peerRel].Data["pg/1"]["note"] = "x"
		}, nil},
		{"the config changed", "pg/2", func(w *world) { w.units["pg/2"].f.Config["durability_synchronous_commit"] = "remote_write" }, nil},
		{"someone set the unit status", "pg/2", func(w *world) {
			w.units["pg/2"].f.UnitStatus = hookenvtest.Status{Status: "maintenance", Message: "by hand"}
		}, nil},
		{"the watcher has no observation", "pg/2", func(w *world) { w.units["pg/2"].s.unobserved = true },
			func(w *world) { w.units["pg/2"].s.unobserved = false }},
		{"the timers file is damaged", "pg/2", func(w *world) { w.units["pg/2"].s.timersBad = true }, nil},
		{"a timer is due", "pg/2", func(w *world) { w.units["pg/2"].s.timers = pgwatch.Timers{"retry": w.now()} }, nil},
		{"the last full check is old", "pg/2", func(w *world) { w.elapsed += steadyMaxAge }, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := steadyWorld(t)
			tt.change(w)
			if !fullReconcile(t, w, tt.unit) {
				t.Fatalf("%s ended update-status early", tt.unit)
			}
			if tt.undo != nil {
				tt.undo(w)
			}
			settlesSteady(t, w, tt.unit)
		})
	}
}

// settlesSteady runs update-status on unit until one ends early: what a change set in
// motion settles within a few hooks (a standby that left and came back is dropped, then
// confirmed again).
func settlesSteady(t *testing.T, w *world, unit string) {
	t.Helper()
	for i := 0; fullReconcile(t, w, unit); i++ {
		if i == 4 {
			t.Fatalf("%s: still reconciling fully after 5 update-status: status %+v, timers %v", unit, w.units[unit].f.UnitStatus, w.units[unit].s.timers)
		}
	}
}

// The leader's full reconcile probes the primary. It ends update-status early only while its
// own server streams from the primary: not while the primary does not answer, even when its
// last full reconcile saw the same.
func TestSteadyLeaderStreamsFromThePrimary(t *testing.T) {
	w := steadyWorld(t)
	w.units["pg/1"].s.down = true
	for range 3 {
		if !fullReconcile(t, w, "pg/0") {
			t.Fatal("the leader ended update-status early while the primary does not answer")
		}
	}
}

// A standby that streams nothing (its upstream does not answer) never ends steady: each
// update-status reconciles fully, as the watcher's wake-ups for it do.
func TestAStalledStandbyIsNeverSteady(t *testing.T) {
	w := steadyWorld(t)
	w.units["pg/1"].s.down = true
	for range 3 {
		if !fullReconcile(t, w, "pg/2") {
			t.Fatal("a replica that streams nothing ended update-status early")
		}
	}
	w.units["pg/1"].s.down = false
	settlesSteady(t, w, "pg/2")
}

// A reconcile that does not end steady (here: its container is gone) removes the record, so
// the update-status after it reconciles fully even once the container is back.
func TestAReconcileThatWaitsRemovesTheSteadyRecord(t *testing.T) {
	w := steadyWorld(t)
	r := w.units["pg/2"]
	r.s.notReady = true
	u := w.mustRun("pg/2", "config-changed")
	wantStatus(t, u, "waiting", "waiting for the postgresql container")
	if raw := r.f.State[localSteady]; raw != "" {
		t.Fatalf("steady record kept: %s", raw)
	}
	r.s.notReady = false
	if !fullReconcile(t, w, "pg/2") {
		t.Fatal("update-status ended early without a steady record")
	}
	settlesSteady(t, w, "pg/2")
}

// The inputs digest covers what readState read, but not the steady record itself.
func TestInputsDigest(t *testing.T) {
	base := func() *State {
		return &State{Unit: "pg/1", App: "pg", Address: "10.0.0.2", PeerRelID: "1", Peers: []string{"pg/0"},
			PeerData: map[string]map[string]string{"pg/0": {"a": "1"}}, AppData: map[string]string{"primary": "pg/0"},
			MyData: map[string]string{"b": "2"}, Local: map[string]string{"c": "3"}, relationIDs: map[string][]string{}}
	}
	d := inputsDigest(base())
	st := base()
	st.Local[localSteady] = "whatever"
	if inputsDigest(st) != d {
		t.Error("the steady record changed the digest")
	}
	for name, change := range map[string]func(*State){
		"leader":    func(s *State) { s.Leader = true },
		"address":   func(s *State) { s.Address = "10.0.0.3" },
		"peers":     func(s *State) { s.Peers = append(s.Peers, "pg/2") },
		"peer data": func(s *State) { s.PeerData["pg/0"]["a"] = "2" },
		"app data":  func(s *State) { s.AppData["x"] = "" },
		"my data":   func(s *State) { s.MyData["b"] = "3" },
		"local":     func(s *State) { s.Local["c"] = "4" },
		"config":    func(s *State) { s.Config.SyncStrict = true },
		"relations": func(s *State) { s.relationIDs["database"] = []string{"7"} },
		"secrets":   func(s *State) { s.secretsAhead = map[string]*secretRead{"s": {content: map[string]string{"k": "v"}}} },
	} {
		st := base()
		change(st)
		if inputsDigest(st) == d {
			t.Errorf("%s: same digest", name)
		}
	}
	if inputsDigest(base()) != d {
		t.Error("the digest is not deterministic")
	}
}
