package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/pki"
)

// BenchmarkOpenSession measures what a hook pays for one SQL session to its own server: TCP,
// TLS with a client certificate (the charm's AdminUser login), the server's new backend, one
// query, and the close. Run it under the integration tests' lock (fixed loopback address).
func BenchmarkOpenSession(b *testing.B) {
	if testing.Short() || pebbleBin == "" {
		b.Skip("needs PostgreSQL and Pebble")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	u := startUnit(b, ctx, "127.0.0.64")
	certPEM, keyPEM, err := testCA().IssueClient(time.Now(), "charm_admin")
	if err != nil {
		b.Fatal(err)
	}
	pair, err := pki.KeyPair(certPEM, keyPEM)
	if err != nil {
		b.Fatal(err)
	}
	admin := Login{User: "charm_admin", Cert: &pair}
	must(b, u.w.InitDB(ctx, Login{User: "charm_admin"}))
	_, err = u.w.WriteConf(ctx, testSettings())
	must(b, err)
	_, err = u.w.WriteHBA(ctx, []HBARule{{"hostssl", "all", "charm_admin", "127.0.0.0/8", "cert"}})
	must(b, err)
	must(b, u.w.PlanLayer(ctx, LayerOptions{}))
	must(b, u.w.Start(ctx))
	must(b, u.w.WaitReady(ctx, admin))
	b.ResetTimer()
	for b.Loop() {
		db, err := u.w.OpenDB(ctx, u.w.Addr, admin)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Positions(ctx); err != nil {
			b.Fatal(err)
		}
		db.Close(ctx)
	}
}
