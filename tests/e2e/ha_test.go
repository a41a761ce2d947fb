package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// The suite runs with update-status every hour (scenario.StartJujulet): everything below
// happens through the charm's Pebble checks and its watcher's wake-up notices (docs/HA.md).

// TestPrimaryPodLossWithoutUpdateStatus: a 3-unit cluster under a writer loses the pod of its
// primary, first a non-leader primary (the leader, alive, fails over after its confirmation
// window), then the leader as primary (the others wait for the leadership lease). Each time
// another unit accepts writes and the writer resumes there, the prober never sees two
// writable units, and no insert acknowledged by the lost primary is missing on the new one
// (synchronous replication inside the cluster, docs/SYNC.md).
func TestPrimaryPodLossWithoutUpdateStatus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	j := scenario.StartJujulet(t)
	const model, app = "ha", "pg"
	c := deployCluster(t, ctx, j, model, app, 3)

	t.Run("non-leader primary", func(t *testing.T) {
		_, primary, err := scenario.Primary(ctx, c)
		must(t, err)
		if leader := leaderOf(t, ctx, j, model, app); leader == primary {
			t.Fatalf("the leader %s is the primary of a settled 3-unit cluster", leader)
		}
		loss := loseUnderLoad(t, ctx, j, c, primary, "lose-non-leader-primary")
		t.Logf("non-leader primary %s lost: writable again on %s after %v, longest write gap %v, 0 of %d acknowledged inserts lost", primary, loss.newPrimary, loss.writable, loss.gap, loss.acked)
		must(t, j.StartPod(ctx, model, primary))
		settle(t, ctx, j, model, settled3(app))
	})

	t.Run("leader primary", func(t *testing.T) {
		leader := makeLeaderPrimary(t, ctx, j, c, model, app)
		loss := loseUnderLoad(t, ctx, j, c, leader, "lose-leader-primary")
		t.Logf("leader primary %s lost: writable again on %s after %v, longest write gap %v, 0 of %d acknowledged inserts lost", leader, loss.newPrimary, loss.writable, loss.gap, loss.acked)
		must(t, j.StartPod(ctx, model, leader))
		settle(t, ctx, j, model, settled3(app))
		_, _, err := scenario.Primary(ctx, c)
		must(t, err)
	})
}

// TestCrossClusterSwitchoverRollsBackAtItsBound: lisbon asks to become the primary cluster
// and its only pod stops right after, so it never replays past rome's shutdown checkpoint.
// Rome, shut down cleanly and waiting, withdraws its token at its bound (RollbackAfter) and
// rolls back once lisbon's promotion bound has passed too (docs/PROTOCOL.md), by its own
// timers, and is writable again with a higher epoch; lisbon, back, follows it as a standby.
func TestCrossClusterSwitchoverRollsBackAtItsBound(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	j, s, rome, lisbon := replicatingPair(t, ctx)
	probeThroughout(t, ctx, rome, lisbon)

	start := time.Now()
	res, err := j.RunAction(ctx, s.Lisbon, s.DB2+"/leader", "promote-to-primary", map[string]any{"scope": "cluster"})
	must(t, err)
	if res.Status != "completed" {
		t.Fatalf("promote-to-primary scope=cluster: %s %s", res.Status, res.Message)
	}
	must(t, j.StopPod(ctx, s.Lisbon, s.DB2+"/0"))

	// Rome shuts down for the hand-over, then comes back on its own.
	waitFor(t, ctx, 30*time.Second, "rome to shut down for the switchover", func() error {
		if w, _ := scenario.Writable(ctx, rome); len(w) != 0 {
			return fmt.Errorf("still writable: %v", w)
		}
		return nil
	})
	waitFor(t, ctx, 5*time.Minute, "rome to roll back", func() error {
		_, _, err := scenario.Primary(ctx, rome)
		return err
	})
	t.Logf("rome writable again %v after the request (bounds: 60 s, then 70 s after withdrawing the token; update-status every hour)", time.Since(start))
	_, err = scenario.InsertRows(ctx, mustPrimaryAddr(t, ctx, rome), rome.Password, "after-rollback", 5)
	must(t, err)

	must(t, j.StartPod(ctx, s.Lisbon, s.DB2+"/0"))
	s.WaitRoles(t, ctx, s.Rome, s.DB1, s.Lisbon, s.DB2, 1)
	must(t, scenario.WaitRows(ctx, lisbon, "after-rollback", 5))
}

func settled3(app string) scenario.Condition {
	return scenario.All(scenario.AppSettled(app, 3, "Primary"), scenario.UnitMessages(app, map[string]int{"Primary": 1, "Replica": 2}),
		scenario.PrimaryOffLeader(app))
}

func leaderOf(t testing.TB, ctx context.Context, j *scenario.Jujulet, model, app string) string {
	t.Helper()
	st, err := j.Status(ctx, model)
	must(t, err)
	l := st.Leader(app)
	if l == "" {
		t.Fatalf("%s has no leader", app)
	}
	return l
}

// makeLeaderPrimary switches the primary over to the leader with promote-to-primary (an
// operator's choice, which the charm keeps) under a writer, checks that no acknowledged
// insert was lost, and returns the leader.
func makeLeaderPrimary(t testing.TB, ctx context.Context, j *scenario.Jujulet, c *scenario.Cluster, model, app string) string {
	t.Helper()
	leader := leaderOf(t, ctx, j, model, app)
	w := scenario.NewWriter(fmt.Sprintf("to-leader-%d", time.Now().UnixNano()), c)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(wctx); close(done) }()
	halted := false
	halt := func() {
		if !halted {
			halted = true
			stop()
			<-done
		}
	}
	defer halt()
	must(t, scenario.WaitAcked(ctx, w, 20))
	res, err := j.RunAction(ctx, model, leader, "promote-to-primary", map[string]any{"scope": "unit"})
	must(t, err)
	if res.Status != "completed" {
		t.Fatalf("promote-to-primary scope=unit on the leader %s: %s %s", leader, res.Status, res.Message)
	}
	waitPrimary(t, ctx, c, leader)
	settle(t, ctx, j, model, scenario.All(scenario.AppSettled(app, 3, "Primary"), scenario.UnitMessages(app, map[string]int{"Primary": 1, "Replica": 2})))
	must(t, scenario.WaitAcked(ctx, w, len(w.Acked())+20))
	halt()
	missing, err := scenario.MissingIDs(ctx, c.Units[leader], c.Password, w.Acked())
	must(t, err)
	if len(missing) > 0 {
		t.Fatalf("%d acknowledged inserts lost in the planned switchover to the leader", len(missing))
	}
	return leader
}

type lossResult struct {
	newPrimary string
	writable   time.Duration // from the pod stop until another unit accepts writes
	gap        time.Duration // the writer's longest gap between acknowledged inserts
	acked      int           // inserts the lost primary acknowledged before its pod stopped
}

// loseUnderLoad stops unit's pod while writers insert and a prober watches, waits until
// another unit accepts writes and the writer has written there, and fails on a split brain
// or on an insert acknowledged by the lost primary that the new primary lacks. The pod stays
// down.
func loseUnderLoad(t testing.TB, ctx context.Context, j *scenario.Jujulet, c *scenario.Cluster, unit, tag string) lossResult {
	t.Helper()
	live := &scenario.Cluster{Model: c.Model, App: c.App, Password: c.Password, Units: map[string]string{}}
	for u, a := range c.Units {
		if u != unit {
			live.Units[u] = a
		}
	}
	w := scenario.NewWriter(tag, live)
	// The lost primary's own writes: acknowledged by it, they must survive the failover.
	before := scenario.NewWriter(tag+"-before", c)
	p := scenario.NewProber(100*time.Millisecond, c)
	lctx, stop := context.WithCancel(ctx)
	bctx, stopBefore := context.WithCancel(lctx)
	done := make(chan struct{}, 3)
	go func() { w.Run(lctx); done <- struct{}{} }()
	go func() { before.Run(bctx); done <- struct{}{} }()
	go func() { p.Run(lctx); done <- struct{}{} }()
	halt := func() { stop(); <-done; <-done; <-done }
	// The writer writes to the survivors only: its first write after the stop measures the
	// outage. Before the stop, the unit to lose must be the only writable one.
	if _, owner, err := scenario.Primary(ctx, c); err != nil || owner != unit {
		halt()
		t.Fatalf("%s is not the only writable unit (%s, %v)", unit, owner, err)
	}
	if err := p.WaitHealthy(ctx); err != nil {
		halt()
		t.Fatal(err)
	}
	if err := scenario.WaitAcked(ctx, before, 20); err != nil {
		halt()
		t.Fatal(err)
	}
	start := time.Now()
	if err := j.StopPod(ctx, c.Model, unit); err != nil {
		halt()
		t.Fatal(err)
	}
	var res lossResult
	waitFor(t, ctx, 3*time.Minute, "another unit to accept writes", func() error {
		_, u, err := scenario.Primary(ctx, live)
		res.newPrimary = u
		return err
	})
	res.writable = time.Since(start)
	stopBefore() // what it acknowledges from now on came from the new primary
	if err := scenario.WaitAcked(ctx, w, len(w.Acked())+20); err != nil {
		halt()
		t.Fatal(err)
	}
	halt()
	res.gap = w.LongestGap(start)
	if err := p.Report().Err(); err != nil {
		t.Fatalf("after losing %s: %v", unit, err)
	}
	acked := before.Acked()
	// Checked on whichever unit is the primary by then: the leader may already be handing
	// the primary off the unit that took over (docs/HA.md), which refuses connections meanwhile.
	var missing []int64
	waitFor(t, ctx, 2*time.Minute, "the acknowledged inserts checked on the primary", func() error {
		_, u, err := scenario.Primary(ctx, live)
		if err != nil {
			return err
		}
		missing, err = scenario.MissingIDs(ctx, live.Units[u], c.Password, acked)
		return err
	})
	if len(missing) > 0 {
		t.Fatalf("after losing %s: %d of %d acknowledged inserts missing on the new primary %s", unit, len(missing), len(acked), res.newPrimary)
	}
	res.acked = len(acked)
	return res
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, ctx context.Context, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := cond()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (last: %v)", what, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// replicatingPair deploys rome and lisbon with one unit each, rome replicating to lisbon,
// with rows written in rome seen in lisbon.
func replicatingPair(t *testing.T, ctx context.Context) (*scenario.Jujulet, *scenario.Seed, *scenario.Cluster, *scenario.Cluster) {
	t.Helper()
	j := scenario.StartJujulet(t)
	s := scenario.NewSeed(j, "postgresql-k8s")
	s.DeployBoth(t, ctx)
	s.Relate(t, ctx)
	s.CreateReplication(t, ctx, 1)
	rome, lisbon := s.Clusters(t, ctx)
	s.WriteAndSee(t, ctx, rome, []*scenario.Cluster{lisbon}, "before-request", 5)
	return j, s, rome, lisbon
}

// probeThroughout probes the clusters every 100 ms until the test ends, and fails the test
// if the prober saw two writable units or reached too few; it returns once the prober has
// seen a healthy round.
func probeThroughout(t *testing.T, ctx context.Context, clusters ...*scenario.Cluster) {
	t.Helper()
	prober := scenario.NewProber(100*time.Millisecond, clusters...)
	pctx, stopProber := context.WithCancel(context.WithoutCancel(ctx))
	proberDone := make(chan struct{})
	go func() { prober.Run(pctx); close(proberDone) }()
	t.Cleanup(func() {
		stopProber()
		<-proberDone
		rep := prober.Report()
		t.Logf("prober: %v", rep)
		if err := rep.Err(); err != nil {
			t.Error(err)
		}
	})
	must(t, prober.WaitHealthy(ctx))
}
