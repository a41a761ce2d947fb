// Command scenario-bench measures the cross-regional scenario on jujulet with real PostgreSQL
// and prints a table: planned switchover write outage (p50/p95/max) and loss over twenty
// back-and-forth runs, forced failover time to writable, cross-cluster replay lag under
// pgbench, and primary TPS with the standby cluster attached vs. alone. Timings are measured,
// not asserted; but it exits non-zero when a run cannot measure (a step fails), when a
// switchover loses an acknowledged write, re-clones a unit (another system id or a data
// directory replaced by a base backup) or lets two units accept writes at once. Every row
// printed was measured in this run: a row whose measurement did not happen is left out.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

func main() {
	switchovers := flag.Int("switchovers", 20, "planned switchovers to measure (alternating direction)")
	pgbenchSeconds := flag.Int("pgbench-seconds", 15, "duration of each pgbench run")
	tpsRounds := flag.Int("tps-rounds", 3, "pgbench runs alone and attached, alternating (0: no TPS rows)")
	flag.Parse()
	testing.Init()
	// One run, however long it takes (testing.Benchmark would otherwise repeat a short one).
	if err := flag.Set("test.benchtime", "1x"); err != nil {
		fmt.Fprintln(os.Stderr, "scenario-bench:", err)
		os.Exit(2)
	}
	// The scenario helpers report through testing.TB: run them inside a benchmark harness,
	// whose own output testing.Benchmark discards; reporter shows it and keeps the failures.
	r := &reporter{}
	testing.Benchmark(func(b *testing.B) {
		r.TB = b
		run(r, *switchovers, *tpsRounds, *pgbenchSeconds)
	})
	if n := len(r.failures()); n > 0 || r.TB == nil {
		fmt.Fprintf(os.Stderr, "scenario-bench: FAILED (%d error(s) above): the table holds only what was measured before\n", n)
		os.Exit(1)
	}
}

// reporter is the testing.TB the scenario helpers get: the benchmark's *testing.B, with its
// messages printed to stderr and its failures (a skip counts as one: a benchmark that did not
// run measured nothing) remembered for main.
type reporter struct {
	testing.TB
	mu     sync.Mutex
	failed []string
}

func (r *reporter) failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.failed...)
}

func (r *reporter) fail(msg string) {
	msg = strings.TrimSpace(msg)
	fmt.Fprintln(os.Stderr, "FAIL:", msg)
	r.mu.Lock()
	r.failed = append(r.failed, msg)
	r.mu.Unlock()
}

// Helper is a no-op: messages are printed without the caller's file and line.
func (r *reporter) Helper() {}

func (r *reporter) Log(args ...any) { fmt.Fprint(os.Stderr, fmt.Sprintln(args...)) }

func (r *reporter) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

func (r *reporter) Error(args ...any) {
	r.fail(fmt.Sprintln(args...))
	r.TB.Fail()
}

func (r *reporter) Errorf(format string, args ...any) {
	r.fail(fmt.Sprintf(format, args...))
	r.TB.Fail()
}

func (r *reporter) Fatal(args ...any) {
	r.fail(fmt.Sprintln(args...))
	r.TB.FailNow()
}

func (r *reporter) Fatalf(format string, args ...any) {
	r.fail(fmt.Sprintf(format, args...))
	r.TB.FailNow()
}

func (r *reporter) Skip(args ...any) { r.Fatal(append([]any{"skipped:"}, args...)...) }

func (r *reporter) Skipf(format string, args ...any) { r.Fatalf("skipped: "+format, args...) }

func (r *reporter) SkipNow() { r.Fatal("skipped") }

type row struct{ metric, value, target string }

func run(b testing.TB, switchovers, tpsRounds, pgbenchSeconds int) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Minute)
	defer cancel()
	j := scenario.StartJujulet(b)
	s := scenario.NewSeed(j, "postgresql-k8s")
	var rows []row
	defer func() { printTable(rows) }()

	t0 := time.Now()
	s.DeployBoth(b, ctx)
	rows = append(rows, row{"deploy → both clusters active (1 unit each)", fmt.Sprintf("%.1f s", time.Since(t0).Seconds()), "≤ 10 s per cluster"})

	s.Relate(b, ctx)
	t0 = time.Now()
	s.CreateReplication(b, ctx, 1)
	rows = append(rows, row{"create-replication → standby seeded", fmt.Sprintf("%.1f s", time.Since(t0).Seconds()), ""})
	rome, lisbon := s.Clusters(b, ctx)
	if tpsRounds > 0 {
		rows = append(rows, measureTPS(b, ctx, j, s, rome, lisbon, tpsRounds, pgbenchSeconds)...)
	}

	// Which copy of the data every unit serves: a switchover must never re-clone.
	identities, err := scenario.DataIdentities(ctx, rome, lisbon)
	if err != nil {
		b.Fatal(err)
	}
	var outages []time.Duration
	var acked, lost, probeRounds, splitRounds, recloned int
	probesCovered := true
	from, to := [2]string{s.Rome, s.DB1}, [2]string{s.Lisbon, s.DB2}
	for i := 0; i < switchovers; i++ {
		r := s.MeasureSwitchoverUnderLoad(b, ctx, to[0], to[1], from[0], from[1], 1, rome, lisbon)
		b.Logf("switchover %d to %s: longest write gap %v, %d of %d acknowledged inserts lost; %v", i+1, to[1], r.Outage, len(r.Missing), r.Acked, r.Probe)
		outages = append(outages, r.Outage)
		acked += r.Acked
		lost += len(r.Missing)
		probeRounds += r.Probe.Rounds
		splitRounds += len(r.Probe.Split)
		if len(r.Missing) > 0 {
			b.Errorf("switchover %d to %s: %d of %d acknowledged inserts lost: %v", i+1, to[1], len(r.Missing), r.Acked, r.Missing)
		}
		if len(r.Probe.Split) > 0 {
			b.Errorf("switchover %d to %s: two writable units in %d probe rounds: %v", i+1, to[1], len(r.Probe.Split), r.Probe.Split)
		}
		if err := r.Probe.Covered(); err != nil {
			probesCovered = false
			b.Errorf("switchover %d: split brain not measured: %v", i+1, err)
		}
		after, err := scenario.DataIdentities(ctx, rome, lisbon)
		if err != nil {
			b.Fatal(err)
		}
		if rc := scenario.Recloned(identities, after); len(rc) > 0 {
			recloned += len(rc)
			b.Errorf("switchover %d to %s re-cloned: %v", i+1, to[1], rc)
		}
		identities = after
		from, to = to, from
	}
	if len(outages) > 0 {
		rows = append(rows,
			row{fmt.Sprintf("planned switchover write outage, p50 / p95 / max (%d runs)", len(outages)), fmt.Sprintf("%v / %v / %v", pct(outages, 50), pct(outages, 95), pct(outages, 100)), "p95 ≤ 10 s (floor ≈ 0.3 s)"},
			row{"acknowledged writes lost over all switchovers", fmt.Sprintf("%d of %d", lost, acked), "0"},
			row{"units re-cloned over all switchovers (system id, data directory)", fmt.Sprintf("%d of %d unit-switchovers", recloned, len(outages)*len(identities)), "0"},
		)
		if probesCovered {
			rows = append(rows, row{"probe rounds with two writable units (100 ms probes)", fmt.Sprintf("%d of %d", splitRounds, probeRounds), "0"})
		}
	}

	// Forced failover: the primary cluster's primary pod goes down and stays down, the standby
	// side is promoted with force=true; measured until the standby side accepts writes. Then
	// the old primary returns, fences itself and follows.
	primaryModel, standbyModel, standbyApp := from[0], to[0], to[1]
	standby := lisbon
	if standbyModel == s.Rome {
		standby = rome
	}
	_, unit, err := scenario.Primary(ctx, rome, lisbon)
	if err != nil {
		b.Fatal(err)
	}
	if err := j.StopPod(ctx, primaryModel, unit); err != nil {
		b.Fatal(err)
	}
	t0 = time.Now()
	res, err := j.RunAction(ctx, standbyModel, standbyApp+"/leader", "promote-to-primary", map[string]any{"scope": "cluster", "force": true})
	if err != nil || res.Status != "completed" {
		b.Fatalf("forced promote: %v %+v", err, res)
	}
	for {
		if _, _, err := scenario.Primary(ctx, standby); err == nil {
			break
		}
		if ctx.Err() != nil {
			b.Fatal(ctx.Err())
		}
		time.Sleep(50 * time.Millisecond)
	}
	rows = append(rows, row{"forced failover: promote force=true → writable", fmt.Sprintf("%.2f s", time.Since(t0).Seconds()), "≤ 5 s"})
	if err := j.StartPod(ctx, primaryModel, unit); err != nil {
		b.Fatal(err)
	}
	t0 = time.Now()
	s.WaitRoles(b, ctx, standbyModel, standbyApp, primaryModel, from[1], 1)
	rows = append(rows, row{"old primary back → fenced, following the new primary", fmt.Sprintf("%.1f s", time.Since(t0).Seconds()), ""})
}

// measureTPS compares the primary cluster's TPS with its standby cluster attached and
// detached (the standby's only pod down: its slot keeps the WAL, nothing is shipped), in
// alternating pairs so that a drift of the shared machine's speed (warm-up, other load)
// falls on both sides; it samples the cross-cluster replay lag during the attached runs.
func measureTPS(b testing.TB, ctx context.Context, j *scenario.Jujulet, s *scenario.Seed, primary, standby *scenario.Cluster, rounds, seconds int) []row {
	if err := pgbenchInit(ctx, primary); err != nil {
		b.Fatal(err)
	}
	standbyUnit := s.DB2 + "/0"
	var alone, attached, ratios []float64
	var lag []time.Duration
	for i := 0; i < rounds; i++ {
		if err := j.StopPod(ctx, s.Lisbon, standbyUnit); err != nil {
			b.Fatal(err)
		}
		a, err := pgbench(ctx, primary, seconds, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := j.StartPod(ctx, s.Lisbon, standbyUnit); err != nil {
			b.Fatal(err)
		}
		s.WaitRoles(b, ctx, s.Rome, s.DB1, s.Lisbon, s.DB2, 1)
		// Caught up again before the attached run: a row written now is seen there.
		s.WriteAndSee(b, ctx, primary, []*scenario.Cluster{standby}, fmt.Sprintf("tps-round-%d", i), 1)
		var samples []time.Duration
		var lagErr error
		t, err := pgbench(ctx, primary, seconds, func(ctx context.Context) { samples, lagErr = sampleLag(ctx, primary) })
		if err != nil {
			b.Fatal(err)
		}
		if len(samples) == 0 {
			b.Logf("round %d: replay lag not sampled: %v", i+1, lagErr)
		}
		lag = append(lag, samples...)
		alone, attached, ratios = append(alone, a), append(attached, t), append(ratios, t/a)
		b.Logf("TPS round %d: alone %.0f, attached %.0f (ratio %.2f)", i+1, a, t, t/a)
	}
	rows := []row{
		{fmt.Sprintf("primary TPS alone, standby cluster down (pgbench -c 8, median of %d)", rounds), fmt.Sprintf("%.0f", median(alone)), ""},
		{fmt.Sprintf("primary TPS with standby cluster attached (median of %d)", rounds), fmt.Sprintf("%.0f (median of pair ratios %.2f)", median(attached), median(ratios)), "ratio ≥ 0.9"},
	}
	if len(lag) > 0 {
		rows = append(rows, row{fmt.Sprintf("cross-cluster replay lag under pgbench, p50 / p99 (%d samples)", len(lag)),
			fmt.Sprintf("%v / %v", pct(lag, 50), pct(lag, 99)), "p99 ≤ 1 s"})
	} else {
		b.Logf("replay lag not measured (row left out)")
	}
	return rows
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// pgbenchEnv is the environment that points pgbench at the cluster's writable unit.
func pgbenchEnv(ctx context.Context, c *scenario.Cluster) ([]string, error) {
	_, unit, err := scenario.Primary(ctx, c)
	if err != nil {
		return nil, err
	}
	return append(os.Environ(), "PGPASSWORD="+c.Password, "PGHOST="+c.Units[unit], "PGUSER="+scenario.OperatorUser, "PGDATABASE=postgres"), nil
}

// pgbenchInit creates pgbench's tables (scale 10) on the cluster's writable unit.
func pgbenchInit(ctx context.Context, c *scenario.Cluster) error {
	bin, err := findPgbench()
	if err != nil {
		return err
	}
	env, err := pgbenchEnv(ctx, c)
	if err != nil {
		return err
	}
	init := exec.CommandContext(ctx, bin, "-i", "-q", "-s", "10")
	init.Env = env
	if out, err := init.CombinedOutput(); err != nil {
		return fmt.Errorf("pgbench -i: %w: %s", err, out)
	}
	return nil
}

// pgbench runs pgbench with 8 clients on the cluster's writable unit (tables made by
// pgbenchInit) and returns its TPS; during the run, during(ctx) runs alongside.
func pgbench(ctx context.Context, c *scenario.Cluster, seconds int, during func(context.Context)) (float64, error) {
	bin, err := findPgbench()
	if err != nil {
		return 0, err
	}
	env, err := pgbenchEnv(ctx, c)
	if err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, bin, "-n", "-c", "8", "-j", strconv.Itoa(runtime.NumCPU()), "-T", strconv.Itoa(seconds))
	cmd.Env = env
	dctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	if during != nil {
		go func() { during(dctx); close(done) }()
	} else {
		close(done)
	}
	out, err := cmd.CombinedOutput()
	stop()
	<-done
	if err != nil {
		return 0, fmt.Errorf("pgbench: %w: %s", err, out)
	}
	m := regexp.MustCompile(`tps = ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("pgbench printed no tps: %s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

func findPgbench() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	if len(matches) == 0 {
		return exec.LookPath("pgbench")
	}
	sort.Strings(matches)
	return matches[len(matches)-1], nil
}

// sampleLag reads, every 200 ms until ctx ends, the replay lag of the primary's cross-cluster
// walsenders (application names dr_*, see the charm's drSlot). A sample is taken only when
// such a walsender reports a lag: no row, or a NULL lag, measures nothing.
func sampleLag(ctx context.Context, c *scenario.Cluster) ([]time.Duration, error) {
	var samples []time.Duration
	_, unit, err := scenario.Primary(ctx, c)
	if err != nil {
		return nil, err
	}
	conn, err := scenario.Connect(ctx, c.Units[unit], c.Password)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	var last error
	for ctx.Err() == nil {
		var secs *float64
		err := conn.QueryRow(ctx, `SELECT max(EXTRACT(epoch FROM replay_lag))::float8 FROM pg_stat_replication WHERE application_name LIKE 'dr\_%'`).Scan(&secs)
		switch {
		case err != nil:
			last = err
		case secs == nil:
			last = fmt.Errorf("no cross-cluster walsender reported a replay lag")
		default:
			samples = append(samples, time.Duration(*secs*float64(time.Second)))
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	if len(samples) == 0 && last == nil {
		last = ctx.Err()
	}
	return samples, last
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return s[i-1].Round(time.Millisecond)
}

func printTable(rows []row) {
	host, _ := os.Hostname()
	fmt.Printf("\nscenario benchmark on %s (%d cores, %s/%s)\n\n", host, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	w := [3]int{len("metric"), len("measured"), len("target")}
	for _, r := range rows {
		w[0], w[1], w[2] = max(w[0], len([]rune(r.metric))), max(w[1], len([]rune(r.value))), max(w[2], len([]rune(r.target)))
	}
	line := func(a, b, c string) {
		fmt.Printf("| %s | %s | %s |\n", pad(a, w[0]), pad(b, w[1]), pad(c, w[2]))
	}
	line("metric", "measured", "target")
	fmt.Printf("|%s|%s|%s|\n", strings.Repeat("-", w[0]+2), strings.Repeat("-", w[1]+2), strings.Repeat("-", w[2]+2))
	for _, r := range rows {
		line(r.metric, r.value, r.target)
	}
}

func pad(s string, n int) string { return s + strings.Repeat(" ", n-len([]rune(s))) }
