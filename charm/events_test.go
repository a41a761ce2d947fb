package charm

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/drprotocol"
	"github.com/jujulet/postgresql-k8s/internal/hookenv"
	"github.com/jujulet/postgresql-k8s/internal/pgwatch"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

func checkEvent(check string) func(*hookenv.Env) {
	return func(e *hookenv.Env) { e.WorkloadName, e.PebbleCheckName = postgres.Container, check }
}

func noticeEvent(typ, key string) func(*hookenv.Env) {
	return func(e *hookenv.Env) {
		e.WorkloadName, e.NoticeID, e.NoticeType, e.NoticeKey = postgres.Container, "7", typ, key
	}
}

var wake = noticeEvent("custom", pgwatch.NoticeKey)

func (w *world) mustRunEvent(unit, hook string, mod func(*hookenv.Env)) *testUnit {
	w.t.Helper()
	u, err := w.run(unit, hook, nil, mod)
	if err != nil {
		w.t.Fatalf("%s on %s: %v", hook, unit, err)
	}
	return u
}

// timer returns the deadline of a timer in unit's timers file (zero when absent).
func (w *world) timer(unit, name string) time.Time { return w.units[unit].s.timers[name] }

// offLeader is a 3-unit cluster after the leader pg/0 handed the primary to pg/1: the
// hand-off itself is checked on the way.
func offLeader(t *testing.T) *world {
	t.Helper()
	w := bootstrap(t, 3)
	w.tweak = func(c *Charm) { c.FailoverAfter = 5 * time.Second }
	l, r1, r2 := w.units["pg/0"], w.units["pg/1"], w.units["pg/2"]
	w.mustRun("pg/1", "database-peers-relation-joined")
	w.mustRun("pg/2", "database-peers-relation-joined")
	l.s.received = 500
	r1.s.received, r1.s.replayed, r2.s.received, r2.s.replayed = 600, 600, 550, 550

	// The leader is the primary and pg/1 streams from it: the leader hands the primary over
	// with a planned switchover (clean shutdown first).
	w.mustRun("pg/0", "database-peers-relation-changed")
	sw := Switchover{}
	if s := (&State{AppData: w.app}).Switchover(); s != nil {
		sw = *s
	}
	if sw.From != "pg/0" || sw.To != "pg/1" || !isHandoff(sw.ID) || l.s.running {
		t.Fatalf("no hand-off to pg/1: switchover %+v, leader running %v", sw, l.s.running)
	}
	if at := w.timer("pg/0", timerSwitchoverRollback); !at.Equal(w.now().Add(90 * time.Second).Add(time.Second)) {
		t.Errorf("rollback timer %v", at)
	}
	w.mustRun("pg/1", "database-peers-relation-changed") // replayed past the checkpoint: promotes
	w.mustRun("pg/0", "database-peers-relation-changed") // records it, follows it
	w.mustRun("pg/2", "database-peers-relation-changed")
	if w.app["primary"] != "pg/1" || w.app["switchover"] != "" || w.app[keyPinnedPrimary] != "" {
		t.Fatalf("app data after the hand-off %v", w.app)
	}
	if r1.s.inRecovery || !l.s.inRecovery || !l.s.running || l.s.conf.Upstream == nil || l.s.conf.Upstream.Host != r1.s.addr {
		t.Fatalf("roles after the hand-off: pg/1 recovery %v, pg/0 %+v", r1.s.inRecovery, l.s)
	}
	if !w.timer("pg/0", timerSwitchoverRollback).IsZero() {
		t.Error("rollback timer kept after the switchover completed")
	}
	if slices.ContainsFunc(l.s.calls, func(c string) bool { return strings.HasPrefix(c, "Rewind") || strings.HasPrefix(c, "BaseBackup") }) {
		t.Errorf("the old primary was rewound or re-cloned after a clean hand-off: %v", l.s.calls)
	}
	// The replicas watch their upstream with a check; the primary watches itself.
	if l.s.layer.Upstream != r1.s.addr+":5432" || r1.s.layer.Upstream != "" || !l.s.watcher {
		t.Errorf("layers: pg/0 %+v pg/1 %+v, watcher %v", l.s.layer, r1.s.layer, l.s.watcher)
	}
	return w
}

func TestHandOffWaitsForAStreamingReplica(t *testing.T) {
	tests := []struct {
		name  string
		setup func(w *world)
	}{
		{"replica not streaming", func(w *world) { w.units["pg/1"].s.running = false }},
		{"operator pinned the leader", func(w *world) { w.app[keyPinnedPrimary] = "pg/0" }},
		{"after a rollback", func(w *world) {
			w.units["pg/0"].f.State[localHandoffAfter] = "1700000100"
		}},
		{"replica not yet on the leader's new timeline", func(w *world) {
			// The leader was promoted where the replica's stream ends: nothing of the new
			// timeline reached it yet (it would wait for a checkpoint it never receives).
			at := postgres.LSN(0x3000000)
			w.units["pg/0"].s.received, w.units["pg/1"].s.received = at, at
			w.units["pg/0"].f.State[localPromotedAt] = at.String()
		}},
		{"standby cluster", func(w *world) {
			w.tweak = func(c *Charm) { EnableAsyncReplication(c) }
			w.app[keyMode] = string(modeStandby)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := bootstrap(t, 2)
			w.mustRun("pg/1", "database-peers-relation-joined")
			tt.setup(w)
			w.mustRun("pg/0", "database-peers-relation-changed")
			if w.app["switchover"] != "" || !w.units["pg/0"].s.running {
				t.Fatalf("hand-off started: %v", w.app)
			}
		})
	}
}

func TestHandOffRetriesByItsTimerUntilAReplicaStreams(t *testing.T) {
	w := bootstrap(t, 2)
	w.mustRun("pg/1", "database-peers-relation-joined")
	r := w.units["pg/1"]
	r.s.running = false // e.g. its pod is down
	for _, d := range []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second} {
		w.mustRunEvent("pg/0", hookCustomNotice, wake)
		if w.app["switchover"] != "" {
			t.Fatal("hand-off to a replica that does not stream")
		}
		if got := w.timer("pg/0", timerHandoffRetry); !got.Equal(w.now().Add(d)) {
			t.Fatalf("handoff-retry at %v, want now+%s", got, d)
		}
		w.elapsed += d
	}
	// The replica is back and streams; it changed nothing the leader sees, but the timer's
	// notice finds it.
	r.s.running = true
	w.mustRunEvent("pg/0", hookCustomNotice, wake)
	if sw := (&State{AppData: w.app}).Switchover(); sw == nil || sw.To != "pg/1" {
		t.Fatalf("no hand-off after the replica returned: %v", w.app)
	}
	if _, ok := w.units["pg/0"].s.timers[timerHandoffRetry]; ok || w.units["pg/0"].f.State[localHandoffBackoff] != "" {
		t.Errorf("handoff-retry kept: %v %v", w.units["pg/0"].s.timers, w.units["pg/0"].f.State)
	}
}

func TestUpstreamCheckOnAReplicaReportsToTheLeader(t *testing.T) {
	w := offLeader(t)
	r1, r2 := w.units["pg/1"], w.units["pg/2"]
	r1.s.down = true
	u := w.mustRunEvent("pg/2", hookCheckFailed, checkEvent(postgres.UpstreamCheck))
	rep, ok := (&State{MyData: u.f.Relations[peerRel].Data["pg/2"]}).myUpstreamDown()
	if !ok || rep.Primary != "pg/1" || rep.Since != w.now().UnixMilli() {
		t.Fatalf("upstream-down %+v %v", rep, ok)
	}
	if !r2.s.inRecovery || w.app["primary"] != "pg/1" {
		t.Fatal("a replica that lost its upstream promoted itself or changed the primary")
	}
	// Its own server's check is not about the upstream: the report stays as it is.
	w.elapsed += time.Second
	w.mustRunEvent("pg/2", hookCheckRecovered, checkEvent(postgres.CheckName))
	if got, _ := (&State{MyData: u.f.Relations[peerRel].Data["pg/2"]}).myUpstreamDown(); got != rep {
		t.Fatalf("report changed to %+v", got)
	}
	r1.s.down = false
	w.mustRunEvent("pg/2", hookCheckRecovered, checkEvent(postgres.UpstreamCheck))
	if v := u.f.Relations[peerRel].Data["pg/2"][keyUpstreamDown]; v != "" {
		t.Fatalf("report kept after recovery: %s", v)
	}
}

func TestLeaderFailsOverOnlyAfterItsOwnConfirmation(t *testing.T) {
	w := offLeader(t)
	r1, r2 := w.units["pg/1"], w.units["pg/2"]
	r2.s.received = 700
	r1.s.down = true
	w.mustRunEvent("pg/2", hookCheckFailed, checkEvent(postgres.UpstreamCheck))
	// The report reaches the leader: it probes, starts its own window and sets a timer.
	w.elapsed += 500 * time.Millisecond
	start := w.now()
	w.mustRun("pg/0", "database-peers-relation-changed")
	if w.app["primary"] != "pg/1" {
		t.Fatal("failed over on a peer's report alone")
	}
	if at := w.timer("pg/0", timerFailoverConfirm); !at.Equal(start.Add(5 * time.Second)) {
		t.Fatalf("confirmation timer %v, want %v", at, start.Add(5*time.Second))
	}
	// The leader's own check fails too: still within the window.
	w.elapsed += 2 * time.Second
	w.mustRunEvent("pg/0", hookCheckFailed, checkEvent(postgres.UpstreamCheck))
	if w.app["primary"] != "pg/1" {
		t.Fatal("failed over within the confirmation window")
	}
	// The timer's notice: the window has passed and the primary still does not answer.
	w.elapsed += 3 * time.Second
	u := w.mustRunEvent("pg/0", hookCustomNotice, wake)
	if w.app["primary"] != "pg/2" {
		t.Fatalf("primary %q after the confirmation, want pg/2 (most advanced)", w.app["primary"])
	}
	if u.f.State[localPrimaryDown] != "" || !w.timer("pg/0", timerFailoverConfirm).IsZero() {
		t.Errorf("confirmation left behind: state %v timers %v", u.f.State, u.s.timers)
	}
	n := w.mustRun("pg/2", "database-peers-relation-changed")
	wantStatus(t, n, "active", "Primary")
}

func TestFlappingPrimaryCausesNoFailover(t *testing.T) {
	w := offLeader(t)
	r1 := w.units["pg/1"]
	steps := []struct {
		at   time.Duration // since the first failure
		down bool          // pg/1 answers or not
		hook string
		mod  func(*hookenv.Env)
	}{
		{0, true, hookCheckFailed, checkEvent(postgres.UpstreamCheck)},
		{2 * time.Second, false, hookCheckRecovered, checkEvent(postgres.UpstreamCheck)},
		{4 * time.Second, true, hookCheckFailed, checkEvent(postgres.UpstreamCheck)},
		{5 * time.Second, true, hookCustomNotice, wake}, // the first window's timer
		{6 * time.Second, false, hookCheckRecovered, checkEvent(postgres.UpstreamCheck)},
		{8 * time.Second, true, hookCheckFailed, checkEvent(postgres.UpstreamCheck)},
		{9 * time.Second, true, hookCustomNotice, wake}, // the second window's timer
		{10 * time.Second, false, hookCheckRecovered, checkEvent(postgres.UpstreamCheck)},
		{13 * time.Second, false, hookCustomNotice, wake},
	}
	base := w.elapsed
	for _, s := range steps {
		w.elapsed = base + s.at
		r1.s.down = s.down
		w.mustRunEvent("pg/0", s.hook, s.mod)
		if w.app["primary"] != "pg/1" {
			t.Fatalf("failed over at +%s (%s)", s.at, s.hook)
		}
	}
	if r1.s.inRecovery || w.units["pg/0"].f.State[localPrimaryDown] != "" {
		t.Fatalf("after the flapping: pg/1 in recovery %v, record %q", r1.s.inRecovery, w.units["pg/0"].f.State[localPrimaryDown])
	}
}

func TestCustomNotices(t *testing.T) {
	tests := []struct {
		name      string
		mod       func(*hookenv.Env)
		reconcile bool
	}{
		{"the watcher's wake-up", wake, true},
		{"another key", noticeEvent("custom", "example.com/other"), false},
		{"garbage key", noticeEvent("custom", "\x00;rm -rf"), false},
		{"not custom", noticeEvent("change-update", pgwatch.NoticeKey), false},
		{"empty", noticeEvent("", ""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := offLeader(t)
			w.units["pg/1"].s.down = true
			l := w.units["pg/0"]
			before := len(l.s.calls)
			w.mustRunEvent("pg/0", hookCustomNotice, tt.mod)
			reconciled := l.f.State[localPrimaryDown] != ""
			if reconciled != tt.reconcile {
				t.Fatalf("reconciled %v, want %v (state %v)", reconciled, tt.reconcile, l.f.State)
			}
			if !tt.reconcile && len(l.s.calls) != before {
				t.Errorf("an ignored notice touched the workload: %v", l.s.calls[before:])
			}
		})
	}
}

func TestSwitchoverRolledBackByItsTimer(t *testing.T) {
	w := bootstrap(t, 2)
	w.mustRun("pg/1", "database-peers-relation-joined")
	p, r := w.units["pg/0"], w.units["pg/1"]
	p.s.received, r.s.received, r.s.replayed = 500, 400, 400
	w.app[keyPinnedPrimary] = "pg/0"
	if _, err := w.run("pg/0", "promote-to-primary", map[string]any{"scope": "unit", "unit": "pg/1"}, nil); err != nil {
		t.Fatal(err)
	}
	at := w.timer("pg/0", timerSwitchoverRollback)
	if want := w.now().Add(91 * time.Second); !at.Equal(want) {
		t.Fatalf("rollback timer %v, want %v (written by the action)", at, want)
	}
	// The target cannot catch up: it looks again soon, by its own timer.
	u := w.mustRun("pg/1", "database-peers-relation-changed")
	wantStatus(t, u, "waiting", "switchover: replayed")
	if got := w.timer("pg/1", timerSwitchoverReplay); !got.Equal(w.now().Add(pollAgain)) {
		t.Errorf("replay timer %v", got)
	}
	w.elapsed = at.Sub(time.Unix(1_700_000_000, 0))
	w.mustRunEvent("pg/0", hookCustomNotice, wake)
	if w.app["switchover"] != "" || w.app["primary"] != "pg/0" || !p.s.running || p.s.inRecovery {
		t.Fatalf("not rolled back: app %v running %v", w.app, p.s.running)
	}
	if w.units["pg/0"].f.State[localHandoffAfter] == "" {
		t.Error("no hand-off backoff after a rollback")
	}
}

func TestWaitingRetriesWithBackoff(t *testing.T) {
	w := newWorld(t, 2)
	w.units["pg/0"].s.notReady = false
	// pg/1 waits for the leader's passwords: a retry wakes it up, later and later.
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, d := range want {
		u := w.mustRun("pg/1", "update-status")
		wantStatus(t, u, "waiting", "waiting for the leader")
		if got := w.timer("pg/1", timerRetry); !got.Equal(w.now().Add(d)) {
			t.Fatalf("retry %d at %v, want now+%s", i, got, d)
		}
		w.elapsed += d
	}
	// The leader initialises; the retry's notice finds the passwords and stops retrying.
	w.initLeader()
	u := w.mustRunEvent("pg/1", hookCustomNotice, wake)
	wantStatus(t, u, "active", "Replica")
	if _, ok := u.s.timers[timerRetry]; ok || u.f.State[localRetryBackoff] != "" {
		t.Errorf("retry kept: timers %v state %v", u.s.timers, u.f.State)
	}
}

func TestTimersFile(t *testing.T) {
	w := bootstrap(t, 1)
	u := w.units["pg/0"]
	writes := u.s.timerWrites
	w.mustRun("pg/0", "update-status")
	if u.s.timerWrites != writes {
		t.Errorf("an unchanged timers file was rewritten")
	}
	// Due timers are dropped (this hook is their wake-up), later ones are kept.
	u.s.timers = pgwatch.Timers{"dr-promote": w.now().Add(-time.Second), "dr-abandon": w.now().Add(time.Minute)}
	w.mustRunEvent("pg/0", hookCustomNotice, wake)
	if _, due := u.s.timers["dr-promote"]; due || !u.s.timers["dr-abandon"].Equal(w.now().Add(time.Minute)) {
		t.Errorf("timers after the wake-up: %v", u.s.timers)
	}
	// A damaged file is replaced.
	u.s.timersBad = true
	w.mustRun("pg/0", "update-status")
	if u.s.timersBad {
		t.Error("damaged timers file kept")
	}
	// WakeAt: the earliest request of one hook wins; zero cancels.
	st := &State{}
	st.WakeAt("a", w.now().Add(3*time.Second))
	st.WakeAt("a", w.now().Add(time.Second))
	st.WakeAt("a", w.now().Add(2*time.Second))
	st.WakeAt("b", w.now())
	st.WakeAt("b", time.Time{})
	if !st.wakes["a"].Equal(w.now().Add(time.Second)) || !st.wakes["b"].Equal(w.now()) {
		t.Errorf("wakes %v", st.wakes)
	}
	st.WakeAt("c", time.Time{})
	if _, ok := st.wakes["c"]; !ok {
		t.Error("a cancellation was not recorded")
	}
	// A name the watcher would refuse never reaches the file.
	w.tweak = func(c *Charm) {
		c.ext = stepExtension{fn: func(st *State) {
			st.WakeAt("Not Valid", w.now().Add(time.Second))
			st.WakeAt("ok-name", w.now().Add(time.Second))
		}}
	}
	w.mustRun("pg/0", "config-changed") // a hook that reconciles whatever the last one did
	if _, bad := u.s.timers["Not Valid"]; bad || u.s.timers["ok-name"].IsZero() {
		t.Errorf("timers %v", u.s.timers)
	}
}

func TestCrossClusterRollbackByItsTimer(t *testing.T) {
	d := replicating(t)
	ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
	ua.s.received, ub.s.replayed = 5000, 100
	d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"})
	if at := d.b.timer("pg/0", timerDRAbandon); !at.Equal(d.b.now().Add(2*time.Minute + time.Second)) {
		t.Errorf("standby's abandon timer %v", at)
	}
	d.mustRun("a", "pg/0", "replication-offer-relation-changed")
	rollbackAt := d.a.timer("pg/0", timerDRRollback)
	if want := d.a.now().Add(61 * time.Second); !rollbackAt.Equal(want) {
		t.Fatalf("rollback timer %v, want %v", rollbackAt, want)
	}
	u := d.mustRun("b", "pg/0", "replication-relation-changed")
	wantStatus(t, u, "waiting", "switchover")
	if at := d.b.timer("pg/0", timerDRPromote); !at.Equal(d.b.now().Add(pollAgain)) {
		t.Errorf("promote timer %v", at)
	}
	// Nothing else happens; the timer's notice withdraws the token, and the next one, after
	// the standby cluster's promotion bound, rolls the primary cluster back.
	d.a.elapsed = rollbackAt.Sub(time.Unix(1_700_000_000, 0))
	d.sync("a")
	d.a.mustRunEvent("pg/0", hookCustomNotice, wake)
	d.appA = maps.Clone(ua.f.Relations[d.relA].Data["pg"])
	if ua.s.running || d.appA[drprotocol.KeyDemotion] != "" {
		t.Fatalf("token not withdrawn at the bound: running %v bucket %v", ua.s.running, d.appA)
	}
	rollbackAt = d.a.timer("pg/0", timerDRRollback)
	if want := d.a.now().Add(70*time.Second + time.Second); !rollbackAt.Equal(want) {
		t.Fatalf("rollback timer after the withdrawal %v, want %v", rollbackAt, want)
	}
	d.a.elapsed = rollbackAt.Sub(time.Unix(1_700_000_000, 0))
	d.sync("a")
	d.a.mustRunEvent("pg/0", hookCustomNotice, wake)
	d.appA = maps.Clone(ua.f.Relations[d.relA].Data["pg"])
	if !ua.s.running || ua.s.inRecovery || d.appA[drprotocol.KeyEpoch] != "3" {
		t.Fatalf("not rolled back: running %v recovery %v bucket %v", ua.s.running, ua.s.inRecovery, d.appA)
	}
	if !d.a.timer("pg/0", timerDRRollback).IsZero() {
		t.Error("rollback timer kept after the rollback")
	}
}

// stepExtension is a single cluster whose extension step runs fn.
type stepExtension struct {
	noExtension
	fn func(st *State)
}

func (e stepExtension) step(_ context.Context, _ *Charm, st *State, _ Workload) error {
	e.fn(st)
	return nil
}

// TestPodGoneMidHookKeepsTheHookAlive is chaos finding F3: a pod that goes away after the
// hook opened its workload left the hook with no workload to write its timers to, and the
// hook panicked (status 2) instead of ending waiting for pebble-ready.
func TestPodGoneMidHookKeepsTheHookAlive(t *testing.T) {
	w := bootstrap(t, 1)
	u := w.units["pg/0"]
	u.s.goneMidHook = true
	w.mustRunEvent("pg/0", hookCustomNotice, wake) // panicked before the fix
	wantStatus(t, u, "waiting", "lost the postgresql container")
	// Back with the same pod: the next hook writes the retry timer.
	u.s.goneMidHook = false
	w.mustRunEvent("pg/0", hookCustomNotice, wake)
	if w.timer("pg/0", timerRetry).IsZero() && u.f.UnitStatus.Status == "waiting" {
		t.Errorf("a waiting unit without a retry timer: %+v", u.s.timers)
	}
}

// TestCompletedSwitchoverCancelsTheFailoverCountdown is chaos finding F1: the leader, a
// replica, saw its upstream go down when the old primary shut down for a switchover; in the
// hook that recorded the target as the primary it still judged the old primary, down for
// longer than FailoverAfter by its upstream report, and failed over to itself: two writable
// primaries.
func TestCompletedSwitchoverCancelsTheFailoverCountdown(t *testing.T) {
	w := offLeader(t) // leader pg/0 a replica, pg/1 primary, pg/2 replica
	l, p, r := w.units["pg/0"], w.units["pg/1"], w.units["pg/2"]
	p.s.received, l.s.received, l.s.replayed, r.s.received, r.s.replayed = 700, 700, 700, 700, 700
	w.mustRun("pg/1", "database-peers-relation-changed") // publishes both replicas as synchronous standbys
	if rec := mustRecord(t, w, "pg/1"); !slices.Equal(rec.Standbys, []string{"pg/0", "pg/2"}) {
		t.Fatalf("pg/1 published %+v", rec)
	}
	sw := Switchover{ID: "7", From: "pg/1", To: "pg/2", Since: w.now().Unix()}
	b, _ := json.Marshal(sw)
	w.app["switchover"] = string(b)

	w.mustRun("pg/1", "database-peers-relation-changed") // clean shutdown, token published
	if p.s.running {
		t.Fatal("the old primary did not shut down")
	}
	// The leader's upstream check fails against the stopped primary.
	w.mustRunEvent("pg/0", hookCheckFailed, checkEvent(postgres.UpstreamCheck))
	w.elapsed += 6 * time.Second // past FailoverAfter (5s)
	r.s.replayed = 800
	w.mustRun("pg/2", "database-peers-relation-changed") // replayed past the checkpoint: promotes
	if r.s.inRecovery {
		t.Fatal("the target did not promote")
	}
	w.mustRun("pg/0", "database-peers-relation-changed") // records pg/2
	w.mustRunEvent("pg/0", hookCustomNotice, wake)
	if w.app["primary"] != "pg/2" {
		t.Fatalf("primary %q after the switchover to pg/2", w.app["primary"])
	}
	if !l.s.inRecovery {
		t.Fatal("the leader promoted itself after a completed switchover: two writable primaries")
	}
	if l.f.State[localPrimaryDown] != "" || !w.timer("pg/0", timerFailoverConfirm).IsZero() {
		t.Errorf("failover countdown kept: %q, timer %v", l.f.State[localPrimaryDown], w.timer("pg/0", timerFailoverConfirm))
	}
}

// writableUnits lists the units whose fake server runs writable.
func (w *world) writableUnits() []string {
	var out []string
	for _, n := range w.names() {
		if s := w.units[n].s; s.running && !s.inRecovery && !s.down {
			out = append(out, n)
		}
	}
	return out
}

// TestRestartedPrimaryWaitsForTheLeader is chaos finding F6: a primary whose pod restarted
// ran a hook that still saw it recorded primary, while the leader had just failed over to
// another unit (the hook's view of the app data is older than the leader's decision): it
// started writable while the new primary promoted. It now starts read-only and promotes
// only on the leader's confirmation; replaced meanwhile, it rewinds and follows.
func TestRestartedPrimaryWaitsForTheLeader(t *testing.T) {
	t.Run("replaced while down", func(t *testing.T) {
		w := offLeader(t) // leader pg/0 a replica, pg/1 primary, pg/2 replica
		p, r := w.units["pg/1"], w.units["pg/2"]
		p.s.received, r.s.received, r.s.replayed = 700, 700, 700
		for _, u := range w.units {
			u.s.timeline = p.s.timeline // the replicas follow the primary's timeline
		}
		w.mustRun("pg/1", "database-peers-relation-changed") // publishes its standbys
		p.s.running, p.s.cleanStopped = false, false         // the pod is killed
		w.mustRun("pg/0", "update-status")                   // countdown
		w.elapsed += 6 * time.Second
		w.mustRunEvent("pg/0", hookCustomNotice, wake) // fails over
		next := w.app["primary"]
		if next == "pg/1" || next == "" {
			t.Fatalf("no failover: primary %q", next)
		}
		// pg/1's pod is back; its hook read the app data before the leader's decision.
		recorded := maps.Clone(w.app)
		w.app["primary"], w.app["primary-address"] = "pg/1", p.s.addr
		p.s.calls = nil
		w.mustRun("pg/1", "postgresql-pebble-ready")
		w.app = recorded
		if !p.s.running || !p.s.inRecovery {
			t.Fatalf("the restarted old primary runs %v, in recovery %v: it must start read-only", p.s.running, p.s.inRecovery)
		}
		wantStatus(t, p, "waiting", "restarted read-only after an unplanned stop")
		w.mustRun(next, "database-peers-relation-changed") // promotes
		if got := w.writableUnits(); !slices.Equal(got, []string{next}) {
			t.Fatalf("writable units %v, want only %s", got, next)
		}
		w.mustRun("pg/0", "database-peers-relation-changed")
		if w.app[keyRestartConfirmed] != "" {
			t.Fatalf("the leader confirmed a replaced primary: %q", w.app[keyRestartConfirmed])
		}
		// pg/1 sees the new primary: it is checked for divergence and follows.
		p.s.received = 900 // WAL the new primary never received
		p.s.calls = nil
		w.mustRun("pg/1", "database-peers-relation-changed")
		wantStatus(t, p, "active", "Replica")
		if !slices.Contains(p.s.calls, "Rewind"+w.units[next].s.addr) || !p.s.inRecovery {
			t.Errorf("old primary calls %v (in recovery %v): want a rewind onto %s", p.s.calls, p.s.inRecovery, next)
		}
		if p.f.Relations[peerRel].Data["pg/1"][keyRestarted] != "" {
			t.Error("restart marker kept on a replica")
		}
	})
	t.Run("still the primary", func(t *testing.T) {
		w := offLeader(t)
		p := w.units["pg/1"]
		p.s.running, p.s.cleanStopped = false, false
		w.mustRun("pg/1", "postgresql-pebble-ready")
		if !p.s.running || !p.s.inRecovery {
			t.Fatalf("restarted primary runs %v, in recovery %v: want read-only", p.s.running, p.s.inRecovery)
		}
		w.mustRun("pg/0", "database-peers-relation-changed") // its read-only server answers: confirmed
		if w.app["primary"] != "pg/1" || w.app[keyRestartConfirmed] == "" {
			t.Fatalf("app data %v", w.app)
		}
		w.mustRun("pg/1", "database-peers-relation-changed")
		if p.s.inRecovery {
			t.Fatal("the confirmed primary did not promote")
		}
		if p.f.Relations[peerRel].Data["pg/1"][keyRestarted] != "" {
			t.Error("restart marker kept after the promotion")
		}
		// The leader's confirmation is for that restart only: the next one asks again.
		p.s.running = false
		w.elapsed += time.Second
		w.mustRun("pg/1", "postgresql-pebble-ready")
		if !p.s.inRecovery {
			t.Fatal("a second restart promoted on the first one's confirmation")
		}
	})
}
