package charm

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canonical/pebble/client"
	"github.com/jujulet/postgresql-k8s/internal/hookenv"
	"github.com/jujulet/postgresql-k8s/internal/hookenv/hookenvtest"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

const peerRel = "database-peers:0"

type testUnit struct {
	name string
	f    *hookenvtest.Fake
	s    *fakeServer
}

// world is a cluster of units sharing relation data and secrets the way Juju would show it
// to each of them between hooks.
type world struct {
	t       *testing.T
	fc      *fakeCluster
	units   map[string]*testUnit
	app     map[string]string
	secrets map[string]*hookenvtest.FakeSecret
	leader  string
	// addrBase and open, when set, give units real addresses and workloads.
	addrBase int
	open     func(unit, addr string) func(ctx context.Context, a string) (Workload, error)
	tweak    func(c *Charm)
	elapsed  time.Duration // added to the charm's clock
	// epoch is the charm's clock at the start (zero: a fixed date). Tests against real
	// servers start it now: the servers check certificates against the real time.
	epoch time.Time
}

// now is the charm's clock in the world.
func (w *world) now() time.Time {
	base := time.Unix(1_700_000_000, 0)
	if !w.epoch.IsZero() {
		base = w.epoch
	}
	return base.Add(w.elapsed)
}

func newWorld(t *testing.T, n int) *world {
	w := &world{t: t, fc: newFakeCluster(), units: map[string]*testUnit{}, app: map[string]string{},
		secrets: map[string]*hookenvtest.FakeSecret{}, leader: "pg/0"}
	w.fc.now = w.now
	for i := 0; i < n; i++ {
		w.addUnit(fmt.Sprintf("pg/%d", i))
	}
	return w
}

func (w *world) addUnit(name string) *testUnit {
	base := 10
	if w.addrBase != 0 {
		base = w.addrBase
	}
	addr := fmt.Sprintf("127.0.0.%d", base+len(w.units))
	f := hookenvtest.NewFake(name)
	f.Address = addr
	f.Config = map[string]any{"profile": "testing"}
	f.Secrets = w.secrets
	f.AddRelation(peerRel, "pg")
	u := &testUnit{name: name, f: f, s: w.fc.add(addr)}
	u.s.cluster = base
	w.units[name] = u
	return u
}

func (w *world) names() []string {
	return slices.Sorted(maps.Keys(w.units))
}

// run runs one hook (or action when params != nil) on unit with the shared data synced in
// before and out after.
func (w *world) run(unit, hook string, params map[string]any, mod func(*hookenv.Env)) (*testUnit, error) {
	w.t.Helper()
	u := w.units[unit]
	f := u.f
	f.Leader = unit == w.leader
	rel := f.Relations[peerRel]
	rel.Units = nil
	for _, n := range w.names() {
		if n != unit {
			rel.Units = append(rel.Units, n)
			rel.Data[n] = maps.Clone(w.units[n].f.Relations[peerRel].Data[n])
		}
	}
	rel.Data["pg"] = maps.Clone(w.app)
	f.Params = params
	f.Results = map[string]string{}
	f.IsFailed, f.Failed = false, ""
	env := hookenv.Env{UnitName: unit, HookName: hook, ModelName: "m", ModelUUID: "uuid"}
	if params != nil {
		env.HookName, env.ActionName, env.ActionUUID = "", hook, "42"
	}
	if strings.HasPrefix(hook, "database-peers-") {
		env.RelationName, env.RelationID = "database-peers", peerRel
	}
	if mod != nil {
		mod(&env)
	}
	open := w.fc.open(u.s.addr)
	if w.open != nil {
		open = w.open(unit, u.s.addr)
	}
	c := New(env, f, open, nil)
	c.Now = w.now
	c.FailoverAfter = 0
	c.SwitchoverReplayWait = 0
	c.SyncConfirmWait = 0
	if w.tweak != nil {
		w.tweak(c)
	}
	err := c.Run(context.Background())
	if f.Leader {
		w.app = maps.Clone(rel.Data["pg"])
	}
	return u, err
}

// initLeader runs the leader's first two hooks: the first creates the passwords secret (and
// waits for it to be committed), the second initialises the database.
func (w *world) initLeader() *testUnit {
	w.t.Helper()
	w.mustRun(w.leader, "leader-elected")
	return w.mustRun(w.leader, "postgresql-pebble-ready")
}

func (w *world) mustRun(unit, hook string) *testUnit {
	w.t.Helper()
	u, err := w.run(unit, hook, nil, nil)
	if err != nil {
		w.t.Fatalf("%s on %s: %v", hook, unit, err)
	}
	return u
}

func wantStatus(t *testing.T, u *testUnit, status, msgPrefix string) {
	t.Helper()
	if u.f.UnitStatus.Status != status || !strings.HasPrefix(u.f.UnitStatus.Message, msgPrefix) {
		t.Fatalf("%s status = %+v, want %s %q...", u.name, u.f.UnitStatus, status, msgPrefix)
	}
}

// bootstrap brings a one-unit cluster to active Primary.
func bootstrap(t *testing.T, n int) *world {
	w := newWorld(t, n)
	u := w.initLeader()
	wantStatus(t, u, "active", "Primary")
	return w
}

func TestLeaderInitialisesPrimary(t *testing.T) {
	w := newWorld(t, 1)
	// The hook that creates the passwords secret does not initdb: the secret commits only
	// when the hook ends, and asks for the next hook at once.
	u := w.mustRun("pg/0", "postgresql-pebble-ready")
	wantStatus(t, u, "waiting", "committing the passwords secret before initdb")
	if slices.Contains(u.s.calls, "InitDB") || w.app["secret-id"] == "" {
		t.Fatalf("first hook: calls %v, secret-id %q", u.s.calls, w.app["secret-id"])
	}
	if at := w.timer("pg/0", timerRetry); at.IsZero() || at.After(w.now()) {
		t.Errorf("retry timer %v, want now", at)
	}
	u = w.mustRunEvent("pg/0", hookCustomNotice, wake)
	wantStatus(t, u, "active", "Primary")
	if u.f.AppStatus.Status != "active" || u.f.AppStatus.Message != "Primary" {
		t.Errorf("app status %+v", u.f.AppStatus)
	}
	if w.app["primary"] != "pg/0" || w.app["primary-address"] != u.s.addr || w.app["system-id"] == "" {
		t.Errorf("app data %v", w.app)
	}
	if !slices.Contains(u.s.calls, "InitDB") || !slices.Contains(u.s.calls, "Start") {
		t.Errorf("calls %v", u.s.calls)
	}
	sec := w.secrets[w.app["secret-id"]]
	if sec == nil || len(sec.Content) != 6 || sec.Content[keyCACert] == "" || sec.Content[keyCAKey] == "" || sec.Label != SecretLabel {
		t.Fatalf("passwords secret %+v", sec)
	}
	for _, user := range SystemUsers {
		pw := sec.Content[user+"-password"]
		if len(pw) < 20 || u.s.roles[user] != pw {
			t.Errorf("user %s: role password %q vs secret %q", user, u.s.roles[user], pw)
		}
		for k, v := range w.app {
			if strings.Contains(v, pw) {
				t.Errorf("password of %s in relation data key %s", user, k)
			}
		}
	}
	if !slices.Contains(u.f.Ports, "5432/tcp") || u.f.Version != "15" {
		t.Errorf("ports %v version %q", u.f.Ports, u.f.Version)
	}
	// Idempotent: update-status changes nothing.
	before := len(u.s.calls)
	u = w.mustRun("pg/0", "update-status")
	wantStatus(t, u, "active", "Primary")
	if len(u.s.calls) != before {
		t.Errorf("update-status made calls %v", u.s.calls[before:])
	}
}

func TestHooksThatWaitOrBlock(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(w *world)
		unit       string
		wantStatus string
		wantMsg    string
	}{
		{"invalid profile", func(w *world) { w.units["pg/0"].f.Config["profile"] = "turbo" }, "pg/0", "blocked", "invalid config: profile=\"turbo\""},
		{"experimental_max_connections out of range", func(w *world) { w.units["pg/0"].f.Config["experimental_max_connections"] = float64(1) }, "pg/0", "blocked", "invalid config: experimental_max_connections=1"},
		{"pebble not ready", func(w *world) { w.units["pg/0"].s.notReady = true }, "pg/0", "waiting", "waiting for the postgresql container"},
		{"no peer relation", func(w *world) { delete(w.units["pg/0"].f.Relations, peerRel) }, "pg/0", "waiting", "waiting for the peer relation"},
		{"non-leader before passwords", func(w *world) {}, "pg/1", "waiting", "waiting for the leader to generate the passwords"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, 2)
			tt.setup(w)
			if tt.name == "no peer relation" {
				// run() expects the relation: run the charm directly.
				u := w.units[tt.unit]
				u.f.Leader = true
				c := New(hookenv.Env{UnitName: tt.unit, HookName: "install"}, u.f, w.fc.open(u.s.addr), nil)
				if err := c.Run(context.Background()); err != nil {
					t.Fatal(err)
				}
				wantStatus(t, u, tt.wantStatus, tt.wantMsg)
				return
			}
			u, err := w.run(tt.unit, "config-changed", nil, nil)
			if err != nil {
				t.Fatalf("hook failed: %v", err)
			}
			wantStatus(t, u, tt.wantStatus, tt.wantMsg)
			if len(u.s.calls) != 0 {
				t.Errorf("workload touched: %v", u.s.calls)
			}
		})
	}
}

func TestInvalidConfigRestartsNothing(t *testing.T) {
	w := bootstrap(t, 1)
	u := w.units["pg/0"]
	before := len(u.s.calls)
	u.f.Config["durability_synchronous_commit"] = "off"
	w.mustRun("pg/0", "config-changed")
	wantStatus(t, u, "blocked", `invalid config: durability_synchronous_commit="off": must be on, remote_write or remote_apply`)
	if len(u.s.calls) != before || !u.s.running {
		t.Errorf("calls after invalid config: %v running=%v", u.s.calls[before:], u.s.running)
	}
	u.f.Config["durability_synchronous_commit"] = "remote_apply"
	w.mustRun("pg/0", "config-changed")
	wantStatus(t, u, "active", "Primary")
	if u.s.conf.SynchronousCommit != "remote_apply" || !slices.Contains(u.s.calls[before:], "Reload") {
		t.Errorf("conf %+v calls %v", u.s.conf, u.s.calls[before:])
	}
}

func TestProductionProfileSizesMemory(t *testing.T) {
	tests := []struct {
		cfg      map[string]any
		wantSB   int
		wantECSz int
	}{
		{map[string]any{"profile": "testing"}, 0, 0},
		{map[string]any{"profile": "production"}, 1024, 3072},
		{map[string]any{"profile": "production", "profile_limit_memory": float64(1000)}, 250, 750},
	}
	for _, tt := range tests {
		cfg, err := ParseConfig(tt.cfg)
		if err != nil {
			t.Fatal(err)
		}
		s := cfg.Settings("pg", 4096)
		if s.SharedBuffersMB != tt.wantSB || s.EffectiveCacheSizeMB != tt.wantECSz {
			t.Errorf("%v: shared_buffers %d effective_cache_size %d", tt.cfg, s.SharedBuffersMB, s.EffectiveCacheSizeMB)
		}
	}
}

func TestReplicaSeededFromPrimaryWithSlot(t *testing.T) {
	w := bootstrap(t, 2)
	p := w.units["pg/0"]
	u := w.mustRun("pg/1", "database-peers-relation-joined")
	wantStatus(t, u, "active", "Replica")
	if !slices.Contains(u.s.calls, "BaseBackup"+p.s.addr) || !slices.Contains(u.s.calls, "FollowPrimary"+p.s.addr) {
		t.Errorf("replica calls %v", u.s.calls)
	}
	if !p.s.slots["pg_1"] {
		t.Errorf("no slot for pg/1 on the primary: %v", p.s.slots)
	}
	if up := u.s.conf.Upstream; up == nil || up.Host != p.s.addr || up.Slot != "pg_1" || up.User != "replication" {
		t.Errorf("upstream %+v", u.s.conf.Upstream)
	}
	if !u.s.inRecovery {
		t.Error("replica not in recovery")
	}
	// The primary's hba admits replication from the replica once it sees it (pinned: the
	// hand-off of the primary off the leader has its own test).
	w.app[keyPinnedPrimary] = "pg/0"
	w.mustRun("pg/0", "database-peers-relation-changed")
	if !strings.Contains(fmt.Sprint(p.s.hba), "replication replication "+u.s.addr+"/32") {
		t.Errorf("primary hba %v", p.s.hba)
	}
	// Scale down: the departed unit's slot is dropped.
	delete(w.units, "pg/1")
	if _, err := w.run("pg/0", "database-peers-relation-departed", nil, func(e *hookenv.Env) {
		e.RemoteUnit, e.DepartingUnit = "pg/1", "pg/1"
	}); err != nil {
		t.Fatal(err)
	}
	if p.s.slots["pg_1"] {
		t.Error("slot of the departed unit kept")
	}
}

func TestFailoverPromotesMostAdvancedReplica(t *testing.T) {
	w := bootstrap(t, 3)
	w.mustRun("pg/1", "database-peers-relation-joined")
	w.mustRun("pg/2", "database-peers-relation-joined")
	w.units["pg/1"].s.received = 100
	w.units["pg/2"].s.received = 200
	// The primary (and leader) pg/0 disappears; pg/1 becomes leader.
	w.units["pg/0"].s.running = false
	delete(w.units, "pg/0")
	w.leader = "pg/1"
	u := w.mustRun("pg/1", "leader-elected")
	if w.app["primary"] != "pg/2" {
		t.Fatalf("primary = %q, want pg/2 (highest received LSN)", w.app["primary"])
	}
	wantStatus(t, u, "active", "Replica")
	n := w.mustRun("pg/2", "database-peers-relation-changed")
	wantStatus(t, n, "active", "Primary")
	if n.s.inRecovery || !slices.Contains(n.s.calls, "Promote") {
		t.Errorf("pg/2 not promoted: %v", n.s.calls)
	}
	// pg/1 re-points to pg/2.
	u = w.mustRun("pg/1", "database-peers-relation-changed")
	if up := u.s.conf.Upstream; up == nil || up.Host != n.s.addr {
		t.Errorf("pg/1 upstream %+v", u.s.conf.Upstream)
	}
	if !slices.Contains(u.s.calls, "Reload") || !n.s.slots["pg_1"] {
		t.Errorf("pg/1 calls %v, slots on pg/2 %v", u.s.calls, n.s.slots)
	}
}

func TestReturningOldPrimaryIsFencedAndFollows(t *testing.T) {
	w := bootstrap(t, 2)
	w.mustRun("pg/1", "database-peers-relation-joined")
	old := w.units["pg/0"]
	// pg/0's server is down long enough: the leader (now pg/1) fails over to itself.
	old.s.down = true
	w.leader = "pg/1"
	n := w.mustRun("pg/1", "update-status")
	if w.app["primary"] != "pg/1" {
		t.Fatalf("primary = %q", w.app["primary"])
	}
	wantStatus(t, n, "active", "Primary")
	// pg/0 comes back writable: it must stop, rewind (it crashed) and follow pg/1.
	old.s.down = false
	old.s.cleanStopped = false
	old.s.received = 1000 // it wrote WAL the new primary never received
	old.s.calls = nil
	u := w.mustRun("pg/0", "postgresql-pebble-ready")
	wantStatus(t, u, "active", "Replica")
	want := []string{"Stop", "Rewind" + n.s.addr, "FollowPrimary" + n.s.addr, "Start"}
	if !slices.Equal(u.s.calls, want) {
		t.Errorf("old primary calls %v, want %v", u.s.calls, want)
	}
	if !u.s.inRecovery {
		t.Error("old primary writable")
	}
}

func TestPlannedSwitchover(t *testing.T) {
	w := bootstrap(t, 2)
	w.mustRun("pg/1", "database-peers-relation-joined")
	p, r := w.units["pg/0"], w.units["pg/1"]
	p.s.received, r.s.received, r.s.replayed = 500, 500, 500

	// The action runs on the leader (the primary): it shuts down cleanly and publishes a token.
	u, err := w.run("pg/0", "promote-to-primary", map[string]any{"scope": "unit", "unit": "pg/1", "force": false}, nil)
	if err != nil || u.f.IsFailed {
		t.Fatalf("action: %v %q", err, u.f.Failed)
	}
	if u.f.Results["switchover-id"] != "42" || p.s.running {
		t.Fatalf("results %v running %v", u.f.Results, p.s.running)
	}
	if w.app["primary"] != "pg/0" {
		t.Fatal("primary changed before the target promoted")
	}
	// The target has replayed past the shutdown checkpoint: it promotes.
	r.s.replayed = 600
	r = w.mustRun("pg/1", "database-peers-relation-changed")
	if r.s.inRecovery {
		t.Fatal("target did not promote")
	}
	// Strict mode: until the old primary streams from it, commits wait for a replica.
	wantStatus(t, r, "waiting", "Primary: commits wait for a synchronous standby (synchronous_mode_strict): none of pg/0 streams")
	if want := `ANY 1 ("pg_0")`; r.s.live.SynchronousStandbyNames != want {
		t.Errorf("new primary synchronous_standby_names %q, want %q", r.s.live.SynchronousStandbyNames, want)
	}
	// The leader records the new primary; the old primary follows without rewind.
	p.s.calls = nil
	p = w.mustRun("pg/0", "database-peers-relation-changed")
	if w.app["primary"] != "pg/1" || w.app["switchover"] != "" {
		t.Fatalf("app data %v", w.app)
	}
	wantStatus(t, p, "active", "Replica")
	if slices.ContainsFunc(p.s.calls, func(c string) bool { return strings.HasPrefix(c, "Rewind") || strings.HasPrefix(c, "BaseBackup") }) {
		t.Errorf("old primary rewound or re-cloned after a clean switchover: %v", p.s.calls)
	}
	if !p.s.inRecovery || p.s.conf.Upstream == nil || p.s.conf.Upstream.Host != r.s.addr {
		t.Errorf("old primary not following: %+v", p.s)
	}
	// The new primary makes the old one its synchronous standby.
	r = w.mustRun("pg/1", "database-peers-relation-changed")
	wantStatus(t, r, "active", "Primary")
	if rec := mustRecord(t, w, "pg/1"); !slices.Equal(rec.Standbys, []string{"pg/0"}) {
		t.Errorf("published %+v", rec)
	}
}

func TestSwitchoverTargetWaitsForCheckpoint(t *testing.T) {
	w := bootstrap(t, 2)
	w.mustRun("pg/1", "database-peers-relation-joined")
	p, r := w.units["pg/0"], w.units["pg/1"]
	p.s.received, r.s.received, r.s.replayed = 500, 400, 400
	if _, err := w.run("pg/0", "promote-to-primary", map[string]any{"scope": "unit", "unit": "pg/1"}, nil); err != nil {
		t.Fatal(err)
	}
	r = w.mustRun("pg/1", "database-peers-relation-changed")
	if !r.s.inRecovery {
		t.Fatal("target promoted before replaying the old primary's shutdown checkpoint")
	}
	wantStatus(t, r, "waiting", "switchover: replayed")
}

func TestActions(t *testing.T) {
	tests := []struct {
		name     string
		unit     string
		action   string
		params   map[string]any
		init     bool
		wantFail string
		wantKey  string
	}{
		{"get-primary", "pg/1", "get-primary", map[string]any{}, true, "", "primary"},
		{"get-primary uninitialised", "pg/0", "get-primary", map[string]any{}, false, "the cluster is not initialised", ""},
		{"get-password default", "pg/1", "get-password", map[string]any{"username": "operator"}, true, "", "password"},
		{"get-password unknown user", "pg/0", "get-password", map[string]any{"username": "root"}, true, "\"root\" is not a system user", ""},
		{"get-password uninitialised", "pg/0", "get-password", map[string]any{"username": "operator"}, false, "not initialised", ""},
		{"set-password non-leader", "pg/1", "set-password", map[string]any{"username": "operator"}, true, "set-password must run on the leader", ""},
		{"set-password unknown user", "pg/0", "set-password", map[string]any{"username": "bob"}, true, "\"bob\" is not a system user", ""},
		// The charm's own login has no password to get or set (certificate only).
		{"get-password charm_admin", "pg/0", "get-password", map[string]any{"username": "charm_admin"}, true, "\"charm_admin\" is not a system user", ""},
		{"set-password charm_admin", "pg/0", "set-password", map[string]any{"username": "charm_admin", "password": "Some-Password-1"}, true, "\"charm_admin\" is not a system user", ""},
		{"set-password uninitialised", "pg/0", "set-password", map[string]any{"username": "operator"}, false, "not initialised", ""},
		{"promote bad scope", "pg/1", "promote-to-primary", map[string]any{"scope": "region"}, true, "scope must be", ""},
		{"promote unit with force while the primary answers", "pg/1", "promote-to-primary", map[string]any{"scope": "unit", "force": true}, true, "the primary pg/0 answers: run promote-to-primary scope=unit without force", ""},
		{"promote uninitialised", "pg/1", "promote-to-primary", map[string]any{"scope": "unit"}, false, "not initialised", ""},
		{"promote the primary", "pg/0", "promote-to-primary", map[string]any{"scope": "unit"}, true, "pg/0 is already the primary", ""},
		{"promote unknown unit", "pg/0", "promote-to-primary", map[string]any{"scope": "unit", "unit": "pg/9"}, true, "\"pg/9\" is not a unit", ""},
		{"promote cluster without replication", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"}, true, "scope=cluster needs cross-regional replication", ""},
		{"create-replication without relation", "pg/0", "create-replication", map[string]any{"name": "x"}, true, "no cross-regional replication relation", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, 2)
			if tt.init {
				w.initLeader()
				w.mustRun("pg/1", "database-peers-relation-joined")
			}
			appBefore := maps.Clone(w.app)
			u, err := w.run(tt.unit, tt.action, tt.params, nil)
			if err != nil {
				t.Fatalf("action error: %v", err)
			}
			if tt.wantFail != "" {
				if !u.f.IsFailed || !strings.Contains(u.f.Failed, tt.wantFail) {
					t.Fatalf("failed=%v %q, want %q", u.f.IsFailed, u.f.Failed, tt.wantFail)
				}
				if !maps.Equal(appBefore, w.app) {
					t.Errorf("failed action changed app data: %v → %v", appBefore, w.app)
				}
				return
			}
			if u.f.IsFailed || u.f.Results[tt.wantKey] == "" {
				t.Fatalf("failed=%q results=%v", u.f.Failed, u.f.Results)
			}
		})
	}
}

func TestSetPasswordRotates(t *testing.T) {
	w := bootstrap(t, 2)
	w.app[keyPinnedPrimary] = "pg/0" // no hand-off in the leader's next hook
	w.mustRun("pg/1", "database-peers-relation-joined")
	p := w.units["pg/0"]
	old := p.s.roles["replication"]
	u, err := w.run("pg/0", "set-password", map[string]any{"username": "replication", "password": "n3w-pass"}, nil)
	if err != nil || u.f.IsFailed {
		t.Fatalf("%v %q", err, u.f.Failed)
	}
	for _, v := range u.f.Results {
		if strings.Contains(v, "n3w-pass") {
			t.Error("set-password echoed the password")
		}
	}
	// The action commits the new password as pending and changes nothing in the database.
	sec := w.secrets[w.app["secret-id"]]
	if p.s.roles["replication"] != old || sec.Content["replication-password"] != old || sec.Content["pending-replication-password"] != "n3w-pass" {
		t.Fatalf("after the action: role %q, secret %v", p.s.roles["replication"], sec.Content)
	}
	if at := w.timer("pg/0", timerPasswords); at.IsZero() || at.After(w.now()) {
		t.Fatalf("passwords timer %v, want now", at)
	}
	// The timer's hook applies it and commits it.
	w.mustRunEvent("pg/0", hookCustomNotice, wake)
	if p.s.roles["replication"] != "n3w-pass" {
		t.Errorf("role password %q", p.s.roles["replication"])
	}
	if got := sec.Content["replication-password"]; got != "n3w-pass" || sec.Content["pending-replication-password"] != "" {
		t.Errorf("secret %v", sec.Content)
	}
	if w.app["secret-revision"] != "2" {
		t.Errorf("secret-revision %q", w.app["secret-revision"])
	}
	if !w.timer("pg/0", timerPasswords).IsZero() {
		t.Errorf("passwords timer still set")
	}
	// The replica refreshes its passfile on the app-data change.
	r := w.mustRun("pg/1", "database-peers-relation-changed")
	if !slices.Contains(r.s.pass, postgres.PassEntry{User: "replication", Password: "n3w-pass"}) {
		t.Errorf("replica passfile %v", r.s.pass)
	}
	// get-password returns it.
	u, _ = w.run("pg/1", "get-password", map[string]any{"username": "replication"}, nil)
	if u.f.Results["password"] != "n3w-pass" {
		t.Errorf("get-password %v", u.f.Results)
	}
}

func TestStopHookFastStops(t *testing.T) {
	w := bootstrap(t, 1)
	u := w.mustRun("pg/0", "stop")
	if u.s.running || u.s.calls[len(u.s.calls)-1] != "Stop" {
		t.Errorf("calls %v", u.s.calls)
	}
}

func TestSwitchoverRollsBackWhenTargetNeverPromotes(t *testing.T) {
	for _, targetWritable := range []bool{false, true} {
		t.Run(fmt.Sprintf("target writable %v", targetWritable), func(t *testing.T) {
			w := bootstrap(t, 2)
			w.mustRun("pg/1", "database-peers-relation-joined")
			p, r := w.units["pg/0"], w.units["pg/1"]
			p.s.received, r.s.received, r.s.replayed = 500, 400, 400
			if _, err := w.run("pg/0", "promote-to-primary", map[string]any{"scope": "unit", "unit": "pg/1"}, nil); err != nil {
				t.Fatal(err)
			}
			if p.s.running {
				t.Fatal("old primary still running")
			}
			w.mustRun("pg/1", "database-peers-relation-changed") // cannot catch up: waits
			if targetWritable {
				r.s.inRecovery = false // e.g. promoted by hand: the old primary must not start
			}
			w.elapsed = 10 * time.Minute
			u := w.mustRun("pg/0", "update-status")
			if w.app["switchover"] != "" || w.app["primary"] != "pg/0" {
				t.Fatalf("app data after rollback %v", w.app)
			}
			if targetWritable {
				wantStatus(t, u, "waiting", "switchover to pg/1 was rolled back but it is writable")
				if p.s.running {
					t.Fatal("old primary started while the target is writable")
				}
				return
			}
			wantStatus(t, u, "active", "Primary")
			if !p.s.running || p.s.inRecovery {
				t.Fatal("old primary not back as primary after rollback")
			}
			// A late target never promotes without the switchover record.
			r.s.replayed = 600
			r = w.mustRun("pg/1", "database-peers-relation-changed")
			if !r.s.inRecovery {
				t.Fatal("target promoted after the rollback")
			}
		})
	}
}

func TestCrashedOldPrimaryRewindsOnReturn(t *testing.T) {
	w := bootstrap(t, 2)
	w.mustRun("pg/1", "database-peers-relation-joined")
	old := w.units["pg/0"]
	// The pod dies: PostgreSQL is gone without a clean shutdown; pg/1 takes over.
	old.s.running, old.s.cleanStopped, old.s.received = false, false, 1000
	w.leader = "pg/1"
	w.mustRun("pg/1", "update-status")
	if w.app["primary"] != "pg/1" {
		t.Fatalf("primary %q", w.app["primary"])
	}
	old.s.calls = nil
	u := w.mustRun("pg/0", "postgresql-pebble-ready")
	wantStatus(t, u, "active", "Replica")
	want := []string{"Stop", "Rewind127.0.0.11", "FollowPrimary127.0.0.11", "Start"}
	if !slices.Equal(u.s.calls, want) {
		t.Errorf("calls %v, want %v", u.s.calls, want)
	}
}

func TestPebbleConnectionLossIsWaiting(t *testing.T) {
	err := fmt.Errorf("reload: exec pg_ctl: %w", client.ConnectionError{})
	if !isNotReady(err) {
		t.Fatal("a dropped Pebble connection is not treated as a workload that is not ready")
	}
	if isNotReady(fmt.Errorf("initdb: exit 1")) {
		t.Fatal("a real error treated as not ready")
	}
}

func TestSwitchoverRequestedOnLeaderTarget(t *testing.T) {
	w := bootstrap(t, 2)
	w.mustRun("pg/1", "database-peers-relation-joined")
	// pg/1 is primary, pg/0 (leader) a replica: run the switchover to the leader itself.
	w.app["primary"], w.app["primary-address"] = "pg/1", w.units["pg/1"].s.addr
	p, l := w.units["pg/1"], w.units["pg/0"]
	p.s.inRecovery, p.s.standby, l.s.inRecovery, l.s.standby = false, false, true, true
	p.s.received, l.s.received, l.s.replayed = 500, 500, 500
	u, err := w.run("pg/0", "promote-to-primary", map[string]any{"scope": "unit"}, nil)
	if err != nil || u.f.IsFailed {
		t.Fatalf("action: %v %q", err, u.f.Failed)
	}
	if w.app["switchover"] == "" {
		t.Fatal("no switchover recorded")
	}
	w.mustRun("pg/1", "database-peers-relation-changed") // old primary demotes
	if p.s.running {
		t.Fatal("old primary still running")
	}
	l.s.replayed = 600
	w.mustRun("pg/0", "database-peers-relation-changed") // the leader target promotes and records
	if w.app["primary"] != "pg/0" || l.s.inRecovery {
		t.Fatalf("app %v, leader in recovery %v", w.app, l.s.inRecovery)
	}
}
