package scenario

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// OperatorUser is the charm's administrative database user.
const OperatorUser = "operator"

// Connect opens a connection to the unit's PostgreSQL as the operator.
func Connect(ctx context.Context, addr, password string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig("")
	if err != nil {
		return nil, err
	}
	cfg.Host = addr
	cfg.Port = 5432
	cfg.User = OperatorUser
	cfg.Password = password
	cfg.Database = "postgres"
	cfg.ConnectTimeout = 3 * time.Second
	// The charm admits TLS connections only. The scenarios check what the cluster does, not
	// who it is: they encrypt without verifying (ParseConfig("") is for a socket, no TLS).
	// The TLS tests verify the servers (tests/e2e/tls_test.go).
	cfg.TLSConfig = &tls.Config{InsecureSkipVerify: true, ServerName: addr}
	cfg.Fallbacks = nil
	cfg.RuntimeParams["application_name"] = "scenario"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", net.JoinHostPort(addr, "5432"), err)
	}
	return conn, nil
}

// Cluster is the set of units of one application and how to reach them.
type Cluster struct {
	Model    string
	App      string
	Password string
	Units    map[string]string // unit → address
}

// LoadCluster reads the units and addresses of app, and the operator password through the
// get-password action on its leader.
func LoadCluster(ctx context.Context, b Backend, model, app string) (*Cluster, error) {
	s, err := b.Status(ctx, model)
	if err != nil {
		return nil, err
	}
	leader := s.Leader(app)
	if leader == "" {
		return nil, fmt.Errorf("%s in %s has no leader", app, model)
	}
	res, err := b.RunAction(ctx, model, leader, "get-password", map[string]any{"username": OperatorUser})
	if err != nil {
		return nil, fmt.Errorf("get-password on %s: %w", leader, err)
	}
	pw, _ := res.Results["password"].(string)
	if res.Status != "completed" || pw == "" {
		return nil, fmt.Errorf("get-password on %s: %s %s", leader, res.Status, res.Message)
	}
	c := &Cluster{Model: model, App: app, Password: pw, Units: map[string]string{}}
	for name, u := range s.Applications[app].Units {
		if u.Address == "" {
			return nil, fmt.Errorf("unit %s has no address", name)
		}
		c.Units[name] = u.Address
	}
	return c, nil
}

// Writable returns the units of the clusters that accept writes right now
// (pg_is_in_recovery() = false), and the units that could not be asked.
func Writable(ctx context.Context, clusters ...*Cluster) (writable, unreachable []string) {
	for _, c := range clusters {
		for unit, addr := range c.Units {
			inRecovery, err := InRecovery(ctx, addr, c.Password)
			switch {
			case err != nil:
				unreachable = append(unreachable, c.Model+":"+unit)
			case !inRecovery:
				writable = append(writable, c.Model+":"+unit)
			}
		}
	}
	sort.Strings(writable)
	sort.Strings(unreachable)
	return writable, unreachable
}

// InRecovery asks one server whether it is a standby.
func InRecovery(ctx context.Context, addr, password string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := Connect(ctx, addr, password)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	var r bool
	err = conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&r)
	return r, err
}

// Primary returns the single writable unit of the clusters, or an error naming all of them.
func Primary(ctx context.Context, clusters ...*Cluster) (cluster *Cluster, unit string, err error) {
	writable, unreachable := Writable(ctx, clusters...)
	if len(writable) != 1 {
		return nil, "", fmt.Errorf("want exactly one writable unit, got %v (unreachable %v)", writable, unreachable)
	}
	model, unit, _ := strings.Cut(writable[0], ":")
	for _, c := range clusters {
		if c.Model == model {
			return c, unit, nil
		}
	}
	return nil, "", fmt.Errorf("writable unit %s in unknown model", writable[0])
}

// InsertRows writes n rows tagged with tag into the check table (created if missing) on the
// unit and returns the ids PostgreSQL acknowledged.
func InsertRows(ctx context.Context, addr, password, tag string, n int) ([]int64, error) {
	conn, err := Connect(ctx, addr, password)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, CheckTableDDL); err != nil {
		return nil, fmt.Errorf("create check table: %w", err)
	}
	ids := make([]int64, 0, n)
	for i := 0; i < n; i++ {
		var id int64
		if err := conn.QueryRow(ctx, "INSERT INTO dr_check (tag) VALUES ($1) RETURNING id", tag).Scan(&id); err != nil {
			return ids, fmt.Errorf("insert: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// CheckTableDDL creates the table the scenarios write to.
const CheckTableDDL = `CREATE TABLE IF NOT EXISTS dr_check (id bigserial PRIMARY KEY, tag text NOT NULL, at timestamptz NOT NULL DEFAULT now())`

// CountTag counts the rows with tag on one unit (a replica too).
func CountTag(ctx context.Context, addr, password, tag string) (int, error) {
	conn, err := Connect(ctx, addr, password)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(ctx, "SELECT count(*) FROM dr_check WHERE tag = $1", tag).Scan(&n)
	return n, err
}

// MissingIDs returns which of ids are not on the unit.
func MissingIDs(ctx context.Context, addr, password string, ids []int64) ([]int64, error) {
	conn, err := Connect(ctx, addr, password)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT id FROM unnest($1::bigint[]) AS want(id) WHERE NOT EXISTS (SELECT 1 FROM dr_check d WHERE d.id = want.id) ORDER BY id", ids)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// WaitRows polls every unit of the cluster until each has want rows with tag.
func WaitRows(ctx context.Context, c *Cluster, tag string, want int) error {
	for unit, addr := range c.Units {
		var last error
		for {
			n, err := CountTag(ctx, addr, c.Password, tag)
			if err == nil && n == want {
				break
			}
			last = err
			if err == nil {
				last = fmt.Errorf("%d rows", n)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %d %q rows on %s/%s: %w (last: %v)", want, tag, c.Model, unit, ctx.Err(), last)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}
