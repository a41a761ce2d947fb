package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/charm"
	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// BenchmarkTLSOverhead compares, in the same run on the same machine, pgbench TPS on two
// hand-configured primary/synchronous-standby pairs with the charm's settings: one with TLS
// as the charm runs it (clients and the walreceiver verify the server, hostssl only), one in
// cleartext. Each round runs both, back to back in alternating order; the machine is shared,
// so its load drifts by more than TLS costs: the ratio reported (target ≥ 0.9) is the median
// of the rounds' own ratios, next to the medians of each. Also the p99 of the standby's replay lag sampled every 100 ms during the runs (target:
// unchanged within noise). Nothing is asserted about the numbers.
func BenchmarkTLSOverhead(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	pgbenchBin := pgTool(b, "pgbench")
	cfg, err := charm.ParseConfig(map[string]any{"profile": "testing"})
	must(b, err)
	type pair struct {
		name, addr, password string
		env                  []string
	}
	var pairs []pair
	for _, on := range []bool{true, false} {
		addr, pw, ca := handSyncPair(b, ctx, cfg.Settings("tls-bench", 0), on)
		p := pair{name: "plain", addr: addr, password: pw, env: []string{"PGSSLMODE=disable"}}
		if on {
			p = pair{name: "tls", addr: addr, password: pw, env: []string{"PGSSLMODE=verify-ca", "PGSSLROOTCERT=" + ca}}
		}
		pairs = append(pairs, p)
	}
	passfile := filepath.Join(b.TempDir(), "pgpass")
	must(b, os.WriteFile(passfile, []byte(fmt.Sprintf("%s:5432:*:operator:%s\n%s:5432:*:operator:%s\n",
		pairs[0].addr, pairs[0].password, pairs[1].addr, pairs[1].password)), 0o600))
	for _, p := range pairs {
		if _, err := runPgbenchEnv(ctx, pgbenchBin, p.addr, passfile, p.env, "-i", "-s", "10", "-q"); err != nil {
			b.Fatalf("pgbench -i on %s: %v", p.name, err)
		}
		// What is compared is what it says: the walsender's connection is encrypted on the
		// TLS pair only.
		c := &scenario.Cluster{Password: p.password}
		n, err := sqlCount(ctx, c, p.addr, "SELECT count(*) FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) WHERE s.ssl")
		must(b, err)
		if want := map[string]int{"tls": 1, "plain": 0}[p.name]; n != want {
			b.Fatalf("%s pair: %d encrypted walsender connections, want %d", p.name, n, want)
		}
	}
	tps := map[string][]float64{}
	var ratios []float64
	lags := map[string][]time.Duration{}
	const rounds = 8 // short rounds, many: each round's ratio is taken over 20 s of similar load
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			order := []int{0, 1}
			if r%2 == 1 {
				order = []int{1, 0} // alternate who runs first: machine noise drifts
			}
			for _, k := range order {
				p := pairs[k]
				sctx, stop := context.WithCancel(ctx)
				var wg sync.WaitGroup
				var sampled []time.Duration
				wg.Go(func() { sampled = sampleReplayLag(sctx, p.addr, p.password) })
				v, err := runPgbenchEnv(ctx, pgbenchBin, p.addr, passfile, p.env, "-n", "-M", "prepared", "-c", "8", "-j", "2", "-T", "10")
				stop()
				wg.Wait()
				if err != nil {
					b.Fatalf("pgbench on %s: %v", p.name, err)
				}
				tps[p.name] = append(tps[p.name], v)
				lags[p.name] = append(lags[p.name], sampled...)
			}
			if n := len(tps["plain"]); n > 0 && tps["plain"][n-1] > 0 {
				ratios = append(ratios, tps["tls"][len(tps["tls"])-1]/tps["plain"][n-1])
			}
		}
	}
	b.StopTimer()
	on, off := medianOf(tps["tls"]), medianOf(tps["plain"])
	b.Logf("TPS with TLS %v, cleartext %v; per-round ratios %v", tps["tls"], tps["plain"], ratios)
	b.ReportMetric(on, "tls-tps")
	b.ReportMetric(off, "plain-tps")
	b.ReportMetric(medianOf(ratios), "tps-ratio")
	b.ReportMetric(ms(percentile(lags["tls"], 99)), "tls-lag-p99-ms")
	b.ReportMetric(ms(percentile(lags["plain"], 99)), "plain-lag-p99-ms")
}

// sampleReplayLag reads the standby's replay_lag on the primary at addr every 100 ms until
// ctx ends (a NULL lag, nothing to replay, is 0).
func sampleReplayLag(ctx context.Context, addr, password string) []time.Duration {
	conn, err := scenario.Connect(ctx, addr, password)
	if err != nil {
		return nil
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var out []time.Duration
	for {
		var sec float64
		err := conn.QueryRow(ctx, "SELECT coalesce(extract(epoch FROM max(replay_lag)), 0)::float8 FROM pg_stat_replication").Scan(&sec)
		if err == nil {
			out = append(out, time.Duration(sec*float64(time.Second)))
		}
		select {
		case <-ctx.Done():
			return out
		case <-time.After(100 * time.Millisecond):
		}
	}
}
