// Command scenario-bench measures the cross-regional scenario on jujulet with real PostgreSQL
// and prints a table: planned switchover write outage and loss over several runs, forced
// failover time to writable, cross-cluster replay lag under pgbench, and primary TPS with the
// standby cluster attached vs. alone. It measures; it asserts nothing.
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
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

func main() {
	switchovers := flag.Int("switchovers", 6, "planned switchovers to measure (alternating direction)")
	pgbenchSeconds := flag.Int("pgbench-seconds", 15, "duration of each pgbench run")
	flag.Parse()
	testing.Init()
	// The scenario helpers report through testing.TB; run them inside a benchmark harness.
	res := testing.Benchmark(func(b *testing.B) {
		b.N = 1
		run(b, *switchovers, *pgbenchSeconds)
	})
	_ = res
}

type row struct{ metric, value, target string }

func run(b *testing.B, switchovers, pgbenchSeconds int) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Minute)
	defer cancel()
	j := scenario.StartJujulet(b)
	s := scenario.NewSeed(j, "postgresql-k8s")
	var rows []row
	defer func() { printTable(rows) }()

	t0 := time.Now()
	s.DeployBoth(b, ctx)
	rows = append(rows, row{"deploy → both clusters active (1 unit each)", fmt.Sprintf("%.1f s", time.Since(t0).Seconds()), "≤ 10 s per cluster"})

	romeAlone, err := scenario.LoadCluster(ctx, j, s.Rome, s.DB1)
	if err != nil {
		b.Fatal(err)
	}
	tpsAlone, err := pgbench(ctx, romeAlone, pgbenchSeconds, nil)
	if err != nil {
		b.Fatal(err)
	}

	s.Relate(b, ctx)
	t0 = time.Now()
	s.CreateReplication(b, ctx, 1)
	rows = append(rows, row{"create-replication → standby seeded", fmt.Sprintf("%.1f s", time.Since(t0).Seconds()), ""})
	rome, lisbon := s.Clusters(b, ctx)

	var lagSamples []time.Duration
	tpsAttached, err := pgbench(ctx, rome, pgbenchSeconds, func(ctx context.Context) {
		lagSamples = sampleLag(ctx, rome)
	})
	if err != nil {
		b.Fatal(err)
	}
	rows = append(rows,
		row{"primary TPS alone (pgbench -c 8)", fmt.Sprintf("%.0f", tpsAlone), ""},
		row{"primary TPS with standby cluster attached", fmt.Sprintf("%.0f (ratio %.2f)", tpsAttached, tpsAttached/tpsAlone), "ratio ≥ 0.9"},
		row{"cross-cluster replay lag under pgbench, p50 / p99", fmt.Sprintf("%v / %v", pct(lagSamples, 50), pct(lagSamples, 99)), "p99 ≤ 1 s"},
	)

	var outages []time.Duration
	from, to := [2]string{s.Rome, s.DB1}, [2]string{s.Lisbon, s.DB2}
	for i := 0; i < switchovers; i++ {
		outages = append(outages, s.SwitchoverUnderLoad(b, ctx, to[0], to[1], from[0], from[1], 1, rome, lisbon))
		from, to = to, from
	}
	rows = append(rows,
		row{fmt.Sprintf("planned switchover write outage, p50 / p95 (%d runs)", len(outages)), fmt.Sprintf("%v / %v", pct(outages, 50), pct(outages, 95)), "p95 ≤ 10 s (floor ≈ 0.3 s)"},
		row{"acknowledged writes lost over all switchovers", "0 (checked per run)", "0"},
	)

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

// pgbench initialises and runs pgbench with 8 clients on the cluster's writable unit and
// returns its TPS; during the run, during(ctx) runs alongside.
func pgbench(ctx context.Context, c *scenario.Cluster, seconds int, during func(context.Context)) (float64, error) {
	bin, err := findPgbench()
	if err != nil {
		return 0, err
	}
	_, unit, err := scenario.Primary(ctx, c)
	if err != nil {
		return 0, err
	}
	env := append(os.Environ(), "PGPASSWORD="+c.Password, "PGHOST="+c.Units[unit], "PGUSER="+scenario.OperatorUser, "PGDATABASE=postgres")
	init := exec.CommandContext(ctx, bin, "-i", "-q", "-s", "10")
	init.Env = env
	if out, err := init.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("pgbench -i: %w: %s", err, out)
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

// sampleLag reads the walsenders' replay_lag on the primary every 200 ms until ctx ends.
func sampleLag(ctx context.Context, c *scenario.Cluster) []time.Duration {
	var samples []time.Duration
	_, unit, err := scenario.Primary(ctx, c)
	if err != nil {
		return nil
	}
	conn, err := scenario.Connect(ctx, c.Units[unit], c.Password)
	if err != nil {
		return nil
	}
	defer conn.Close(context.Background())
	for ctx.Err() == nil {
		var secs float64
		err := conn.QueryRow(ctx, "SELECT COALESCE(max(EXTRACT(epoch FROM replay_lag)), 0) FROM pg_stat_replication").Scan(&secs)
		if err == nil {
			samples = append(samples, time.Duration(secs*float64(time.Second)))
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	return samples
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
