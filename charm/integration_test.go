package charm

// The handlers against REAL workloads: a Pebble daemon per unit (jujulet's container layout)
// running this machine's PostgreSQL, with the hook tools faked. End-to-end tests on jujulet
// itself live with the runtime.

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/hookenv/hookenvtest"
	"github.com/jujulet/postgresql-k8s/internal/pki"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
	"github.com/jujulet/postgresql-k8s/internal/postgres/pgtest"
)

var pebbleBin string

func TestMain(m *testing.M) {
	flag.Parse()
	code := func() int {
		if pgtest.HavePostgres() && !testing.Short() {
			dir, err := os.MkdirTemp("", "pebble-bin-")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(dir)
			if pebbleBin, err = pgtest.BuildPebble(dir); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

type realUnits struct {
	t          *testing.T
	containers map[string]*pgtest.Container
	workloads  map[string]*postgres.Workload
}

// needRealPostgres skips under -short and fails (or skips, outside make test) without
// PostgreSQL.
func needRealPostgres(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no real PostgreSQL")
	}
	if pebbleBin == "" {
		pgtest.Unavailable(t, pgtest.NoPostgres)
	}
}

// realWorld is a world of n units with real workloads at 127.0.0.<addrBase>...: one Pebble
// running this machine's PostgreSQL per unit (the base must be unique across the packages'
// integration tests, which run alongside), with the charm logging to the test.
func realWorld(t *testing.T, n, addrBase int) (*world, *realUnits) {
	t.Helper()
	r := &realUnits{t: t, containers: map[string]*pgtest.Container{}, workloads: map[string]*postgres.Workload{}}
	w := &world{t: t, fc: newFakeCluster(), units: map[string]*testUnit{}, app: map[string]string{},
		secrets: map[string]*hookenvtest.FakeSecret{}, leader: "pg/0", addrBase: addrBase, open: r.open, epoch: time.Now()}
	w.tweak = func(c *Charm) { c.Log = slog.New(slog.NewTextHandler(testWriter{t}, nil)) }
	for i := range n {
		u := w.addUnit(fmt.Sprintf("pg/%d", i))
		r.start(u.name, u.s.addr)
	}
	return w, r
}

func (r *realUnits) start(unit, addr string) {
	var c *pgtest.Container
	c = pgtest.Start(r.t, pebbleBin, postgres.Container, postgres.MountPath, func() {
		if w := r.workloads[unit]; w != nil && r.containers[unit] == c {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, _ = w.Stop(ctx)
		}
	})
	r.containers[unit] = c
	delete(r.workloads, unit)
}

func (r *realUnits) open(unit, addr string) func(ctx context.Context, a string) (Workload, error) {
	return func(ctx context.Context, a string) (Workload, error) {
		c := r.containers[unit]
		socket, root := postgres.SocketPath(c.ContainersDir, postgres.Container)
		w, err := postgres.Open(ctx, postgres.Options{Socket: socket, Root: root, Addr: a})
		if err != nil {
			return nil, err
		}
		r.workloads[unit] = w
		return noWatcher{PGWorkload{Workload: w}}, nil
	}
}

// noWatcher: this test binary is not the charm's, so it cannot be pushed as the watcher (the
// e2e tests run the real one); the timers file itself is real.
type noWatcher struct{ PGWorkload }

func (noWatcher) EnsureWatcher(context.Context) error { return nil }

func (w *world) operatorPassword() string {
	return w.secrets[w.app["secret-id"]].Content["operator-password"]
}

// clientTLS verifies the server at host with the cluster CA the leader created, as the
// charm's own connections do.
func (w *world) clientTLS(t *testing.T, host string) *tls.Config {
	t.Helper()
	cfg, err := pki.ClientConfig([]byte(w.secrets[w.app["secret-id"]].Content[keyCACert]), host, pki.ModeFor(host), nil)
	if err != nil {
		t.Fatalf("TLS config for %s: %v", host, err)
	}
	return cfg
}

func (w *world) sql(t *testing.T, ctx context.Context, unit, query string) int {
	t.Helper()
	conn, err := postgres.Connect(ctx, w.units[unit].s.addr, 0, postgres.PasswordLogin("operator", w.operatorPassword()), "postgres", w.clientTLS(t, w.units[unit].s.addr))
	if err != nil {
		t.Fatalf("connect %s: %v", unit, err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, query).Scan(&n); err != nil {
		t.Fatalf("%s on %s: %v", query, unit, err)
	}
	return n
}

func (w *world) waitRows(t *testing.T, ctx context.Context, unit string, want int) {
	t.Helper()
	deadline, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		conn, err := postgres.Connect(deadline, w.units[unit].s.addr, 0, postgres.PasswordLogin("operator", w.operatorPassword()), "postgres", w.clientTLS(t, w.units[unit].s.addr))
		if err == nil {
			var n int
			err = conn.QueryRow(deadline, "SELECT count(*) FROM t").Scan(&n)
			conn.Close(ctx)
			if err == nil && n == want {
				return
			}
			if err == nil {
				err = fmt.Errorf("%d rows", n)
			}
		}
		select {
		case <-deadline.Done():
			t.Fatalf("%s never had %d rows: %v", unit, want, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitStreaming waits until n standbys stream from unit.
func (w *world) waitStreaming(t *testing.T, ctx context.Context, unit string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for w.sql(t, ctx, unit, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") != n {
		select {
		case <-ctx.Done():
			t.Fatalf("%d standbys never streamed from %s", n, unit)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (w *world) inRecovery(t *testing.T, ctx context.Context, unit string) bool {
	return w.sql(t, ctx, unit, "SELECT pg_is_in_recovery()::int") == 1
}

func TestRealClusterLifecycle(t *testing.T) {
	needRealPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w, r := realWorld(t, 3, 61)
	logTo := w.tweak
	w.tweak = func(c *Charm) {
		logTo(c)
		c.FailoverAfter = 2 * time.Second
		c.SwitchoverReplayWait = 20 * time.Second
	}

	// Deploy: the leader initialises and becomes Primary.
	u := w.initLeader()
	wantStatus(t, u, "active", "Primary")
	w.sql(t, ctx, "pg/0", "SELECT count(*) FROM (SELECT 1) x")
	conn, err := postgres.Connect(ctx, "127.0.0.61", 0, postgres.PasswordLogin("operator", w.operatorPassword()), "postgres", w.clientTLS(t, "127.0.0.61"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t (id serial PRIMARY KEY, v text); INSERT INTO t (v) SELECT 'a' FROM generate_series(1, 100)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	// Scale to 3: replicas seeded by pg_basebackup, streaming with slots.
	w.mustRun("pg/0", "database-peers-relation-changed")
	for _, n := range []string{"pg/1", "pg/2"} {
		u = w.mustRun(n, "database-peers-relation-joined")
		wantStatus(t, u, "active", "Replica")
	}
	for _, n := range []string{"pg/1", "pg/2"} {
		w.waitRows(t, ctx, n, 100)
		if !w.inRecovery(t, ctx, n) {
			t.Fatalf("%s writable", n)
		}
	}
	if n := w.sql(t, ctx, "pg/0", "SELECT count(*) FROM pg_replication_slots WHERE slot_name IN ('pg_1', 'pg_2')"); n != 2 {
		t.Fatalf("%d slots on the primary", n)
	}
	sysID := w.app["system-id"]
	// Measured, not asserted: the workload side of update-status on a healthy unit.
	for _, n := range []string{"pg/1", "pg/2"} {
		start := time.Now()
		u = w.mustRun(n, "update-status")
		t.Logf("update-status on %s (%s): %s", n, u.f.UnitStatus.Message, time.Since(start))
	}

	// The leader is the primary and its replicas stream: it hands the primary over to one of
	// them with a planned switchover, and follows it.
	conn, _ = postgres.Connect(ctx, "127.0.0.61", 0, postgres.PasswordLogin("operator", w.operatorPassword()), "postgres", w.clientTLS(t, "127.0.0.61"))
	if _, err := conn.Exec(ctx, "INSERT INTO t (v) SELECT 'b' FROM generate_series(1, 50)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	w.mustRun("pg/0", "database-peers-relation-changed")
	sw := (&State{AppData: w.app}).Switchover()
	if sw == nil || sw.From != "pg/0" || !isHandoff(sw.ID) {
		t.Fatalf("no hand-off: %v", w.app)
	}
	target, other := sw.To, "pg/1"
	if target == "pg/1" {
		other = "pg/2"
	}
	u = w.mustRun(target, "database-peers-relation-changed")
	// Strict mode: commits on the new primary wait until a replica streams from it.
	wantStatus(t, u, "waiting", fmt.Sprintf("Primary: commits wait for a synchronous standby (synchronous_mode_strict): none of pg/0, %s streams", other))
	u = w.mustRun("pg/0", "database-peers-relation-changed")
	wantStatus(t, u, "active", "Replica")
	if w.app["primary"] != target {
		t.Fatalf("primary %q", w.app["primary"])
	}
	w.mustRun(other, "database-peers-relation-changed")
	w.waitStreaming(t, ctx, target, 2)
	u = w.mustRun(target, "database-peers-relation-changed")
	wantStatus(t, u, "active", "Primary")
	if rec := mustRecord(t, w, target); !slices.Equal(rec.Standbys, []string{"pg/0", other}) {
		t.Fatalf("%s published %+v", target, rec)
	}
	if w.inRecovery(t, ctx, target) || !w.inRecovery(t, ctx, "pg/0") {
		t.Fatal("roles not switched")
	}
	if n := w.sql(t, ctx, target, "SELECT count(*) FROM t"); n != 150 {
		t.Fatalf("new primary has %d rows, want 150", n)
	}
	conn, _ = postgres.Connect(ctx, w.units[target].s.addr, 0, postgres.PasswordLogin("operator", w.operatorPassword()), "postgres", w.clientTLS(t, w.units[target].s.addr))
	if _, err := conn.Exec(ctx, "INSERT INTO t (v) SELECT 'c' FROM generate_series(1, 10)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	w.waitRows(t, ctx, "pg/0", 160)
	w.waitRows(t, ctx, other, 160)
	if old, _ := r.workloads["pg/0"].List(ctx, postgres.MountPath, "pgdata.old-*"); len(old) != 0 {
		t.Errorf("old primary re-cloned: %v", old)
	}

	// Failover: the primary's container goes away. The leader's first probe starts its
	// confirmation window and writes a timer into the real timers file; the timer's notice
	// fails over.
	r.containers[target].Kill()
	w.mustRunEvent("pg/0", hookCheckFailed, checkEvent(postgres.UpstreamCheck))
	if w.app["primary"] != target {
		t.Fatal("failed over without confirmation")
	}
	timers, err := r.workloads["pg/0"].ReadTimers(ctx)
	if err != nil || timers[timerFailoverConfirm].IsZero() {
		t.Fatalf("timers file %v, %v", timers, err)
	}
	w.elapsed += 2 * time.Second
	w.mustRunEvent("pg/0", hookCustomNotice, wake)
	if p := w.app["primary"]; p == target || p == "" {
		t.Fatalf("no failover: primary %q", p)
	}
	// The survivors converge; when the leader itself was the most advanced replica, it then
	// hands the primary off again.
	for round := 0; round < 4 && (round < 2 || w.app["switchover"] != ""); round++ {
		for _, n := range []string{w.app["primary"], "pg/0", other} {
			w.mustRun(n, "database-peers-relation-changed")
		}
	}
	newPrimary := w.app["primary"]
	if w.app["switchover"] != "" || newPrimary == target {
		t.Fatalf("not converged: %v", w.app)
	}
	if w.inRecovery(t, ctx, newPrimary) {
		t.Fatalf("%s not promoted", newPrimary)
	}
	w.waitRows(t, ctx, newPrimary, 160)
	if w.app["system-id"] != sysID {
		t.Errorf("system id changed")
	}

	// set-password on the leader, then log in with it. The change must reach a synchronous
	// standby: wait until the remaining replica streams from the new primary.
	w.waitStreaming(t, ctx, newPrimary, 1)
	// The password has a no-break space and a decomposed accent: the verifier is of its
	// SASLprep form, with which pgx and libpq both log in, typed either way.
	const newPw = "brand\u00a0new-cafe\u0301"
	u, err = w.run("pg/0", "set-password", map[string]any{"username": "operator", "password": newPw}, nil)
	if err != nil || u.f.IsFailed {
		t.Fatalf("set-password: %v %q", err, u.f.Failed)
	}
	// The action commits it as pending; the hook its timer brings applies it.
	w.mustRunEvent("pg/0", hookCustomNotice, wake)
	addr := w.units[newPrimary].s.addr
	psql, _ := filepath.Glob("/usr/lib/postgresql/*/bin/psql")
	if len(psql) == 0 {
		t.Fatal("no psql")
	}
	for _, pw := range []string{newPw, "brand new-caf\u00e9"} {
		c2, err := postgres.Connect(ctx, addr, 0, postgres.PasswordLogin("operator", pw), "postgres", w.clientTLS(t, addr))
		if err != nil {
			t.Fatalf("pgx login with the new password typed %+q: %v", pw, err)
		}
		c2.Close(ctx)
		cmd := exec.CommandContext(ctx, psql[0], "-X", "-At", "-c", "SELECT 1", "host="+addr+" user=operator dbname=postgres sslmode=require")
		cmd.Env = append(os.Environ(), "PGPASSWORD="+pw)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("psql login with the new password typed %+q: %v %s", pw, err, out)
		}
	}
	// A soft hyphen: libpq removes it, pgx sends it; no verifier serves both, so the action
	// refuses it and changes nothing.
	u, err = w.run("pg/0", "set-password", map[string]any{"username": "operator", "password": "soft\u00adhyphen"}, nil)
	if err != nil || !u.f.IsFailed || !strings.Contains(u.f.Failed, "U+00AD") {
		t.Fatalf("set-password with a soft hyphen: %v failed %v %q", err, u.f.IsFailed, u.f.Failed)
	}
	w.mustRunEvent("pg/0", hookCustomNotice, wake)
	c3, err := postgres.Connect(ctx, addr, 0, postgres.PasswordLogin("operator", newPw), "postgres", w.clientTLS(t, addr))
	if err != nil {
		t.Fatalf("the password before the refused change no longer logs in: %v", err)
	}
	c3.Close(ctx)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}
