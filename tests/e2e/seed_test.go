// Package e2e runs the charm's scenarios on jujulet with real Pebble and real PostgreSQL.
package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// TestSeedFlow is DEVELOPERS.md's flow verbatim (rome/db1 offered, lisbon/db2 consuming),
// with data checked both ways, a zero-loss switchover there and back under a live writer,
// and both clusters scaled to 3 at the end.
func TestSeedFlow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	j := scenario.StartJujulet(t)
	s := scenario.NewSeed(j, "postgresql-k8s")

	s.DeployBoth(t, ctx)
	s.Relate(t, ctx)
	s.CreateReplication(t, ctx, 1)

	rome, lisbon := s.Clusters(t, ctx)
	s.WriteAndSee(t, ctx, rome, []*scenario.Cluster{lisbon}, "written-in-rome", 10)

	s.SwitchoverUnderLoad(t, ctx, s.Lisbon, s.DB2, s.Rome, s.DB1, 1, rome, lisbon)
	s.WriteAndSee(t, ctx, lisbon, []*scenario.Cluster{rome}, "written-in-lisbon", 10)

	s.SwitchoverUnderLoad(t, ctx, s.Rome, s.DB1, s.Lisbon, s.DB2, 1, rome, lisbon)

	if err := j.Scale(ctx, s.Rome, s.DB1, 3); err != nil {
		t.Fatal(err)
	}
	if err := j.Scale(ctx, s.Lisbon, s.DB2, 3); err != nil {
		t.Fatal(err)
	}
	s.WaitRoles(t, ctx, s.Rome, s.DB1, s.Lisbon, s.DB2, 3)
	rome, lisbon = s.Clusters(t, ctx)
	scenario.ExactlyOneWritable(t, ctx, rome, lisbon)
	for _, tag := range []string{"written-in-rome", "written-in-lisbon"} {
		for _, c := range []*scenario.Cluster{rome, lisbon} {
			if err := scenario.WaitRows(ctx, c, tag, 10); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.WriteAndSee(t, ctx, rome, []*scenario.Cluster{lisbon}, "after-scaling", 5)
}
