package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// BenchmarkClientCrossClusterSwitchover measures the write outage an application sees across
// planned switchovers between the clusters (promote-to-primary scope=cluster, back and
// forth, one per op), writing through the URI its relation with the standby cluster gave it
// (lisbon's unit, then rome's): outage p50 and p95 (the longest gap between two acknowledged
// inserts after the promote starts) and the acknowledged inserts missing afterwards, which
// fail the benchmark. Target: p95 <= 2 s, 0 lost.
func BenchmarkClientCrossClusterSwitchover(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	j := scenario.StartJujulet(b)
	s := scenario.NewSeed(j, "postgresql-k8s")
	s.DeployBoth(b, ctx)
	s.Relate(b, ctx)
	s.CreateReplication(b, ctx, 1)
	must(b, j.Deploy(ctx, s.Lisbon, "pgclient", "app", scenario.DeployOptions{Config: map[string]string{"database-name": "benchdb"}}))
	must(b, j.Integrate(ctx, s.Lisbon, s.DB2, "app"))
	waitClientReady(b, ctx, j, s.Lisbon, "app/0", "benchdb")
	uri := waitClientURI(b, ctx, j, s.Lisbon, "app/0", 2)

	type side struct{ model, app string }
	from, to := side{s.Rome, s.DB1}, side{s.Lisbon, s.DB2}
	var outages []time.Duration
	var lost, acked int
	for i := 0; b.Loop(); i++ {
		w := scenario.NewURIWriter(fmt.Sprintf("client-switchover-%d", i), uri)
		wctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { w.Run(wctx); close(done) }()
		halt := func() { stop(); <-done }
		// Both clusters admit the client once they have seen it: the first op may wait here.
		if err := scenario.WaitURIAcked(ctx, w, 20); err != nil {
			halt()
			b.Fatal(err)
		}
		start := time.Now()
		s.Switchover(b, ctx, to.model, to.app, from.model, from.app, 1)
		if err := scenario.WaitURIAcked(ctx, w, len(w.Acked())+20); err != nil {
			halt()
			b.Fatal(err)
		}
		halt()
		outages = append(outages, w.LongestGap(start))
		ids := w.Acked()
		missing, err := scenario.MissingThroughURI(ctx, uri, ids)
		must(b, err)
		lost, acked = lost+len(missing), acked+len(ids)
		if len(missing) > 0 {
			b.Errorf("switchover to %s: %d of %d acknowledged inserts missing: %v", to.app, len(missing), len(ids), missing)
		}
		// Said as it goes, so that a later switchover that fails leaves these figures.
		b.Logf("switchover %d to %s: client write outage %v, %d inserts acknowledged (%d failed attempts), %d missing",
			i+1, to.app, outages[len(outages)-1], len(ids), w.Failed(), len(missing))
		from, to = to, from
	}
	b.ReportMetric(ms(percentile(outages, 50)), "outage-p50-ms")
	b.ReportMetric(ms(percentile(outages, 95)), "outage-p95-ms")
	b.ReportMetric(float64(lost), "lost")
	b.Logf("%d switchovers, client write outages %v, %d inserts acknowledged, %d lost", len(outages), outages, acked, lost)
	if lost > 0 {
		b.Fatalf("%d acknowledged inserts lost across %d switchovers", lost, len(outages))
	}
}
