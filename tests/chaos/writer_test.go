package chaos

import (
	"testing"
	"time"
)

func TestLongestGap(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	for _, tc := range []struct {
		name       string
		acks       []int // ms after t0
		start, end int
		want       time.Duration
	}{
		{"steady", []int{10, 20, 30, 40}, 0, 40, 10 * time.Millisecond},
		{"outage in the middle", []int{10, 20, 1520, 1530}, 0, 1530, 1500 * time.Millisecond},
		{"acks before start ignored", []int{10, 500, 600}, 400, 600, 100 * time.Millisecond},
		{"no ack since start: all of it", []int{10}, 100, 2100, 2 * time.Second},
		{"still down at the end", []int{10, 20}, 0, 1020, time.Second},
		{"acks after end ignored", []int{100, 200, 5000}, 0, 300, 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWriter("x")
			for _, ms := range tc.acks {
				w.acks = append(w.acks, ack{ID: int64(ms), At: at(ms)})
			}
			if got := w.LongestGap(at(tc.start), at(tc.end)); got != tc.want {
				t.Fatalf("LongestGap = %v, want %v", got, tc.want)
			}
		})
	}
}
