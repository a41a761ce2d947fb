package charm

import (
	"reflect"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// backOff doubles from RetryMin up to its ceiling while on, and off cancels the timer and
// forgets the backoff.
func TestBackOff(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := &Charm{Now: func() time.Time { return now }}
	st := &State{Local: map[string]string{}, localWrites: map[string]string{}}
	const timer, key, ceiling = "t", "t-backoff", 4 * RetryMin
	for i, want := range []time.Duration{RetryMin, 2 * RetryMin, 4 * RetryMin, 4 * RetryMin} {
		st.wakes = nil // a new hook: WakeAt keeps a hook's earliest wake
		c.backOff(st, true, timer, key, ceiling)
		if got := st.wakes[timer]; !got.Equal(now.Add(want)) {
			t.Fatalf("wake %d at now+%v, want now+%v", i, got.Sub(now), want)
		}
	}
	st.Local[key], st.wakes = "garbage", nil
	c.backOff(st, true, timer, key, ceiling)
	if got := st.wakes[timer]; !got.Equal(now.Add(RetryMin)) {
		t.Errorf("after a damaged backoff: wake at now+%v, want now+%v", got.Sub(now), RetryMin)
	}
	st.wakes = nil
	c.backOff(st, false, timer, key, ceiling)
	if at, ok := st.wakes[timer]; !ok || !at.IsZero() {
		t.Errorf("off: wake %v (recorded %v), want a cancellation", at, ok)
	}
	if v, ok := st.localWrites[key]; !ok || v != "" || st.Local[key] != "" {
		t.Errorf("off: backoff %q (write %q %v), want it deleted", st.Local[key], v, ok)
	}
}

func TestStreamingHBA(t *testing.T) {
	for _, tc := range []struct{ addr, cidr string }{
		{"10.1.2.3", "10.1.2.3/32"},
		{"fd00::5", "fd00::5/128"},
	} {
		want := []postgres.HBARule{
			{Type: "hostssl", Database: "replication", User: "replication", Address: tc.cidr, Method: "scram-sha-256"},
			{Type: "hostssl", Database: "postgres", User: "rewind", Address: tc.cidr, Method: "scram-sha-256"},
		}
		if got := streamingHBA(tc.addr); !reflect.DeepEqual(got, want) {
			t.Errorf("streamingHBA(%s) = %+v, want %+v", tc.addr, got, want)
		}
	}
}
