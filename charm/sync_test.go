package charm

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/hookenv"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// mustRecord is the sync record the unit committed to its peer bucket.
func mustRecord(t *testing.T, w *world, unit string) SyncRecord {
	t.Helper()
	raw := w.units[unit].f.Relations[peerRel].Data[unit][keySyncStandbys]
	rec, err := parseSyncRecord(raw)
	if err != nil || rec == nil {
		t.Fatalf("%s's sync record %q: %v", unit, raw, err)
	}
	return *rec
}

// pinnedLeaderPrimary is a cluster of n units whose leader pg/0 initialised it and stays the
// primary: an operator pinned it (promote-to-primary scope=unit), so the leader does not hand
// the primary off once a replica streams (docs/HA.md, "Primary off the leader"). The replicas
// have not run yet.
func pinnedLeaderPrimary(t *testing.T, n int) *world {
	t.Helper()
	w := bootstrap(t, n)
	w.app[keyPinnedPrimary] = "pg/0"
	return w
}

// syncCluster brings n units up with config cfg: pg/0 primary (pinned, see
// pinnedLeaderPrimary), the others streaming from it, and the primary's sync step run once
// they stream.
func syncCluster(t *testing.T, n int, cfg map[string]any) *world {
	t.Helper()
	w := newWorld(t, n)
	for _, u := range w.units {
		for k, v := range cfg {
			u.f.Config[k] = v
		}
	}
	w.initLeader()
	w.app[keyPinnedPrimary] = "pg/0"
	for _, u := range w.names()[1:] {
		wantStatus(t, w.mustRun(u, "database-peers-relation-joined"), "active", "Replica")
	}
	w.mustRun("pg/0", "database-peers-relation-changed")
	return w
}

func TestPlanSync(t *testing.T) {
	rec := func(standbys ...string) string { return SyncRecord{Standbys: standbys, Strict: true}.encode() }
	streaming := func(units ...string) []postgres.Replica {
		var out []postgres.Replica
		for _, u := range units {
			state := "streaming"
			if name, ok := strings.CutSuffix(u, ":catchup"); ok {
				u, state = name, "catchup"
			}
			out = append(out, postgres.Replica{AppName: postgres.SlotName(u), State: state})
		}
		return out
	}
	tests := []struct {
		name      string
		cfg       map[string]any
		peers     []string // all ran (version set) unless listed in fresh
		fresh     []string
		published string
		reps      []postgres.Replica
		unknown   bool
		wantKeep  []string
		wantAdd   []string
		wantDrop  []string
		wantNames string
	}{
		{name: "all: both streaming, none published: both applied, published once confirmed",
			peers: []string{"pg/1", "pg/2"}, reps: streaming("pg/1", "pg/2"),
			wantAdd: []string{"pg/1", "pg/2"}, wantNames: `FIRST 2 ("pg_1", "pg_2")`},
		{name: "all: one stops streaming: unpublished now, still applied",
			peers: []string{"pg/1", "pg/2"}, published: rec("pg/1", "pg/2"), reps: streaming("pg/1"),
			wantKeep: []string{"pg/1"}, wantDrop: []string{"pg/2"}, wantNames: `FIRST 2 ("pg_1", "pg_2")`},
		{name: "all: dropped in an earlier hook: no longer applied",
			peers: []string{"pg/1", "pg/2"}, published: rec("pg/1"), reps: streaming("pg/1"),
			wantKeep: []string{"pg/1"}, wantNames: `FIRST 1 ("pg_1")`},
		{name: "a catching-up standby is not healthy",
			peers: []string{"pg/1", "pg/2"}, reps: streaming("pg/1", "pg/2:catchup"),
			wantAdd: []string{"pg/1"}, wantNames: `FIRST 1 ("pg_1")`},
		{name: "majority of 3 units: one standby, the published one kept",
			cfg: map[string]any{"synchronous_node_count": "majority"}, peers: []string{"pg/1", "pg/2"},
			published: rec("pg/2"), reps: streaming("pg/1", "pg/2"),
			wantKeep: []string{"pg/2"}, wantNames: `FIRST 1 ("pg_2")`},
		{name: "number above the replicas is capped",
			cfg: map[string]any{"synchronous_node_count": "5"}, peers: []string{"pg/1", "pg/2"}, reps: streaming("pg/1", "pg/2"),
			wantAdd: []string{"pg/1", "pg/2"}, wantNames: `FIRST 2 ("pg_1", "pg_2")`},
		{name: "strict, no standby streams: ANY 1 over the replicas that ran",
			peers: []string{"pg/1", "pg/2"}, published: rec(), reps: nil, wantNames: `ANY 1 ("pg_1", "pg_2")`},
		{name: "not strict, no standby streams: asynchronous",
			cfg: map[string]any{"synchronous_mode_strict": false}, peers: []string{"pg/1"}, reps: nil, wantNames: ``},
		{name: "strict turned off: ANY 1 kept until the non-strict record is committed",
			cfg: map[string]any{"synchronous_mode_strict": false}, peers: []string{"pg/1"}, published: rec(), reps: nil,
			wantNames: `ANY 1 ("pg_1")`},
		{name: "a unit still being seeded does not hold writes",
			peers: []string{"pg/1"}, fresh: []string{"pg/1"}, reps: nil, wantNames: ``},
		{name: "a departed standby is unpublished first",
			peers: []string{"pg/1"}, published: rec("pg/1", "pg/2"), reps: streaming("pg/1", "pg/2"),
			wantKeep: []string{"pg/1"}, wantDrop: []string{"pg/2"}, wantNames: `FIRST 2 ("pg_1", "pg_2")`},
		{name: "another cluster's standby is never a synchronous standby",
			peers: []string{"pg/1"}, reps: append(streaming("pg/1"), postgres.Replica{AppName: "dr_db2_0", State: "streaming"}),
			wantAdd: []string{"pg/1"}, wantNames: `FIRST 1 ("pg_1")`},
		{name: "pg_stat_replication unknown: the published set stays applied",
			peers: []string{"pg/1", "pg/2"}, published: rec("pg/1"), unknown: true,
			wantKeep: []string{"pg/1"}, wantNames: `FIRST 1 ("pg_1")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			st := &State{Unit: "pg/0", Peers: tt.peers, Config: cfg, PeerData: map[string]map[string]string{},
				MyData: map[string]string{"version": "15", keySyncStandbys: tt.published}}
			for _, u := range tt.peers {
				st.PeerData[u] = map[string]string{}
				if !slices.Contains(tt.fresh, u) {
					st.PeerData[u]["version"] = "15"
				}
			}
			p := planSync(st, postgres.ReplicationState{Standbys: tt.reps}, !tt.unknown)
			if !slices.Equal(p.keep, tt.wantKeep) || !slices.Equal(p.add, tt.wantAdd) || !slices.Equal(p.drop, tt.wantDrop) {
				t.Errorf("keep %v add %v drop %v, want %v %v %v", p.keep, p.add, p.drop, tt.wantKeep, tt.wantAdd, tt.wantDrop)
			}
			if p.names != tt.wantNames {
				t.Errorf("synchronous_standby_names %q, want %q", p.names, tt.wantNames)
			}
		})
	}
}

func TestSyncStandbyPublishedOnlyOnceCaughtUp(t *testing.T) {
	w := pinnedLeaderPrimary(t, 2)
	p, r := w.units["pg/0"], w.units["pg/1"]
	w.mustRun("pg/1", "database-peers-relation-joined")
	p.s.received, r.s.received = 500, 400 // the new standby has not flushed everything yet

	u := w.mustRun("pg/0", "database-peers-relation-changed")
	if want := `FIRST 1 ("pg_1")`; p.s.live.SynchronousStandbyNames != want {
		t.Fatalf("applied %q, want %q (applied before it is published)", p.s.live.SynchronousStandbyNames, want)
	}
	if rec := mustRecord(t, w, "pg/0"); len(rec.Standbys) != 0 || !rec.Strict {
		t.Fatalf("published %+v before the standby caught up", rec)
	}
	wantStatus(t, u, "active", "Primary (0 of 1 synchronous standbys; catching up: pg/1)")

	r.s.received = 500
	u = w.mustRun("pg/0", "update-status")
	if rec := mustRecord(t, w, "pg/0"); !slices.Equal(rec.Standbys, []string{"pg/1"}) {
		t.Fatalf("published %+v after the standby caught up", rec)
	}
	wantStatus(t, u, "active", "Primary")
}

func TestSyncStandbyNotPublishedWhileServerRunsOldNames(t *testing.T) {
	w := pinnedLeaderPrimary(t, 2)
	p := w.units["pg/0"]
	w.mustRun("pg/1", "database-peers-relation-joined")
	p.s.staleReload = true // the reload does not reach the server (e.g. the hook died after writing)
	w.mustRun("pg/0", "database-peers-relation-changed")
	if rec := mustRecord(t, w, "pg/0"); len(rec.Standbys) != 0 {
		t.Fatalf("published %+v while the server runs %q", rec, p.s.live.SynchronousStandbyNames)
	}
	p.s.staleReload = false
	p.s.calls = nil
	w.mustRun("pg/0", "update-status")
	if !slices.Contains(p.s.calls, "Reload") {
		t.Errorf("the config file already had the names but the server did not: no reload in %v", p.s.calls)
	}
	if rec := mustRecord(t, w, "pg/0"); !slices.Equal(rec.Standbys, []string{"pg/1"}) {
		t.Fatalf("published %+v", rec)
	}
}

func TestSyncStandbyRemovedFromPublishedSetFirst(t *testing.T) {
	w := syncCluster(t, 3, nil)
	p := w.units["pg/0"]
	if rec := mustRecord(t, w, "pg/0"); !slices.Equal(rec.Standbys, []string{"pg/1", "pg/2"}) {
		t.Fatalf("published %+v", rec)
	}
	w.units["pg/2"].s.running = false // its pod is gone

	// Hook 1: the smaller set is published; the server still waits for pg/2 (the removal is
	// not committed until this hook ends).
	u := w.mustRun("pg/0", "update-status")
	if rec := mustRecord(t, w, "pg/0"); !slices.Equal(rec.Standbys, []string{"pg/1"}) {
		t.Fatalf("published %+v", rec)
	}
	if want := `FIRST 2 ("pg_1", "pg_2")`; p.s.live.SynchronousStandbyNames != want {
		t.Fatalf("applied %q in the hook that unpublished pg/2, want %q", p.s.live.SynchronousStandbyNames, want)
	}
	wantStatus(t, u, "waiting", "Primary: commits wait for synchronous standby pg/2, which does not stream")
	// Meanwhile a failover trusts only what is committed: pg/1.
	if rule := failoverCandidates(stateOf(t, w, "pg/1"), "pg/0"); !slices.Equal(rule.candidates, []string{"pg/1"}) {
		t.Fatalf("failover candidates %+v", rule)
	}

	// Hook 2 (woken by sync-apply): the committed removal is applied.
	u = w.mustRun("pg/0", "update-status")
	if want := `FIRST 1 ("pg_1")`; p.s.live.SynchronousStandbyNames != want {
		t.Fatalf("applied %q, want %q", p.s.live.SynchronousStandbyNames, want)
	}
	wantStatus(t, u, "active", "Primary (1 of 2 synchronous standbys)")

	// pg/2 comes back: applied, then published once it caught up.
	w.units["pg/2"].s.running = true
	w.mustRun("pg/0", "update-status")
	if rec := mustRecord(t, w, "pg/0"); !slices.Equal(rec.Standbys, []string{"pg/1", "pg/2"}) {
		t.Fatalf("published %+v after pg/2 returned", rec)
	}
}

func TestNoSyncStandbyStrictAndNot(t *testing.T) {
	for _, strict := range []bool{true, false} {
		name := map[bool]string{true: "strict", false: "not strict"}[strict]
		t.Run(name, func(t *testing.T) {
			w := syncCluster(t, 2, map[string]any{"synchronous_mode_strict": strict})
			p := w.units["pg/0"]
			p.s.received = 0x6400000
			w.units["pg/1"].s.running = false
			w.mustRun("pg/0", "update-status") // unpublish
			if want := `FIRST 1 ("pg_1")`; p.s.live.SynchronousStandbyNames != want {
				t.Fatalf("applied %q, want %q until the removal is committed", p.s.live.SynchronousStandbyNames, want)
			}
			u := w.mustRun("pg/0", "update-status") // apply
			rec := mustRecord(t, w, "pg/0")
			if len(rec.Standbys) != 0 || rec.Strict != strict {
				t.Fatalf("published %+v", rec)
			}
			if strict {
				if want := `ANY 1 ("pg_1")`; p.s.live.SynchronousStandbyNames != want {
					t.Fatalf("applied %q, want %q: writes wait for a replica", p.s.live.SynchronousStandbyNames, want)
				}
				wantStatus(t, u, "waiting", "Primary: commits wait for a synchronous standby (synchronous_mode_strict): none of pg/1 streams")
				return
			}
			if p.s.live.SynchronousStandbyNames != "" || rec.LSN != "0/6400000" {
				t.Fatalf("applied %q, published %+v: want asynchronous with the primary's position", p.s.live.SynchronousStandbyNames, rec)
			}
			wantStatus(t, u, "active", "Primary (0 of 1 synchronous standbys; commits are asynchronous)")
		})
	}
}

func TestStrictTurnedOffIsPublishedBeforeApplied(t *testing.T) {
	w := syncCluster(t, 2, nil)
	p := w.units["pg/0"]
	w.units["pg/1"].s.running = false
	w.mustRun("pg/0", "update-status")
	w.mustRun("pg/0", "update-status")
	if rec := mustRecord(t, w, "pg/0"); !rec.Strict {
		t.Fatalf("published %+v", rec)
	}
	p.f.Config["synchronous_mode_strict"] = false
	w.mustRun("pg/0", "config-changed")
	if rec := mustRecord(t, w, "pg/0"); rec.Strict || rec.LSN == "" {
		t.Fatalf("published %+v", rec)
	}
	if want := `ANY 1 ("pg_1")`; p.s.live.SynchronousStandbyNames != want {
		t.Fatalf("applied %q in the hook that published non-strict, want %q", p.s.live.SynchronousStandbyNames, want)
	}
	w.mustRun("pg/0", "update-status")
	if p.s.live.SynchronousStandbyNames != "" {
		t.Fatalf("applied %q, want asynchronous", p.s.live.SynchronousStandbyNames)
	}
}

func TestSeedingUnitDoesNotHoldWrites(t *testing.T) {
	w := bootstrap(t, 2) // pg/1 is in the relation but has not run yet
	if got := w.units["pg/0"].s.live.SynchronousStandbyNames; got != "" {
		t.Fatalf("applied %q before any replica ran", got)
	}
	r := w.mustRun("pg/1", "database-peers-relation-joined")
	if want := `ANY 1 ("pg_0")`; r.s.conf.SynchronousStandbyNames != want {
		t.Errorf("replica renders %q, want %q (strict from its first commit if promoted)", r.s.conf.SynchronousStandbyNames, want)
	}
	if raw := r.f.Relations[peerRel].Data["pg/1"][keySyncStandbys]; raw != "" {
		t.Errorf("replica published a sync record %q", raw)
	}
}

// stateOf reads a unit's State as its next hook would.
func stateOf(t *testing.T, w *world, unit string) *State {
	t.Helper()
	u := w.units[unit]
	u.f.Leader = unit == w.leader
	rel := u.f.Relations[peerRel]
	rel.Units = nil
	for _, n := range w.names() {
		if n != unit {
			rel.Units = append(rel.Units, n)
			rel.Data[n] = w.units[n].f.Relations[peerRel].Data[n]
		}
	}
	rel.Data["pg"] = w.app
	c := New(hookenv.Env{UnitName: unit, HookName: "update-status"}, u.f, w.fc.open(u.s.addr), nil)
	st, err := c.readState(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestFailoverCandidates(t *testing.T) {
	tests := []struct {
		name       string
		record     string
		departed   bool
		fresh      []string // units that never ran
		wantCands  []string
		wantMust   []string
		wantMinLSN postgres.LSN
		wantRefuse string
	}{
		{name: "synchronous standbys", record: `{"standbys":["pg/2"]}`, wantCands: []string{"pg/2"}},
		{name: "synchronous standbys, one gone", record: `{"standbys":["pg/2","pg/9"]}`, wantCands: []string{"pg/2"}},
		{name: "strict, none named: every replica that ran must answer", record: `{"standbys":[],"strict":true}`,
			fresh: []string{"pg/3"}, wantCands: []string{"pg/1", "pg/2", "pg/3"}, wantMust: []string{"pg/1", "pg/2"}},
		{name: "asynchronous: within the maximum lag", record: `{"standbys":[],"lsn":"0/6400000"}`,
			wantCands: []string{"pg/1", "pg/2", "pg/3"}, wantMinLSN: 0x6400000 - 1048576},
		{name: "asynchronous, position below the lag", record: `{"standbys":[],"lsn":"0/100"}`,
			wantCands: []string{"pg/1", "pg/2", "pg/3"}, wantMinLSN: 0},
		{name: "no record: most advanced", record: "", wantCands: []string{"pg/1", "pg/2", "pg/3"}},
		{name: "departed primary: most advanced", record: `{"standbys":["pg/2"]}`, departed: true, wantCands: []string{"pg/1", "pg/2", "pg/3"}},
		{name: "unreadable record: no automatic failover", record: `{"standbys":`, wantRefuse: "its synchronous standby record cannot be read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &State{Unit: "pg/1", Peers: []string{"pg/0", "pg/2", "pg/3"}, MyData: map[string]string{"version": "15"},
				PeerData: map[string]map[string]string{"pg/0": {keySyncStandbys: tt.record, "version": "15"}, "pg/2": {"version": "15"}, "pg/3": {"version": "15"}}}
			st.Config, _ = ParseConfig(nil)
			for _, u := range tt.fresh {
				delete(st.PeerData[u], "version")
			}
			if tt.departed {
				st.Peers = []string{"pg/2", "pg/3"}
			}
			rule := failoverCandidates(st, "pg/0")
			if tt.wantRefuse != "" {
				if !strings.HasPrefix(rule.refuse, tt.wantRefuse) {
					t.Fatalf("refuse %q, want %q", rule.refuse, tt.wantRefuse)
				}
				return
			}
			if !slices.Equal(rule.candidates, tt.wantCands) || !slices.Equal(rule.mustAnswer, tt.wantMust) || rule.minLSN != tt.wantMinLSN || rule.refuse != "" {
				t.Fatalf("rule %+v, want candidates %v must %v min %v", rule, tt.wantCands, tt.wantMust, tt.wantMinLSN)
			}
		})
	}
}

// lostPrimary returns a 3-unit world whose primary pg/0 (pinned by an operator, see
// syncCluster) published record and then lost its server; pg/2 leads with the default
// confirmation window, pg/1 and pg/2 received up to their given positions.
func lostPrimary(t *testing.T, record string, pos1, pos2 postgres.LSN) *world {
	t.Helper()
	w := syncCluster(t, 3, nil)
	w.units["pg/0"].f.Relations[peerRel].Data["pg/0"][keySyncStandbys] = record
	w.units["pg/1"].s.received, w.units["pg/2"].s.received = pos1, pos2
	w.units["pg/0"].s.running = false
	w.leader = "pg/2"
	w.tweak = func(c *Charm) { c.FailoverAfter = DefaultFailoverAfter }
	return w
}

// confirmFailover runs the leader's failover decision through its confirmation window
// (docs/HA.md): the hook that first finds the primary down only records it and sets the
// failover-confirm timer; the timer's notice, once FailoverAfter has passed, decides.
func (w *world) confirmFailover(leader string) *testUnit {
	w.t.Helper()
	primary := w.app["primary"]
	w.mustRun(leader, "update-status")
	if w.app["primary"] != primary {
		w.t.Fatalf("failed over from %s to %s within the confirmation window", primary, w.app["primary"])
	}
	at := w.timer(leader, timerFailoverConfirm)
	if want := w.now().Add(DefaultFailoverAfter); !at.Equal(want) {
		w.t.Fatalf("failover-confirm timer at %v, want %v", at, want)
	}
	w.elapsed = at.Sub(time.Unix(1_700_000_000, 0))
	return w.mustRunEvent(leader, hookCustomNotice, wake)
}

func TestFailoverOnlyToTrustedStandby(t *testing.T) {
	tests := []struct {
		name        string
		record      string
		pos1, pos2  postgres.LSN
		down        string // another server down
		wantPrimary string
		wantWaiting string
		// wantOnReturn: the primary once the server down answers again, at the leader's
		// next hook (no new confirmation window: the primary's loss was confirmed).
		wantOnReturn string
	}{
		{name: "the synchronous standby, not the more advanced replica", record: `{"standbys":["pg/1"]}`,
			pos1: 100, pos2: 200, wantPrimary: "pg/1"},
		{name: "the most advanced synchronous standby", record: `{"standbys":["pg/1","pg/2"]}`,
			pos1: 200, pos2: 100, wantPrimary: "pg/1"},
		// The leader (pg/2) would hand the primary off at once: a second outage.
		{name: "a synchronous standby other than the leader, though less advanced", record: `{"standbys":["pg/1","pg/2"]}`,
			pos1: 100, pos2: 200, wantPrimary: "pg/1"},
		{name: "the leader when it is the only synchronous standby", record: `{"standbys":["pg/2"]}`,
			pos1: 200, pos2: 100, wantPrimary: "pg/2"},
		{name: "asynchronous: the most advanced, the leader too", record: `{"standbys":[],"lsn":"0/6400000"}`,
			pos1: 0x6400000 - 1024, pos2: 0x6400000, wantPrimary: "pg/2"},
		{name: "synchronous standby down: no failover", record: `{"standbys":["pg/1"]}`,
			pos1: 100, pos2: 200, down: "pg/1", wantPrimary: "pg/0",
			wantWaiting:  "primary pg/0 is down and none of pg/1 answers as a replica (synchronous standbys of pg/0: pg/1): not failing over, acknowledged writes could be lost; promote-to-primary scope=unit unit=<replica> force=true",
			wantOnReturn: "pg/1"},
		{name: "strict, none named, all answer: most advanced", record: `{"standbys":[],"strict":true}`,
			pos1: 300, pos2: 200, wantPrimary: "pg/1"},
		{name: "strict, none named, one replica down: no failover", record: `{"standbys":[],"strict":true}`,
			pos1: 300, pos2: 200, down: "pg/1", wantPrimary: "pg/0",
			wantWaiting: "primary pg/0 is down and pg/1 does not answer (strict mode", wantOnReturn: "pg/1"},
		{name: "asynchronous within the lag", record: `{"standbys":[],"lsn":"0/6400000"}`,
			pos1: 0x6400000 - 1048576, pos2: 0x100, wantPrimary: "pg/1"},
		{name: "asynchronous beyond the lag", record: `{"standbys":[],"lsn":"0/6400000"}`,
			pos1: 0x6400000 - 1048577, pos2: 0x100, wantPrimary: "pg/0",
			wantWaiting: "primary pg/0 is down and no replica is close enough (asynchronous: within 1048576 bytes of pg/0's last published position 0/6400000)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := lostPrimary(t, tt.record, tt.pos1, tt.pos2)
			if tt.down != "" {
				w.units[tt.down].s.down = true
			}
			u := w.confirmFailover("pg/2")
			if w.app["primary"] != tt.wantPrimary {
				t.Fatalf("primary %q, want %q", w.app["primary"], tt.wantPrimary)
			}
			if tt.wantWaiting == "" {
				// A failover clears the operator's pin of the lost primary.
				if pin := w.app[keyPinnedPrimary]; pin != "" {
					t.Errorf("pinned-primary %q kept after a failover", pin)
				}
				return
			}
			wantStatus(t, u, "waiting", tt.wantWaiting)
			// No failover happened: the operator's pin stands.
			if pin := w.app[keyPinnedPrimary]; pin != "pg/0" {
				t.Errorf("pinned-primary %q after a failover that did not happen, want pg/0", pin)
			}
			if tt.wantOnReturn == "" {
				return
			}
			// The leader retries by its retry timer; a trusted unit that answers again is
			// promoted at once.
			w.units[tt.down].s.down = false
			w.elapsed += RetryMin
			w.mustRunEvent("pg/2", hookCustomNotice, wake)
			if w.app["primary"] != tt.wantOnReturn {
				t.Fatalf("primary %q once %s answers again, want %q", w.app["primary"], tt.down, tt.wantOnReturn)
			}
		})
	}
}

func TestPromoteUnitWhilePrimaryDown(t *testing.T) {
	t.Run("forced on the leader", func(t *testing.T) {
		w := lostPrimary(t, `{"standbys":["pg/1"]}`, 100, 200)
		w.units["pg/1"].s.down = true
		u, err := w.run("pg/2", "promote-to-primary", map[string]any{"scope": "unit"}, nil)
		if err != nil || !u.f.IsFailed || !strings.Contains(u.f.Failed, "pg/2 may lack writes the primary acknowledged (synchronous standbys of pg/0: pg/1") ||
			!strings.Contains(u.f.Failed, "force=true promotes it anyway") {
			t.Fatalf("without force: %v failed=%v %q", err, u.f.IsFailed, u.f.Failed)
		}
		if w.app["primary"] != "pg/0" {
			t.Fatalf("primary changed to %q", w.app["primary"])
		}
		u, err = w.run("pg/2", "promote-to-primary", map[string]any{"scope": "unit", "force": true}, nil)
		if err != nil || u.f.IsFailed {
			t.Fatalf("forced: %v %q", err, u.f.Failed)
		}
		if w.app["primary"] != "pg/2" || !strings.Contains(u.f.Results["message"], "forced") {
			t.Fatalf("primary %q, results %v", w.app["primary"], u.f.Results)
		}
		// The operator's choice is pinned: the leader keeps the primary it was told to take.
		if pin := w.app[keyPinnedPrimary]; pin != "pg/2" {
			t.Fatalf("pinned-primary %q, want pg/2", pin)
		}
		wantStatus(t, w.mustRun("pg/2", "database-peers-relation-changed"), "active", "Primary")
		// pg/1 answers again and streams from pg/2: no hand-off of the primary the operator
		// chose.
		w.units["pg/1"].s.down = false
		wantStatus(t, w.mustRun("pg/1", "database-peers-relation-changed"), "active", "Replica")
		w.mustRun("pg/2", "update-status")
		if w.app["primary"] != "pg/2" || w.app["switchover"] != "" {
			t.Fatalf("the primary the operator forced was handed off: %v", w.app)
		}
	})
	t.Run("synchronous standby without force, from a non-leader", func(t *testing.T) {
		// Left alone the leader would promote pg/2, the most advanced synchronous standby.
		w := lostPrimary(t, `{"standbys":["pg/1","pg/2"]}`, 100, 200)
		u, err := w.run("pg/1", "promote-to-primary", map[string]any{"scope": "unit"}, nil)
		if err != nil || u.f.IsFailed {
			t.Fatalf("%v %q", err, u.f.Failed)
		}
		if w.app["primary"] != "pg/0" || u.f.Relations[peerRel].Data["pg/1"][keyFailoverRequest] == "" {
			t.Fatalf("primary %q; request %q", w.app["primary"], u.f.Relations[peerRel].Data["pg/1"][keyFailoverRequest])
		}
		// The leader honours the request when its own confirmation of the loss ends.
		w.confirmFailover("pg/2")
		if w.app["primary"] != "pg/1" || w.app[keyLastFailoverRequest] != "42" || w.app[keyPinnedPrimary] != "pg/1" {
			t.Fatalf("app %v", w.app)
		}
	})
	// pg/9, the only synchronous standby, has left: no unit may be promoted automatically.
	t.Run("forced request from a non-leader", func(t *testing.T) {
		w := lostPrimary(t, `{"standbys":["pg/9"]}`, 100, 200)
		u, err := w.run("pg/1", "promote-to-primary", map[string]any{"scope": "unit", "force": true}, nil)
		if err != nil || u.f.IsFailed {
			t.Fatalf("%v %q", err, u.f.Failed)
		}
		w.confirmFailover("pg/2")
		if w.app["primary"] != "pg/1" || w.app[keyPinnedPrimary] != "pg/1" {
			t.Fatalf("app %v", w.app)
		}
		// Handled once: the same request is not honoured again.
		c := &Charm{Now: func() time.Time { return time.Unix(1_700_000_000, 0) }, SwitchoverTimeout: 90 * time.Second}
		if req := c.failoverRequest(stateOf(t, w, "pg/2"), "pg/0"); req != nil {
			t.Fatalf("request still valid: %+v", req)
		}
	})
	t.Run("request while the leader already waits", func(t *testing.T) {
		// The leader confirmed the loss but may promote nobody; the operator's forced request
		// is honoured in the hook that delivers it, without a new window.
		w := lostPrimary(t, `{"standbys":["pg/9"]}`, 100, 200)
		wantStatus(t, w.confirmFailover("pg/2"), "waiting", "primary pg/0 is down")
		if _, err := w.run("pg/1", "promote-to-primary", map[string]any{"scope": "unit", "force": true}, nil); err != nil {
			t.Fatal(err)
		}
		w.mustRun("pg/2", "database-peers-relation-changed")
		if w.app["primary"] != "pg/1" || w.app[keyPinnedPrimary] != "pg/1" {
			t.Fatalf("app %v", w.app)
		}
	})
	t.Run("stale request ignored", func(t *testing.T) {
		w := lostPrimary(t, `{"standbys":["pg/9"]}`, 100, 200)
		if _, err := w.run("pg/1", "promote-to-primary", map[string]any{"scope": "unit", "force": true}, nil); err != nil {
			t.Fatal(err)
		}
		w.elapsed = 10 * time.Minute // past SwitchoverTimeout
		u := w.confirmFailover("pg/2")
		if w.app["primary"] != "pg/0" {
			t.Fatalf("stale request honoured: primary %q", w.app["primary"])
		}
		wantStatus(t, u, "waiting", "primary pg/0 is down and none of the units that may be promoted answers as a replica (synchronous standbys of pg/0: pg/9)")
	})
}

func TestGetPrimaryShowsSyncStandbys(t *testing.T) {
	w := syncCluster(t, 3, nil)
	u, err := w.run("pg/2", "get-primary", map[string]any{}, nil)
	if err != nil || u.f.IsFailed {
		t.Fatalf("%v %q", err, u.f.Failed)
	}
	if u.f.Results["primary"] != "pg/0" || u.f.Results["sync-standbys"] != "pg/1,pg/2" {
		t.Fatalf("results %v", u.f.Results)
	}
}

func TestSetPasswordRefusedWhileCommitsWait(t *testing.T) {
	w := syncCluster(t, 2, nil)
	w.units["pg/1"].s.running = false
	w.mustRun("pg/0", "update-status")
	w.mustRun("pg/0", "update-status") // ANY 1 ("pg_1"): nobody streams
	u, err := w.run("pg/0", "set-password", map[string]any{"username": "operator", "password": "new-one"}, nil)
	if err != nil || !u.f.IsFailed || !strings.Contains(u.f.Failed, "commits on the primary pg/0 wait for a synchronous standby and none streams") {
		t.Fatalf("%v failed=%v %q", err, u.f.IsFailed, u.f.Failed)
	}
	if slices.ContainsFunc(w.units["pg/0"].s.calls, func(c string) bool { return strings.HasPrefix(c, "SetPassword") }) {
		t.Fatal("the password was changed anyway")
	}
}

func TestHandOffPrefersASynchronousStandby(t *testing.T) {
	// pg/0 is the primary and pg/2 leads; pg/1 is pg/0's only synchronous standby.
	w := newWorld(t, 3)
	for _, u := range w.units {
		u.f.Config["synchronous_node_count"] = "1"
	}
	w.initLeader()
	w.leader = "pg/2"
	w.mustRun("pg/1", "database-peers-relation-joined")
	w.mustRun("pg/2", "database-peers-relation-joined")
	w.mustRun("pg/0", "database-peers-relation-changed")
	if rec := mustRecord(t, w, "pg/0"); !slices.Equal(rec.Standbys, []string{"pg/1"}) {
		t.Fatalf("published %+v", rec)
	}
	// pg/2, asynchronous, has received more than pg/1. The leadership moves to the primary,
	// which hands the primary off: to its synchronous standby.
	w.units["pg/0"].s.received = 1000
	w.units["pg/1"].s.received, w.units["pg/2"].s.received = 600, 700
	w.leader = "pg/0"
	w.mustRun("pg/0", "leader-elected")
	sw := (&State{AppData: w.app}).Switchover()
	if sw == nil || !isHandoff(sw.ID) || sw.To != "pg/1" {
		t.Fatalf("hand-off %+v, want to pg/1, the synchronous standby", sw)
	}
}
