package charm

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/drprotocol"
)

// The orderings of a planned cross-cluster switchover against its rollback, and the other
// transitions of docs/PROTOCOL.md that must exclude each other.

// tokenPublished: b asked to become primary, a shut down cleanly at 5000 and published its
// token, b took it and waits to replay past it (it replayed 100).
func tokenPublished(t *testing.T) *drWorld {
	t.Helper()
	d := replicating(t)
	ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
	ua.s.received, ub.s.received, ub.s.replayed = 5000, 100, 100
	if u := d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"}); u.f.IsFailed {
		t.Fatalf("promote-to-primary: %s", u.f.Failed)
	}
	d.mustRun("a", "pg/0", changedHook("a"))
	if ua.s.running || d.appA[drprotocol.KeyRole] != "demoted" {
		t.Fatalf("a did not hand over: running %v bucket %v", ua.s.running, d.appA)
	}
	d.mustRun("b", "pg/0", changedHook("b"))
	if d.b.app[keyMode] != string(modePromoting) || slices.Contains(ub.s.calls, "Promote") {
		t.Fatalf("b: mode %q calls %v", d.b.app[keyMode], ub.s.calls)
	}
	return d
}

func writable(s *fakeServer) bool { return s.running && !s.inRecovery }

func TestLatePromotionAfterTheRollbackIsRefused(t *testing.T) {
	d := tokenPublished(t)
	ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
	beforeRollback := maps.Clone(d.appA)
	// a's rollback bound passes; b's standby leader answers read-only: a withdraws its
	// token, then rolls back.
	d.a.elapsed += 2 * DefaultDRRollbackAfter
	d.mustRun("a", "pg/0", "update-status")
	d.a.elapsed += 2 * DefaultDRRollbackAfter
	d.mustRun("a", "pg/0", "update-status")
	if !writable(ua.s) {
		t.Fatal("a did not roll back")
	}
	// b has not seen a's new claim yet (the relation lags), and its walreceiver streams the
	// restarted a's new WAL past the old shutdown checkpoint.
	d.appA = beforeRollback
	ub.s.received, ub.s.replayed = 6000, 6000
	u := d.mustRun("b", "pg/0", "update-status")
	if slices.Contains(ub.s.calls, "Promote") || writable(ub.s) {
		t.Fatalf("b promoted on WAL of a rolled-back primary: two writable clusters (calls %v)", ub.s.calls)
	}
	wantStatus(t, u, "waiting", "switchover")
	if !strings.Contains(u.f.UnitStatus.Message, "writable again") {
		t.Errorf("status %q does not say why", u.f.UnitStatus.Message)
	}
}

func TestRollbackHoldsWhileTheStandbyClusterPromoted(t *testing.T) {
	d := tokenPublished(t)
	ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
	beforeClaim := maps.Clone(d.appB)
	ub.s.received, ub.s.replayed = 5001, 5001
	d.mustRun("b", "pg/0", "update-status")
	if !writable(ub.s) {
		t.Fatal("b did not promote past the token")
	}
	claim := maps.Clone(d.appB)
	// a's rollback bound passes before b's claim reaches it.
	d.appB = beforeClaim
	d.a.elapsed += 2 * DefaultDRRollbackAfter
	u := d.mustRun("a", "pg/0", "update-status")
	if writable(ua.s) {
		t.Fatal("a rolled back while b is writable: two writable clusters")
	}
	wantStatus(t, u, "waiting", "switchover")
	if d.appA[drprotocol.KeyRole] != "demoted" {
		t.Errorf("a's bucket %v", d.appA)
	}
	// b's claim arrives: a follows it.
	d.appB = claim
	u = d.mustRun("a", "pg/0", "update-status")
	wantStatus(t, u, "active", "Standby")
	if writable(ua.s) || d.appA[drprotocol.KeyRole] != "standby" {
		t.Errorf("a after b's claim: writable %v bucket %v", writable(ua.s), d.appA)
	}
}

func TestStalledPromotionGivesUpAndThePrimaryClusterRollsBackAtOnce(t *testing.T) {
	d := tokenPublished(t)
	ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
	if got := ub.s.timers[timerDRAbandon]; got.IsZero() {
		t.Errorf("no abandon timer for the promotion: %v", ub.s.timers)
	}
	d.b.elapsed += DefaultDRRollbackAfter + 2*time.Second
	// Replay passes the checkpoint only now: too late, b gave up.
	ub.s.received, ub.s.replayed = 5001, 5001
	d.mustRun("b", "pg/0", "update-status")
	if slices.Contains(ub.s.calls, "Promote") || writable(ub.s) {
		t.Fatal("b promoted after its promotion bound")
	}
	if d.b.app[keyMode] != string(modeStandby) || d.appB[drprotocol.KeySwitchover] != "" {
		t.Fatalf("b did not withdraw its request: mode %q bucket %v", d.b.app[keyMode], d.appB)
	}
	// a sees the request withdrawn and rolls back without waiting for its own bound.
	d.mustRun("a", "pg/0", changedHook("a"))
	if !writable(ua.s) || d.appA[drprotocol.KeyRole] != "primary" || d.appA[drprotocol.KeyEpoch] != "3" {
		t.Fatalf("a after b gave up: writable %v bucket %v", writable(ua.s), d.appA)
	}
	u := d.mustRun("b", "pg/0", changedHook("b"))
	wantStatus(t, u, "active", "Standby")
}

func TestRollbackWithdrawsTheTokenFirst(t *testing.T) {
	t.Run("the standby cluster does not answer", func(t *testing.T) {
		d := tokenPublished(t)
		ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
		ub.s.down = true
		d.a.elapsed += 2 * DefaultDRRollbackAfter
		u := d.mustRun("a", "pg/0", "update-status")
		if writable(ua.s) {
			t.Fatal("a rolled back without knowing whether b promoted")
		}
		if d.appA[drprotocol.KeyDemotion] != "" || d.appA[drprotocol.KeyRole] != "demoting" {
			t.Fatalf("a did not withdraw its token: %v", d.appA)
		}
		wantStatus(t, u, "maintenance", "switchover to the other cluster: token withdrawn")
		if at := ua.s.timers[timerDRRollback]; at.IsZero() {
			t.Errorf("no rollback timer after the withdrawal: %v", ua.s.timers)
		}
		// b's promotion bound has passed since the withdrawal: it cannot promote on the token.
		d.a.elapsed += 2 * DefaultDRRollbackAfter
		d.mustRun("a", "pg/0", "update-status")
		if !writable(ua.s) || d.appA[drprotocol.KeyRole] != "primary" {
			t.Fatalf("a did not roll back after the withdrawal: %v", d.appA)
		}
	})
	t.Run("the standby cluster gives up on the withdrawn token", func(t *testing.T) {
		d := tokenPublished(t)
		ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
		d.a.elapsed += 2 * DefaultDRRollbackAfter
		d.mustRun("a", "pg/0", "update-status")
		if writable(ua.s) || d.appA[drprotocol.KeyDemotion] != "" {
			t.Fatalf("a at its bound: writable %v bucket %v", writable(ua.s), d.appA)
		}
		// b sees the token withdrawn: its head (the leader) will not promote, it says so.
		ub.s.received, ub.s.replayed = 5001, 5001
		d.mustRun("b", "pg/0", changedHook("b"))
		if slices.Contains(ub.s.calls, "Promote") || d.appB[drprotocol.KeySwitchover] != "" {
			t.Fatalf("b after the withdrawal: calls %v bucket %v", ub.s.calls, d.appB)
		}
		// a rolls back at once.
		d.mustRun("a", "pg/0", changedHook("a"))
		if !writable(ua.s) {
			t.Fatal("a did not roll back once b gave up")
		}
	})
}

func TestTokenOfAnotherTimelineIsNotPromotedOn(t *testing.T) {
	d := replicating(t)
	ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
	ua.s.received, ub.s.received, ub.s.replayed = 5000, 100, 100
	d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"})
	d.mustRun("a", "pg/0", changedHook("a"))
	var tok drprotocol.Demotion
	if err := json.Unmarshal([]byte(d.appA[drprotocol.KeyDemotion]), &tok); err != nil {
		t.Fatal(err)
	}
	tok.Timeline += 6
	b, _ := json.Marshal(tok)
	d.appA[drprotocol.KeyDemotion] = string(b)
	ub.s.received, ub.s.replayed = 5001, 5001
	u := d.mustRun("b", "pg/0", changedHook("b"))
	if slices.Contains(ub.s.calls, "Promote") {
		t.Fatal("b promoted on a token of another timeline")
	}
	wantStatus(t, u, "waiting", "switchover")
	if !strings.Contains(u.f.UnitStatus.Message, "timeline "+strconv.Itoa(tok.Timeline)) {
		t.Errorf("status %q does not name the timeline", u.f.UnitStatus.Message)
	}
}

func TestInClusterTargetDoesNotPromotePastItsBound(t *testing.T) {
	w := bootstrap(t, 2)
	w.mustRun("pg/1", "database-peers-relation-joined")
	p, r := w.units["pg/0"], w.units["pg/1"]
	p.s.received, r.s.received, r.s.replayed = 500, 400, 400
	if _, err := w.run("pg/0", "promote-to-primary", map[string]any{"scope": "unit", "unit": "pg/1"}, nil); err != nil {
		t.Fatal(err)
	}
	// The target catches up after two thirds of SwitchoverTimeout: the leader's rollback may
	// be about to run (or running, on another unit): it must not promote now.
	w.elapsed = 70 * time.Second
	r.s.received, r.s.replayed = 600, 600
	u := w.mustRun("pg/1", "database-peers-relation-changed")
	if slices.Contains(r.s.calls, "Promote") || !r.s.inRecovery {
		t.Fatal("the target promoted past its bound")
	}
	wantStatus(t, u, "waiting", "switchover")
}

func TestInClusterTargetDoesNotPromoteWhileTheOldPrimaryIsWritable(t *testing.T) {
	w := bootstrap(t, 2)
	w.mustRun("pg/1", "database-peers-relation-joined")
	p, r := w.units["pg/0"], w.units["pg/1"]
	p.s.received, r.s.received, r.s.replayed = 500, 400, 400
	if _, err := w.run("pg/0", "promote-to-primary", map[string]any{"scope": "unit", "unit": "pg/1"}, nil); err != nil {
		t.Fatal(err)
	}
	// The old primary is back writable (rolled back; the target's view is older).
	p.s.running, p.s.inRecovery = true, false
	r.s.received, r.s.replayed = 600, 600
	w.mustRun("pg/1", "database-peers-relation-changed")
	if slices.Contains(r.s.calls, "Promote") || !r.s.inRecovery {
		t.Fatal("the target promoted while the old primary is writable")
	}
}

// twoUnitPrimaryCluster: replicating, with a second unit in the primary cluster a, to which
// a's leader has handed the primary off.
func twoUnitPrimaryCluster(t *testing.T) *drWorld {
	t.Helper()
	d := replicating(t)
	n := d.addUnit("a", "pg/1")
	d.mustRun("a", "pg/0", "database-peers-relation-joined")
	d.mustRun("a", "pg/1", "database-peers-relation-joined")
	d.mustRun("a", "pg/0", "update-status") // starts the hand-off
	n.s.received, n.s.replayed = 50, 50
	d.mustRun("a", "pg/1", "update-status")
	d.mustRun("a", "pg/0", "update-status")
	d.mustRun("a", "pg/0", changedHook("a"))
	if d.a.app["primary"] != "pg/1" || d.a.app["switchover"] != "" || !writable(n.s) {
		t.Fatalf("hand-off to pg/1 not done: %v", d.a.app)
	}
	d.mustRun("b", "pg/0", changedHook("b"))
	return d
}

func TestNoInClusterSwitchoverDuringACrossClusterHandover(t *testing.T) {
	d := twoUnitPrimaryCluster(t)
	d.a.units["pg/1"].s.received = 100
	d.b.units["pg/0"].s.received, d.b.units["pg/0"].s.replayed = 101, 101
	if u := d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"}); u.f.IsFailed {
		t.Fatalf("promote-to-primary: %s", u.f.Failed)
	}
	d.mustRun("a", "pg/0", changedHook("a"))
	d.mustRun("a", "pg/1", changedHook("a"))
	d.mustRun("a", "pg/0", changedHook("a"))
	if d.a.app[keyMode] != string(modeDemoted) {
		t.Fatalf("a's mode %q", d.a.app[keyMode])
	}
	// pg/1 asked for an in-cluster switchover to pg/0 before the handover began.
	d.a.units["pg/1"].f.Relations[peerRel].Data["pg/1"]["switchover-request"] = `{"ID":"late","To":"pg/0"}`
	d.mustRun("a", "pg/0", "database-peers-relation-changed")
	if d.a.app["switchover"] != "" || d.a.app["primary"] != "pg/1" {
		t.Fatalf("in-cluster switchover started during the cross-cluster one: %v", d.a.app)
	}
}

func TestCrossClusterDemotionWaitsForAnInClusterSwitchover(t *testing.T) {
	d := twoUnitPrimaryCluster(t)
	d.a.units["pg/1"].s.received = 100
	d.b.units["pg/0"].s.received, d.b.units["pg/0"].s.replayed = 101, 101
	if u := d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"}); u.f.IsFailed {
		t.Fatalf("promote-to-primary: %s", u.f.Failed)
	}
	// An in-cluster switchover back to pg/0 is in flight on a, whose leader is now its
	// primary pg/1 (the unit that shuts down for it).
	d.a.leader = "pg/1"
	sw, _ := json.Marshal(Switchover{ID: "in-cluster", From: "pg/1", To: "pg/0", Since: 1_700_000_000})
	d.a.app["switchover"] = string(sw)
	d.mustRun("a", "pg/1", changedHook("a"))
	if d.a.app["switchover"] == "" {
		t.Fatal("the in-cluster switchover is not in flight any more")
	}
	if m := d.a.app[keyMode]; m != string(modePrimary) || d.appA[drprotocol.KeyRole] != "primary" {
		t.Fatalf("a started demoting during an in-cluster switchover: mode %q bucket %v", m, d.appA)
	}
}

func TestPromoteNeverSuggestsForceWhileThePrimaryClusterHandsOver(t *testing.T) {
	d := tokenPublished(t)
	// While promoting.
	u := d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"})
	if !u.f.IsFailed || strings.Contains(u.f.Failed, "force") {
		t.Fatalf("promote while promoting: failed=%v %q", u.f.IsFailed, u.f.Failed)
	}
	// b gave up; a, still demoted, has not rolled back yet.
	d.b.elapsed += DefaultDRRollbackAfter + 2*time.Second
	d.mustRun("b", "pg/0", "update-status")
	u = d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"})
	if !u.f.IsFailed || strings.Contains(u.f.Failed, "force") || !strings.Contains(u.f.Failed, "handing over") {
		t.Fatalf("promote while a hands over: failed=%v %q", u.f.IsFailed, u.f.Failed)
	}
}

func TestForcedPromotionWhilePromotingAfterThePrimaryClusterIsLost(t *testing.T) {
	d := tokenPublished(t)
	ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
	// a is lost after its token; b is stuck short of the checkpoint.
	u := d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster", "force": true})
	if u.f.IsFailed {
		t.Fatalf("forced promote while promoting: %s", u.f.Failed)
	}
	if !writable(ub.s) || d.appB[drprotocol.KeyRole] != "primary" || d.appB[drprotocol.KeySwitchover] != "" {
		t.Fatalf("b: writable %v bucket %v", writable(ub.s), d.appB)
	}
	e, _ := strconv.ParseInt(d.appB[drprotocol.KeyEpoch], 10, 64)
	if e <= 2 {
		t.Errorf("forced epoch %d not above the request's (2)", e)
	}
	// a comes back: it does not roll back over b, it follows.
	d.a.elapsed += 2 * DefaultDRRollbackAfter
	u = d.mustRun("a", "pg/0", "update-status")
	if writable(ua.s) {
		t.Fatal("a rolled back over a forced promotion")
	}
	wantStatus(t, u, "active", "Standby")
}

func TestForcedPromotionOfAGoneStandbyLeaderFails(t *testing.T) {
	tests := []struct {
		name string
		head string
		down bool
		want string
	}{
		{"left the cluster", "pg/7", false, "no standby leader to promote"},
		{"does not answer", "pg/1", true, "does not answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := replicating(t)
			d.addUnit("b", "pg/1")
			d.mustRun("b", "pg/1", "database-peers-relation-joined")
			d.b.units["pg/1"].s.down = tt.down
			d.a.units["pg/0"].s.running = false // the primary cluster is lost
			d.b.app["primary"] = tt.head        // the standby leader moved
			u := d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster", "force": true})
			if !u.f.IsFailed || !strings.Contains(u.f.Failed, tt.want) {
				t.Fatalf("forced promote: failed=%v %q, want %q", u.f.IsFailed, u.f.Failed, tt.want)
			}
			if d.b.app[keyMode] != string(modeStandby) {
				t.Errorf("b's mode changed to %q", d.b.app[keyMode])
			}
		})
	}
}

func TestAWithdrawnClaimLeavesTheStandbyClusterReadOnly(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(d *drWorld)
	}{
		{"epoch 0", func(d *drWorld) { d.appA[drprotocol.KeyEpoch] = "0" }},
		{"no epoch, no role", func(d *drWorld) { d.appA = map[string]string{} }},
		{"below the standby's own epoch", func(d *drWorld) { d.appB[drprotocol.KeyEpoch] = "5" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := replicating(t)
			ub := d.b.units["pg/0"]
			tt.tamper(d)
			u := d.mustRun("b", "pg/0", changedHook("b"))
			if writable(ub.s) {
				t.Fatal("the standby cluster became writable on the other cluster's word")
			}
			if d.b.app[keyMode] != string(modeStandalone) || u.f.AppStatus.Message != StandaloneMessage {
				t.Fatalf("mode %q app status %+v", d.b.app[keyMode], u.f.AppStatus)
			}
			d.mustRun("b", "pg/0", "update-status")
			if writable(ub.s) {
				t.Fatal("writable at the next hook")
			}
			// A local promote-to-primary makes it writable.
			u = d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"})
			if u.f.IsFailed || !writable(ub.s) {
				t.Fatalf("promote the standalone cluster: failed=%v %q writable %v", u.f.IsFailed, u.f.Failed, writable(ub.s))
			}
		})
	}
}

func TestEpochsAtTheBound(t *testing.T) {
	bound := strconv.FormatInt(drprotocol.MaxEpoch, 10)
	t.Run("a primary at the bound: promote fails, our bucket stays valid", func(t *testing.T) {
		d := replicating(t)
		d.appA[drprotocol.KeyEpoch] = bound
		d.mustRun("b", "pg/0", changedHook("b"))
		u := d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"})
		if !u.f.IsFailed || !strings.Contains(u.f.Failed, "no epoch left") {
			t.Fatalf("promote: failed=%v %q", u.f.IsFailed, u.f.Failed)
		}
		if _, err := drprotocol.ParseAppData(d.appB); err != nil {
			t.Fatalf("b published what it cannot read back: %v", err)
		}
	})
	t.Run("a request at the bound is not followed", func(t *testing.T) {
		d := replicating(t)
		ua := d.a.units["pg/0"]
		d.appB[drprotocol.KeySwitchover] = `{"epoch":` + bound + `,"id":"greedy"}`
		d.mustRun("a", "pg/0", changedHook("a"))
		if !writable(ua.s) || d.a.app[keyMode] != string(modePrimary) {
			t.Fatalf("a demoted for a request it could never roll back from: mode %q", d.a.app[keyMode])
		}
	})
}

func TestAStandbyLeaderThatIsNotTheLeaderKeepsItsPromotionBound(t *testing.T) {
	d := twoUnitPrimaryCluster(t) // a's head is pg/1, its leader pg/0
	head, ub := d.a.units["pg/1"], d.b.units["pg/0"]
	head.s.received = 100
	ub.s.received, ub.s.replayed = 101, 101
	d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"})
	for range 3 {
		d.mustRun("a", "pg/0", changedHook("a"))
		d.mustRun("a", "pg/1", changedHook("a"))
		d.mustRun("b", "pg/0", changedHook("b"))
	}
	if d.appB[drprotocol.KeyRole] != "primary" || d.a.app[keyMode] != string(modeStandby) {
		t.Fatalf("switchover to b: %v / mode %q", d.appB, d.a.app[keyMode])
	}
	// Back to a; its head has not replayed b's shutdown checkpoint in time.
	ub.s.received = 5000
	head.s.received, head.s.replayed = 200, 200
	d.action("a", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"})
	d.mustRun("b", "pg/0", changedHook("b"))
	d.mustRun("a", "pg/0", changedHook("a"))
	if d.a.app[keyMode] != string(modePromoting) {
		t.Fatalf("a's mode %q", d.a.app[keyMode])
	}
	// Past the bound the head replays past the checkpoint, in a hook of its own, before its
	// leader gave up: it must not promote (b may be withdrawing the token and rolling back).
	d.a.elapsed += DefaultDRRollbackAfter + 2*time.Second
	head.s.received, head.s.replayed = 5001, 5001
	before := len(head.s.calls)
	u := d.mustRun("a", "pg/1", changedHook("a"))
	if slices.Contains(head.s.calls[before:], "Promote") || writable(head.s) {
		t.Fatal("the standby leader promoted past its bound")
	}
	wantStatus(t, u, "waiting", "switchover")
	// The leader gives up: the head answers read-only.
	d.mustRun("a", "pg/0", "update-status")
	if d.a.app[keyMode] != string(modeStandby) || d.appA[drprotocol.KeySwitchover] != "" {
		t.Fatalf("a's leader did not give up: mode %q bucket %v", d.a.app[keyMode], d.appA)
	}
}

func TestRolledBackHeadDoesNotStartWhileTheOtherHeadIsWritable(t *testing.T) {
	d := tokenPublished(t)
	ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
	// b withdraws its request, yet its head answers writable (it promoted behind its
	// leader's back): a's leader rolls back on the withdrawal, its head must not start.
	d.appB[drprotocol.KeySwitchover] = ""
	ub.s.inRecovery = false
	u := d.mustRun("a", "pg/0", changedHook("a"))
	if ua.s.running {
		t.Fatal("a's head started writable while b's head is writable")
	}
	wantStatus(t, u, "waiting", "the switchover to the other cluster was rolled back, but")
	// b's head is read-only again: a starts.
	ub.s.inRecovery = true
	d.mustRun("a", "pg/0", "update-status")
	if !writable(ua.s) {
		t.Fatal("a did not start once b's head was read-only")
	}
}

func TestForcedPromotionWhilePromotingRefusedWhenThePrimaryClusterIsBack(t *testing.T) {
	d := tokenPublished(t)
	ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
	ua.s.running, ua.s.inRecovery = true, false // rolled back; b has not seen it yet
	token := d.b.app[keyToken]
	u := d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster", "force": true})
	if !u.f.IsFailed || !strings.Contains(u.f.Failed, "answers writable again") {
		t.Fatalf("forced promote with the primary cluster back: failed=%v %q", u.f.IsFailed, u.f.Failed)
	}
	if writable(ub.s) || d.b.app[keyMode] != string(modePromoting) || d.b.app[keyToken] != token {
		t.Errorf("b changed: writable %v mode %q", writable(ub.s), d.b.app[keyMode])
	}
}

func TestEveryUnitFencesOnALostTie(t *testing.T) {
	claim := func(epoch int64) drprotocol.AppData {
		return drprotocol.AppData{Epoch: epoch, Role: drprotocol.RolePrimary, PrimaryEndpoint: "10.1.0.1:5432", SystemID: "7"}
	}
	tests := []struct {
		name   string
		offers bool
		remote drprotocol.AppData
		want   drMode
	}{
		{"the other cluster claims a higher epoch", true, claim(4), modeStandby},
		{"a tie the offering side wins: we offer", true, claim(3), modePrimary},
		{"a tie the offering side wins: they offer", false, claim(3), modeStandby},
		{"a lower claim", false, claim(2), modePrimary},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &State{AppData: map[string]string{keyMode: string(modePrimary), keyEpoch: "3", "system-id": "7"}}
			a := &asyncRepl{view: &drView{relID: "replication:1", offers: tt.offers, remote: tt.remote}}
			if got, _ := a.effectiveMode(st); got != tt.want {
				t.Errorf("effective mode %q, want %q", got, tt.want)
			}
		})
	}
}

// TestForcedPromotionReportsTheHeadsRPO: a leader that is not the standby leader still says
// what the forced promotion may lose: the standby leader's positions, as when it promotes
// itself.
func TestForcedPromotionReportsTheHeadsRPO(t *testing.T) {
	d := replicating(t)
	n := d.addUnit("b", "pg/1")
	d.mustRun("b", "pg/0", "database-peers-relation-joined")
	d.mustRun("b", "pg/1", "database-peers-relation-joined")
	d.a.units["pg/0"].s.running = false // the primary cluster is lost
	d.b.app["primary"] = "pg/1"         // the standby leader moved
	n.s.inRecovery, n.s.received, n.s.replayed = true, 900, 800
	u := d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster", "force": true})
	if u.f.IsFailed {
		t.Fatalf("forced promote: %s", u.f.Failed)
	}
	for k, want := range map[string]string{"received-lsn": "0/384", "replayed-lsn": "0/320", "unreplayed-bytes": "100"} {
		if got := u.f.Results[k]; got != want {
			t.Errorf("%s = %q, want %q (results %v)", k, got, want, u.f.Results)
		}
	}
}
