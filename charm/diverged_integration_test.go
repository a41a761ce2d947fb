package charm

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// A real replica that holds WAL the new primary never had: re-pointed at it, its WAL
// receiver fetches the new timeline's history file, cannot follow it, and streams nothing.
// The wake-up the watcher raises for it brings a hook whose reconcile sees the stall, tells
// the fetched history from a timeline the replica is on (it holds no WAL of it), and rewinds
// the replica onto the new primary, which it then streams from.
func TestRealReplicaThatDivergedIsRewound(t *testing.T) {
	needRealPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	w, r := realWorld(t, 3, 81)
	wantStatus(t, w.initLeader(), "active", "Primary")
	w.exec(t, ctx, "pg/0", "CREATE TABLE t (id serial PRIMARY KEY, v text); INSERT INTO t (v) SELECT 'a' FROM generate_series(1, 100)")
	w.mustRun("pg/0", "database-peers-relation-changed")
	for _, n := range []string{"pg/1", "pg/2"} {
		wantStatus(t, w.mustRun(n, "database-peers-relation-joined"), "active", "Replica")
		w.waitRows(t, ctx, n, 100)
	}

	// pg/1 stops; pg/2 alone receives 50 more rows. Then, with pg/0 down, pg/1 is promoted by
	// hand (timeline 2 leaves timeline 1 where pg/1 stopped) and recorded as the primary:
	// pg/2 is ahead of the fork. pg/0 comes back and pg/2 streams from it again.
	stop := func(unit string) {
		t.Helper()
		if _, err := r.workloads[unit].Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	start := func(unit string) {
		t.Helper()
		if err := r.workloads[unit].Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	streamsFrom := func(unit, upstream string) bool {
		return w.sql(t, ctx, unit, fmt.Sprintf("SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming' AND sender_host = '%s'", w.units[upstream].s.addr)) == 1
	}
	stop("pg/1")
	w.exec(t, ctx, "pg/0", "INSERT INTO t (v) SELECT 'b' FROM generate_series(1, 50)")
	w.waitRows(t, ctx, "pg/2", 150)
	stop("pg/0")
	start("pg/1")
	w.waitRows(t, ctx, "pg/1", 100)
	w.exec(t, ctx, "pg/1", "SELECT pg_promote()")
	w.waitWritable(t, ctx, "pg/1")
	w.app["primary"] = "pg/1"
	start("pg/0")
	w.waitFor(t, ctx, "pg/2 streams from pg/0 again", func() bool { return streamsFrom("pg/2", "pg/0") })

	// Re-pointed while it streams from pg/0, pg/2 has nothing to compare: it reloads. Its
	// receiver then fetches timeline 2's history and stalls.
	w.mustRun("pg/2", "database-peers-relation-changed")
	w.waitFor(t, ctx, "pg/2 holds timeline 2's history and streams nothing", func() bool {
		return w.sql(t, ctx, "pg/2", "SELECT count(*) FROM pg_ls_waldir() WHERE name = '00000002.history'") == 1 &&
			w.sql(t, ctx, "pg/2", "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'") == 0
	})
	if n := w.sql(t, ctx, "pg/2", "SELECT count(*) FROM t"); n != 150 {
		t.Fatalf("pg/2 has %d rows before its rewind, want 150", n)
	}

	// The watcher's wake-up: the reconcile rewinds pg/2 onto pg/1.
	wantStatus(t, w.mustRunEvent("pg/2", hookCustomNotice, wake), "active", "Replica")
	w.waitRows(t, ctx, "pg/2", 100)
	w.waitFor(t, ctx, "pg/2 streams from pg/1", func() bool { return streamsFrom("pg/2", "pg/1") })
	if !w.inRecovery(t, ctx, "pg/2") {
		t.Fatal("pg/2 writable after its rewind")
	}
	if old, _ := r.workloads["pg/2"].List(ctx, postgres.MountPath, "pgdata.old-*"); len(old) != 0 {
		t.Errorf("pg/2 was re-seeded, not rewound: %v", old)
	}
	// pg/1 keeps the synchronous standbys it had as a replica (no hook of its own ran here):
	// the row is committed locally, and reaches pg/2 by streaming.
	w.exec(t, ctx, "pg/1", "BEGIN; SET LOCAL synchronous_commit = local; INSERT INTO t (v) SELECT 'c' FROM generate_series(1, 10); COMMIT")
	w.waitRows(t, ctx, "pg/2", 110)
}

// exec runs statements on unit as the operator.
func (w *world) exec(t *testing.T, ctx context.Context, unit, sql string) {
	t.Helper()
	addr := w.units[unit].s.addr
	conn, err := postgres.Connect(ctx, addr, 0, postgres.PasswordLogin("operator", w.operatorPassword()), "postgres", w.clientTLS(t, addr))
	if err != nil {
		t.Fatalf("connect %s: %v", unit, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s on %s: %v", sql, unit, err)
	}
}

// waitWritable waits until unit's server leaves recovery.
func (w *world) waitWritable(t *testing.T, ctx context.Context, unit string) {
	t.Helper()
	w.waitFor(t, ctx, unit+" writable", func() bool { return !w.inRecovery(t, ctx, unit) })
}

// waitFor polls cond for up to a minute.
func (w *world) waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("never: %s", what)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
