package charm

import (
	"context"
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// TestAsyncReplRepeatedSwitchoverAndUnitLoss (JUJULET_BIN and ASYNCREPL_E2E=1): two clusters of
// two units each, six planned switchovers back and forth under a live writer (no
// acknowledged insert lost, never two writable units), then the loss of the primary
// cluster's primary pod: the in-cluster failover keeps the standby cluster following, and
// the loss of the standby leader's pod: the standby cluster elects another one.
// It logs each switchover's longest write gap (a measurement, not an assertion).
func TestAsyncReplRepeatedSwitchoverAndUnitLoss(t *testing.T) {
	if os.Getenv("ASYNCREPL_E2E") == "" {
		t.Skip("ASYNCREPL_E2E not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	j := scenario.StartJujulet(t)
	s := scenario.NewSeed(j, "postgresql-k8s")
	s.DeployBoth(t, ctx)
	drMust(t, j.Scale(ctx, s.Rome, s.DB1, 2))
	drMust(t, j.Scale(ctx, s.Lisbon, s.DB2, 2))
	s.Relate(t, ctx)
	s.CreateReplication(t, ctx, 2)
	rome, lisbon := s.Clusters(t, ctx)
	s.WriteAndSee(t, ctx, rome, []*scenario.Cluster{lisbon}, "before", 5)

	var gaps []time.Duration
	for i := 0; i < 6; i++ {
		if i%2 == 0 {
			gaps = append(gaps, s.SwitchoverUnderLoad(t, ctx, s.Lisbon, s.DB2, s.Rome, s.DB1, 2, rome, lisbon))
		} else {
			gaps = append(gaps, s.SwitchoverUnderLoad(t, ctx, s.Rome, s.DB1, s.Lisbon, s.DB2, 2, rome, lisbon))
		}
	}
	sorted := append([]time.Duration(nil), gaps...)
	sort.Slice(sorted, func(a, b int) bool { return sorted[a] < sorted[b] })
	t.Logf("planned switchover longest write gaps: %v (median %v, max %v)", gaps, sorted[len(sorted)/2], sorted[len(sorted)-1])

	// Rome is primary again. Lose its primary's pod: in-cluster failover, lisbon follows.
	_, primary, err := scenario.Primary(ctx, rome)
	drMust(t, err)
	start := time.Now()
	drMust(t, j.StopPod(ctx, s.Rome, primary))
	wctx, wcancel := context.WithTimeout(ctx, 3*time.Minute)
	for {
		if _, p, err := scenario.Primary(wctx, rome, lisbon); err == nil && p != primary {
			break
		}
		if wctx.Err() != nil {
			wcancel()
			t.Fatalf("no new primary in rome after losing %s", primary)
		}
		time.Sleep(200 * time.Millisecond)
	}
	wcancel()
	t.Logf("primary cluster lost its primary pod %s: writable again after %v", primary, time.Since(start))
	live := &scenario.Cluster{Model: rome.Model, App: rome.App, Password: rome.Password, Units: map[string]string{}}
	for u, a := range rome.Units {
		if u != primary {
			live.Units[u] = a
		}
	}
	s.WriteAndSee(t, ctx, live, []*scenario.Cluster{lisbon}, "after-primary-loss", 5)
	drMust(t, j.StartPod(ctx, s.Rome, primary))
	s.WaitRoles(t, ctx, s.Rome, s.DB1, s.Lisbon, s.DB2, 2)

	// Lose the standby leader's pod: another lisbon unit takes over and follows rome.
	st, err := j.Status(ctx, s.Lisbon)
	drMust(t, err)
	head := ""
	for name, u := range st.Applications[s.DB2].Units {
		if u.WorkloadStatus.Message == "Standby" {
			head = name
		}
	}
	if head == "" {
		t.Fatal("no standby leader in lisbon")
	}
	start = time.Now()
	drMust(t, j.StopPod(ctx, s.Lisbon, head))
	drSettle(t, ctx, j, s.Lisbon, func(st *scenario.Status) error {
		for name, u := range st.Applications[s.DB2].Units {
			if name != head && u.WorkloadStatus.Current == "active" && u.WorkloadStatus.Message == "Standby" {
				return nil
			}
		}
		return fmt.Errorf("no other unit of %s is the standby leader yet", s.DB2)
	})
	t.Logf("standby cluster lost its standby leader %s: new one after %v", head, time.Since(start))
	rome, _ = s.Clusters(t, ctx)
	liveL := &scenario.Cluster{Model: lisbon.Model, App: lisbon.App, Password: lisbon.Password, Units: map[string]string{}}
	for u, a := range lisbon.Units {
		if u != head {
			liveL.Units[u] = a
		}
	}
	s.WriteAndSee(t, ctx, rome, []*scenario.Cluster{liveL}, "after-standby-leader-loss", 5)
}

func drMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func drSettle(t *testing.T, ctx context.Context, j *scenario.Jujulet, model string, cond scenario.Condition) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := scenario.WaitFor(ctx, j, model, "condition", cond); err != nil {
		t.Fatal(err)
	}
}
