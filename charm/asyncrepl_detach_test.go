package charm

import (
	"context"
	"errors"
	"fmt"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/jujulet/postgresql-k8s/internal/drprotocol"
)

// corrupt makes side s see a malformed bucket from the other side.
func (d *drWorld) corrupt(s string) {
	if s == "a" {
		d.appB = maps.Clone(d.appB)
		d.appB[drprotocol.KeyEpoch] = "ten"
	} else {
		d.appA = maps.Clone(d.appA)
		d.appA[drprotocol.KeyEpoch] = "ten"
	}
}

// TestBadRemoteDataLeavesLocalHAWorking: a restarted pod starts in the role its cluster
// recorded while the other side's data is unparsable, and the status says what is wrong.
func TestBadRemoteDataLeavesLocalHAWorking(t *testing.T) {
	tests := []struct {
		side         string
		wantRecovery bool
		wantStatus   string
		wantUnit     string
	}{
		{"a", false, "active", "Primary"},
		{"b", true, "waiting", "replication paused, the other cluster's data is invalid: invalid replication data: epoch"},
	}
	for _, tt := range tests {
		t.Run(tt.side, func(t *testing.T) {
			d := replicating(t)
			w := d.a
			if tt.side == "b" {
				w = d.b
			}
			u := w.units["pg/0"]
			d.corrupt(tt.side)
			u.s.running, u.s.inRecovery = false, false // the pod restarted
			d.mustRun(tt.side, "pg/0", "postgresql-pebble-ready")
			if !u.s.running || u.s.inRecovery != tt.wantRecovery {
				t.Fatalf("restarted %s: running %v in recovery %v, want running, recovery %v", tt.side, u.s.running, u.s.inRecovery, tt.wantRecovery)
			}
			if tt.side == "b" {
				if up := u.s.conf.Upstream; up == nil || up.Host != d.a.units["pg/0"].s.addr {
					t.Errorf("b's head upstream %+v, want a's primary", up)
				}
			}
			wantStatus(t, u, tt.wantStatus, tt.wantUnit)
			if st := u.f.AppStatus; st.Status != "waiting" || st.Message == "" {
				t.Errorf("%s app status %+v does not say the replication is paused", tt.side, st)
			}
		})
	}
}

// detach removes the relation: relation-broken on both heads, then the relation is gone.
func (d *drWorld) detach() {
	d.t.Helper()
	d.mustRun("a", "pg/0", "replication-offer-relation-broken")
	d.mustRun("b", "pg/0", "replication-relation-broken")
	d.unrelate()
}

// TestDetachEndsCrossClusterStreaming: after remove-relation the former primary drops the
// other cluster's slot (ending its walsender first) and records no upstream, and the
// standalone former standby no longer streams from it; also when the primary cluster became
// primary by a switchover.
func TestDetachEndsCrossClusterStreaming(t *testing.T) {
	for _, switched := range []bool{false, true} {
		t.Run(fmt.Sprintf("after a switchover %v", switched), func(t *testing.T) {
			d := replicating(t)
			prim, stby := d.a, d.b
			ps, ss := "a", "b"
			if switched {
				ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
				ua.s.received, ub.s.replayed = 10, 11
				d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"})
				d.mustRun("a", "pg/0", changedHook("a"))
				d.mustRun("b", "pg/0", changedHook("b"))
				d.mustRun("a", "pg/0", changedHook("a"))
				d.mustRun("b", "pg/0", "update-status")
				prim, stby, ps, ss = d.b, d.a, "b", "a"
			}
			p, s := prim.units["pg/0"], stby.units["pg/0"]
			if !p.s.slots["dr_pg_0"] {
				t.Fatalf("the primary cluster's primary has no slot for the other cluster: %v", p.s.slots)
			}
			// relation-broken runs on the primary's head first: the standby still streams.
			before := len(p.s.calls)
			d.detach()
			d.mustRun(ps, "pg/0", "update-status")
			if p.s.slots["dr_pg_0"] || !slices.Contains(p.s.calls[before:], "TerminateSlotSenders dr_") {
				t.Errorf("former primary: slots %v, calls %v: want dr_pg_0 dropped after its walsender ended", p.s.slots, p.s.calls[before:])
			}
			if prim.app[keyUpstream] != "" || prim.app[keyMode] != "" {
				t.Errorf("former primary's peer data %v: want no mode, no dr-upstream", prim.app)
			}
			if p.f.State[localDRServed] != "" {
				t.Errorf("former primary still marked as serving: %v", p.f.State)
			}
			if p.s.live.MaxSlotWALKeepSizeMB <= 0 {
				t.Errorf("max_slot_wal_keep_size unbounded on the primary: %+v", p.s.live)
			}
			wantStatus(t, p, "active", "Primary")
			d.mustRun(ss, "pg/0", "update-status")
			wantStatus(t, s, "blocked", StandaloneMessage)
			if !s.s.running || !s.s.inRecovery || s.s.conf.Upstream != nil || s.s.live.Upstream != nil {
				t.Errorf("standalone: running %v recovery %v upstream %+v (live %+v): want read-only, streaming from nobody",
					s.s.running, s.s.inRecovery, s.s.conf.Upstream, s.s.live.Upstream)
			}
		})
	}
}

// rewindFails is a workload whose pg_rewind always fails.
type rewindFails struct{ Workload }

func (rewindFails) Rewind(context.Context, postgres.Upstream) (string, error) {
	return "", errors.New("pg_rewind: could not find common ancestor")
}

// TestReCloneAcrossClustersCreatesTheSlot: the old primary cluster returns after a forced
// failover, pg_rewind fails, and the re-clone from the other cluster's new primary (which
// has no slot for it) creates the slot first instead of failing forever.
func TestReCloneAcrossClustersCreatesTheSlot(t *testing.T) {
	d := replicating(t)
	ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
	d.a.open = func(unit, addr string) func(ctx context.Context, _ string) (Workload, error) {
		return func(ctx context.Context, _ string) (Workload, error) {
			wl, err := d.a.fc.open(addr)(ctx, addr)
			if err != nil {
				return nil, err
			}
			return rewindFails{drWorkload{wl.(*fakeWorkload)}}, nil
		}
	}
	ua.s.running = false
	if u := d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster", "force": true}); u.f.IsFailed {
		t.Fatalf("forced promote: %s", u.f.Failed)
	}
	delete(ub.s.slots, "dr_pg_0")
	ua.s.running, ua.s.cleanStopped, ua.s.received = true, false, 5000
	before := len(ua.s.calls)
	d.mustRun("a", "pg/0", "upgrade-charm")
	if !slices.Contains(ua.s.calls[before:], "BaseBackup"+ub.s.addr) || !ub.s.slots["dr_pg_0"] {
		t.Fatalf("re-clone: calls %v, slots on b %v", ua.s.calls[before:], ub.s.slots)
	}
	wantStatus(t, ua, "active", "Standby")
}

// TestStandbyBehindALostSlotIsReseeded: the primary cluster's server invalidated the standby
// leader's slot (max_slot_wal_keep_size): the standby cluster says so and is seeded again,
// its cascading replica too, instead of showing Standby while streaming nothing.
func TestStandbyBehindALostSlotIsReseeded(t *testing.T) {
	d := replicating(t)
	ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
	n := d.addUnit("b", "pg/1")
	d.mustRun("b", "pg/0", "database-peers-relation-joined")
	d.mustRun("b", "pg/1", "database-peers-relation-joined")
	wantStatus(t, n, "active", "Replica")

	ua.s.lostSlots = map[string]bool{"dr_pg_0": true}
	u := d.mustRun("b", "pg/0", "update-status")
	wantStatus(t, u, "maintenance", "fell behind the primary cluster")
	if ub.s.timers[timerDRReseed].IsZero() {
		t.Errorf("no wake-up for the re-seed: %v", ub.s.timers)
	}
	before, beforeN := len(ub.s.calls), len(n.s.calls)
	u = d.mustRun("b", "pg/0", "update-status") // as the timer's notice would run

	if !slices.Contains(ub.s.calls[before:], "BaseBackup"+ua.s.addr) || ua.s.lostSlots["dr_pg_0"] || !ua.s.slots["dr_pg_0"] {
		t.Fatalf("standby leader not re-seeded: calls %v, slots on a %v lost %v", ub.s.calls[before:], ua.s.slots, ua.s.lostSlots)
	}
	wantStatus(t, u, "active", "Standby")
	d.mustRun("b", "pg/1", "database-peers-relation-changed")
	if !slices.Contains(n.s.calls[beforeN:], "BaseBackup"+ub.s.addr) {
		t.Errorf("the cascading replica was not re-seeded from the standby leader: %v", n.s.calls[beforeN:])
	}
	wantStatus(t, n, "active", "Replica")
}

// switchToB runs a planned switchover that makes b the primary cluster.
func (d *drWorld) switchToB() {
	d.t.Helper()
	ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
	ua.s.received, ub.s.replayed = 10, 11
	if u := d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"}); u.f.IsFailed {
		d.t.Fatalf("promote-to-primary: %s", u.f.Failed)
	}
	d.mustRun("a", "pg/0", changedHook("a"))
	d.mustRun("b", "pg/0", changedHook("b"))
	d.mustRun("a", "pg/0", changedHook("a"))
	if d.appB[drprotocol.KeyRole] != "primary" || d.appA[drprotocol.KeyRole] != "standby" {
		d.t.Fatalf("switchover: a %v b %v", d.appA, d.appB)
	}
}

// TestSetPasswordAfterSwitchoverReachesTheOtherCluster: a cluster that became primary by a
// switchover shares its credentials, so that set-password on it reaches the new standby
// cluster; set-password on a standby cluster says where to run it.
func TestSetPasswordAfterSwitchoverReachesTheOtherCluster(t *testing.T) {
	d := replicating(t)
	d.switchToB()
	d.mustRun("b", "pg/0", changedHook("b")) // a's role standby reaches b
	sid := d.appB[drprotocol.KeySecretID]
	if sid == "" || sameSecret(sid, d.appA[drprotocol.KeySecretID]) {
		t.Fatalf("b publishes secret-id %q (a's is %q): want its own", sid, d.appA[drprotocol.KeySecretID])
	}
	u := d.action("a", "pg/0", "set-password", map[string]any{"username": "monitoring", "password": "Not-Here-1"})
	if !u.f.IsFailed || !strings.Contains(u.f.Failed, "standby cluster") || !strings.Contains(u.f.Failed, "primary cluster") {
		t.Errorf("set-password on the standby cluster: failed %v %q, want a clear error naming the primary cluster", u.f.IsFailed, u.f.Failed)
	}
	if u := d.action("b", "pg/0", "set-password", map[string]any{"username": "rewind", "password": "New-Rewind-Pw-2"}); u.f.IsFailed {
		t.Fatalf("set-password on the new primary cluster: %s", u.f.Failed)
	}
	// The action shares the change as pending; b's next hook (its timer's, here any)
	// applies it and shares it as committed.
	d.mustRun("a", "pg/0", "secret-changed")
	d.mustRun("b", "pg/0", "update-status")
	d.mustRun("a", "pg/0", "secret-changed")
	gp := d.action("a", "pg/0", "get-password", map[string]any{"username": "rewind"})
	if gp.f.Results["password"] != "New-Rewind-Pw-2" {
		t.Errorf("get-password on the standby cluster = %q, want the new password", gp.f.Results["password"])
	}
	wantStatus(t, d.a.units["pg/0"], "active", "Standby")
}

// TestSecretOfAnotherModelRefused: a secret-id that names another model than the relation's
// remote one (here the standby's own passwords secret) is refused; nothing is copied or seeded.
func TestSecretOfAnotherModelRefused(t *testing.T) {
	d := bootstrapDR(t)
	if u := d.action("a", "pg/0", "create-replication", nil); u.f.IsFailed {
		t.Fatalf("create-replication: %s", u.f.Failed)
	}
	ub := d.b.units["pg/0"]
	own := ""
	for uri, sec := range d.b.secrets {
		if strings.HasPrefix(uri, "secret://model-b/") && sec.Label != ReplicationSecretLabel {
			own = uri
		}
	}
	if own == "" {
		t.Fatalf("b has no passwords secret: %v", d.b.secrets)
	}
	d.appA = maps.Clone(d.appA)
	d.appA[drprotocol.KeySecretID] = own
	before := len(ub.s.calls)
	u := d.mustRun("b", "pg/0", "replication-relation-changed")
	wantStatus(t, u, "waiting", "refusing the other cluster's secret-id")
	if slices.ContainsFunc(ub.s.calls[before:], func(c string) bool { return strings.HasPrefix(c, "BaseBackup") || c == "Stop" }) {
		t.Errorf("b acted on a foreign secret: %v", ub.s.calls[before:])
	}
	if d.b.app[keyMode] != "" {
		t.Errorf("b's mode %q after a refused secret", d.b.app[keyMode])
	}
}

// TestStandbyThatCannotAuthenticateSaysWhy: the standby leader's credentials no longer work
// on the primary cluster's primary: its status says so instead of "Standby".
func TestStandbyThatCannotAuthenticateSaysWhy(t *testing.T) {
	d := replicating(t)
	ua := d.a.units["pg/0"]
	ua.s.roles["replication"] = "changed-behind-the-charm's-back"
	u := d.mustRun("b", "pg/0", "update-status")
	wantStatus(t, u, "blocked", "cannot authenticate to the primary cluster")
	if !strings.Contains(u.f.UnitStatus.Message, "set-password runs on the primary cluster's leader") {
		t.Errorf("status %q does not say what to do", u.f.UnitStatus.Message)
	}
}

// TestStandbyLeaderRecreatesAMissingSlot: the standby leader's slot vanished from the primary
// cluster's primary (dropped by hand, say): it is created again, not left missing while the
// standby's walreceiver fails.
func TestStandbyLeaderRecreatesAMissingSlot(t *testing.T) {
	d := replicating(t)
	ua := d.a.units["pg/0"]
	delete(ua.s.slots, "dr_pg_0")
	u := d.mustRun("b", "pg/0", "update-status")
	if !ua.s.slots["dr_pg_0"] {
		t.Errorf("slot not recreated on the primary cluster: %v", ua.s.slots)
	}
	wantStatus(t, u, "active", "Standby")
}

// TestCreateReplicationNeverMakesTwoWritableClusters: after a detach with the consuming side
// (b) primary, the offering side (a) is standalone read-only. create-replication there would
// make it writable while b still takes writes: it is refused, saying to run it on b, which
// keeps its data and re-seeds a.
func TestCreateReplicationNeverMakesTwoWritableClusters(t *testing.T) {
	d := replicating(t)
	ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
	ua.s.received, ub.s.replayed = 10, 11
	d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"})
	d.mustRun("a", "pg/0", changedHook("a"))
	d.mustRun("b", "pg/0", changedHook("b"))
	d.mustRun("a", "pg/0", changedHook("a"))
	if !writable(ub.s) || d.appA[drprotocol.KeyRole] != "standby" {
		t.Fatalf("switchover to b: b writable %v, a's bucket %v", writable(ub.s), d.appA)
	}
	d.detach()
	d.mustRun("a", "pg/0", "update-status")
	wantStatus(t, ua, "blocked", StandaloneMessage)

	d.relate()
	d.mustRun("a", "pg/0", "replication-offer-relation-created")
	d.mustRun("b", "pg/0", "replication-relation-created")
	d.mustRun("a", "pg/0", changedHook("a"))
	u := d.action("a", "pg/0", "create-replication", nil)
	if !u.f.IsFailed || !strings.Contains(u.f.Failed, "is writable") || !strings.Contains(u.f.Failed, "run create-replication on the leader of the other cluster ("+remoteOf) {
		t.Fatalf("create-replication on the standalone side while the other is writable: failed=%v %q", u.f.IsFailed, u.f.Failed)
	}
	if writable(ua.s) || d.a.app[keyMode] != string(modeStandalone) || d.appA[drprotocol.KeyEpoch] != "" {
		t.Fatalf("a after the refusal: writable %v mode %q bucket %v", writable(ua.s), d.a.app[keyMode], d.appA)
	}
	d.mustRun("a", "pg/0", "update-status")
	if writable(ua.s) {
		t.Fatal("a became writable after the refused create-replication")
	}

	// On the writable side it works, from the consuming side too: a is re-seeded from b.
	u = d.action("b", "pg/0", "create-replication", nil)
	if u.f.IsFailed {
		t.Fatalf("create-replication on the writable side: %s", u.f.Failed)
	}
	before := len(ua.s.calls)
	d.mustRun("a", "pg/0", changedHook("a"))
	if !slices.Contains(ua.s.calls[before:], "BaseBackup"+ub.s.addr) || writable(ua.s) {
		t.Errorf("a not re-seeded from b: calls %v", ua.s.calls[before:])
	}
	wantStatus(t, ua, "active", "Standby")
	d.mustRun("b", "pg/0", changedHook("b"))
	wantStatus(t, ub, "active", "Primary")

	// Unreachable is refused too: it cannot be told.
	t.Run("the other cluster does not answer", func(t *testing.T) {
		d := replicating(t)
		d.detach()
		d.relate()
		d.mustRun("a", "pg/0", "replication-offer-relation-created")
		d.mustRun("b", "pg/0", "replication-relation-created")
		d.a.units["pg/0"].s.down = true
		u := d.action("b", "pg/0", "create-replication", nil)
		if !u.f.IsFailed || !strings.Contains(u.f.Failed, "does not answer") {
			t.Fatalf("create-replication with the other side unreachable: failed=%v %q", u.f.IsFailed, u.f.Failed)
		}
	})
}

// TestNewStandbyLeaderStreamsOnceThePrimaryClusterIsBack: the standby cluster chose another
// standby leader while the primary cluster's primary was down (stopped for a switchover that
// then rolled back): the new head has no slot there. It says it does not stream, instead of
// "Standby", and looks again by timer, without other hooks, until it has created its slot.
func TestNewStandbyLeaderStreamsOnceThePrimaryClusterIsBack(t *testing.T) {
	d := replicating(t)
	ua := d.a.units["pg/0"]
	n := d.addUnit("b", "pg/1")
	d.mustRun("b", "pg/0", "database-peers-relation-joined")
	d.mustRun("b", "pg/1", "database-peers-relation-joined")
	wantStatus(t, n, "active", "Replica")
	d.mustRun("a", "pg/0", "replication-offer-relation-changed") // pg/1's unit-address: a admits it
	ua.s.down = true
	d.b.app["primary"] = "pg/1" // an in-cluster failover chose pg/1
	u := d.mustRun("b", "pg/1", "update-status")
	if up := n.s.conf.Upstream; up == nil || up.Host != ua.s.addr {
		t.Fatalf("the new standby leader's upstream %+v, want the primary cluster's primary", up)
	}
	wantStatus(t, u, "waiting", "Standby, not streaming")
	if n.s.timers[timerDRUpstream].IsZero() {
		t.Fatalf("no timer to look again: %v", n.s.timers)
	}
	// The primary cluster's primary is back; only the timer brings the head back.
	ua.s.down = false
	u = d.mustRun("b", "pg/1", "update-status")
	if !ua.s.slots["dr_pg_1"] {
		t.Fatalf("the new standby leader's slot was not created: %v", ua.s.slots)
	}
	wantStatus(t, u, "active", "Standby")
	if !n.s.timers[timerDRUpstream].IsZero() {
		t.Errorf("timer left after the slot was created: %v", n.s.timers)
	}
}

// TestForcedFailoverRightAfterSetPassword (chaos finding F4): a's replication password
// changes, then a is lost before b took the new one in; b promotes with the old one.
// Returning, a (which logs in to its own server by certificate, whatever the passwords)
// fences itself, takes b's credentials and follows.
func TestForcedFailoverRightAfterSetPassword(t *testing.T) {
	d := replicating(t)
	ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
	old := ub.s.roles["replication"]
	if u := d.action("a", "pg/0", "set-password", map[string]any{"username": "replication", "password": "Rotated-Replication-Pw-3"}); u.f.IsFailed {
		t.Fatalf("set-password: %s", u.f.Failed)
	}
	ua.s.running = false // lost before b ran secret-changed (its copy of the roles is the old one)
	if u := d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster", "force": true}); u.f.IsFailed {
		t.Fatalf("forced promote: %s", u.f.Failed)
	}
	d.mustRun("b", "pg/0", "update-status")
	if ub.s.roles["replication"] != old {
		t.Fatalf("b's replication password changed: the test assumes b never saw the rotation")
	}
	ua.s.running, ua.s.cleanStopped, ua.s.received = true, false, 5000
	before := len(ua.s.calls)
	u := d.mustRun("a", "pg/0", "upgrade-charm")
	if writable(ua.s) {
		t.Fatalf("a stays writable next to b (it could not ask its own server): status %+v", u.f.UnitStatus)
	}
	if !slices.Contains(ua.s.calls[before:], "FollowPrimary"+ub.s.addr) || writable(ua.s) {
		t.Fatalf("a does not follow b: calls %v status %+v logs %v", ua.s.calls[before:], u.f.UnitStatus, u.f.Logs)
	}
	wantStatus(t, u, "active", "Standby")
}
