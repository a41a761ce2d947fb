package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// TestCrossClusterRollbackAgainstAStalledPromotion: lisbon asks to become the primary
// cluster, but its standby leader's replay is paused (pg_wal_replay_pause), so it cannot pass
// rome's shutdown checkpoint. Lisbon gives up at its promotion bound and withdraws its
// request; rome, told so, rolls back at once and takes writes. Then lisbon's replay resumes:
// it replays past rome's old shutdown checkpoint into the WAL rome wrote after rolling back,
// and must not promote on it. The prober never sees two writable units, and lisbon follows
// rome with the rows written after the rollback.
func TestCrossClusterRollbackAgainstAStalledPromotion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	j, s, rome, lisbon := replicatingPair(t, ctx)
	probeThroughout(t, ctx, rome, lisbon)

	head, err := scenario.Connect(ctx, lisbon.Units[s.DB2+"/0"], lisbon.Password)
	must(t, err)
	defer head.Close(context.Background())
	_, err = head.Exec(ctx, "SELECT pg_wal_replay_pause()")
	must(t, err)

	start := time.Now()
	res, err := j.RunAction(ctx, s.Lisbon, s.DB2+"/leader", "promote-to-primary", map[string]any{"scope": "cluster"})
	must(t, err)
	if res.Status != "completed" {
		t.Fatalf("promote-to-primary scope=cluster: %s %s", res.Status, res.Message)
	}
	waitFor(t, ctx, time.Minute, "rome to shut down for the switchover", func() error {
		if w, _ := scenario.Writable(ctx, rome); len(w) != 0 {
			return fmt.Errorf("still writable: %v", w)
		}
		return nil
	})
	waitFor(t, ctx, 3*time.Minute, "rome to roll back", func() error {
		_, _, err := scenario.Primary(ctx, rome)
		return err
	})
	t.Logf("rome writable again %v after the request (lisbon's promotion bound: 60 s)", time.Since(start))
	_, err = scenario.InsertRows(ctx, mustPrimaryAddr(t, ctx, rome), rome.Password, "after-rollback", 5)
	must(t, err)

	// Lisbon replays everything now, rome's new WAL included: it stays a standby.
	_, err = head.Exec(ctx, "SELECT pg_wal_replay_resume()")
	must(t, err)
	must(t, scenario.WaitRows(ctx, lisbon, "after-rollback", 5))
	s.WaitRoles(t, ctx, s.Rome, s.DB1, s.Lisbon, s.DB2, 1)
	if w, _ := scenario.Writable(ctx, lisbon); len(w) != 0 {
		t.Fatalf("lisbon writable after replaying rome's post-rollback WAL: %v", w)
	}
}
