package uniter

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
)

// faultUnit is a started unit a/0 whose charm's dispatch appends the hook's name to the
// returned file, and which is due to run update-status.
func faultUnit(t *testing.T) (*Uniter, string) {
	t.Helper()
	u, _ := secretUnits(t, func(tx *st.Tx) {})
	if err := u.store.Update(func(tx *st.Tx) error {
		unit, err := tx.Unit("m", "a/0")
		if err != nil {
			return err
		}
		unit.Local.LastUpdate = time.Time{}
		tx.PutUnit(unit)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ran := filepath.Join(t.TempDir(), "ran")
	if err := os.MkdirAll(u.charmDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\necho \"$JUJU_HOOK_NAME$JUJU_ACTION_NAME\" >> " + ran + "\n"
	if err := os.WriteFile(filepath.Join(u.charmDir(), "dispatch"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return u, ran
}

func runs(t *testing.T, ran string) []string {
	t.Helper()
	b, err := os.ReadFile(ran)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// TestCommitFailureBacksOff: a hook whose commit fails (a full disk) is not run again; its
// commit is retried once the backoff has passed, and nothing else runs meanwhile.
func TestCommitFailureBacksOff(t *testing.T) {
	u, ran := faultUnit(t)
	ctx := context.Background()
	fail := true
	u.commitFault = func() error {
		if fail {
			return errors.New("database or disk is full")
		}
		return nil
	}
	if _, _, err := u.step(ctx); err == nil || !strings.Contains(err.Error(), "disk is full") {
		t.Fatalf("step: %v, want the commit error", err)
	}
	for range 3 {
		if _, worked, err := u.step(ctx); worked || err != nil {
			t.Fatalf("step during the backoff: worked %v, %v", worked, err)
		}
	}
	if got := runs(t, ran); len(got) != 1 || got[0] != "update-status" {
		t.Fatalf("hooks run %q, want update-status once", got)
	}
	// The retry fails too: the backoff grows.
	u.pending.retryAt = time.Now()
	if _, _, err := u.step(ctx); err == nil {
		t.Fatal("the retried commit did not fail")
	}
	if u.pending.failures != 2 || time.Until(u.pending.retryAt) < time.Second {
		t.Errorf("after 2 failures: %d failures, retry in %s", u.pending.failures, time.Until(u.pending.retryAt))
	}
	fail = false
	u.pending.retryAt = time.Now()
	if _, worked, err := u.step(ctx); !worked || err != nil {
		t.Fatalf("step after the backoff: worked %v, %v", worked, err)
	}
	if got := runs(t, ran); len(got) != 1 {
		t.Errorf("hooks run %q: the hook ran again", got)
	}
	unit := u.testUnit(t)
	if unit.Local.LastUpdate.IsZero() || unit.InProgress != nil || u.pending != nil {
		t.Errorf("update-status not committed: last %v, in progress %v, pending %v", unit.Local.LastUpdate, unit.InProgress, u.pending)
	}
}

// TestInterruptedActionFails: an action a killed controller left running ends failed, as on
// Juju, and is not run again; a pending action still runs.
func TestInterruptedActionFails(t *testing.T) {
	u, ran := faultUnit(t)
	err := u.store.Update(func(tx *st.Tx) error {
		tx.PutAction(&st.Action{ID: 100, Model: "m", Unit: "a/0", Name: "backup", Status: "running", Started: time.Now().UTC()})
		tx.PutAction(&st.Action{ID: 101, Model: "m", Unit: "a/0", Name: "restore", Status: "pending"})
		unit, err := tx.Unit("m", "a/0")
		if err != nil {
			return err
		}
		unit.Local.LastUpdate = time.Now()
		tx.PutUnit(unit)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.failInterruptedActions(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, _, err := u.step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := runs(t, ran); len(got) != 1 || got[0] != "restore" {
		t.Errorf("ran %q, want only restore", got)
	}
	_ = u.store.View(func(tx *st.Tx) error {
		a, err := tx.Action(100)
		if err != nil {
			t.Fatal(err)
		}
		if a.Status != "failed" || a.Message != "action terminated" || a.Completed.IsZero() {
			t.Errorf("interrupted action %+v", a)
		}
		return nil
	})
}

// TestHookOutputBounded: a hook printing without end is read to its end (it is not
// blocked), but only the start of its output is kept and logged, and long lines are
// logged in pieces.
func TestHookOutputBounded(t *testing.T) {
	u, _ := faultUnit(t)
	script := "#!/bin/sh\nhead -c 3000000 /dev/zero | tr '\\\\0' 'x'\necho\necho done >&2\n"
	if err := os.WriteFile(filepath.Join(u.charmDir(), "dispatch"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr, err := u.execute(context.Background(), u.newContext(nil, &st.Action{ID: 1, Name: "backup"}))
	if code != 0 || err != nil {
		t.Fatalf("execute: %d %v", code, err)
	}
	if len(stdout) > maxOutputBytes+100 || !strings.HasSuffix(stdout, "[output truncated]\n") {
		t.Errorf("stdout kept %d bytes, ending %q", len(stdout), stdout[max(0, len(stdout)-30):])
	}
	if stderr != "done\n" {
		t.Errorf("stderr %q", stderr)
	}
	var logged, longest int
	entries, err := u.store.Logs("m", 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		logged += len(e.Message)
		longest = max(longest, len(e.Message))
	}
	if logged > maxOutputBytes+1000 || longest > maxLineBytes {
		t.Errorf("logged %d bytes, the longest entry %d", logged, longest)
	}
}

// TestVanishedRelationHookSkipped: a relation hook waiting in error (or interrupted by a
// restart) whose relation was deleted meanwhile is not run (it would run without its
// relation: relation-broken with no relation to name), but skipped and committed, as on
// Juju.
func TestVanishedRelationHookSkipped(t *testing.T) {
	u, ran := faultUnit(t)
	h := &st.Hook{Kind: "relation-broken", Name: "db-relation-broken", RelID: 9, Endpoint: "db", RemoteApp: "b"}
	err := u.store.Update(func(tx *st.Tx) error {
		unit, err := tx.Unit("m", "a/0")
		if err != nil {
			return err
		}
		unit.Local.LastUpdate = time.Now()
		unit.Local.Rels[9] = &st.RelLocal{Created: true, Units: map[string]int{}}
		unit.Error, unit.Resolve = h, st.ResolveRetry
		tx.PutUnit(unit)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := u.step(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := runs(t, ran); len(got) != 0 {
		t.Errorf("ran %q for a relation that no longer exists", got)
	}
	unit := u.testUnit(t)
	if unit.Error != nil || unit.Local.Rels[9] != nil {
		t.Errorf("the hook was not committed: error %v, relation state %v", unit.Error, unit.Local.Rels[9])
	}
}

// TestUpdateStatusIntervalBounded: an interval stored out of bounds (before model config
// was validated) is brought within 1s..60m.
func TestUpdateStatusIntervalBounded(t *testing.T) {
	for _, tc := range []struct {
		cfg  string
		want time.Duration
	}{
		{"1ms", time.Second}, {"-5m", time.Second}, {"0s", time.Second}, {"10s", 10 * time.Second}, {"24h", time.Hour}, {"junk", 5 * time.Minute},
	} {
		u, _ := faultUnit(t)
		err := u.store.Update(func(tx *st.Tx) error {
			tx.PutModel(&st.Model{UUID: "m", Name: "m", Life: st.Alive, Config: map[string]string{"update-status-hook-interval": tc.cfg}})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var v *view
		_ = u.store.View(func(tx *st.Tx) error { v, err = u.loadView(tx); return err })
		if err != nil || v.interval != tc.want {
			t.Errorf("%s: interval %v (%v), want %v", tc.cfg, v.interval, err, tc.want)
		}
	}
}
