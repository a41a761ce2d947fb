package charm

import (
	"context"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/hookenv"
	"github.com/jujulet/postgresql-k8s/internal/hookenv/hookenvtest"
)

// TestOldSwitchoverRequestsNeverStartAgain: a non-leader's switchover request stays in its
// data after the leader has ended it. Two such requests, one after the other (pg/1 asks for
// pg/2, then pg/2 for pg/1), must each start once: with only the last ended ID remembered,
// the first looked new again once the second had ended, and the two took turns for ever
// (chaos seed 913908894).
func TestOldSwitchoverRequestsNeverStartAgain(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := New(hookenv.Env{UnitName: "pg/0"}, hookenvtest.NewFake("pg/0"), nil, nil)
	c.Now = func() time.Time { return now }
	st := &State{Unit: "pg/0", App: "pg", Leader: true, Peers: []string{"pg/1", "pg/2"},
		PeerData: map[string]map[string]string{
			"pg/1": {"switchover-request": `{"ID":"A","To":"pg/2"}`},
			"pg/2": {"switchover-request": `{"ID":"B","To":"pg/1"}`},
		},
		AppData: map[string]string{"primary": "pg/0"}, MyData: map[string]string{}, Local: map[string]string{},
		appWrites: map[string]string{}, myWrites: map[string]string{}, localWrites: map[string]string{}}
	ctx := context.Background()
	started := map[string]int{}
	for range 6 { // each pass: the leader's hook, then the target promotes
		c.leaderSwitchover(ctx, st)
		sw := st.Switchover()
		if sw == nil {
			continue
		}
		started[sw.ID]++
		st.PeerData[sw.To]["promoted"] = sw.ID
		c.leaderSwitchover(ctx, st)
		if st.Switchover() != nil || st.Primary() != sw.To {
			t.Fatalf("switchover %s to %s did not complete: %v", sw.ID, sw.To, st.AppData)
		}
	}
	if started["A"] != 1 || started["B"] != 1 {
		t.Errorf("switchovers started %v, want A and B once each", started)
	}
}
