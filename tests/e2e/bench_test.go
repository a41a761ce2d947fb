package e2e

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// BenchmarkDeployActive measures deploy → every unit active (Primary + Replicas) on jujulet
// with real PostgreSQL, for 1 and 3 units.
func BenchmarkDeployActive(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("units=%d", n), func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
			defer cancel()
			j := scenario.StartJujulet(b)
			opts := scenario.SeedDeploy()
			opts.Units = n
			want := map[string]int{"Primary": 1}
			if n > 1 {
				want["Replica"] = n - 1
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				model := fmt.Sprintf("bench%d", i)
				must(b, j.AddModel(ctx, model))
				must(b, j.Deploy(ctx, model, "postgresql-k8s", "pg", opts))
				settle(b, ctx, j, model, scenario.All(scenario.AppSettled("pg", n, "Primary"), scenario.UnitMessages("pg", want)))
			}
		})
	}
}

// BenchmarkInClusterSwitchover measures the write outage a client sees during
// promote-to-primary scope=unit (median reported as outage-ms) and checks no acknowledged
// insert is lost; BenchmarkPodKillFailover the time from killing the primary's pod until a
// unit accepts writes again (the restarted pod itself, or a promoted replica if it is slower).
func BenchmarkInClusterSwitchover(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	j, c := benchCluster(b, ctx, 3)
	var outages []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, old, err := scenario.Primary(ctx, c)
		must(b, err)
		target := otherUnit(c, old)
		w := scenario.NewWriter(fmt.Sprintf("bench-switchover-%d", i), c)
		wctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { w.Run(wctx); close(done) }()
		must(b, scenario.WaitAcked(ctx, w, 20))
		start := time.Now()
		res, err := j.RunAction(ctx, "bench", target, "promote-to-primary", map[string]any{"scope": "unit"})
		if err != nil || res.Status != "completed" {
			b.Fatalf("promote %s: %v %+v", target, err, res)
		}
		waitPrimary(b, ctx, c, target)
		must(b, scenario.WaitAcked(ctx, w, len(w.Acked())+20))
		// The next switchover may start only once this one has finished in the peer data.
		settle(b, ctx, j, "bench", scenario.All(scenario.AppSettled("pg", 3, "Primary"), scenario.UnitMessages("pg", map[string]int{"Primary": 1, "Replica": 2})))
		stop()
		<-done
		outages = append(outages, w.LongestGap(start))
		missing, err := scenario.MissingIDs(ctx, c.Units[target], c.Password, w.Acked())
		must(b, err)
		if len(missing) > 0 {
			b.Fatalf("%d acknowledged inserts lost", len(missing))
		}
	}
	b.ReportMetric(float64(median(outages).Milliseconds()), "outage-ms")
}

func BenchmarkPodKillFailover(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	j, c := benchCluster(b, ctx, 3)
	var times []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, old, err := scenario.Primary(ctx, c)
		must(b, err)
		start := time.Now()
		must(b, j.KillPod(ctx, "bench", old))
		for {
			if _, _, err := scenario.Primary(ctx, c); err == nil {
				break
			}
			if ctx.Err() != nil {
				b.Fatal(ctx.Err())
			}
			time.Sleep(50 * time.Millisecond)
		}
		times = append(times, time.Since(start))
		settle(b, ctx, j, "bench", scenario.UnitMessages("pg", map[string]int{"Primary": 1, "Replica": 2}))
	}
	b.ReportMetric(float64(median(times).Milliseconds()), "failover-ms")
}

func benchCluster(b *testing.B, ctx context.Context, n int) (*scenario.Jujulet, *scenario.Cluster) {
	j := scenario.StartJujulet(b)
	return j, deployCluster(b, ctx, j, "bench", "pg", n)
}

// deployCluster adds model, deploys app with n units (the seed's flags) and waits until it
// has settled: one primary, n-1 replicas, and with 2 or more units the primary handed off
// the leader (docs/HA.md), so that no hand-off starts under what the caller does next.
func deployCluster(t testing.TB, ctx context.Context, j *scenario.Jujulet, model, app string, n int) *scenario.Cluster {
	t.Helper()
	opts := scenario.SeedDeploy()
	opts.Units = n
	must(t, j.AddModel(ctx, model))
	must(t, j.Deploy(ctx, model, "postgresql-k8s", app, opts))
	cond := scenario.All(scenario.AppSettled(app, n, "Primary"), scenario.UnitMessages(app, map[string]int{"Primary": 1, "Replica": n - 1}))
	if n > 1 {
		cond = scenario.All(cond, scenario.PrimaryOffLeader(app))
	}
	settle(t, ctx, j, model, cond)
	return loadCluster(t, ctx, j, model, app)
}

func otherUnit(c *scenario.Cluster, not string) string {
	units := make([]string, 0, len(c.Units))
	for u := range c.Units {
		if u != not {
			units = append(units, u)
		}
	}
	sort.Strings(units)
	return units[0]
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// BenchmarkPrimaryLossFailover measures the write outage a client sees when the primary's
// pod is lost (stopped, not restarted) with update-status at Juju's 5 minutes, so that only
// the charm's checks and timers can act: from the stop until the writer's first insert on
// another unit. Sub-benchmarks: the primary on a non-leader (the charm's steady state) and
// the leader as primary (made so by promote-to-primary; the others wait for the leadership
// lease, JUJULET_LEASE). Each op restores the cluster afterwards (pod started, settled).
func BenchmarkPrimaryLossFailover(b *testing.B) {
	for _, leaderPrimary := range []bool{false, true} {
		name := "non-leader-primary"
		if leaderPrimary {
			name = "leader-primary"
		}
		b.Run(name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
			defer cancel()
			j := scenario.StartJujulet(b)
			j.UpdateStatusInterval = 5 * time.Minute
			const model, app = "bench", "pg"
			c := deployCluster(b, ctx, j, model, app, 3)
			var gaps, writable []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var unit string
				if leaderPrimary {
					unit = makeLeaderPrimary(b, ctx, j, c, model, app)
				} else {
					_, p, err := scenario.Primary(ctx, c)
					must(b, err)
					unit = p
				}
				loss := loseUnderLoad(b, ctx, j, c, unit, fmt.Sprintf("bench-loss-%d", i))
				gaps, writable = append(gaps, loss.gap), append(writable, loss.writable)
				must(b, j.StartPod(ctx, model, unit))
				settle(b, ctx, j, model, settled3(app))
			}
			b.ReportMetric(ms(percentile(gaps, 50)), "outage-p50-ms")
			b.ReportMetric(ms(percentile(gaps, 95)), "outage-p95-ms")
			b.ReportMetric(ms(percentile(writable, 50)), "writable-p50-ms")
			b.ReportMetric(ms(percentile(writable, 95)), "writable-p95-ms")
			b.Logf("%s: write outages %v", name, gaps)
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile is the nearest-rank p-th percentile (the maximum for p=95 and fewer than 20
// samples).
func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := (p*len(s) + 99) / 100
	return s[max(rank, 1)-1]
}
