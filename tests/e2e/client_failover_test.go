package e2e

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// TestClientWritesThroughFailover: a client application of a 3-unit cluster with synchronous
// replication on (the default synchronous_node_count=all) writes through the `uris` its
// relation gave it while the primary's pod stops and stays down. The leader promotes a
// synchronous standby; the writer, which keeps the URI it read before (naming the lost
// primary too) and runs no hook, reconnects through it and resumes on the new primary; and
// every insert acknowledged before, during and after the failover is there.
//
// The pod is stopped rather than killed: a killed pod comes back within the leader's
// confirmation window (docs/HA.md), and the primary would then not move at all.
func TestClientWritesThroughFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	j := scenario.StartJujulet(t)
	const model, app = "clientha", "pg"
	c := deployCluster(t, ctx, j, model, app, 3)
	must(t, j.Deploy(ctx, model, "pgclient", "app", scenario.DeployOptions{Config: map[string]string{"database-name": "hadb"}}))
	must(t, j.Integrate(ctx, model, app, "app"))
	waitClientReady(t, ctx, j, model, "app/0", "hadb")
	old := waitSyncStandbys(t, ctx, j, c, model, app)
	uri := waitClientURI(t, ctx, j, model, "app/0", 3)

	w := scenario.NewURIWriter("client-failover", uri)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(wctx); close(done) }()
	defer func() { stop(); <-done }()
	// pg_hba admits the client once every unit has seen it join: the first inserts may wait.
	must(t, scenario.WaitURIAcked(ctx, w, 50))
	if got, want := w.LastHost(), pgAddr(c.Units[old]); got != want {
		t.Fatalf("the writer writes to %s, want the primary %s", got, want)
	}

	before := len(w.Acked())
	must(t, j.StopPod(ctx, model, old))
	next := waitOtherPrimary(t, ctx, c, old)
	if !slices.Contains(otherUnits(c, old), next) {
		t.Fatalf("%s promoted, not one of the synchronous standbys", next)
	}
	must(t, scenario.WaitURIAcked(ctx, w, len(w.Acked())+50))
	stop()
	<-done
	if got, want := w.LastHost(), pgAddr(c.Units[next]); got != want {
		t.Fatalf("after the failover the writer writes to %s, want the new primary %s", got, want)
	}
	if w.Failed() == 0 {
		t.Fatal("the writer saw no failed attempt: it never lost the old primary")
	}
	acked := w.Acked()
	// Through the URI, retried: right after the failover the leader may hand the primary off
	// the unit that took over (docs/HA.md), and no host accepts writes for a moment.
	var missing []int64
	waitFor(t, ctx, 2*time.Minute, "the acknowledged inserts checked through the URI", func() (err error) {
		missing, err = scenario.MissingThroughURI(ctx, uri, acked)
		return err
	})
	if len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged inserts missing on the new primary %s: %v", len(missing), len(acked), next, missing)
	}
	t.Logf("failover %s → %s under the client: %d inserts acknowledged (%d before the stop), %d failed attempts, none lost",
		old, next, len(acked), before, w.Failed())
}

// waitClientURI waits until unit's show-credentials gives a read-write URI naming hosts
// servers, and returns it.
func waitClientURI(t testing.TB, ctx context.Context, j *scenario.Jujulet, model, unit string, hosts int) string {
	t.Helper()
	var uri string
	waitFor(t, ctx, 2*time.Minute, fmt.Sprintf("a read-write URI naming %d servers", hosts), func() error {
		creds := clientCreds(t, ctx, j, model, unit)
		u, err := url.Parse(creds["uris"])
		if err != nil {
			return fmt.Errorf("uris does not parse") // never echo it: it holds the password
		}
		if got := len(strings.Split(u.Host, ",")); got != hosts || u.Query().Get("target_session_attrs") != "read-write" {
			return fmt.Errorf("uris names %q, %s", u.Host, u.RawQuery)
		}
		uri = creds["uris"]
		return nil
	})
	return uri
}

func pgAddr(host string) string { return net.JoinHostPort(host, "5432") }
