package scenario

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestProberReportNeedsCoverage(t *testing.T) {
	rome := &Cluster{Model: "rome", Units: map[string]string{"db1/0": "127.0.0.2", "db1/1": "127.0.0.3"}}
	start := time.Now()
	at := func(i int) time.Time { return start.Add(time.Duration(i) * time.Millisecond) }

	// Every probe failed: no split brain seen, and the report must not pass for that.
	p := NewProber(time.Millisecond, rome)
	p.record(at(0), []*Cluster{rome}, nil, []string{"rome:db1/0", "rome:db1/1"})
	p.record(at(1), []*Cluster{rome}, nil, []string{"rome:db1/0", "rome:db1/1"})
	rep := p.Report()
	if rep.Rounds != 2 || rep.Complete != 0 || len(rep.Split) != 0 {
		t.Fatalf("report %+v", rep)
	}
	if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "never answered") {
		t.Fatalf("Err() = %v, want units that never answered", err)
	}
	if got := p.Rounds()[0]; got.Probed != 2 || got.Answered != 0 {
		t.Fatalf("round %+v, want 2 probed, 0 answered", got)
	}

	// Each unit answered once, but never both in one round with one writable.
	p.record(at(2), []*Cluster{rome}, nil, []string{"rome:db1/1"})
	p.record(at(3), []*Cluster{rome}, nil, []string{"rome:db1/0"})
	if err := p.Report().Err(); err == nil || !strings.Contains(err.Error(), "exactly one writable") {
		t.Fatalf("Err() = %v, want no healthy round", err)
	}

	// A healthy round covers the run.
	p.record(at(4), []*Cluster{rome}, []string{"rome:db1/0"}, nil)
	if err := p.Report().Err(); err != nil {
		t.Fatalf("Err() = %v after a healthy round", err)
	}

	// Two writable units fail it, however well covered.
	p.record(at(5), []*Cluster{rome}, []string{"rome:db1/0", "rome:db1/1"}, nil)
	rep = p.Report()
	if rep.Covered() != nil || len(rep.Split) != 1 || rep.WithWritable != 2 || rep.Healthy != 1 || rep.Complete != 2 {
		t.Fatalf("report %+v", rep)
	}
	if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "two writable") {
		t.Fatalf("Err() = %v, want the split brain", err)
	}

	// Nothing probed at all is not coverage either.
	if err := NewProber(time.Millisecond).Report().Err(); err == nil {
		t.Fatal("a prober that ran no round reported no error")
	}
}

func TestProberWaitHealthyOnlyCountsLaterRounds(t *testing.T) {
	c := &Cluster{Model: "m", Units: map[string]string{"a/0": "127.0.0.2"}}
	p := NewProber(time.Millisecond, c)
	p.record(time.Now().Add(-time.Second), []*Cluster{c}, []string{"m:a/0"}, nil)

	// A healthy round before the wait does not count.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.WaitHealthy(ctx); err == nil {
		t.Fatal("WaitHealthy returned nil on an earlier round")
	}

	done := make(chan error, 1)
	go func() { done <- p.WaitHealthy(context.Background()) }()
	// Rounds keep coming until the waiter, which may not have started yet, sees one.
	for {
		p.record(time.Now(), []*Cluster{c}, nil, []string{"m:a/0"})
		p.record(time.Now(), []*Cluster{c}, []string{"m:a/0"}, nil)
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}
