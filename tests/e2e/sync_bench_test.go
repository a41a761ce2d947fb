package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/charm"
	"github.com/jujulet/postgresql-k8s/internal/pki"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
	"github.com/jujulet/postgresql-k8s/internal/postgres/pgtest"
	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// BenchmarkSyncCommitTPS compares, in the same run on the same machine, pgbench TPS on the
// charm's primary with one synchronous standby (2 units on jujulet) with TPS on a
// hand-configured primary/synchronous-standby pair with the same settings (same renderer,
// same binaries, Pebble, no Juju). The ratio is what the charm costs. Rounds alternate and
// the medians are reported; nothing is asserted about them.
func BenchmarkSyncCommitTPS(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	pgbenchBin := pgTool(b, "pgbench")
	j := scenario.StartJujulet(b)
	c := deployCluster(b, ctx, j, "tps", "pg", 2)
	primary := waitSyncStandbys(b, ctx, j, c, "tps", "pg")

	cfg, err := charm.ParseConfig(map[string]any{"profile": "testing"})
	must(b, err)
	// TLS on, as the charm has it.
	handAddr, handPassword, _ := handSyncPair(b, ctx, cfg.Settings("hand", 0), true)

	passfile := filepath.Join(b.TempDir(), "pgpass") // a 0700 directory of this test
	must(b, os.WriteFile(passfile, []byte(fmt.Sprintf("%s:5432:*:operator:%s\n%s:5432:*:operator:%s\n",
		c.Units[primary], c.Password, handAddr, handPassword)), 0o600))
	targets := []struct{ name, addr string }{{"charm", c.Units[primary]}, {"hand", handAddr}}
	for _, tg := range targets {
		if _, err := runPgbench(ctx, pgbenchBin, tg.addr, passfile, "-i", "-s", "10", "-q"); err != nil {
			b.Fatalf("pgbench -i on %s: %v", tg.name, err)
		}
	}
	tps := map[string][]float64{}
	const rounds = 3
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			order := []int{0, 1}
			if r%2 == 1 {
				order = []int{1, 0} // alternate who runs first: machine noise drifts
			}
			for _, k := range order {
				v, err := runPgbench(ctx, pgbenchBin, targets[k].addr, passfile, "-n", "-M", "prepared", "-c", "8", "-j", "2", "-T", "20")
				if err != nil {
					b.Fatalf("pgbench on %s: %v", targets[k].name, err)
				}
				tps[targets[k].name] = append(tps[targets[k].name], v)
			}
		}
	}
	b.StopTimer()
	cm, hm := medianOf(tps["charm"]), medianOf(tps["hand"])
	b.Logf("TPS charm %v, hand-configured %v", tps["charm"], tps["hand"])
	b.ReportMetric(cm, "charm-tps")
	b.ReportMetric(hm, "hand-tps")
	if hm > 0 {
		b.ReportMetric(cm/hm, "tps-ratio")
	}
}

// BenchmarkSyncPodKillLoss kills the primary's pod ten times under a writer (alternately a
// pod restart and an outage until a failover), with synchronous replication on; it reports
// the acknowledged inserts lost, and fails if there is any.
func BenchmarkSyncPodKillLoss(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Minute)
	defer cancel()
	j, c := benchCluster(b, ctx, 3)
	const kills = 10
	var gaps []time.Duration
	lost, acked := 0, 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w := scenario.NewWriter(fmt.Sprintf("sync-kill-%d", i), c)
		wctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { w.Run(wctx); close(done) }()
		must(b, scenario.WaitAcked(ctx, w, 20))
		for k := 0; k < kills; k++ {
			// Settled with the primary off the leader: no hand-off starts under the kill.
			settle(b, ctx, j, "bench", settled3("pg"))
			old := waitSyncStandbys(b, ctx, j, c, "bench", "pg")
			start := time.Now()
			if k%2 == 0 {
				must(b, j.KillPod(ctx, "bench", old)) // restarted at once
			} else {
				must(b, j.StopPod(ctx, "bench", old)) // down until another unit took over
				waitOtherPrimary(b, ctx, c, old)
				must(b, j.StartPod(ctx, "bench", old))
			}
			must(b, scenario.WaitAcked(ctx, w, len(w.Acked())+20))
			gaps = append(gaps, w.LongestGap(start))
			settle(b, ctx, j, "bench", settled3("pg"))
		}
		stop()
		<-done
		ids := w.Acked()
		_, p, err := scenario.Primary(ctx, c)
		must(b, err)
		missing, err := scenario.MissingIDs(ctx, c.Units[p], c.Password, ids)
		must(b, err)
		lost += len(missing)
		acked += len(ids)
		if len(missing) > 0 {
			b.Errorf("%d of %d acknowledged inserts lost over %d pod kills: %v", len(missing), len(ids), kills, missing)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(lost), "lost-acked-writes")
	b.ReportMetric(float64(acked), "acked-writes")
	b.ReportMetric(float64(kills*b.N), "pod-kills")
	b.ReportMetric(float64(median(gaps).Milliseconds()), "write-gap-ms")
}

// handSyncPair runs a primary and a synchronous standby configured directly with the charm's
// workload package (settings s plus the standby in synchronous_standby_names) and returns
// the primary's address and operator password. Both serve TLS with certificates of a CA of
// their own (caFile, a file of this test), as the charm's units do. With tlsOn they admit TLS
// only and the standby verifies the primary as the charm's units do; without, they also admit
// cleartext and the standby streams in cleartext (sslmode=disable): what TLS costs is the
// difference between the two.
func handSyncPair(b *testing.B, ctx context.Context, s postgres.Settings, tlsOn bool) (addr, password, caFile string) {
	b.Helper()
	s.TLS = true
	ca, err := pki.NewCA("hand pair", time.Now())
	must(b, err)
	caFile = filepath.Join(b.TempDir(), "ca.crt")
	must(b, os.WriteFile(caFile, ca.CertPEM, 0o600))
	hbaType := "host"
	if tlsOn {
		hbaType = "hostssl"
	}
	pebble := filepath.Join(os.Getenv("JUJULET_BIN"), "pebble")
	pw, err := charm.GeneratePassword()
	must(b, err)
	replPw, err := charm.GeneratePassword()
	must(b, err)
	pass := []postgres.PassEntry{{User: "operator", Password: pw}, {User: "replication", Password: replPw}}
	hba := []postgres.HBARule{
		{Type: hbaType, Database: "all", User: "operator", Address: "127.0.0.0/8", Method: "scram-sha-256"},
		{Type: hbaType, Database: "replication", User: "replication", Address: "127.0.0.0/8", Method: "scram-sha-256"},
	}
	start := func(name string) *postgres.Workload {
		addr := freeLoopback(b)
		var w *postgres.Workload
		c := pgtest.Start(b, pebble, postgres.Container, postgres.MountPath, func() {
			if w != nil {
				sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				_, _ = w.Stop(sctx)
			}
		})
		socket, root := postgres.SocketPath(c.ContainersDir, postgres.Container)
		for {
			w, err = postgres.Open(ctx, postgres.Options{Socket: socket, Root: root, Addr: addr})
			if err == nil {
				break
			}
			if !errors.Is(err, postgres.ErrNotReady) {
				b.Fatalf("open %s: %v", name, err)
			}
			select { // Pebble is starting
			case <-ctx.Done():
				b.Fatalf("open %s: %v", name, err)
			case <-time.After(50 * time.Millisecond):
			}
		}
		must(b, w.WritePassfile(ctx, pass))
		cert, key, err := ca.IssueServer(time.Now(), addr)
		must(b, err)
		must(b, w.PlaceTLS(ctx, map[string][]byte{postgres.ServerCertFile: cert, postgres.ServerKeyFile: key,
			postgres.CAFile: ca.CertPEM, postgres.ClientCAFile: ca.CertPEM}))
		w.Trust = func(string) ([]byte, error) { return ca.CertPEM, nil }
		return w
	}
	a := start("hand primary")
	must(b, a.InitDB(ctx, "operator", pw))
	_, err = a.WriteConf(ctx, s)
	must(b, err)
	_, err = a.WriteHBA(ctx, hba)
	must(b, err)
	must(b, a.PlanLayer(ctx, postgres.LayerOptions{}))
	must(b, a.Start(ctx))
	must(b, a.WaitReady(ctx, "operator", pw))
	conn, err := a.Connect(ctx, "operator", pw)
	must(b, err)
	defer conn.Close(context.Background())
	must(b, postgres.EnsureRole(ctx, conn, postgres.Role{Name: "replication", Password: replPw, Attributes: []string{"REPLICATION"}}))
	must(b, postgres.CreateSlot(ctx, conn, "hand_b"))

	sb := start("hand standby")
	up := postgres.Upstream{Host: a.Addr, User: "replication", Slot: "hand_b", AppName: "hand_b"}
	_, err = sb.BaseBackup(ctx, up)
	must(b, err)
	standby := s
	if !tlsOn {
		ci := strings.Replace(up.ConnInfo(), "sslmode=verify-ca", "sslmode=disable", 1) + " passfile=" + sb.Host(sb.PassfilePath())
		standby.Extra = map[string]string{"primary_conninfo": ci}
	}
	_, err = sb.FollowPrimary(ctx, standby, up)
	must(b, err)
	must(b, sb.PlanLayer(ctx, postgres.LayerOptions{}))
	must(b, sb.Start(ctx))
	must(b, sb.WaitReady(ctx, "operator", pw))

	s.SynchronousStandbyNames = postgres.SyncStandbyNames([]string{"hand_b"}, false)
	_, err = a.WriteConf(ctx, s)
	must(b, err)
	must(b, a.Reload(ctx))
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		rs, err := postgres.ReadReplicationState(wctx, conn)
		if err == nil && len(rs.Standbys) == 1 && rs.Standbys[0].SyncState == "sync" {
			return a.Addr, pw, caFile
		}
		select {
		case <-wctx.Done():
			b.Fatalf("hand-configured standby never became synchronous: %+v %v", rs, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// freeLoopback picks a 127/8 address nobody listens on at 5432 (other controllers on this
// machine hand out addresses too).
func freeLoopback(b *testing.B) string {
	b.Helper()
	for i := 0; i < 100; i++ {
		addr := fmt.Sprintf("127.%d.%d.%d", 1+rand.IntN(254), rand.IntN(256), 1+rand.IntN(254))
		l, err := net.Listen("tcp", net.JoinHostPort(addr, "5432"))
		if err == nil {
			l.Close()
			return addr
		}
	}
	b.Fatal("no free loopback address")
	return ""
}

// pgTool finds a PostgreSQL client binary of this machine (newest supported major).
func pgTool(b *testing.B, name string) string {
	b.Helper()
	for _, m := range postgres.SupportedMajors {
		p := filepath.Join("/usr/lib/postgresql", strconv.Itoa(m), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	b.Skipf("no %s under /usr/lib/postgresql", name)
	return ""
}

var tpsRe = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// runPgbench runs pgbench against addr:5432 as the operator (password from passfile) and
// returns the TPS it reports (0 for -i).
func runPgbench(ctx context.Context, bin, addr, passfile string, args ...string) (float64, error) {
	return runPgbenchEnv(ctx, bin, addr, passfile, nil, args...)
}

// runPgbenchEnv is runPgbench with more environment (e.g. PGSSLMODE).
func runPgbenchEnv(ctx context.Context, bin, addr, passfile string, env []string, args ...string) (float64, error) {
	cmd := exec.CommandContext(ctx, bin, append([]string{"-h", addr, "-p", "5432", "-U", "operator"}, append(args, "postgres")...)...)
	cmd.Env = append(append(os.Environ(), "PGPASSFILE="+passfile, "PGCONNECT_TIMEOUT=10"), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	if m := tpsRe.FindSubmatch(out); m != nil {
		return strconv.ParseFloat(string(m[1]), 64)
	}
	return 0, nil
}

func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
