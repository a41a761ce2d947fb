package postgres

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestClientUsers runs the database relation's verbs on a real server: names that would be
// SQL if they were concatenated, two users on one database, attributes and roles taken back,
// and a drop that ends the sessions and keeps the data.
func TestClientUsers(t *testing.T) {
	havePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const addr = "127.0.0.58"
	a := startUnit(t, ctx, addr)
	must(t, a.w.InitDB(ctx, "operator", opPass))
	_, err := a.w.WriteConf(ctx, testSettings())
	must(t, err)
	// Everyone from anywhere: what is tested here is what the roles themselves may do.
	_, err = a.w.WriteHBA(ctx, []HBARule{{"hostssl", "all", "all", "127.0.0.0/8", "scram-sha-256"}})
	must(t, err)
	must(t, a.w.PlanLayer(ctx, LayerOptions{}))
	must(t, a.w.Start(ctx))
	must(t, a.w.WaitReady(ctx, "operator", opPass))
	op := connect(t, ctx, a.w)
	tlsCfg, err := a.w.ClientTLS(addr)
	must(t, err)
	as := func(user, pw, db string) (*pgx.Conn, error) { return Connect(ctx, addr, 0, user, pw, db, tlsCfg) }
	connectDB := func(ctx context.Context, db string) (*pgx.Conn, error) { return as("operator", opPass, db) }

	evil := `app"; DROP TABLE x; --`
	one := ClientUser{Name: "relation_id_1", Password: "pw-one'quote", Database: evil, Attributes: []string{"CREATEDB"}, Roles: []string{"pg_monitor"}}
	two := ClientUser{Name: "relation_id_2", Password: "pw-two", Database: evil}
	three := ClientUser{Name: "relation_id_3", Password: "pw-three", Database: "other"}
	for _, u := range []ClientUser{one, two, three} {
		must(t, EnsureClientUser(ctx, op, connectDB, u, nil))
	}
	// Again: idempotent.
	must(t, EnsureClientUser(ctx, op, connectDB, two, nil))

	c1, err := as(one.Name, one.Password, evil)
	must(t, err)
	defer c1.Close(ctx)
	_, err = c1.Exec(ctx, "CREATE TABLE t1 (v int); INSERT INTO t1 VALUES (1)")
	must(t, err)
	var super, createdb, monitor bool
	must(t, c1.QueryRow(ctx, "SELECT rolsuper, rolcreatedb, pg_has_role(current_user, 'pg_monitor', 'MEMBER') FROM pg_roles WHERE rolname = current_user").Scan(&super, &createdb, &monitor))
	if super || !createdb || !monitor {
		t.Fatalf("relation_id_1: superuser %v, createdb %v, pg_monitor %v", super, createdb, monitor)
	}
	c2, err := as(two.Name, two.Password, evil)
	must(t, err)
	// Two users of one database share their tables, the ones there were and the new ones.
	_, err = c2.Exec(ctx, "CREATE TABLE t2 (id bigserial, v int); INSERT INTO t1 VALUES (2)")
	must(t, err)
	c2.Close(ctx)
	_, err = c1.Exec(ctx, "INSERT INTO t2 (v) VALUES (1)")
	must(t, err)
	// A user that comes later gets the tables already there.
	four := ClientUser{Name: "relation_id_4", Password: "pw-four", Database: evil}
	must(t, EnsureClientUser(ctx, op, connectDB, four, nil))
	c4, err := as(four.Name, four.Password, evil)
	must(t, err)
	_, err = c4.Exec(ctx, "INSERT INTO t1 VALUES (4); INSERT INTO t2 (v) VALUES (4)")
	must(t, err)
	c4.Close(ctx)
	must(t, DropClientUser(ctx, op, connectDB, four.Name))
	if c, err := as(one.Name, one.Password, "other"); err == nil {
		c.Close(ctx)
		t.Fatal("relation_id_1 connected to another relation's database")
	}

	// Asked for less: the attribute and the role go.
	one.Attributes, one.Roles = nil, nil
	must(t, EnsureClientUser(ctx, op, connectDB, one, []string{"pg_monitor"}))
	must(t, op.QueryRow(ctx, "SELECT rolcreatedb, pg_has_role('relation_id_1', 'pg_monitor', 'MEMBER') FROM pg_roles WHERE rolname = 'relation_id_1'").Scan(&createdb, &monitor))
	if createdb || monitor {
		t.Fatalf("relation_id_1 kept createdb %v, pg_monitor %v", createdb, monitor)
	}

	roles, err := RolesWithPrefix(ctx, op, "relation_id_")
	must(t, err)
	if !slices.Equal(roles, []string{"relation_id_1", "relation_id_2", "relation_id_3"}) {
		t.Fatalf("roles %v", roles)
	}
	if v, err := ServerVersion(ctx, op); err != nil || v == "" {
		t.Fatalf("version %q %v", v, err)
	}
	if rec, err := InRecovery(ctx, op); err != nil || rec {
		t.Fatalf("in recovery %v %v", rec, err)
	}

	// Dropped under an open session that owns a table: the session ends, the table stays.
	must(t, DropClientUser(ctx, op, connectDB, one.Name))
	if _, err := c1.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("relation_id_1's session survived its drop")
	}
	var pe *pgconn.PgError
	if _, err := as(one.Name, one.Password, evil); !errors.As(err, &pe) || pe.Code != "28P01" {
		t.Fatalf("relation_id_1 after drop: %v, want an authentication failure", err)
	}
	dc, err := connectDB(ctx, evil)
	must(t, err)
	defer dc.Close(ctx)
	var owner string
	must(t, dc.QueryRow(ctx, "SELECT tableowner FROM pg_tables WHERE tablename = 't1'").Scan(&owner))
	if owner != "operator" {
		t.Fatalf("t1 owned by %q after the drop", owner)
	}
	must(t, DropClientUser(ctx, op, connectDB, one.Name)) // gone already: success
	for _, tc := range []struct {
		user, password string
		want           bool
	}{{two.Name, two.Password, true}, {two.Name, "wrong", false}, {one.Name, one.Password, false}} {
		if got, err := HasClientUser(ctx, op, tc.user, tc.password); err != nil || got != tc.want {
			t.Errorf("HasClientUser(%s, %q) = %v, %v; want %v", tc.user, tc.password, got, err, tc.want)
		}
	}
	// The other user of the database still works, on the dropped user's table too.
	c2, err = as(two.Name, two.Password, evil)
	must(t, err)
	var rows int
	must(t, c2.QueryRow(ctx, "SELECT count(*) FROM t1").Scan(&rows))
	if rows != 3 {
		t.Fatalf("t1 has %d rows, want 3", rows)
	}
	c2.Close(ctx)
	var n int
	must(t, op.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", evil).Scan(&n))
	if n != 1 {
		t.Fatalf("database %q: %d", evil, n)
	}
}
