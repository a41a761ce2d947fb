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
		"an upstream":      func(o *Observation) { o.Upstream = true },
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

func TestObservationStalled(t *testing.T) {
	streaming := &ObservedReceiver{"streaming", "10.0.0.1", 5432}
	for _, c := range []struct {
		name string
		o    Observation
		want bool
	}{
		{"a primary", Observation{Timeline: 1}, false},
		{"a streaming standby", Observation{InRecovery: true, Upstream: true, Receiver: streaming}, false},
		{"a standby without a receiver", Observation{InRecovery: true, Upstream: true}, true},
		{"a standby whose receiver waits", Observation{InRecovery: true, Upstream: true, Receiver: &ObservedReceiver{"waiting", "10.0.0.1", 5432}}, true},
		{"a standby kept without an upstream", Observation{InRecovery: true}, false},
		{"a failed read", Observation{Error: "connection refused", InRecovery: true, Upstream: true}, false},
	} {
		if got := c.o.Stalled(); got != c.want {
			t.Errorf("%s: Stalled() = %v, want %v", c.name, got, c.want)
		}
	}
}

// The wake-ups of a standby that streams nothing: the first after StallAfter, then after
// each doubling of the wait up to StallRepeatMax; none for a short stretch, for a failed read,
// or across a restart, which begins a new stretch; a failed notice is retried.
func TestObserverRaisesStallWakeUps(t *testing.T) {
	streaming := Observation{Started: t0, InRecovery: true, Upstream: true, Timeline: 1, Receiver: &ObservedReceiver{"streaming", "10.0.0.1", 5432}}
	stalled := streaming
	stalled.Receiver = nil
	next, probeErr := streaming, error(nil)
	n := &fakeNotifier{}
	o := &Observer{Path: filepath.Join(t.TempDir(), "observed.json"), StallAfter: 10 * time.Second, Notifier: n,
		Probe: func(context.Context) (Observation, error) { return next, probeErr }}
	ctx := context.Background()
	// at runs one Check at t0+sec and returns how many wake-ups were raised so far.
	at := func(sec float64) int {
		o.Check(ctx, t0.Add(time.Duration(sec*float64(time.Second))))
		return len(n.raised)
	}
	at(0)
	next = stalled
	if at(1) != 0 || at(10.9) != 0 {
		t.Fatalf("raised before StallAfter: %v", n.raised)
	}
	next = streaming // streams again: the stretch ends
	at(11)
	next = stalled
	if at(12) != 0 || at(21.9) != 0 || at(22) != 1 {
		t.Fatalf("first wake-up of a new stretch: %v", n.raised)
	}
	// The next after 20 s more, then 40 s.
	if at(41.9) != 1 || at(42) != 2 || at(81.9) != 2 || at(82) != 3 {
		t.Fatalf("repeats: %v", n.raised)
	}
	// A failed read neither ends the stretch nor raises.
	probeErr = errors.New("connection refused")
	if at(200) != 3 {
		t.Fatalf("raised on a failed read: %v", n.raised)
	}
	probeErr = nil
	if at(201) != 4 { // due since 162 s
		t.Fatalf("stretch lost across a failed read: %v", n.raised)
	}
	// A failed notice is retried on the next observation.
	n.fail = true
	at(400)
	n.fail = false
	if at(401) != 5 {
		t.Fatalf("failed notice not retried: %v", n.raised)
	}
	// The wait is bounded.
	o.stall.wait = StallRepeatMax
	o.stall.next = t0.Add(401 * time.Second).Add(StallRepeatMax)
	if at(401+StallRepeatMax.Seconds()) != 6 || !o.stall.next.Equal(t0.Add(401*time.Second).Add(2*StallRepeatMax)) {
		t.Fatalf("wait past StallRepeatMax: next %v", o.stall.next)
	}
	// A restart begins a new stretch.
	next.Started = t0.Add(time.Hour)
	if at(1000) != 6 || at(1009) != 6 || at(1010) != 7 {
		t.Fatalf("a restart did not begin a new stretch: %v", n.raised)
	}
	// A standby kept without an upstream, a primary: nothing.
	for _, quiet := range []Observation{{Started: t0, InRecovery: true, Timeline: 1}, {Started: t0, Timeline: 2}} {
		next = quiet
		if at(2000) != 7 || at(3000) != 7 {
			t.Fatalf("raised for %+v: %v", quiet, n.raised)
		}
	}
	for _, timer := range n.raised {
		if timer != StallTimer {
			t.Fatalf("raised %q", timer)
		}
	}
}
