// Command pgclient is a test application for the postgresql_client interface: the requirer
// side as data_platform_libs' data_interfaces v0 documents it (DatabaseRequires), in Go. It
// talks to Juju through the hook tools only.
//
// The leader writes its request in its application bucket: database, extra-user-roles and,
// when it wants secrets, requested-secrets (a JSON list). It reads the provider's
// application bucket: endpoints, read-only-endpoints, version, and the credentials from the
// secret whose URI is in secret-user (fields username, password, uris, read-only-uris) and
// the one in secret-tls (tls, tls-ca), or, on the old path, from the bucket.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jujulet/postgresql-k8s/internal/hookenv"
)

const endpoint = "database"

// The fields DatabaseRequires asks for as secrets.
var requestedSecrets = []string{"username", "password", "tls", "tls-ca", "uris", "read-only-uris"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := hookenv.FromEnviron(os.Getenv)
	c := client{env: env, tools: hookenv.Exec{}}
	if err := c.run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", env.Event(), err)
		os.Exit(1)
	}
}

type client struct {
	env   hookenv.Env
	tools hookenv.Tools
}

func (c client) run(ctx context.Context) error {
	if c.env.IsAction() {
		return c.action(ctx)
	}
	relID, err := c.relation(ctx)
	if err != nil {
		return err
	}
	if relID == "" {
		return c.tools.StatusSet(ctx, false, "blocked", "waiting for a database relation")
	}
	leader, err := c.tools.IsLeader(ctx)
	if err != nil {
		return err
	}
	if leader {
		if err := c.request(ctx, relID); err != nil {
			return err
		}
	}
	creds, err := c.credentials(ctx, relID)
	if err != nil {
		return err
	}
	if creds["username"] == "" {
		return c.tools.StatusSet(ctx, false, "waiting", "waiting for the database")
	}
	return c.tools.StatusSet(ctx, false, "active", "database "+creds["database"]+" ready")
}

// relation is the database relation's id ("" when there is none, or it is being broken).
func (c client) relation(ctx context.Context) (string, error) {
	ids, err := c.tools.RelationIDs(ctx, endpoint)
	if err != nil {
		return "", err
	}
	for _, id := range ids {
		if c.env.HookName == endpoint+"-relation-broken" && id == c.env.RelationID {
			continue
		}
		return id, nil
	}
	return "", nil
}

// request writes the leader's request, as DatabaseRequires does when the relation is created.
func (c client) request(ctx context.Context, relID string) error {
	cfg, err := c.tools.ConfigGet(ctx)
	if err != nil {
		return err
	}
	db, _ := cfg["database-name"].(string)
	roles, _ := cfg["extra-user-roles"].(string)
	want := map[string]string{"database": db, "extra-user-roles": roles, "requested-secrets": ""}
	if secrets, _ := cfg["use-secrets"].(bool); secrets {
		b, err := json.Marshal(requestedSecrets)
		if err != nil {
			return err
		}
		want["requested-secrets"] = string(b)
	}
	app := hookenv.AppOf(c.env.UnitName)
	have, err := c.tools.RelationGet(ctx, relID, app, true)
	if err != nil {
		return err
	}
	set := map[string]string{}
	for k, v := range want {
		if have[k] != v {
			set[k] = v
		}
	}
	if len(set) == 0 {
		return nil
	}
	return c.tools.RelationSet(ctx, relID, true, set)
}

// credentials merges the provider's bucket with the user secret it points to.
func (c client) credentials(ctx context.Context, relID string) (map[string]string, error) {
	app, err := c.tools.RelationRemoteApp(ctx, relID)
	if err != nil {
		return nil, err
	}
	data, err := c.tools.RelationGet(ctx, relID, app, true)
	if err != nil {
		return nil, err
	}
	for _, group := range []string{"secret-user", "secret-tls"} {
		uri := data[group]
		if uri == "" {
			continue
		}
		content, err := c.tools.SecretGet(ctx, hookenv.SecretGetArgs{URI: uri, Refresh: true})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", group, err)
		}
		for k, v := range content {
			data[k] = v
		}
	}
	return data, nil
}

func (c client) action(ctx context.Context) error {
	relID, err := c.relation(ctx)
	if err != nil {
		return err
	}
	if relID == "" {
		return c.tools.ActionFail(ctx, "no database relation")
	}
	creds, err := c.credentials(ctx, relID)
	if err != nil {
		return err
	}
	if creds["username"] == "" {
		return c.tools.ActionFail(ctx, "no credentials yet")
	}
	params, err := c.tools.ActionGet(ctx)
	if err != nil {
		return err
	}
	tag, _ := params["tag"].(string)
	switch c.env.ActionName {
	case "show-credentials":
		out := map[string]string{}
		for _, k := range []string{"username", "password", "database", "endpoints", "read-only-endpoints", "version", "uris", "read-only-uris", "tls", "tls-ca"} {
			if creds[k] != "" {
				out[k] = creds[k]
			}
		}
		return c.tools.ActionSet(ctx, out)
	case "write":
		uri := connString(creds, false)
		if secs := intParam(params["seconds"]); secs > 0 {
			r := writeFor(ctx, uri, tag, time.Duration(secs)*time.Second)
			return c.tools.ActionSet(ctx, map[string]string{"acknowledged": strconv.Itoa(r.acked),
				"failed-attempts": strconv.Itoa(r.failed), "longest-gap-ms": strconv.FormatInt(r.gap.Milliseconds(), 10)})
		}
		acked, err := write(ctx, uri, tag, intParam(params["count"]))
		res := map[string]string{"acknowledged": strconv.Itoa(acked)}
		if err != nil {
			res["error"] = err.Error()
		}
		return c.tools.ActionSet(ctx, res)
	case "count":
		ro, _ := params["read-only"].(bool)
		n, err := count(ctx, connString(creds, ro), tag)
		if err != nil {
			return c.tools.ActionFail(ctx, err.Error())
		}
		return c.tools.ActionSet(ctx, map[string]string{"visible": strconv.Itoa(n)})
	}
	return c.tools.ActionFail(ctx, "unknown action "+c.env.ActionName)
}

func intParam(v any) int {
	switch n := v.(type) {
	case float64:
		return int(n)
	case int:
		return n
	case json.Number:
		i, _ := n.Int64()
		return int(i)
	}
	return 0
}

// connString is the URI the provider gave, or one built from its endpoints.
func connString(creds map[string]string, readOnly bool) string {
	key, eps, attrs := "uris", creds["endpoints"], "read-write"
	if readOnly {
		key, attrs = "read-only-uris", "prefer-standby"
		if creds["read-only-endpoints"] != "" {
			eps = creds["read-only-endpoints"]
		}
	}
	if u := creds[key]; u != "" {
		return u
	}
	u := url.URL{Scheme: "postgresql", User: url.UserPassword(creds["username"], creds["password"]),
		Host: eps, Path: "/" + creds["database"], RawQuery: "target_session_attrs=" + attrs}
	return u.String()
}

func connect(ctx context.Context, uri string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(uri)
	if err != nil {
		return nil, errors.New("the provider's URI does not parse") // never echo it: it holds the password
	}
	cfg.ConnectTimeout = 5 * time.Second
	return pgx.ConnectConfig(ctx, cfg)
}

const createRows = "CREATE TABLE IF NOT EXISTS pgclient_rows (id bigserial PRIMARY KEY, tag text NOT NULL, at timestamptz NOT NULL DEFAULT now())"

// write inserts n rows, each its own transaction, and counts the acknowledged ones.
func write(ctx context.Context, uri, tag string, n int) (int, error) {
	conn, err := connect(ctx, uri)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, createRows); err != nil {
		return 0, err
	}
	acked := 0
	for range n {
		if _, err := conn.Exec(ctx, "INSERT INTO pgclient_rows (tag) VALUES ($1)", tag); err != nil {
			return acked, err
		}
		acked++
	}
	return acked, nil
}

// writeResult is what a timed write saw: inserts acknowledged, attempts (connections or
// inserts) that failed, and the longest time between two acknowledgements (or from the start
// to the first).
type writeResult struct {
	acked, failed int
	gap           time.Duration
}

// writeFor inserts rows for d, as an application would through a failover or a switchover:
// after any error it reconnects through the same URI, which names every unit, and goes on.
// An insert whose answer was lost may have committed, so the rows visible afterwards may
// exceed the acknowledged count, never fall short of it.
func writeFor(ctx context.Context, uri, tag string, d time.Duration) writeResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var r writeResult
	last := time.Now()
	for ctx.Err() == nil {
		err := writeUntilError(ctx, uri, tag, func() {
			now := time.Now()
			r.gap = max(r.gap, now.Sub(last))
			r.acked, last = r.acked+1, now
		})
		if err == nil || ctx.Err() != nil {
			break
		}
		r.failed++
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return r
}

// writeUntilError keeps one connection and inserts until an error or the end of ctx.
func writeUntilError(ctx context.Context, uri, tag string, acked func()) error {
	conn, err := connect(ctx, uri)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, createRows); err != nil {
		return err
	}
	for ctx.Err() == nil {
		if _, err := conn.Exec(ctx, "INSERT INTO pgclient_rows (tag) VALUES ($1)", tag); err != nil {
			return err
		}
		acked()
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

func count(ctx context.Context, uri, tag string) (int, error) {
	conn, err := connect(ctx, uri)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int
	err = conn.QueryRow(ctx, "SELECT count(*) FROM pgclient_rows WHERE tag = $1", tag).Scan(&n)
	return n, err
}
