package scenario

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
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
	return insertUntilError(ctx, conn, "dr_check", w.Tag, func(id int64) {
		w.mu.Lock()
		w.acked = append(w.acked, id)
		w.ackTimes = append(w.ackTimes, time.Now())
		w.mu.Unlock()
	})
}

// insertUntilError inserts rows tagged tag into table (a constant of this package) over conn,
// a few milliseconds apart, until ctx ends or an insert fails; ack gets each acknowledged id.
func insertUntilError(ctx context.Context, conn *pgx.Conn, table, tag string, ack func(id int64)) error {
	for ctx.Err() == nil {
		var id int64
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := conn.QueryRow(qctx, "INSERT INTO "+table+" (tag) VALUES ($1) RETURNING id", tag).Scan(&id)
		cancel()
		if err != nil {
			return err
		}
		ack(id)
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
	return longestGap(w.ackTimes, start)
}

// longestGap is the longest time between two of the (ordered) acknowledgement times after
// start, counting from start to the first.
func longestGap(ackTimes []time.Time, start time.Time) time.Duration {
	var longest time.Duration
	prev := start
	for _, t := range ackTimes {
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

// Prober asks every unit of the clusters every interval whether it is writable, and records
// per round how many units answered and which were writable. A split brain (two writable
// units) can only be seen in rounds that reached the units, so Report says how much of the
// run the probes covered, and tests assert both: no split brain, and real coverage.
type Prober struct {
	clusters []*Cluster
	interval time.Duration

	mu       sync.Mutex
	rounds   []ProbeRound
	answered map[string]int // unit (model:unit) → rounds in which it answered
	next     chan struct{}  // closed and replaced after each round
}

// ProbeRound is one round of a Prober: every unit of the clusters asked once.
type ProbeRound struct {
	Start    time.Time
	Probed   int      // units asked
	Answered int      // units that answered
	Writable []string // units that accepted writes (model:unit)
}

// Complete reports whether every unit asked answered.
func (r ProbeRound) Complete() bool { return r.Probed > 0 && r.Answered == r.Probed }

// Healthy reports whether every unit answered and exactly one accepted writes.
func (r ProbeRound) Healthy() bool { return r.Complete() && len(r.Writable) == 1 }

func (r ProbeRound) String() string {
	return fmt.Sprintf("%s: %d of %d units answered, writable %v", r.Start.Format(time.StampMilli), r.Answered, r.Probed, r.Writable)
}

// NewProber prepares a prober; Run starts it.
func NewProber(interval time.Duration, clusters ...*Cluster) *Prober {
	return &Prober{clusters: clusters, interval: interval, answered: map[string]int{}, next: make(chan struct{})}
}

// Run probes until ctx ends.
func (p *Prober) Run(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		p.mu.Lock()
		clusters := p.clusters
		p.mu.Unlock()
		start := time.Now()
		writable, unreachable := Writable(ctx, clusters...)
		if ctx.Err() != nil {
			return // a round cut short says nothing about the units
		}
		p.record(start, clusters, writable, unreachable)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// record adds the round that started at start and asked every unit of clusters.
func (p *Prober) record(start time.Time, clusters []*Cluster, writable, unreachable []string) {
	down := map[string]bool{}
	for _, u := range unreachable {
		down[u] = true
	}
	r := ProbeRound{Start: start, Writable: writable}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range clusters {
		for unit := range c.Units {
			name := c.Model + ":" + unit
			r.Probed++
			n := p.answered[name] // a unit probed that never answers is kept, at 0
			if !down[name] {
				r.Answered++
				n++
			}
			p.answered[name] = n
		}
	}
	p.rounds = append(p.rounds, r)
	close(p.next)
	p.next = make(chan struct{})
}

// SetClusters replaces the units probed, after scaling or a password change.
func (p *Prober) SetClusters(clusters ...*Cluster) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clusters = clusters
}

// Rounds returns the rounds so far.
func (p *Prober) Rounds() []ProbeRound {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ProbeRound(nil), p.rounds...)
}

// WaitHealthy waits (two minutes at most) for a round that starts after the call in which
// every unit answered and exactly one accepted writes. Tests call it before and after the
// event they watch, so that the prober is known to reach every unit on both sides of it.
func (p *Prober) WaitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	since := time.Now()
	for {
		p.mu.Lock()
		next := p.next
		var last *ProbeRound
		for i := len(p.rounds) - 1; i >= 0 && !p.rounds[i].Start.Before(since); i-- {
			if p.rounds[i].Healthy() {
				p.mu.Unlock()
				return nil
			}
			if last == nil {
				last = &p.rounds[i]
			}
		}
		lastMsg := "none since the wait began"
		if last != nil {
			lastMsg = last.String()
		}
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return fmt.Errorf("prober: no round reached every unit with exactly one writable (last round: %s): %w", lastMsg, ctx.Err())
		case <-next:
		}
	}
}

// ProbeReport sums up a Prober's rounds.
type ProbeReport struct {
	Rounds       int
	Complete     int      // rounds in which every unit answered
	Healthy      int      // complete rounds with exactly one writable unit
	WithWritable int      // rounds that reached at least one writable unit
	Split        []string // rounds with more than one writable unit
	Unreached    []string // units probed that never answered
}

// Report sums up the rounds so far.
func (p *Prober) Report() ProbeReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	var rep ProbeReport
	for _, r := range p.rounds {
		rep.Rounds++
		if r.Complete() {
			rep.Complete++
		}
		if r.Healthy() {
			rep.Healthy++
		}
		if len(r.Writable) > 0 {
			rep.WithWritable++
		}
		if len(r.Writable) > 1 {
			rep.Split = append(rep.Split, r.String())
		}
	}
	for u, n := range p.answered {
		if n == 0 {
			rep.Unreached = append(rep.Unreached, u)
		}
	}
	sort.Strings(rep.Unreached)
	return rep
}

func (r ProbeReport) String() string {
	return fmt.Sprintf("%d probe rounds: %d reached every unit, %d healthy (one writable), %d reached a writable unit, %d saw two writable",
		r.Rounds, r.Complete, r.Healthy, r.WithWritable, len(r.Split))
}

// Covered is nil when the probes reached what they watch: every unit probed answered at least
// once, and some round reached every unit with exactly one writable. Without it, "no split
// brain seen" would say nothing.
func (r ProbeReport) Covered() error {
	switch {
	case r.Rounds == 0:
		return errors.New("prober: no probe round ran")
	case len(r.Unreached) > 0:
		return fmt.Errorf("prober: units never answered a probe: %v (%v)", r.Unreached, r)
	case r.Healthy == 0:
		return fmt.Errorf("prober: no round reached every unit with exactly one writable (%v)", r)
	}
	return nil
}

// Err is nil when the probes covered the run (Covered) and never saw two writable units.
func (r ProbeReport) Err() error {
	if err := r.Covered(); err != nil {
		return err
	}
	if len(r.Split) > 0 {
		return fmt.Errorf("two writable units in %d of %d probe rounds: %v", len(r.Split), r.Rounds, r.Split)
	}
	return nil
}
