package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// TestForcedFailoverAndDetach covers the unplanned half of the DR protocol: rome's primary pod
// goes down, lisbon is promoted with force=true (without force the action refuses and says
// why), rome's pod returns and fences itself, then follows lisbon; set-password on lisbon
// reaches rome (refused on rome). Then the relation is
// removed (lisbon stays writable without rome's slot or walsender, rome becomes a standalone
// read-only cluster streaming from nobody), and
// re-integrating with create-replication from lisbon re-seeds rome.
func TestForcedFailoverAndDetach(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	j := scenario.StartJujulet(t)
	s := scenario.NewSeed(j, "postgresql-k8s")
	s.DeployBoth(t, ctx)
	s.Relate(t, ctx)
	s.CreateReplication(t, ctx, 1)
	rome, lisbon := s.Clusters(t, ctx)
	s.WriteAndSee(t, ctx, rome, []*scenario.Cluster{lisbon}, "before-outage", 10)

	romePrimary := s.DB1 + "/0"
	must(t, j.StopPod(ctx, s.Rome, romePrimary))

	res, err := j.RunAction(ctx, s.Lisbon, s.DB2+"/leader", "promote-to-primary", map[string]any{"scope": "cluster"})
	must(t, err)
	if res.Status != "failed" {
		t.Fatalf("promote without force on an unreachable primary cluster: %s, want failed", res.Status)
	}

	res, err = j.RunAction(ctx, s.Lisbon, s.DB2+"/leader", "promote-to-primary", map[string]any{"scope": "cluster", "force": true})
	must(t, err)
	if res.Status != "completed" {
		t.Fatalf("forced promote: %s %s", res.Status, res.Message)
	}
	settle(t, ctx, j, s.Lisbon, scenario.All(scenario.AppSettled(s.DB2, 1, "Primary"), scenario.UnitMessages(s.DB2, map[string]int{"Primary": 1})))
	must(t, scenario.WaitRows(ctx, lisbon, "before-outage", 10))
	_, err = scenario.InsertRows(ctx, lisbon.Units[s.DB2+"/0"], lisbon.Password, "during-outage", 5)
	must(t, err)

	// The old primary returns: it must never accept writes again before it follows lisbon.
	prober := scenario.NewProber(100*time.Millisecond, rome, lisbon)
	pctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { prober.Run(pctx); close(done) }()
	must(t, j.StartPod(ctx, s.Rome, romePrimary))
	s.WaitRoles(t, ctx, s.Lisbon, s.DB2, s.Rome, s.DB1, 1)
	must(t, scenario.WaitRows(ctx, rome, "during-outage", 5))
	// The returned unit is reached by the probes (with lisbon's the only writable one) before
	// they stop, so that "no split brain" covers its return.
	err = prober.WaitHealthy(ctx)
	stop()
	<-done
	must(t, err)
	rep := prober.Report()
	t.Logf("prober after the old primary returned: %v", rep)
	if err := rep.Err(); err != nil {
		t.Fatalf("after the old primary returned: %v", err)
	}
	setPasswordReachesStandby(t, ctx, j, s, s.Lisbon, s.DB2, lisbon, s.Rome, s.DB1, rome)

	// Detach: lisbon stays primary, rome is a standalone read-only cluster until promoted.
	must(t, j.RemoveRelation(ctx, s.Lisbon, s.Offer, s.DB2+":replication"))
	settle(t, ctx, j, s.Rome, func(st *scenario.Status) error {
		return scenario.UnitBlocked(st, s.DB1, "Standalone read-only cluster")
	})
	scenario.ExactlyOneWritable(t, ctx, rome, lisbon)
	detachedPrimaryIsClean(t, ctx, lisbon, rome)

	// Re-attach: integrate again. On rome, standalone read-only, create-replication is
	// refused while lisbon is writable (it would make two writable clusters); on lisbon, the
	// consuming side, it keeps lisbon's data and re-seeds rome.
	must(t, j.Integrate(ctx, s.Lisbon, s.Offer, s.DB2+":replication"))
	var refused string
	for range 30 { // until lisbon's leader has published its endpoint on the new relation
		res, err = j.RunAction(ctx, s.Rome, s.DB1+"/leader", "create-replication", nil)
		must(t, err)
		if refused = res.Message; res.Status == "completed" || strings.Contains(refused, "is writable") {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if res.Status == "completed" || !strings.Contains(refused, "run create-replication on the leader of the other cluster") {
		t.Fatalf("create-replication on the standalone side while the other is writable: %s %s", res.Status, refused)
	}
	scenario.ExactlyOneWritable(t, ctx, rome, lisbon)
	res, err = j.RunAction(ctx, s.Lisbon, s.DB2+"/leader", "create-replication", nil)
	must(t, err)
	if res.Status != "completed" {
		t.Fatalf("create-replication after re-attach: %s %s", res.Status, res.Message)
	}
	s.WaitRoles(t, ctx, s.Lisbon, s.DB2, s.Rome, s.DB1, 1)
	rome, lisbon = s.Clusters(t, ctx)
	must(t, scenario.WaitRows(ctx, rome, "during-outage", 5))
	s.WriteAndSee(t, ctx, lisbon, []*scenario.Cluster{rome}, "after-reattach", 5)
}

// TestDRRepeatedSwitchoverAndUnitLoss: two clusters of
// two units each, four planned switchovers back and forth under a live writer (no
// acknowledged insert lost, never two writable units), then the loss of the primary
// cluster's primary pod: the in-cluster failover keeps the standby cluster following (strict
// synchronous replication holds commits until the lost unit is back), and the loss of the
// standby leader's pod: the standby cluster elects another one.
// It logs each switchover's longest write gap (a measurement, not an assertion).
func TestDRRepeatedSwitchoverAndUnitLoss(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	j := scenario.StartJujulet(t)
	s := scenario.NewSeed(j, "postgresql-k8s")
	s.DeployBoth(t, ctx)
	must(t, j.Scale(ctx, s.Rome, s.DB1, 2))
	must(t, j.Scale(ctx, s.Lisbon, s.DB2, 2))
	s.Relate(t, ctx)
	s.CreateReplication(t, ctx, 2)
	rome, lisbon := s.Clusters(t, ctx)
	s.WriteAndSee(t, ctx, rome, []*scenario.Cluster{lisbon}, "before", 5)

	var gaps []time.Duration
	for i := 0; i < 4; i++ {
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
	must(t, err)
	start := time.Now()
	must(t, j.StopPod(ctx, s.Rome, primary))
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
	// Strict synchronous replication (the default): the new primary's only possible standby
	// is the lost unit, so commits are held until it streams again (never acknowledged by
	// one unit alone, nor by the standby cluster).
	_, newPrimary, err := scenario.Primary(ctx, rome)
	must(t, err)
	hctx, hcancel := context.WithTimeout(ctx, 5*time.Second)
	_, herr := scenario.InsertRows(hctx, rome.Units[newPrimary], rome.Password, "held-while-alone", 1)
	hcancel()
	if herr == nil || hctx.Err() == nil {
		t.Fatalf("insert on %s with no synchronous standby: %v, want it held until the deadline", newPrimary, herr)
	}
	must(t, j.StartPod(ctx, s.Rome, primary))
	s.WaitRoles(t, ctx, s.Rome, s.DB1, s.Lisbon, s.DB2, 2)
	s.WriteAndSee(t, ctx, rome, []*scenario.Cluster{lisbon}, "after-primary-loss", 5)

	// Lose the standby leader's pod: another lisbon unit takes over and follows rome.
	st, err := j.Status(ctx, s.Lisbon)
	must(t, err)
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
	must(t, j.StopPod(ctx, s.Lisbon, head))
	settle(t, ctx, j, s.Lisbon, func(st *scenario.Status) error {
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
