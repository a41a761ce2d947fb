package e2e

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// TestSyncFailoverLosesNothing: three units with the default synchronous_node_count=all
// publish both replicas as synchronous standbys; while a writer inserts, the primary's pod
// is stopped and stays down; the leader promotes a synchronous standby and no insert the
// old primary acknowledged is missing. The old primary then returns as a replica.
func TestSyncFailoverLosesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	j := scenario.StartJujulet(t)
	const model, app = "sync", "pg"
	c := deployCluster(t, ctx, j, model, app, 3) // the primary is off the leader: no move below

	old := waitSyncStandbys(t, ctx, j, c, model, app)
	replicas := otherUnits(c, old)

	w := scenario.NewWriter("sync-failover", c)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(wctx); close(done) }()
	defer func() { stop(); <-done }()
	must(t, scenario.WaitAcked(ctx, w, 50))

	must(t, j.StopPod(ctx, model, old))
	next := waitOtherPrimary(t, ctx, c, old)
	if !slices.Contains(replicas, next) {
		t.Fatalf("%s promoted, not one of the synchronous standbys %v", next, replicas)
	}
	must(t, scenario.WaitAcked(ctx, w, len(w.Acked())+50))
	stop()
	<-done
	acked := w.Acked()
	missing, err := scenario.MissingIDs(ctx, c.Units[next], c.Password, acked)
	must(t, err)
	if len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged inserts missing on the new primary %s: %v", len(missing), len(acked), next, missing)
	}
	t.Logf("failover %s → %s: %d acknowledged inserts, none lost", old, next, len(acked))

	// The old primary returns as a replica; when the promoted unit was the leader, it hands
	// the primary off again (docs/HA.md). Whichever unit is primary then makes the other two
	// synchronous, and has every acknowledged insert.
	must(t, j.StartPod(ctx, model, old))
	settle(t, ctx, j, model, settled3(app))
	primary := waitSyncStandbys(t, ctx, j, c, model, app)
	missing, err = scenario.MissingIDs(ctx, c.Units[primary], c.Password, acked)
	must(t, err)
	if len(missing) > 0 {
		t.Fatalf("%d acknowledged inserts missing after the old primary returned: %v", len(missing), missing)
	}
}

// otherUnits returns the units of c except not, sorted.
func otherUnits(c *scenario.Cluster, not string) []string {
	var out []string
	for u := range c.Units {
		if u != not {
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out
}

// syncStandbys asks get-primary (on the leader) for the primary and its published set.
func syncStandbys(ctx context.Context, b scenario.Backend, model, app string) (primary string, standbys []string, err error) {
	res, err := b.RunAction(ctx, model, app+"/leader", "get-primary", nil)
	if err != nil {
		return "", nil, err
	}
	if res.Status != "completed" {
		return "", nil, fmt.Errorf("get-primary: %s %s", res.Status, res.Message)
	}
	primary, _ = res.Results["primary"].(string)
	if s, _ := res.Results["sync-standbys"].(string); s != "" {
		standbys = strings.Split(s, ",")
	}
	sort.Strings(standbys)
	return primary, standbys, nil
}

// waitSyncStandbys waits until the primary, whichever unit it is, published every
// other unit of c as its synchronous standbys, and returns it.
func waitSyncStandbys(t testing.TB, ctx context.Context, b scenario.Backend, c *scenario.Cluster, model, app string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var last string
	for {
		p, got, err := syncStandbys(ctx, b, model, app)
		if err == nil && p != "" && slices.Equal(got, otherUnits(c, p)) {
			return p
		}
		last = fmt.Sprintf("primary %s published %v (%v)", p, got, err)
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for the primary to publish every other unit as synchronous: %v; last: %s", ctx.Err(), last)
		case <-time.After(time.Second):
		}
	}
}

// waitOtherPrimary waits until a unit other than old is the only writable one.
func waitOtherPrimary(t testing.TB, ctx context.Context, c *scenario.Cluster, old string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for {
		_, u, err := scenario.Primary(ctx, c)
		if err == nil && u != old {
			return u
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no unit other than %s became primary (last: %s %v)", old, u, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
