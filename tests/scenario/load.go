package scenario

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Writer inserts rows one at a time into whichever unit of the clusters is writable, and
// records every id PostgreSQL acknowledged (the commit returned), so that a scenario can
// check that none of them is missing afterwards.
type Writer struct {
	Tag      string
	clusters []*Cluster

	mu       sync.Mutex
	acked    []int64
	ackTimes []time.Time
	errors   int
}

// NewWriter prepares a writer; Run starts it.
func NewWriter(tag string, clusters ...*Cluster) *Writer {
	return &Writer{Tag: tag, clusters: clusters}
}

// Run writes until ctx ends.
func (w *Writer) Run(ctx context.Context) {
	var addr, password string
	for ctx.Err() == nil {
		if addr == "" {
			c, unit, err := Primary(ctx, w.clusters...)
			if err != nil {
				w.fail(ctx)
				continue
			}
			addr, password = c.Units[unit], c.Password
		}
		if err := w.writeBurst(ctx, addr, password); err != nil {
			addr = ""
			w.fail(ctx)
		}
	}
}

func (w *Writer) fail(ctx context.Context) {
	w.mu.Lock()
	w.errors++
	w.mu.Unlock()
	select {
	case <-ctx.Done():
	case <-time.After(50 * time.Millisecond):
	}
}

// writeBurst keeps one connection and inserts until an error.
func (w *Writer) writeBurst(ctx context.Context, addr, password string) error {
	conn, err := Connect(ctx, addr, password)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, CheckTableDDL); err != nil {
		return err
	}
	for ctx.Err() == nil {
		var id int64
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := conn.QueryRow(qctx, "INSERT INTO dr_check (tag) VALUES ($1) RETURNING id", w.Tag).Scan(&id)
		cancel()
		if err != nil {
			return err
		}
		w.mu.Lock()
		w.acked = append(w.acked, id)
		w.ackTimes = append(w.ackTimes, time.Now())
		w.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// Acked returns the acknowledged ids so far.
func (w *Writer) Acked() []int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int64(nil), w.acked...)
}

// LongestGap is the longest time between two acknowledged writes after start: the write
// outage a client saw.
func (w *Writer) LongestGap(start time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var longest time.Duration
	prev := start
	for _, t := range w.ackTimes {
		if t.Before(start) {
			continue
		}
		if d := t.Sub(prev); d > longest {
			longest = d
		}
		prev = t
	}
	return longest
}

// Prober asks every unit of the clusters every interval whether it is writable and records
// any moment when more than one was.
type Prober struct {
	clusters []*Cluster
	interval time.Duration

	mu        sync.Mutex
	rounds    int
	splitSeen []string
}

// NewProber prepares a prober; Run starts it.
func NewProber(interval time.Duration, clusters ...*Cluster) *Prober {
	return &Prober{clusters: clusters, interval: interval}
}

// Run probes until ctx ends.
func (p *Prober) Run(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		p.mu.Lock()
		clusters := p.clusters
		p.mu.Unlock()
		writable, _ := Writable(ctx, clusters...)
		p.mu.Lock()
		p.rounds++
		if len(writable) > 1 {
			p.splitSeen = append(p.splitSeen, fmt.Sprintf("%s: %v", time.Now().Format(time.StampMilli), writable))
		}
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SetClusters replaces the units probed, after scaling or a password change.
func (p *Prober) SetClusters(clusters ...*Cluster) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clusters = clusters
}

// SplitBrains returns the moments more than one unit accepted writes, and how many rounds ran.
func (p *Prober) SplitBrains() ([]string, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.splitSeen...), p.rounds
}
