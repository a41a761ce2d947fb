package scenario

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// Seed names the two regions of the seed flow (README, "The cross-regional flow") and their
// applications.
type Seed struct {
	B             Backend
	Charm         string // charm name or path to deploy
	Rome, Lisbon  string // models
	DB1, DB2      string // applications
	Offer         string // offer name == saas alias
	SettleTimeout time.Duration
}

// NewSeed returns the seed flow's names for backend b.
func NewSeed(b Backend, charm string) *Seed {
	return &Seed{B: b, Charm: charm, Rome: "rome", Lisbon: "lisbon", DB1: "db1", DB2: "db2",
		Offer: "replication-offer", SettleTimeout: 5 * time.Minute}
}

// SeedDeploy is the seed's deploy line.
func SeedDeploy() DeployOptions {
	return DeployOptions{Channel: "14/edge", Trust: true, Base: "ubuntu@22.04",
		Config: map[string]string{"profile": "testing"}}
}

func (s *Seed) settle(t testing.TB, ctx context.Context, model, what string, cond Condition) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, s.SettleTimeout)
	defer cancel()
	if err := WaitFor(ctx, s.B, model, what, cond); err != nil {
		t.Fatal(err)
	}
}

// must fails the test on err.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// DeployBoth runs the seed up to two standalone clusters, each active with one Primary unit.
func (s *Seed) DeployBoth(t testing.TB, ctx context.Context) {
	t.Helper()
	must(t, s.B.AddModel(ctx, s.Rome))
	must(t, s.B.AddModel(ctx, s.Lisbon))
	must(t, s.B.Deploy(ctx, s.Rome, s.Charm, s.DB1, SeedDeploy()))
	must(t, s.B.Deploy(ctx, s.Lisbon, s.Charm, s.DB2, SeedDeploy()))
	s.settle(t, ctx, s.Rome, "db1 active", All(AppSettled(s.DB1, 1, ""), UnitMessages(s.DB1, map[string]int{"Primary": 1})))
	s.settle(t, ctx, s.Lisbon, "db2 active", All(AppSettled(s.DB2, 1, ""), UnitMessages(s.DB2, map[string]int{"Primary": 1})))
}

// Relate offers db1:replication-offer in rome, consumes it in lisbon and integrates it with
// db2:replication, as the seed does.
func (s *Seed) Relate(t testing.TB, ctx context.Context) {
	t.Helper()
	must(t, s.B.Offer(ctx, s.Rome, s.DB1+":replication-offer", s.Offer))
	must(t, s.B.Consume(ctx, s.Lisbon, s.Rome+"."+s.Offer, ""))
	must(t, s.B.Integrate(ctx, s.Lisbon, s.Offer, s.DB2+":replication"))
}

// CreateReplication runs create-replication on rome's leader and waits for rome Primary,
// lisbon Standby with n units each.
func (s *Seed) CreateReplication(t testing.TB, ctx context.Context, n int) {
	t.Helper()
	res, err := s.B.RunAction(ctx, s.Rome, s.DB1+"/leader", "create-replication", nil)
	must(t, err)
	if res.Status != "completed" {
		t.Fatalf("create-replication: %s: %s", res.Status, res.Message)
	}
	s.WaitRoles(t, ctx, s.Rome, s.DB1, s.Lisbon, s.DB2, n)
}

// WaitRoles waits until primaryApp in primaryModel reports Primary and standbyApp reports
// Standby, n units each, all active.
func (s *Seed) WaitRoles(t testing.TB, ctx context.Context, primaryModel, primaryApp, standbyModel, standbyApp string, n int) {
	t.Helper()
	s.settle(t, ctx, primaryModel, primaryApp+" primary cluster",
		All(AppSettled(primaryApp, n, "Primary"), UnitMessages(primaryApp, map[string]int{"Primary": 1, "Replica": n - 1}), PrimaryOffLeader(primaryApp)))
	s.settle(t, ctx, standbyModel, standbyApp+" standby cluster",
		All(AppSettled(standbyApp, n, "Standby"), UnitMessages(standbyApp, map[string]int{"Standby": 1, "Replica": n - 1})))
}

// Switchover runs promote-to-primary scope=cluster on the standby side's leader and waits
// until the roles have swapped.
func (s *Seed) Switchover(t testing.TB, ctx context.Context, toModel, toApp, fromModel, fromApp string, n int) {
	t.Helper()
	res, err := s.B.RunAction(ctx, toModel, toApp+"/leader", "promote-to-primary", map[string]any{"scope": "cluster"})
	must(t, err)
	if res.Status != "completed" {
		t.Fatalf("promote-to-primary on %s: %s: %s", toApp, res.Status, res.Message)
	}
	s.WaitRoles(t, ctx, toModel, toApp, fromModel, fromApp, n)
}

// Clusters loads both clusters' units, addresses and operator passwords (PairDR).
func (s *Seed) Clusters(t testing.TB, ctx context.Context) (rome, lisbon *Cluster) {
	t.Helper()
	rome, err := LoadCluster(ctx, s.B, s.Rome, s.DB1)
	must(t, err)
	lisbon, err = LoadCluster(ctx, s.B, s.Lisbon, s.DB2)
	must(t, err)
	PairDR(rome, lisbon)
	return rome, lisbon
}

// WriteAndSee writes n rows tagged tag on the single writable unit, which must be in
// `from`, and waits until every unit of both clusters has them.
func (s *Seed) WriteAndSee(t testing.TB, ctx context.Context, from *Cluster, others []*Cluster, tag string, n int) {
	t.Helper()
	all := append([]*Cluster{from}, others...)
	c, unit, err := Primary(ctx, all...)
	must(t, err)
	if c != from {
		t.Fatalf("writable unit is %s/%s, want one in %s", c.Model, unit, from.Model)
	}
	ids, err := InsertRows(ctx, c.Units[unit], c.Password, tag, n)
	must(t, err)
	if len(ids) != n {
		t.Fatalf("inserted %d of %d rows", len(ids), n)
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, cl := range all {
		must(t, WaitRows(wctx, cl, tag, n))
	}
}

// ExactlyOneWritable checks that one unit across the clusters accepts writes.
func ExactlyOneWritable(t testing.TB, ctx context.Context, clusters ...*Cluster) {
	t.Helper()
	if _, _, err := Primary(ctx, clusters...); err != nil {
		t.Fatal(err)
	}
}

// SwitchoverRun is what one switchover under load measured.
type SwitchoverRun struct {
	Outage  time.Duration // the writer's longest gap between acknowledged inserts
	Acked   int           // inserts PostgreSQL acknowledged during the run
	Missing []int64       // acknowledged inserts absent from the new primary afterwards
	Probe   ProbeReport   // what the split-brain prober saw
}

// MeasureSwitchoverUnderLoad switches the primary cluster over while a writer inserts and a
// prober watches for two writable units, and returns what it measured. It fails t when the
// run cannot be measured (the switchover does not complete, writes do not resume, the
// prober does not reach every unit with exactly one writable before and after); lost writes
// and split brains are returned for the caller to judge.
func (s *Seed) MeasureSwitchoverUnderLoad(t testing.TB, ctx context.Context, toModel, toApp, fromModel, fromApp string, n int, clusters ...*Cluster) SwitchoverRun {
	t.Helper()
	tag := fmt.Sprintf("load-%s-%d", toApp, time.Now().UnixNano())
	lctx, stop := context.WithCancel(ctx)
	w := NewWriter(tag, clusters...)
	p := NewProber(100*time.Millisecond, clusters...)
	done := make(chan struct{}, 2)
	go func() { w.Run(lctx); done <- struct{}{} }()
	go func() { p.Run(lctx); done <- struct{}{} }()
	halt := func() {
		stop()
		<-done
		<-done
	}
	// The writer and the prober must both be at work before the switchover starts.
	if err := errors.Join(WaitAcked(ctx, w, 20), p.WaitHealthy(ctx)); err != nil {
		halt()
		t.Fatal(err)
	}
	start := time.Now()
	s.Switchover(t, ctx, toModel, toApp, fromModel, fromApp, n)
	// Writes must resume on the new primary, and the prober reach every unit of the new
	// topology, before they stop.
	before := len(w.Acked())
	if err := errors.Join(WaitAcked(ctx, w, before+20), p.WaitHealthy(ctx)); err != nil {
		halt()
		t.Fatal(err)
	}
	halt()

	run := SwitchoverRun{Outage: w.LongestGap(start), Probe: p.Report()}
	acked := w.Acked()
	run.Acked = len(acked)
	c, unit, err := Primary(ctx, clusters...)
	must(t, err)
	run.Missing, err = MissingIDs(ctx, c.Units[unit], c.Password, acked)
	must(t, err)
	return run
}

// SwitchoverUnderLoad is MeasureSwitchoverUnderLoad that fails the test if an acknowledged
// insert is missing, two primaries were seen or the prober did not cover the run; it returns
// the writer's longest outage.
func (s *Seed) SwitchoverUnderLoad(t testing.TB, ctx context.Context, toModel, toApp, fromModel, fromApp string, n int, clusters ...*Cluster) time.Duration {
	t.Helper()
	run := s.MeasureSwitchoverUnderLoad(t, ctx, toModel, toApp, fromModel, fromApp, n, clusters...)
	if len(run.Missing) > 0 {
		t.Fatalf("%d of %d acknowledged inserts missing on the new primary: %v", len(run.Missing), run.Acked, run.Missing)
	}
	if err := run.Probe.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("switchover to %s: %d acknowledged inserts, none lost; longest write gap %v; %v", toApp, run.Acked, run.Outage, run.Probe)
	return run.Outage
}

// WaitAcked waits until the writer has n acknowledged inserts.
func WaitAcked(ctx context.Context, w *Writer, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for len(w.Acked()) < n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("writer acknowledged %d inserts, waiting for %d: %w", len(w.Acked()), n, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// RunSeedFlow is the README's cross-regional flow verbatim (rome/db1 offered, lisbon/db2
// consuming), with data checked both ways, a zero-loss switchover there and back under a live
// writer, and both clusters scaled to 3 at the end with exactly one writable unit. Every
// backend runs it.
func (s *Seed) RunSeedFlow(t testing.TB, ctx context.Context) {
	t.Helper()
	s.DeployBoth(t, ctx)
	s.Relate(t, ctx)
	s.CreateReplication(t, ctx, 1)

	rome, lisbon := s.Clusters(t, ctx)
	s.WriteAndSee(t, ctx, rome, []*Cluster{lisbon}, "written-in-rome", 10)

	s.SwitchoverUnderLoad(t, ctx, s.Lisbon, s.DB2, s.Rome, s.DB1, 1, rome, lisbon)
	s.WriteAndSee(t, ctx, lisbon, []*Cluster{rome}, "written-in-lisbon", 10)

	s.SwitchoverUnderLoad(t, ctx, s.Rome, s.DB1, s.Lisbon, s.DB2, 1, rome, lisbon)

	must(t, s.B.Scale(ctx, s.Rome, s.DB1, 3))
	must(t, s.B.Scale(ctx, s.Lisbon, s.DB2, 3))
	s.WaitRoles(t, ctx, s.Rome, s.DB1, s.Lisbon, s.DB2, 3)
	rome, lisbon = s.Clusters(t, ctx)
	ExactlyOneWritable(t, ctx, rome, lisbon)
	for _, tag := range []string{"written-in-rome", "written-in-lisbon"} {
		for _, c := range []*Cluster{rome, lisbon} {
			must(t, WaitRows(ctx, c, tag, 10))
		}
	}
	s.WriteAndSee(t, ctx, rome, []*Cluster{lisbon}, "after-scaling", 5)
}
