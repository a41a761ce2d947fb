package chaos

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jujulet/postgresql-k8s/internal/postgres"
	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// ack is one insert PostgreSQL acknowledged: its id, when, on which model, and an upper
// bound of its commit record's position (the server's WAL insert position read right after
// the commit returned; 0 when that read failed). A forced promotion that received WAL up to
// some position must keep every ack whose bound is at or below it.
type ack struct {
	ID    int64
	At    time.Time
	Model string
	LSN   postgres.LSN
}

// writer inserts one row at a time into whichever unit of the clusters is the only writable
// one, and records every acknowledged insert. Unlike scenario.Writer it records the WAL
// position of each ack (for the forced rounds' RPO check), follows password changes
// (SetClusters) and can be paused (the detach round).
type writer struct {
	tag string

	mu       sync.Mutex
	clusters []*scenario.Cluster
	acks     []ack
	paused   bool
	failures int

	inflight sync.Mutex // held while an insert is on the wire
}

func newWriter(tag string, clusters ...*scenario.Cluster) *writer {
	return &writer{tag: tag, clusters: clusters}
}

// SetClusters replaces the units and passwords used for new connections.
func (w *writer) SetClusters(clusters ...*scenario.Cluster) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.clusters = clusters
}

// Pause stops the writes; when it returns, no insert is in flight and none is acknowledged
// until Resume.
func (w *writer) Pause() {
	w.mu.Lock()
	w.paused = true
	w.mu.Unlock()
	// Taking the lock waits for the insert in flight; later ones see the flag.
	w.inflight.Lock()
	//lint:ignore SA2001 the empty critical section is the point: it waits for the insert in flight.
	w.inflight.Unlock()
}

// Resume lets the writes go on after Pause.
func (w *writer) Resume() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.paused = false
}

func (w *writer) state() (clusters []*scenario.Cluster, paused bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.clusters, w.paused
}

// Run writes until ctx ends.
func (w *writer) Run(ctx context.Context) {
	for ctx.Err() == nil {
		clusters, paused := w.state()
		if !paused {
			c, unit, err := scenario.Primary(ctx, clusters...)
			if err == nil {
				err = w.burst(ctx, c.Model, c.Units[unit], c.Password)
			}
			if err != nil {
				w.mu.Lock()
				w.failures++
				w.mu.Unlock()
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// burst keeps one connection and inserts until an error or a pause.
func (w *writer) burst(ctx context.Context, model, addr, password string) error {
	conn, err := scenario.Connect(ctx, addr, password)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, scenario.CheckTableDDL); err != nil {
		return err
	}
	for ctx.Err() == nil {
		if err := w.insert(ctx, conn, model); err != nil {
			return err
		}
		if _, paused := w.state(); paused {
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

func (w *writer) insert(ctx context.Context, conn *pgx.Conn, model string) error {
	w.inflight.Lock()
	defer w.inflight.Unlock()
	if _, paused := w.state(); paused {
		return nil
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var id int64
	if err := conn.QueryRow(qctx, "INSERT INTO dr_check (tag) VALUES ($1) RETURNING id", w.tag).Scan(&id); err != nil {
		return err
	}
	a := ack{ID: id, At: time.Now(), Model: model}
	// The commit returned: its record ends at or before the insert position now.
	var pos string
	if err := conn.QueryRow(qctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&pos); err == nil {
		a.LSN, _ = postgres.ParseLSN(pos)
	}
	w.mu.Lock()
	w.acks = append(w.acks, a)
	w.mu.Unlock()
	return nil
}

// Acks returns the acknowledged inserts so far.
func (w *writer) Acks() []ack {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]ack(nil), w.acks...)
}

// Count is how many inserts were acknowledged so far.
func (w *writer) Count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acks)
}

// LongestGap is the longest time without an acknowledged insert between start and end: the
// write outage a client saw.
func (w *writer) LongestGap(start, end time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var longest time.Duration
	prev := start
	for _, a := range w.acks {
		if a.At.Before(start) {
			continue
		}
		if a.At.After(end) {
			break
		}
		longest = max(longest, a.At.Sub(prev))
		prev = a.At
	}
	return max(longest, end.Sub(prev))
}

// WaitAcks waits until n inserts were acknowledged.
func (w *writer) WaitAcks(ctx context.Context, n int, bound time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	for w.Count() < n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("writer: %d inserts acknowledged, waiting for %d: %w", w.Count(), n, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}
