package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// sqlCount runs a count(*) query as the operator on the unit at addr.
func sqlCount(ctx context.Context, c *scenario.Cluster, addr, query string) (int, error) {
	conn, err := scenario.Connect(ctx, addr, c.Password)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, query).Scan(&n); err != nil {
		return 0, fmt.Errorf("%s: %w", query, err)
	}
	return n, nil
}

// setPasswordReachesStandby: set-password on the standby cluster is refused; on the primary
// cluster (primary by a promotion, not create-replication) it reaches the standby cluster,
// which still streams after its walsender is cut and it must log in again.
func setPasswordReachesStandby(t *testing.T, ctx context.Context, j *scenario.Jujulet, s *scenario.Seed,
	pModel, pApp string, primary *scenario.Cluster, sModel, sApp string, standby *scenario.Cluster) {
	t.Helper()
	res, err := j.RunAction(ctx, sModel, sApp+"/leader", "set-password", map[string]any{"username": "replication", "password": "Not-On-A-Standby-1"})
	must(t, err)
	if res.Status != "failed" {
		t.Fatalf("set-password on the standby cluster: %s %s, want failed", res.Status, res.Message)
	}
	const pw = "Replication-After-Promotion-1"
	res, err = j.RunAction(ctx, pModel, pApp+"/leader", "set-password", map[string]any{"username": "replication", "password": pw})
	must(t, err)
	if res.Status != "completed" {
		t.Fatalf("set-password on the primary cluster: %s %s", res.Status, res.Message)
	}
	waitFor(t, ctx, 2*time.Minute, "the standby cluster to take the new password", func() error {
		res, err := j.RunAction(ctx, sModel, sApp+"/leader", "get-password", map[string]any{"username": "replication"})
		if err != nil {
			return err
		}
		if got, _ := res.Results["password"].(string); got != pw {
			return fmt.Errorf("standby cluster's replication password is still the old one")
		}
		return nil
	})
	_, head, err := scenario.Primary(ctx, primary)
	must(t, err)
	// Cut the cross-cluster walsender: the standby reconnects with the new password.
	_, err = sqlCount(ctx, primary, primary.Units[head],
		`SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_replication WHERE starts_with(application_name, 'dr_')`)
	must(t, err)
	s.WriteAndSee(t, ctx, primary, []*scenario.Cluster{standby}, "after-set-password", 5)
}

// detachedPrimaryIsClean: after remove-relation the former primary cluster's primary has no
// cross-cluster slot and no walsender to the other cluster, and its slots are bounded.
func detachedPrimaryIsClean(t *testing.T, ctx context.Context, primary, standalone *scenario.Cluster) {
	t.Helper()
	_, head, err := scenario.Primary(ctx, primary)
	must(t, err)
	addr := primary.Units[head]
	waitFor(t, ctx, time.Minute, "the former primary to drop the other cluster's slot and walsender", func() error {
		slots, err := sqlCount(ctx, primary, addr, `SELECT count(*) FROM pg_replication_slots WHERE starts_with(slot_name, 'dr_')`)
		if err != nil {
			return err
		}
		senders, err := sqlCount(ctx, primary, addr, `SELECT count(*) FROM pg_stat_replication WHERE starts_with(application_name, 'dr_')`)
		if err != nil {
			return err
		}
		if slots+senders != 0 {
			return fmt.Errorf("%d dr_ slots, %d dr_ walsenders on %s", slots, senders, head)
		}
		return nil
	})
	bounded, err := sqlCount(ctx, primary, addr, `SELECT count(*) FROM pg_settings WHERE name = 'max_slot_wal_keep_size' AND setting::bigint > 0`)
	must(t, err)
	if bounded != 1 {
		t.Errorf("max_slot_wal_keep_size is not bounded on %s", head)
	}
	for u, a := range standalone.Units {
		waitFor(t, ctx, time.Minute, "the standalone cluster to stop streaming", func() error {
			n, err := sqlCount(ctx, standalone, a, `SELECT count(*) FROM pg_stat_wal_receiver`)
			if err == nil && n != 0 {
				err = fmt.Errorf("%s still has a walreceiver", u)
			}
			return err
		})
	}
}
