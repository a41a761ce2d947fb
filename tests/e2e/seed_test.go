// Package e2e runs the charm's scenarios on jujulet with real Pebble and real PostgreSQL.
package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// TestSeedFlow is the README's cross-regional flow verbatim (rome/db1 offered, lisbon/db2
// consuming), with data checked both ways, a zero-loss switchover there and back under a live
// writer, and both clusters scaled to 3 at the end; then least privilege: the shared secrets
// hold no operator or monitoring password, no unit admits them from beyond its cluster.
func TestSeedFlow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	j := scenario.StartJujulet(t)
	s := scenario.NewSeed(j, "postgresql-k8s")

	s.RunSeedFlow(t, ctx)
	rome, lisbon := s.Clusters(t, ctx)
	checkLeastPrivilege(t, ctx, j, rome, lisbon)
	checkWhosePassword(t, ctx, j, s)
}
