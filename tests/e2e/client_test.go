package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jujulet/postgresql-k8s/internal/pki"
	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// TestClientRelation integrates the test client (tests/testdata/charms/pgclient) with a
// two-unit cluster twice, through a secret and through the library's old path: it writes and
// reads back, its user is no superuser, reaches only its own database, cannot write through
// the read-only endpoint, shares the database with a third application that asks for it, and
// cannot log in any more once the relation is removed.
func TestClientRelation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	j := scenario.StartJujulet(t)
	const model = "clients"
	deployCluster(t, ctx, j, model, "pg", 2)
	must(t, j.Deploy(ctx, model, "pgclient", "app1", scenario.DeployOptions{Config: map[string]string{"database-name": "app1db"}}))
	must(t, j.Deploy(ctx, model, "pgclient", "app2", scenario.DeployOptions{Config: map[string]string{"database-name": "app2db", "use-secrets": "false"}}))
	must(t, j.Integrate(ctx, model, "pg:database", "app1:database"))
	must(t, j.Integrate(ctx, model, "pg", "app2"))
	waitClientReady(t, ctx, j, model, "app1/0", "app1db")
	waitClientReady(t, ctx, j, model, "app2/0", "app2db")

	res := runOK(t, ctx, j, model, "app1/0", "write", map[string]any{"count": 20, "tag": "e2e"})
	if res.Results["acknowledged"] != "20" {
		t.Fatalf("write: %v", res.Results)
	}
	res = runOK(t, ctx, j, model, "app1/0", "count", map[string]any{"tag": "e2e"})
	if res.Results["visible"] != "20" {
		t.Fatalf("count: %v", res.Results)
	}
	one := clientCreds(t, ctx, j, model, "app1/0")
	two := clientCreds(t, ctx, j, model, "app2/0")
	if one["username"] == two["username"] || !strings.HasPrefix(one["username"], "relation_id_") {
		t.Fatalf("users %q and %q", one["username"], two["username"])
	}
	// TLS, through the tls secret group (app1) and the bucket (app2): every login below
	// verifies the server with the tls-ca the client was given.
	for _, c := range []map[string]string{one, two} {
		if c["tls"] != "True" || c["tls-ca"] == "" {
			t.Fatalf("%s: tls %q, tls-ca %d bytes: want True and the CA", c["username"], c["tls"], len(c["tls-ca"]))
		}
	}
	if len(strings.Split(one["endpoints"], ",")) != 2 || one["read-only-endpoints"] == "" {
		t.Fatalf("endpoints %q, read-only %q: want both units, and the replica", one["endpoints"], one["read-only-endpoints"])
	}

	t.Run("not a superuser", func(t *testing.T) {
		conn := clientConnect(t, ctx, firstHost(one["endpoints"]), one, "app1db")
		defer conn.Close(ctx)
		var super, createrole bool
		must(t, conn.QueryRow(ctx, "SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user").Scan(&super, &createrole))
		if super || createrole {
			t.Fatalf("client user: superuser %v, createrole %v", super, createrole)
		}
	})
	t.Run("read-only endpoint refuses writes", func(t *testing.T) {
		conn := clientConnect(t, ctx, firstHost(one["read-only-endpoints"]), one, "app1db")
		defer conn.Close(ctx)
		_, err := conn.Exec(ctx, "INSERT INTO pgclient_rows (tag) VALUES ('through-ro')")
		if !isSQLState(err, "25006") {
			t.Fatalf("write through the read-only endpoint: %v, want read_only_sql_transaction", err)
		}
	})
	t.Run("no other relation's database", func(t *testing.T) {
		for _, host := range strings.Split(one["endpoints"], ",") {
			conn, err := dial(ctx, host, one["username"], one["password"], "app2db", one["tls-ca"])
			if err == nil {
				conn.Close(ctx)
				t.Fatalf("%s logged in to app2db on %s", one["username"], host)
			}
		}
	})

	t.Run("a second application on the same database", func(t *testing.T) {
		must(t, j.Deploy(ctx, model, "pgclient", "app3", scenario.DeployOptions{Config: map[string]string{"database-name": "app1db"}}))
		must(t, j.Integrate(ctx, model, "pg", "app3"))
		waitClientReady(t, ctx, j, model, "app3/0", "app1db")
		if res := runOK(t, ctx, j, model, "app3/0", "write", map[string]any{"count": 5, "tag": "app3"}); res.Results["acknowledged"] != "5" {
			t.Fatalf("app3 write: %v", res.Results)
		}
		if res := runOK(t, ctx, j, model, "app3/0", "count", map[string]any{"tag": "e2e"}); res.Results["visible"] != "20" {
			t.Fatalf("app3 sees %v of app1's rows, want 20", res.Results["visible"])
		}
		if three := clientCreds(t, ctx, j, model, "app3/0"); three["username"] == one["username"] {
			t.Fatalf("app3 got app1's user %q", three["username"])
		}
	})

	must(t, j.RemoveRelation(ctx, model, "pg", "app1"))
	waitFor(t, ctx, 2*time.Minute, "app1's user to be refused", func() error {
		conn, err := dial(ctx, firstHost(one["endpoints"]), one["username"], one["password"], "app1db", one["tls-ca"])
		if err == nil {
			conn.Close(ctx)
			return errors.New("still logs in")
		}
		if !isSQLState(err, "28P01") && !isSQLState(err, "28000") {
			return fmt.Errorf("not an authentication error: %w", err)
		}
		return nil
	})
	// The other relation is untouched.
	res = runOK(t, ctx, j, model, "app2/0", "write", map[string]any{"count": 3, "tag": "after"})
	if res.Results["acknowledged"] != "3" {
		t.Fatalf("app2 write after app1 left: %v", res.Results)
	}
}

// BenchmarkClientIntegrateLogin measures, per new client application, the time from
// `integrate` to a login with the credentials it was given.
func BenchmarkClientIntegrateLogin(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	j := scenario.StartJujulet(b)
	const model = "bench"
	deployCluster(b, ctx, j, model, "pg", 2)
	var times []time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		app := "c" + strconv.Itoa(i)
		must(b, j.Deploy(ctx, model, "pgclient", app, scenario.DeployOptions{Config: map[string]string{"database-name": app}}))
		waitFor(b, ctx, 2*time.Minute, app+" to be installed", func() error {
			return unitMessage(ctx, j, model, app+"/0", "waiting for a database relation")
		})
		b.StartTimer()
		start := time.Now()
		must(b, j.Integrate(ctx, model, "pg", app))
		waitFor(b, ctx, 3*time.Minute, app+" to log in", func() error {
			res, err := j.RunAction(ctx, model, app+"/0", "show-credentials", nil)
			if err != nil {
				return err
			}
			if res.Status != "completed" {
				return errors.New(res.Message)
			}
			user, _ := res.Results["username"].(string)
			pw, _ := res.Results["password"].(string)
			eps, _ := res.Results["endpoints"].(string)
			ca, _ := res.Results["tls-ca"].(string)
			conn, err := dial(ctx, firstHost(eps), user, pw, app, ca)
			if err != nil {
				return err
			}
			return conn.Close(ctx)
		})
		times = append(times, time.Since(start))
	}
	b.ReportMetric(ms(median(times)), "integrate-to-login-ms")
}

func unitMessage(ctx context.Context, j *scenario.Jujulet, model, unit, msg string) error {
	st, err := j.Status(ctx, model)
	if err != nil {
		return err
	}
	app, _, _ := strings.Cut(unit, "/")
	got := st.Applications[app].Units[unit].WorkloadStatus.Message
	if got != msg {
		return fmt.Errorf("%s says %q", unit, got)
	}
	return nil
}

func waitClientReady(t testing.TB, ctx context.Context, j *scenario.Jujulet, model, unit, db string) {
	t.Helper()
	waitFor(t, ctx, 3*time.Minute, unit+" to get its database", func() error {
		return unitMessage(ctx, j, model, unit, "database "+db+" ready")
	})
}

func runOK(t testing.TB, ctx context.Context, j *scenario.Jujulet, model, unit, action string, params map[string]any) scenario.ActionResult {
	t.Helper()
	res, err := j.RunAction(ctx, model, unit, action, params)
	must(t, err)
	if res.Status != "completed" {
		t.Fatalf("%s %s: %s %s", unit, action, res.Status, res.Message)
	}
	return res
}

func clientCreds(t testing.TB, ctx context.Context, j *scenario.Jujulet, model, unit string) map[string]string {
	t.Helper()
	res := runOK(t, ctx, j, model, unit, "show-credentials", nil)
	out := map[string]string{}
	for k, v := range res.Results {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

func firstHost(endpoints string) string {
	h, _, _ := strings.Cut(endpoints, ",")
	return h
}

// dial logs in over TLS, the server verified with ca (the tls-ca the client was given):
// verify-ca for an address, verify-full for a name, as the charm itself does.
func dial(ctx context.Context, hostport, user, password, db, ca string) (*pgx.Conn, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig("")
	if err != nil {
		return nil, err
	}
	cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database = host, uint16(p), user, password, db
	cfg.ConnectTimeout = 5 * time.Second
	if cfg.TLSConfig, err = pki.ClientConfig([]byte(ca), host, pki.ModeFor(host), nil); err != nil {
		return nil, fmt.Errorf("the tls-ca given to the client: %w", err)
	}
	cfg.Fallbacks = nil
	return pgx.ConnectConfig(ctx, cfg)
}

func clientConnect(t testing.TB, ctx context.Context, hostport string, creds map[string]string, db string) *pgx.Conn {
	t.Helper()
	conn, err := dial(ctx, hostport, creds["username"], creds["password"], db, creds["tls-ca"])
	if err != nil {
		t.Fatalf("log in as %s to %s on %s: %v", creds["username"], db, hostport, err)
	}
	return conn
}

func isSQLState(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

// TestClientRelationAcrossClusters integrates the test client with the standby cluster of
// cross-regional replication: it gets a user (created by the primary cluster), writes through
// its read-write URI (which reaches the other cluster's primary), and keeps writing, without
// a hook of its own, after a switchover between the clusters.
func TestClientRelationAcrossClusters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	j := scenario.StartJujulet(t)
	seed := scenario.NewSeed(j, "postgresql-k8s")
	seed.DeployBoth(t, ctx)
	seed.Relate(t, ctx)
	seed.CreateReplication(t, ctx, 1)

	must(t, j.Deploy(ctx, seed.Lisbon, "pgclient", "app", scenario.DeployOptions{Config: map[string]string{"database-name": "drdb"}}))
	must(t, j.Integrate(ctx, seed.Lisbon, seed.DB2, "app"))
	waitClientReady(t, ctx, j, seed.Lisbon, "app/0", "drdb")
	// The other cluster's unit is published once this cluster's leader has seen it join.
	waitFor(t, ctx, time.Minute, "endpoints naming lisbon's unit, then rome's", func() error {
		creds := clientCreds(t, ctx, j, seed.Lisbon, "app/0")
		if eps := strings.Split(creds["endpoints"], ","); len(eps) != 2 {
			return fmt.Errorf("endpoints %q", creds["endpoints"])
		}
		return nil
	})
	// pg_hba admits the client on each cluster once its units have seen it join.
	waitFor(t, ctx, time.Minute, "a write through the standby cluster's answer", func() error {
		res, err := j.RunAction(ctx, seed.Lisbon, "app/0", "write", map[string]any{"count": 5, "tag": "before"})
		if err != nil {
			return err
		}
		if res.Results["acknowledged"] != "5" {
			return fmt.Errorf("write: %v", res.Results)
		}
		return nil
	})
	waitFor(t, ctx, time.Minute, "the rows on the standby cluster", func() error {
		res, err := j.RunAction(ctx, seed.Lisbon, "app/0", "count", map[string]any{"tag": "before", "read-only": true})
		if err != nil {
			return err
		}
		if res.Results["visible"] != "5" {
			return fmt.Errorf("visible %v", res.Results["visible"])
		}
		return nil
	})

	seed.Switchover(t, ctx, seed.Lisbon, seed.DB2, seed.Rome, seed.DB1, 1)
	waitFor(t, ctx, time.Minute, "a write after the switchover", func() error {
		res, err := j.RunAction(ctx, seed.Lisbon, "app/0", "write", map[string]any{"count": 5, "tag": "after"})
		if err != nil {
			return err
		}
		if res.Results["acknowledged"] != "5" {
			return fmt.Errorf("write: %v", res.Results)
		}
		return nil
	})
	if res := runOK(t, ctx, j, seed.Lisbon, "app/0", "count", map[string]any{"tag": "before"}); res.Results["visible"] != "5" {
		t.Fatalf("rows written before the switchover: %v", res.Results)
	}
}
