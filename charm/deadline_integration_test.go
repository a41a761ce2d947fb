package charm

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/pki"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
	"github.com/jujulet/postgresql-k8s/internal/postgres/pgtest"
)

// A replica whose upstream accepts connections and then hangs (at once, or once the session
// is up): its hook ends, waiting with the stalled peer named, and its retry is scheduled by
// timer (no other hook needed). The test's bound is under postgres.StallTimeout: the hook
// must end by the charm's own deadlines on the upstream, not by the last-resort stall bound.
func TestRealStalledUpstream(t *testing.T) {
	needRealPostgres(t)
	tests := []struct {
		name  string
		stall pgtest.Stall
	}{
		{"at once", pgtest.StallAtOnce},
		{"after startup", pgtest.StallAfterStartup},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			w, r := realWorld(t, 2, 71)
			wantStatus(t, w.initLeader(), "active", "Primary")

			// The primary's server goes away and a peer that hangs takes its address.
			r.containers["pg/0"].Kill()
			host := w.units["pg/0"].s.addr
			// The peer serves a certificate of the cluster's CA, so that the charm, which
			// insists on TLS, reaches the startup with it.
			sec := w.secrets[w.app["secret-id"]].Content
			ca, err := pki.ParseCA([]byte(sec[keyCACert]), []byte(sec[keyCAKey]))
			if err != nil {
				t.Fatal(err)
			}
			certPEM, keyPEM, err := ca.IssueServer(time.Now(), host)
			if err != nil {
				t.Fatal(err)
			}
			kp, err := pki.KeyPair(certPEM, keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			pgtest.StalledTLSPeer(t, ctx, net.JoinHostPort(host, "5432"), tt.stall, &tls.Config{Certificates: []tls.Certificate{kp}})

			type result struct {
				u   *testUnit
				err error
			}
			done := make(chan result, 1)
			go func() {
				u, err := w.run("pg/1", "database-peers-relation-joined", nil, nil)
				done <- result{u, err}
			}()
			var res result
			select {
			case res = <-done:
			case <-time.After(postgres.StallTimeout - 30*time.Second):
				t.Fatal("the hook hangs on a stalled upstream")
			}
			if res.err != nil {
				t.Fatalf("hook failed: %v", res.err)
			}
			st := res.u.f.UnitStatus
			if st.Status != "waiting" || !strings.Contains(st.Message, "pg/0") || !strings.Contains(st.Message, host) ||
				!strings.Contains(st.Message, "timeout") {
				t.Fatalf("status %s %q does not report the stalled upstream pg/0 at %s", st.Status, st.Message, host)
			}
			timers, err := r.workloads["pg/1"].ReadTimers(ctx)
			if err != nil || timers[timerRetry].IsZero() {
				t.Fatalf("no retry scheduled: %v, %v", timers, err)
			}
		})
	}
}
