package charm

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// A replica of its own cluster that streams nothing while its upstream answers compares its
// history with the upstream's when the watcher's wake-up comes, and is rewound only when it
// holds WAL past the point where they part. A replica that streams is not compared at all.
func TestAStalledReplicaThatDivergedIsRewound(t *testing.T) {
	type H = []postgres.HistoryEntry
	// The primary (pg/1) is on timeline 3, which left timeline 2 at 250.
	primary := map[int]H{2: {{TLI: 1, SwitchLSN: 100}}, 3: {{TLI: 1, SwitchLSN: 100}, {TLI: 2, SwitchLSN: 250}}}
	for _, tt := range []struct {
		name     string
		stalled  bool
		received postgres.LSN // the replica's (pg/2), on timeline 2
		// fetched: the replica holds timeline 3's history file too, which its WAL receiver
		// fetched from the primary, though it holds no WAL of timeline 3.
		fetched    bool
		wantRewind bool
	}{
		{"stalled, with WAL past the fork", true, 300, false, true},
		{"stalled, with WAL past the fork and the upstream's history", true, 300, true, true},
		{"stalled, behind the fork", true, 200, false, false},
		{"streaming", false, 300, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := steadyWorld(t)
			up, r := w.units["pg/1"], w.units["pg/2"]
			up.s.timeline, r.s.timeline = 3, 2
			r.s.received, r.s.replayed = tt.received, tt.received
			r.s.stalled = tt.stalled
			hist := map[string]map[int][]postgres.HistoryEntry{up.s.addr: primary, r.s.addr: {2: {{TLI: 1, SwitchLSN: 100}}}}
			if tt.fetched {
				hist[r.s.addr][3] = primary[3]
			}
			w.open = func(unit, addr string) func(ctx context.Context, _ string) (Workload, error) {
				return func(ctx context.Context, _ string) (Workload, error) {
					wl, err := w.fc.open(addr)(ctx, addr)
					if err != nil {
						return nil, err
					}
					return histWorkload{wl, hist, false}, nil
				}
			}
			before := len(r.s.calls)
			u := w.mustRunEvent("pg/2", "postgresql-pebble-custom-notice", wake)
			calls := r.s.calls[before:]
			if got := slices.Contains(calls, "Rewind"+up.s.addr); got != tt.wantRewind {
				t.Fatalf("rewind = %v, want %v (calls %v)", got, tt.wantRewind, calls)
			}
			if stopped := slices.Contains(calls, "Stop"); stopped != tt.wantRewind {
				t.Fatalf("stopped = %v (calls %v)", stopped, calls)
			}
			if !r.s.running || !r.s.inRecovery {
				t.Fatalf("replica running %v, in recovery %v", r.s.running, r.s.inRecovery)
			}
			if tt.wantRewind {
				if r.s.timeline != 3 || !slices.Contains(calls, "FollowPrimary"+up.s.addr) {
					t.Fatalf("after the rewind: timeline %d, calls %v", r.s.timeline, calls)
				}
				// Once: the rewound server is the upstream's standby at once, not taken for
				// a returning primary and rewound again.
				rewinds := 0
				for _, c := range calls {
					if strings.HasPrefix(c, "Rewind") {
						rewinds++
					}
				}
				if rewinds != 1 {
					t.Fatalf("%d rewinds (calls %v)", rewinds, calls)
				}
			}
			// The units that stream from it hear of its rewind; one that was not rewound
			// but streams nothing looks again.
			rewound := u.f.Relations[peerRel].Data["pg/2"][keyRewound]
			if (rewound != "") != tt.wantRewind {
				t.Errorf("%s = %q after rewind=%v", keyRewound, rewound, tt.wantRewind)
			}
			_, again := r.s.timers[timerNotStreaming]
			if again != (tt.stalled && !tt.wantRewind) {
				t.Errorf("%s timer set = %v (timers %v)", timerNotStreaming, again, r.s.timers)
			}
			wantStatus(t, u, "active", "Replica")
		})
	}
}

// A stalled replica that is not rewound looks again by its own timer, after 2 s, then after
// waits doubling to pgwatch.StallRepeatMax; once it streams, the timer and its backoff go.
func TestAStalledReplicaLooksAgainLessOften(t *testing.T) {
	w := steadyWorld(t)
	r := w.units["pg/2"]
	r.s.stalled = true // behind nothing: the fake's histories do not fork
	var waits []time.Duration
	for range 4 {
		w.mustRunEvent("pg/2", "postgresql-pebble-custom-notice", wake)
		at, ok := r.s.timers[timerNotStreaming]
		if !ok {
			t.Fatalf("no %s timer (timers %v)", timerNotStreaming, r.s.timers)
		}
		waits = append(waits, at.Sub(w.now()))
		w.elapsed += at.Sub(w.now())
	}
	if want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}; !slices.Equal(waits, want) {
		t.Fatalf("waits %v, want %v", waits, want)
	}
	r.s.stalled = false
	w.mustRunEvent("pg/2", "postgresql-pebble-custom-notice", wake)
	if at, ok := r.s.timers[timerNotStreaming]; ok {
		t.Fatalf("%s timer kept at %v once the replica streams", timerNotStreaming, at)
	}
	if b := r.f.State[localNotStreamingBackoff]; b != "" {
		t.Fatalf("backoff kept: %q", b)
	}
}
