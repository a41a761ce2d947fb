package pgwatch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestObservationShape(t *testing.T) {
	base := Observation{
		At: t0, Started: t0.Add(-time.Hour), Timeline: 2, SyncStandbyNames: `"pg_1"`,
		Standbys: []ObservedStandby{{"pg_1", "streaming", "sync"}, {"pg_2", "streaming", "async"}},
		Slots:    []ObservedSlot{{Name: "pg_1"}, {Name: "pg_2"}},
	}
	same := base
	same.At = t0.Add(time.Minute)
	same.Standbys = []ObservedStandby{base.Standbys[1], base.Standbys[0]}
	same.Slots = []ObservedSlot{base.Slots[1], base.Slots[0]}
	if base.Shape() != same.Shape() || base.Shape() == "" {
		t.Fatalf("time and order changed the shape")
	}
	changes := map[string]func(o *Observation){
		"restarted":       func(o *Observation) { o.Started = o.Started.Add(time.Second) },
		"in recovery":     func(o *Observation) { o.InRecovery = true },
		"new timeline":    func(o *Observation) { o.Timeline++ },
		"sync names":      func(o *Observation) { o.SyncStandbyNames = "" },
		"standby catchup": func(o *Observation) { o.Standbys = []ObservedStandby{{"pg_1", "catchup", "sync"}, base.Standbys[1]} },
		"sync state": func(o *Observation) {
			o.Standbys = []ObservedStandby{{"pg_1", "streaming", "potential"}, base.Standbys[1]}
		},
		"standby gone":     func(o *Observation) { o.Standbys = base.Standbys[:1] },
		"slot lost":        func(o *Observation) { o.Slots = []ObservedSlot{{Name: "pg_1", Lost: true}, base.Slots[1]} },
		"slot gone":        func(o *Observation) { o.Slots = base.Slots[:1] },
		"name boundary":    func(o *Observation) { o.Standbys = []ObservedStandby{{"pg_1 streaming", "sync", ""}, base.Standbys[1]} },
		"an error instead": func(o *Observation) { o.Error = "connection refused" },
		"a receiver":       func(o *Observation) { o.Receiver = &ObservedReceiver{"streaming", "10.0.0.1", 5432} },
	}
	for name, change := range changes {
		o := base
		change(&o)
		if o.Shape() == base.Shape() {
			t.Errorf("%s: same shape", name)
		}
	}
	rec := base
	rec.Receiver = &ObservedReceiver{"streaming", "10.0.0.1", 5432}
	for name, r := range map[string]ObservedReceiver{"status": {"waiting", "10.0.0.1", 5432}, "host": {"streaming", "10.0.0.2", 5432}, "port": {"streaming", "10.0.0.1", 5433}} {
		o := rec
		o.Receiver = &r
		if o.Shape() == rec.Shape() {
			t.Errorf("receiver %s: same shape", name)
		}
	}
	if (Observation{Error: "x"}).Shape() != "" {
		t.Error("a failed read has a shape")
	}
}

func TestParseObservation(t *testing.T) {
	o := Observation{At: t0, Started: t0.Add(-time.Hour), Timeline: 3, Slots: []ObservedSlot{{Name: "pg_1", Lost: true}}}
	got, err := ParseObservation(o.Encode())
	if err != nil || got.Shape() != o.Shape() || !got.At.Equal(o.At) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for _, bad := range []string{
		``, `{}`, `[1]`, `{"at":"2025-01-02T03:04:05Z"}{}`, `{"at":"2025-01-02T03:04:05Z","bogus":1}`,
		`{"at":"yesterday"}`, `{"at":"2025-01-02T03:04:05Z","timeline":"two"}`,
	} {
		if _, err := ParseObservation([]byte(bad)); err == nil {
			t.Errorf("ParseObservation(%s) accepted", bad)
		}
	}
}

func TestObserverWritesChangesAndHeartbeats(t *testing.T) {
	path := filepath.Join(t.TempDir(), "observed.json")
	next := Observation{Started: t0, Timeline: 1}
	var probeErr error
	o := &Observer{Path: path, Heartbeat: 5 * time.Second, Probe: func(context.Context) (Observation, error) { return next, probeErr }}
	read := func() Observation {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseObservation(b)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	ctx := context.Background()
	o.Check(ctx, t0)
	if got := read(); !got.At.Equal(t0) || got.Shape() != next.Shape() {
		t.Fatalf("first observation: %+v", got)
	}
	// Unchanged within the heartbeat: not written again.
	o.Check(ctx, t0.Add(time.Second))
	if got := read(); !got.At.Equal(t0) {
		t.Fatalf("rewritten without a change: %+v", got)
	}
	// A change is written at once.
	next.Slots = []ObservedSlot{{Name: "pg_1"}}
	o.Check(ctx, t0.Add(2*time.Second))
	if got := read(); !got.At.Equal(t0.Add(2*time.Second)) || len(got.Slots) != 1 {
		t.Fatalf("a change was not written: %+v", got)
	}
	// Unchanged past the heartbeat: written again with the new time.
	o.Check(ctx, t0.Add(8*time.Second))
	if got := read(); !got.At.Equal(t0.Add(8 * time.Second)) {
		t.Fatalf("no heartbeat: %+v", got)
	}
	// A failed read replaces the shape with the error.
	probeErr = errors.New("connection refused")
	o.Check(ctx, t0.Add(9*time.Second))
	if got := read(); got.Error != "connection refused" || got.Shape() != "" || len(got.Slots) != 0 {
		t.Fatalf("a failed read: %+v", got)
	}
	// The file is replaced, never written in place: no temporary file is left behind.
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil || len(entries) != 1 {
		t.Fatalf("directory holds %v (%v)", entries, err)
	}
}
