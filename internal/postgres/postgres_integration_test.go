package postgres

// Integration tests against a REAL Pebble (built from the pinned module) and the REAL
// PostgreSQL binaries of this machine, laid out with jujulet's container seam
// (JUJULET_CONTAINERS_DIR). They run as root (PostgreSQL as "postgres") or as a normal user.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jujulet/postgresql-k8s/internal/pki"
	"github.com/jujulet/postgresql-k8s/internal/postgres/pgtest"
)

var pebbleBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse()
	if found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres"); len(found) > 0 && !testing.Short() {
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
}

// testUnit is one unit's workload container.
type testUnit struct {
	w *Workload
	c *pgtest.Container
}

func havePostgres(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no real PostgreSQL")
	}
	if pebbleBin == "" || !pgtest.HavePostgres() {
		pgtest.Unavailable(t, pgtest.NoPostgres)
	}
}

// startUnit runs a workload container (real Pebble, the seam's layout) and opens it.
func startUnit(t testing.TB, ctx context.Context, addr string) *testUnit {
	t.Helper()
	u := &testUnit{}
	c := pgtest.Start(t, pebbleBin, Container, MountPath, func() {
		if u.w != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			if _, err := u.w.Stop(sctx); err != nil {
				t.Logf("stop %s: %v", addr, err)
			}
			cancel()
		}
	})
	u.c = c
	u.w = u.open(t, ctx, addr)
	return u
}

// initPrimary initialises the unit's data and starts it as a writable server with the test
// settings, passfile and pg_hba rules.
func (u *testUnit) initPrimary(t *testing.T, ctx context.Context) {
	t.Helper()
	u.initPrimaryWith(t, ctx, passEntries(), testHBA())
}

// initPrimaryWith is initPrimary with the given passfile entries and pg_hba rules.
func (u *testUnit) initPrimaryWith(t *testing.T, ctx context.Context, pass []PassEntry, hba []HBARule) {
	t.Helper()
	must(t, u.w.InitDB(ctx, opLogin))
	must(t, u.w.WritePassfile(ctx, pass))
	_, err := u.w.WriteConf(ctx, testSettings())
	must(t, err)
	_, err = u.w.WriteHBA(ctx, hba)
	must(t, err)
	must(t, u.w.PlanLayer(ctx, LayerOptions{}))
	must(t, u.w.Start(ctx))
	must(t, u.w.WaitReady(ctx, opLogin))
}

// initReplicaOf makes the unit a streaming standby of the primary at host (admin: a session
// on it), through a new slot: a base backup, the passfile, the pg_hba rules (none: left as
// the backup brought them), started and ready.
func (u *testUnit) initReplicaOf(t *testing.T, ctx context.Context, host string, admin *pgx.Conn, slot string, pass []PassEntry, hba []HBARule) {
	t.Helper()
	must(t, CreateSlot(ctx, admin, slot))
	must(t, u.w.WritePassfile(ctx, pass))
	up := Upstream{Host: host, User: "replication", Slot: slot, AppName: slot}
	_, err := u.w.BaseBackup(ctx, up)
	must(t, err)
	_, err = u.w.FollowPrimary(ctx, testSettings(), up)
	must(t, err)
	if hba != nil {
		_, err = u.w.WriteHBA(ctx, hba)
		must(t, err)
	}
	must(t, u.w.PlanLayer(ctx, LayerOptions{}))
	must(t, u.w.Start(ctx))
	must(t, u.w.WaitReady(ctx, opLogin))
}

func (u *testUnit) open(t testing.TB, ctx context.Context, addr string) *Workload {
	t.Helper()
	socket, root := SocketPath(u.c.ContainersDir, Container)
	for {
		w, err := Open(ctx, Options{Socket: socket, Root: root, Addr: addr})
		if err == nil {
			placeTestTLS(t, ctx, w)
			return w
		}
		if !errors.Is(err, ErrNotReady) || ctx.Err() != nil {
			t.Fatalf("open workload: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const (
	opPass   = "op-pass:with'quote\\"
	replPass = "repl-pass"
	rwPass   = "rewind-pass"
)

var opLogin = PasswordLogin("operator", opPass)

func testHBA() []HBARule {
	return []HBARule{
		{"hostssl", "all", "operator", "0.0.0.0/0", "scram-sha-256"},
		{"hostssl", "replication", "replication", "127.0.0.0/8", "scram-sha-256"},
		{"hostssl", "all", "rewind", "127.0.0.0/8", "scram-sha-256"},
	}
}

// testCA signs every test server's certificate: the servers verify each other with it
// (primary_conninfo, pg_basebackup, pg_rewind) and so do the tests' connections.
var testCA = sync.OnceValue(func() pki.CA {
	ca, err := pki.NewCA("postgres-integration-test", time.Now())
	if err != nil {
		panic(err)
	}
	return ca
})

// placeTestTLS gives w a server certificate for its address and makes its connections
// trust the test CA, as the charm does with its cluster CA.
func placeTestTLS(t testing.TB, ctx context.Context, w *Workload) {
	t.Helper()
	ca := testCA()
	cert, key, err := ca.IssueServer(time.Now(), w.Addr)
	must(t, err)
	must(t, w.PlaceTLS(ctx, map[string][]byte{ServerCertFile: cert, ServerKeyFile: key, CAFile: ca.CertPEM, ClientCAFile: ca.CertPEM}))
	w.Trust = func(string) ([]byte, error) { return ca.CertPEM, nil }
}

func passEntries() []PassEntry {
	return []PassEntry{{User: "operator", Password: opPass}, {User: "replication", Password: replPass}, {User: "rewind", Password: rwPass}}
}

func testSettings() Settings {
	return Settings{ClusterName: "test", MaxConnections: 50, LogMinDurationStatement: -1, WALKeepSizeMB: 64, TLS: true}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func connect(t *testing.T, ctx context.Context, w *Workload) *pgx.Conn {
	t.Helper()
	conn, err := w.Connect(ctx, opLogin)
	must(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func count(t *testing.T, ctx context.Context, conn *pgx.Conn) int {
	t.Helper()
	var n int
	must(t, conn.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n))
	return n
}

// waitFor polls cond until it returns true or the deadline passes.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last error
	for {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (last error %v)", what, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestPrimaryReplicaSwitchoverRewind(t *testing.T) {
	havePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// 1. Primary A: initdb, config, layer, start.
	a := startUnit(t, ctx, "127.0.0.51")
	t.Logf("PostgreSQL %d at %s, user %q", a.w.Major, a.w.BinDir, a.w.User)
	ok, err := a.w.IsInitialised(ctx)
	must(t, err)
	if ok {
		t.Fatal("fresh data dir reported initialised")
	}
	must(t, a.w.InitDB(ctx, opLogin))
	if ok, _ := a.w.Exists(ctx, a.w.PrivateDir()+"/initdb.pw"); ok {
		t.Error("initdb password file left behind")
	}
	must(t, a.w.WritePassfile(ctx, passEntries()))
	_, err = a.w.WriteConf(ctx, testSettings())
	must(t, err)
	_, err = a.w.WriteHBA(ctx, testHBA())
	must(t, err)
	must(t, a.w.PlanLayer(ctx, LayerOptions{}))
	must(t, a.w.Start(ctx))
	must(t, a.w.WaitReady(ctx, opLogin))
	ca := connect(t, ctx, a.w)
	must(t, EnsureRole(ctx, ca, Role{Name: "replication", Password: replPass, Attributes: []string{"REPLICATION"}}))
	must(t, EnsureRole(ctx, ca, Role{Name: "rewind", Password: rwPass, Grants: RewindGrants}))
	_, err = ca.Exec(ctx, "CREATE TABLE t (id serial PRIMARY KEY, v text); INSERT INTO t (v) SELECT 'a' FROM generate_series(1, 100)")
	must(t, err)
	if inRec, err := IsInRecovery(ctx, ca); err != nil || inRec {
		t.Fatalf("primary in recovery: %v %v", inRec, err)
	}
	cdA, err := a.w.ControlData(ctx)
	must(t, err)
	if cdA.State != "in production" || cdA.TimelineID != 1 || !cdA.DataChecksums || !cdA.WALLogHints {
		// wal_log_hints is read from pg_control, which reflects the running server's setting.
		t.Logf("control data of running primary: %+v", cdA)
	}
	if cdA.State != "in production" || cdA.TimelineID != 1 || !cdA.DataChecksums {
		t.Fatalf("control data of primary: %+v", cdA)
	}

	// 2. Replica B: slot on A, base backup, follow, start.
	b := startUnit(t, ctx, "127.0.0.52")
	must(t, CreateSlot(ctx, ca, "unit_b"))
	must(t, CreateSlot(ctx, ca, "unit_b")) // idempotent
	must(t, b.w.WritePassfile(ctx, passEntries()))
	upA := Upstream{Host: a.w.Addr, User: "replication", Slot: "unit_b", AppName: "unit_b"}
	aside, err := b.w.BaseBackup(ctx, upA)
	must(t, err)
	if aside != "" {
		t.Errorf("nothing to move aside, got %q", aside)
	}
	_, err = b.w.FollowPrimary(ctx, testSettings(), upA)
	must(t, err)
	_, err = b.w.WriteHBA(ctx, testHBA())
	must(t, err)
	must(t, b.w.PlanLayer(ctx, LayerOptions{}))
	must(t, b.w.Start(ctx))
	must(t, b.w.WaitReady(ctx, opLogin))
	cb := connect(t, ctx, b.w)
	if inRec, err := IsInRecovery(ctx, cb); err != nil || !inRec {
		t.Fatalf("replica not in recovery: %v %v", inRec, err)
	}
	_, err = ca.Exec(ctx, "INSERT INTO t (v) SELECT 'b' FROM generate_series(1, 50)")
	must(t, err)
	waitFor(t, ctx, "replica has 150 rows", func() (bool, error) { return count(t, ctx, cb) == 150, nil })
	waitFor(t, ctx, "replica streaming with its slot", func() (bool, error) {
		reps, err := Replicas(ctx, ca)
		slots, err2 := ListSlots(ctx, ca)
		return err == nil && err2 == nil && len(reps) == 1 && reps[0].State == "streaming" &&
			reps[0].AppName == "unit_b" && len(slots) == 1 && slots[0].Active, errors.Join(err, err2)
	})
	pos, err := WALPositions(ctx, cb)
	must(t, err)
	if !pos.InRecovery || pos.Received == 0 || pos.Replayed == 0 {
		t.Fatalf("replica positions %+v", pos)
	}

	// 3. Planned switchover: fast stop of A is clean and B replays past its checkpoint.
	_, err = ca.Exec(ctx, "INSERT INTO t (v) SELECT 'c' FROM generate_series(1, 25)")
	must(t, err)
	ca.Close(ctx)
	cdA, err = a.w.Stop(ctx)
	must(t, err)
	if cdA.State != "shut down" {
		t.Fatalf("fast stop not clean: %+v", cdA)
	}
	if st, _ := a.w.ServiceStatus(ctx); st != "inactive" {
		t.Errorf("pebble service after stop: %q", st)
	}
	waitFor(t, ctx, "replica replayed past the shutdown checkpoint", func() (bool, error) {
		p, err := WALPositions(ctx, cb)
		return err == nil && p.Replayed > cdA.CheckpointLSN, err
	})
	must(t, Promote(ctx, cb))
	if inRec, _ := IsInRecovery(ctx, cb); inRec {
		t.Fatal("B still in recovery after promote")
	}
	if n := count(t, ctx, cb); n != 175 {
		t.Fatalf("new primary has %d rows, want 175 (nothing acknowledged lost)", n)
	}

	// 4. Old primary A follows B's new timeline without pg_rewind.
	tliB, err := CurrentTimeline(ctx, cb)
	must(t, err)
	if tliB != 2 {
		t.Fatalf("new primary timeline %d", tliB)
	}
	hist, err := TimelineHistory(ctx, cb, tliB)
	must(t, err)
	if !CanFollowWithoutRewind(cdA, tliB, hist) {
		t.Fatalf("clean old primary should follow without rewind: %+v hist %+v", cdA, hist)
	}
	must(t, CreateSlot(ctx, cb, "unit_a"))
	upB := Upstream{Host: b.w.Addr, User: "replication", Slot: "unit_a", AppName: "unit_a"}
	_, err = a.w.FollowPrimary(ctx, testSettings(), upB)
	must(t, err)
	must(t, a.w.Start(ctx))
	must(t, a.w.WaitReady(ctx, opLogin))
	ca = connect(t, ctx, a.w)
	_, err = cb.Exec(ctx, "INSERT INTO t (v) SELECT 'd' FROM generate_series(1, 10)")
	must(t, err)
	waitFor(t, ctx, "old primary follows the new timeline", func() (bool, error) {
		p, err := WALPositions(ctx, ca)
		return err == nil && p.InRecovery && p.Timeline == 2 && count(t, ctx, ca) == 185, err
	})

	// 5. Rewind: A diverges (split brain), then rewinds onto B and follows.
	must(t, Promote(ctx, ca))
	_, err = ca.Exec(ctx, "INSERT INTO t (v) SELECT 'diverged' FROM generate_series(1, 5)")
	must(t, err)
	_, err = cb.Exec(ctx, "INSERT INTO t (v) SELECT 'e' FROM generate_series(1, 5)")
	must(t, err)
	ca.Close(ctx)
	cdA, err = a.w.Stop(ctx)
	must(t, err)
	hist, err = TimelineHistory(ctx, cb, tliB)
	must(t, err)
	if CanFollowWithoutRewind(cdA, tliB, hist) {
		t.Fatalf("diverged server must need a rewind: %+v", cdA)
	}
	_, err = cb.Exec(ctx, "CHECKPOINT")
	must(t, err)
	out, err := a.w.Rewind(ctx, Upstream{Host: b.w.Addr, User: "rewind"})
	must(t, err)
	t.Logf("pg_rewind: %s", strings.TrimSpace(out))
	_, err = a.w.FollowPrimary(ctx, testSettings(), upB)
	must(t, err)
	_, err = a.w.WriteHBA(ctx, testHBA())
	must(t, err)
	must(t, a.w.Start(ctx))
	must(t, a.w.WaitReady(ctx, opLogin))
	ca = connect(t, ctx, a.w)
	waitFor(t, ctx, "rewound server follows", func() (bool, error) {
		p, err := WALPositions(ctx, ca)
		return err == nil && p.InRecovery && count(t, ctx, ca) == 190, err
	})
	// A standby is on the timeline it receives: B's, the one B's promotion started.
	if p, err := WALPositions(ctx, ca); err != nil || p.Timeline != 2 {
		t.Errorf("rewound standby's positions %+v (%v): want timeline 2", p, err)
	}
	var diverged int
	must(t, ca.QueryRow(ctx, "SELECT count(*) FROM t WHERE v = 'diverged'").Scan(&diverged))
	if diverged != 0 {
		t.Fatalf("diverged rows survived the rewind: %d", diverged)
	}

	// 6. Password rotation through a SCRAM verifier.
	must(t, SetPassword(ctx, cb, "rewind", "new-rewind"))
	tlsB, err := b.w.ClientTLS(b.w.Addr)
	must(t, err)
	c2, err := Connect(ctx, b.w.Addr, 0, PasswordLogin("rewind", "new-rewind"), "postgres", tlsB)
	must(t, err)
	c2.Close(ctx)
}

// TestPostmasterOutlivesPebble: the pod's Pebble dies (SIGKILL) while PostgreSQL keeps
// running; the new Pebble's Start shuts the orphan down cleanly and starts it again.
func TestPostmasterOutlivesPebble(t *testing.T) {
	havePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a := startUnit(t, ctx, "127.0.0.53")
	a.initPrimary(t, ctx)

	a.c.Crash(t)
	a.w = a.open(t, ctx, "127.0.0.53")
	if st, err := a.w.ServiceStatus(ctx); err != nil || st != "" {
		t.Fatalf("new pebble has a plan already: %q %v", st, err)
	}
	// The orphan still serves.
	must(t, a.w.WaitReady(ctx, opLogin))
	must(t, a.w.PlanLayer(ctx, LayerOptions{}))
	must(t, a.w.Start(ctx))
	must(t, a.w.WaitReady(ctx, opLogin))
	if st, _ := a.w.ServiceStatus(ctx); st != "active" {
		t.Fatalf("service %q after restart", st)
	}
	cd, err := a.w.Stop(ctx)
	must(t, err)
	if !cd.CleanShutdown() {
		t.Fatalf("not clean: %+v", cd)
	}

	// The pod dies with its processes: the postmaster is SIGKILLed, its pid file stays.
	must(t, a.w.Start(ctx))
	must(t, a.w.WaitReady(ctx, opLogin))
	pidFile, err := os.ReadFile(filepath.Join(a.w.Host(a.w.PGData()), "postmaster.pid"))
	must(t, err)
	pid, err := strconv.Atoi(strings.SplitN(string(pidFile), "\n", 2)[0])
	must(t, err)
	must(t, syscall.Kill(pid, syscall.SIGKILL))
	a.c.Crash(t)
	a.w = a.open(t, ctx, "127.0.0.53")
	waitFor(t, ctx, "postmaster gone", func() (bool, error) {
		return syscall.Kill(pid, 0) != nil, nil
	})
	cd, err = a.w.Stop(ctx)
	must(t, err)
	if cd.CleanShutdown() {
		t.Fatalf("a killed server reported clean: %+v", cd)
	}
	must(t, a.w.PlanLayer(ctx, LayerOptions{}))
	must(t, a.w.Start(ctx))
	must(t, a.w.WaitReady(ctx, opLogin))
}

// TestSyncStandbyHoldsCommits: with the standby in synchronous_standby_names, a commit on the
// primary waits while the standby is down (observed with a context deadline, not a duration),
// is invisible to other sessions meanwhile, and completes once the standby streams again.
func TestSyncStandbyHoldsCommits(t *testing.T) {
	havePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	a := startUnit(t, ctx, "127.0.0.56")
	a.initPrimary(t, ctx)
	ca := connect(t, ctx, a.w)
	must(t, EnsureRole(ctx, ca, Role{Name: "replication", Password: replPass, Attributes: []string{"REPLICATION"}}))
	_, err := ca.Exec(ctx, "CREATE TABLE t (id serial PRIMARY KEY, v text)")
	must(t, err)

	b := startUnit(t, ctx, "127.0.0.57")
	b.initReplicaOf(t, ctx, a.w.Addr, ca, "unit_b", passEntries(), nil)

	// Make b synchronous and wait until the primary says so.
	sync := testSettings()
	sync.SynchronousStandbyNames = SyncStandbyNames([]string{"unit_b"}, false)
	sync.SynchronousCommit = "remote_apply" // a commit returns once b can read it
	_, err = a.w.WriteConf(ctx, sync)
	must(t, err)
	must(t, a.w.Reload(ctx))
	waitFor(t, ctx, "b reported synchronous", func() (bool, error) {
		rs, err := ReadReplicationState(ctx, ca)
		return err == nil && rs.SyncStandbyNames == `FIRST 1 ("unit_b")` && len(rs.Standbys) == 1 &&
			rs.Standbys[0].AppName == "unit_b" && rs.Standbys[0].State == "streaming" && rs.Standbys[0].SyncState == "sync" &&
			rs.Standbys[0].FlushLSN >= rs.FlushLSN, err
	})
	_, err = ca.Exec(ctx, "INSERT INTO t (v) VALUES ('acknowledged')")
	must(t, err)

	// b goes away: a commit cannot complete.
	_, err = b.w.Stop(ctx)
	must(t, err)
	waitFor(t, ctx, "b gone from pg_stat_replication", func() (bool, error) {
		reps, err := Replicas(ctx, ca)
		return err == nil && len(reps) == 0, err
	})
	blocked, err := a.w.Connect(ctx, opLogin)
	must(t, err)
	defer blocked.Close(context.Background())
	ictx, icancel := context.WithTimeout(ctx, 3*time.Second)
	_, err = blocked.Exec(ictx, "INSERT INTO t (v) VALUES ('waits')")
	icancel()
	if err == nil {
		t.Fatal("a commit was acknowledged while the only synchronous standby was down")
	}
	if ictx.Err() == nil {
		t.Fatalf("the commit failed instead of waiting: %v", err)
	}
	var n int
	must(t, ca.QueryRow(ctx, "SELECT count(*) FROM t WHERE v = 'waits'").Scan(&n))
	if n != 0 {
		t.Fatal("the waiting commit is visible before the standby confirmed it")
	}

	// b returns: the waiting commit completes and new ones go through.
	must(t, b.w.Start(ctx))
	must(t, b.w.WaitReady(ctx, opLogin))
	waitFor(t, ctx, "the waiting commit completed", func() (bool, error) {
		var n int
		err := ca.QueryRow(ctx, "SELECT count(*) FROM t WHERE v = 'waits'").Scan(&n)
		return err == nil && n == 1, err
	})
	_, err = ca.Exec(ctx, "INSERT INTO t (v) VALUES ('after')")
	must(t, err)
	cb := connect(t, ctx, b.w)
	must(t, cb.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n))
	if n != 3 {
		t.Fatalf("the synchronous standby (remote_apply) has %d rows right after the commits, want 3", n)
	}
}

// TestMoveAsideKeepsOnlyTheNewest: each re-seed keeps the data it replaces, but only the
// newest copy, so that repeated re-seeds cannot fill the volume.
func TestMoveAsideKeepsOnlyTheNewest(t *testing.T) {
	havePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	u := startUnit(t, ctx, "127.0.0.58")
	must(t, u.w.InitDB(ctx, opLogin))
	var last string
	for i := range 3 {
		if i > 0 {
			must(t, u.w.MakeDir(ctx, u.w.PGData(), 0o700))
			time.Sleep(2 * time.Millisecond) // distinct timestamps
		}
		aside, err := u.w.MoveAside(ctx)
		must(t, err)
		if aside == "" || aside == last {
			t.Fatalf("move %d: aside %q (last %q)", i, aside, last)
		}
		last = aside
	}
	old, err := u.w.List(ctx, MountPath, "pgdata"+AsideSuffix+"*")
	must(t, err)
	if len(old) != 1 || path.Join(MountPath, old[0]) != last {
		t.Errorf("kept aside %v, want only %s", old, last)
	}
}

// TestCharmAdminCertAndReplicationUserSQL: the bootstrap superuser charm_admin has no
// password and logs in with a client certificate of the cluster's CA (and nothing else); the
// replication role (REPLICATION and ReplicationGrants, no superuser) runs every query the
// charm runs on the other cluster's servers: positions, timeline history, slots and
// CHECKPOINT, and cannot read the data directory.
func TestCharmAdminCertAndReplicationUserSQL(t *testing.T) {
	havePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a := startUnit(t, ctx, "127.0.0.59")
	certPEM, keyPEM, err := testCA().IssueClient(time.Now(), "charm_admin")
	must(t, err)
	pair, err := pki.KeyPair(certPEM, keyPEM)
	must(t, err)
	admin := Login{User: "charm_admin", Cert: &pair}
	must(t, a.w.InitDB(ctx, Login{User: "charm_admin"}))
	must(t, a.w.WritePassfile(ctx, passEntries()))
	_, err = a.w.WriteConf(ctx, testSettings())
	must(t, err)
	_, err = a.w.WriteHBA(ctx, []HBARule{
		{"hostssl", "all", "charm_admin", "127.0.0.0/8", "cert"},
		{"hostssl", "replication", "replication", "127.0.0.0/8", "scram-sha-256"},
		{"hostssl", "postgres", "replication", "127.0.0.0/8", "scram-sha-256"},
	})
	must(t, err)
	must(t, a.w.PlanLayer(ctx, LayerOptions{}))
	must(t, a.w.Start(ctx))
	must(t, a.w.WaitReady(ctx, admin))
	// Timeline 2, so that there is a history to read: restart as a standby and promote.
	_, err = a.w.Stop(ctx)
	must(t, err)
	must(t, a.w.WriteStandbySignal(ctx))
	must(t, a.w.Start(ctx))
	must(t, a.w.WaitReady(ctx, admin))
	sdb, err := a.w.OpenDB(ctx, a.w.Addr, admin)
	must(t, err)
	defer sdb.Close(ctx)
	must(t, sdb.Promote(ctx))
	must(t, sdb.EnsureRole(ctx, Role{Name: "replication", Password: replPass, Attributes: []string{"REPLICATION"}, Grants: ReplicationGrants}))

	// A server that refuses a login is up: WaitReady says so at once (not at its deadline).
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	err = a.w.WaitReady(wctx, Login{User: "nobody", Password: "x"})
	wcancel()
	if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "28000") {
		t.Errorf("WaitReady for a login the server refuses: %v, want its refusal", err)
	}
	must(t, sdb.EnsureCertRole(ctx, "charm_admin")) // exists: nothing to do
	must(t, sdb.EnsureCertRole(ctx, "second_admin"))
	var super, canLogin bool
	var pw *string
	must(t, sdb.conn.QueryRow(ctx, "SELECT rolsuper, rolcanlogin, rolpassword FROM pg_authid WHERE rolname = 'second_admin'").Scan(&super, &canLogin, &pw))
	if !super || !canLogin || pw != nil {
		t.Errorf("EnsureCertRole: superuser %v, login %v, password set %v", super, canLogin, pw != nil)
	}

	// charm_admin: no certificate, or one of another CA, is refused.
	other, err := pki.NewCA("another cluster", time.Now())
	must(t, err)
	oc, ok, err := other.IssueClient(time.Now(), "charm_admin")
	must(t, err)
	otherPair, err := pki.KeyPair(oc, ok)
	must(t, err)
	for name, l := range map[string]Login{"no certificate": {User: "charm_admin"}, "another CA's certificate": {User: "charm_admin", Cert: &otherPair}} {
		if c, err := a.w.Connect(ctx, l); err == nil {
			c.Close(ctx)
			t.Errorf("charm_admin with %s logged in", name)
		}
	}

	db, err := a.w.OpenDB(ctx, a.w.Addr, PasswordLogin("replication", replPass))
	must(t, err)
	defer db.Close(ctx)
	pos, err := db.Positions(ctx)
	must(t, err)
	if pos.InRecovery || pos.Timeline != 2 || pos.Current == 0 {
		t.Fatalf("positions as replication: %+v, want a writable server on timeline 2", pos)
	}
	hist, err := db.TimelineHistory(ctx, 2)
	must(t, err)
	if len(hist) != 1 || hist[0].TLI != 1 || hist[0].SwitchLSN == 0 {
		t.Errorf("timeline 2's history as replication: %+v, want one entry for timeline 1", hist)
	}
	// A timeline the server never was on is ErrNoHistory, over replication as with SQL; the
	// charm stops its search there, and only there.
	if _, err := db.TimelineHistory(ctx, 3); !errors.Is(err, ErrNoHistory) {
		t.Errorf("the history of a timeline that does not exist, as replication: %v, want ErrNoHistory", err)
	}
	if _, err := sdb.TimelineHistory(ctx, 3); !errors.Is(err, ErrNoHistory) {
		t.Errorf("the history of a timeline that does not exist, with SQL: %v, want ErrNoHistory", err)
	}
	must(t, db.CreateSlot(ctx, "dr_test"))
	slots, err := db.ListSlots(ctx)
	must(t, err)
	if len(slots) != 1 || slots[0].Name != "dr_test" {
		t.Errorf("slots as replication: %+v", slots)
	}
	must(t, db.Checkpoint(ctx))
	must(t, db.DropSlot(ctx, "dr_test"))
	// Least privilege: no superuser, so no file of the data directory.
	if _, err := db.conn.Exec(ctx, "SELECT pg_read_file('postgresql.conf')"); err == nil || !strings.Contains(err.Error(), "42501") {
		t.Errorf("replication read a file of the data directory: %v", err)
	}
	// The promoted server writes WAL on timeline 2 (WALTimelines: the charm takes a timeline
	// for a server's own only when it holds WAL of it).
	if held, err := sdb.WALTimelines(ctx); err != nil || !held[2] || held[3] {
		t.Errorf("WAL timelines of a server promoted to timeline 2: %v, %v", held, err)
	}
	// The superuser reads the same history with SQL.
	shist, err := sdb.TimelineHistory(ctx, 2)
	must(t, err)
	if len(shist) != 1 || shist[0] != hist[0] {
		t.Errorf("history as the superuser %+v, as replication %+v", shist, hist)
	}
}
