package scenario

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// URIWriter is an application of the database relation: it inserts rows one at a time through
// the connection URI the relation gave it (libpq multi-host syntax,
// target_session_attrs=read-write), and after any error reconnects through that same URI, as
// a client library does, without asking the charm again. It records every id PostgreSQL
// acknowledged and the server that acknowledged it, so that a scenario can check that none is
// missing after a failover or a switchover, and that the writer found the new primary by
// itself.
type URIWriter struct {
	Tag string
	uri string

	mu       sync.Mutex
	acked    []int64
	ackTimes []time.Time
	ackHosts []string // remote address of the connection that acknowledged each insert
	failed   int
}

// ClientTableDDL creates the table a URIWriter writes to, in the relation's database.
const ClientTableDDL = `CREATE TABLE IF NOT EXISTS client_check (id bigserial PRIMARY KEY, tag text NOT NULL, at timestamptz NOT NULL DEFAULT now())`

// NewURIWriter prepares a writer for uri; Run starts it.
func NewURIWriter(tag, uri string) *URIWriter {
	return &URIWriter{Tag: tag, uri: uri}
}

// ConnectURI opens a connection through a client URI, with a bounded connect per host. The
// error never carries the URI, which holds the password.
func ConnectURI(ctx context.Context, uri string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(uri)
	if err != nil {
		return nil, errors.New("the client URI does not parse")
	}
	cfg.ConnectTimeout = 3 * time.Second
	cfg.RuntimeParams["application_name"] = "scenario-client"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect through the client URI: %w", err)
	}
	return conn, nil
}

// Run writes until ctx ends.
func (w *URIWriter) Run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := w.writeBurst(ctx); err != nil && ctx.Err() == nil {
			w.mu.Lock()
			w.failed++
			w.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// writeBurst keeps one connection and inserts until an error.
func (w *URIWriter) writeBurst(ctx context.Context) error {
	conn, err := ConnectURI(ctx, w.uri)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	host := conn.PgConn().Conn().RemoteAddr().String()
	if _, err := conn.Exec(ctx, ClientTableDDL); err != nil {
		return err
	}
	return insertUntilError(ctx, conn, "client_check", w.Tag, func(id int64) {
		w.mu.Lock()
		w.acked = append(w.acked, id)
		w.ackTimes = append(w.ackTimes, time.Now())
		w.ackHosts = append(w.ackHosts, host)
		w.mu.Unlock()
	})
}

// Acked returns the acknowledged ids so far.
func (w *URIWriter) Acked() []int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int64(nil), w.acked...)
}

// Failed is the number of connections and inserts that failed so far.
func (w *URIWriter) Failed() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}

// LastHost is the server (host:port) that acknowledged the latest insert, "" before any.
func (w *URIWriter) LastHost() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.ackHosts) == 0 {
		return ""
	}
	return w.ackHosts[len(w.ackHosts)-1]
}

// LongestGap is the longest time between two acknowledged inserts after start (or from start
// to the first): the write outage the application saw.
func (w *URIWriter) LongestGap(start time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return longestGap(w.ackTimes, start)
}

// WaitURIAcked waits (two minutes at most) until the writer has n acknowledged inserts.
func WaitURIAcked(ctx context.Context, w *URIWriter, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for len(w.Acked()) < n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("client writer acknowledged %d inserts (%d failed attempts), waiting for %d: %w", len(w.Acked()), w.Failed(), n, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// MissingThroughURI returns which of ids the primary the URI reaches lacks.
func MissingThroughURI(ctx context.Context, uri string, ids []int64) ([]int64, error) {
	conn, err := ConnectURI(ctx, uri)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT id FROM unnest($1::bigint[]) AS want(id) WHERE NOT EXISTS (SELECT 1 FROM client_check c WHERE c.id = want.id) ORDER BY id", ids)
	if err != nil {
		return nil, fmt.Errorf("look for acknowledged ids: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
