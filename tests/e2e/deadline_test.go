package e2e

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/postgres/pgtest"
	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// stalledRemotePrimary: the primary cluster's primary stops and a peer that accepts
// connections and never answers takes its address, which the replication relation still
// publishes. The standby cluster's hooks still end (docs/DESIGN.md, "Deadlines"): its standby
// leader reports the stalled peer, and an action queued behind its hooks completes.
//
// It runs last on TestCertificatesAcrossClusters's pair.
func stalledRemotePrimary(t *testing.T, ctx context.Context, j *scenario.Jujulet, s *scenario.Seed, rome *scenario.Cluster) {
	_, primary, err := scenario.Primary(ctx, rome)
	must(t, err)
	addr, err := j.UnitAddress(ctx, s.Rome, primary)
	must(t, err)
	must(t, j.StopPod(ctx, s.Rome, primary))
	pgtest.StalledPeer(t, ctx, net.JoinHostPort(addr, "5432"), pgtest.StallAtOnce)

	// A hook of the standby cluster that looks at its upstream.
	_, err = j.Juju(ctx, "config", "-m", s.Lisbon, s.DB2, "clone_timeout_minutes=600")
	must(t, err)
	head := s.DB2 + "/0"
	waitFor(t, ctx, 3*time.Minute, "the standby leader to report the stalled primary", func() error {
		st, err := j.Status(ctx, s.Lisbon)
		if err != nil {
			return err
		}
		ws := st.Applications[s.DB2].Units[head].WorkloadStatus
		if !strings.Contains(ws.Message, addr) || !strings.Contains(ws.Message, "timeout") {
			return fmt.Errorf("%s: %s %q", head, ws.Current, ws.Message)
		}
		t.Logf("%s: %s %q", head, ws.Current, ws.Message)
		return nil
	})
	res, err := j.RunAction(ctx, s.Lisbon, head, "get-primary", nil)
	must(t, err)
	if res.Status != "completed" {
		t.Fatalf("get-primary behind the stalled peer's hooks: %s %s", res.Status, res.Message)
	}
}
