package scenario

import (
	"testing"
	"time"
)

func TestLongestGap(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms ...int) []time.Time {
		out := make([]time.Time, len(ms))
		for i, m := range ms {
			out[i] = t0.Add(time.Duration(m) * time.Millisecond)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		acks  []time.Time
		start time.Time
		want  time.Duration
	}{
		{"no acknowledgement", nil, t0, 0},
		{"from the start to the first", at(700, 750), t0, 700 * time.Millisecond},
		{"between two", at(10, 20, 1500, 1510), t0, 1480 * time.Millisecond},
		{"acknowledgements before the start ignored", at(0, 10, 3000, 3100), t0.Add(2900 * time.Millisecond), 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := longestGap(tc.acks, tc.start); got != tc.want {
				t.Fatalf("longestGap = %v, want %v", got, tc.want)
			}
		})
	}
}
