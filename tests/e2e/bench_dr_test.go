package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/charm"
	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// BenchmarkCrossClusterRollback measures how late a planned cross-cluster switchover that
// cannot complete is rolled back, with update-status at Juju's 5 minutes so that only the
// charm's own timers can fire it. Each op: lisbon (the standby) asks to become primary and
// its pod stops at once, so it never replays past rome's shutdown checkpoint; rome shuts down
// cleanly, waits charm.DefaultDRRollbackAfter, and must be writable again on its own. The
// time is taken from the moment rome is seen read-only to the moment it is writable again;
// past-bound is that time minus the bound (target: at most 5 s). Lisbon then comes back and
// follows rome before the next op.
func BenchmarkCrossClusterRollback(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	j := scenario.StartJujulet(b)
	j.UpdateStatusInterval = 5 * time.Minute
	s := scenario.NewSeed(j, "postgresql-k8s")
	s.DeployBoth(b, ctx)
	s.Relate(b, ctx)
	s.CreateReplication(b, ctx, 1)
	rome, _ := s.Clusters(b, ctx)
	var rollbacks, pastBound []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := j.RunAction(ctx, s.Lisbon, s.DB2+"/leader", "promote-to-primary", map[string]any{"scope": "cluster"})
		must(b, err)
		if res.Status != "completed" {
			b.Fatalf("promote-to-primary scope=cluster: %s %s", res.Status, res.Message)
		}
		must(b, j.StopPod(ctx, s.Lisbon, s.DB2+"/0"))
		waitFor(b, ctx, time.Minute, "rome to shut down for the hand-over", func() error {
			if w, _ := scenario.Writable(ctx, rome); len(w) != 0 {
				return fmt.Errorf("still writable: %v", w)
			}
			return nil
		})
		down := time.Now()
		waitFor(b, ctx, 10*time.Minute, "rome to roll back", func() error {
			_, _, err := scenario.Primary(ctx, rome)
			return err
		})
		d := time.Since(down)
		rollbacks, pastBound = append(rollbacks, d), append(pastBound, d-charm.DefaultDRRollbackAfter)
		b.StopTimer()
		must(b, j.StartPod(ctx, s.Lisbon, s.DB2+"/0"))
		s.WaitRoles(b, ctx, s.Rome, s.DB1, s.Lisbon, s.DB2, 1)
		b.StartTimer()
	}
	b.ReportMetric(ms(percentile(rollbacks, 50)), "rollback-p50-ms")
	b.ReportMetric(ms(percentile(pastBound, 50)), "past-bound-p50-ms")
	b.ReportMetric(ms(percentile(pastBound, 100)), "past-bound-max-ms")
	b.Logf("read-only → writable again: %v (bound %v)", rollbacks, charm.DefaultDRRollbackAfter)
}
