package state

import (
	"testing"
	"time"
)

// TestElectLeader: a leader is kept while it is alive and its pod is up or down for less
// than the lease; otherwise the first other alive unit with a healthy pod takes over; an
// application with no leader at all gets its first alive unit even when every pod is down.
func TestElectLeader(t *testing.T) {
	now := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	const lease = time.Minute
	up := time.Time{}
	downBrief, downLong := now.Add(-lease/2), now.Add(-2*lease)
	type u struct {
		life string
		down time.Time
	}
	for _, tc := range []struct {
		name   string
		leader string
		units  []u // a/0, a/1, ...
		want   string
	}{
		{"no leader: first alive", "", []u{{"dying", up}, {"alive", up}, {"alive", up}}, "a/1"},
		{"no leader, every pod down: first alive anyway", "", []u{{"alive", downLong}, {"alive", downLong}}, "a/0"},
		{"healthy leader kept", "a/1", []u{{"alive", up}, {"alive", up}}, "a/1"},
		{"leader down within the lease kept", "a/0", []u{{"alive", downBrief}, {"alive", up}}, "a/0"},
		{"leader down past the lease moves", "a/0", []u{{"alive", downLong}, {"alive", downLong}, {"alive", up}}, "a/2"},
		{"dying leader moves", "a/0", []u{{"dying", up}, {"alive", up}}, "a/1"},
		{"leader down past the lease, no healthy unit: kept", "a/0", []u{{"alive", downLong}, {"alive", downLong}}, "a/0"},
		{"vanished leader: first healthy", "a/9", []u{{"alive", downLong}, {"alive", up}}, "a/1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var units []*Unit
			for i, x := range tc.units {
				units = append(units, &Unit{Model: "m", App: "a", Name: "a/" + string(rune('0'+i)), Life: Life(x.life), PodDown: x.down})
			}
			var got string
			_ = s.Update(func(tx *Tx) error {
				a := &App{Model: "m", Name: "a", Leader: tc.leader}
				tx.electLeader(a, units, now, lease)
				got = a.Leader
				return nil
			})
			if got != tc.want {
				t.Errorf("leader %q, want %q", got, tc.want)
			}
		})
	}
}
