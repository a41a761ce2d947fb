package state

import (
	"slices"
	"testing"
	"time"
)

func TestSecretRotationSchedule(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	tests := []struct {
		name     string
		secret   Secret
		original int        // the revision secret-rotate started at
		want     *time.Time // NextRotate after Rotated
	}{
		{name: "rotated: the next one a period after the one due", original: 1,
			secret: Secret{Rotate: "hourly", Latest: 2, NextRotate: at(-time.Minute)}, want: at(59 * time.Minute)},
		{name: "not rotated: again after the retry delay", original: 2,
			secret: Secret{Rotate: "daily", Latest: 2, NextRotate: at(0)}, want: at(RotateRetryDelay)},
		{name: "rotated, but the latest revision expires first: again after the retry delay", original: 1,
			secret: Secret{Rotate: "daily", Latest: 2, NextRotate: at(0), RevExpire: map[int]time.Time{2: now.Add(time.Hour)}}, want: at(RotateRetryDelay)},
		{name: "fell behind: the next one a period from now, not one per period missed", original: 1,
			secret: Secret{Rotate: "hourly", Latest: 2, NextRotate: at(-5 * time.Hour)}, want: at(time.Hour)},
		{name: "not rotated and behind: the retry delay from now", original: 2,
			secret: Secret{Rotate: "hourly", Latest: 2, NextRotate: at(-5 * time.Hour)}, want: at(RotateRetryDelay)},
		{name: "policy now never: no more rotations", original: 1,
			secret: Secret{Rotate: "never", Latest: 2, NextRotate: at(0)}, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.secret
			s.Rotated(tc.original, now)
			if (s.NextRotate == nil) != (tc.want == nil) || (s.NextRotate != nil && !s.NextRotate.Equal(*tc.want)) {
				t.Errorf("NextRotate = %v, want %v", s.NextRotate, tc.want)
			}
		})
	}
}

func TestSetRotatePolicy(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := &Secret{}
	s.SetRotatePolicy("daily", now)
	if s.NextRotate == nil || !s.NextRotate.Equal(now.AddDate(0, 0, 1)) {
		t.Fatalf("daily: NextRotate = %v", s.NextRotate)
	}
	s.SetRotatePolicy("daily", now.Add(time.Hour)) // unchanged policy: schedule kept
	if !s.NextRotate.Equal(now.AddDate(0, 0, 1)) {
		t.Errorf("same policy moved NextRotate to %v", s.NextRotate)
	}
	s.SetRotatePolicy("hourly", now)
	if !s.NextRotate.Equal(now.Add(time.Hour)) {
		t.Errorf("hourly: NextRotate = %v", s.NextRotate)
	}
	s.SetRotatePolicy("never", now)
	if s.NextRotate != nil || s.Rotate != "never" {
		t.Errorf("never: %+v", s)
	}
}

func TestTriggerDue(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)
	for _, tc := range []struct {
		now  time.Time
		want bool
	}{
		{at.Add(-time.Minute), false},
		{at.Add(-30 * time.Second), false},
		{at.Add(-29 * time.Second), true}, // Juju's one-minute granularity
		{at.Add(time.Hour), true},
	} {
		if got := TriggerDue(at, tc.now); got != tc.want {
			t.Errorf("TriggerDue(%v, %v) = %v", at, tc.now, got)
		}
	}
}

func TestObsoleteRevisions(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sec := &Secret{URI: "secret://m/x", Model: "m", OwnerApp: "a", Latest: 4,
		Revisions: map[int]map[string]string{1: {}, 2: {}, 3: {}, 4: {}}}
	var got []int
	err = s.Update(func(t *Tx) error {
		t.PutSecret(sec)
		t.PutConsumer(&Consumer{URI: sec.URI, Model: "m", Unit: "b/0", Revision: 2})
		t.PutConsumer(&Consumer{URI: "secret://m/other", Model: "m", Unit: "b/0", Revision: 1})
		got = sec.ObsoleteRevisions(TrackedRevisions(t.Consumers())[sec.URI])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int{1, 3}) {
		t.Errorf("obsolete %v, want [1 3] (2 is tracked, 4 the latest)", got)
	}
}
