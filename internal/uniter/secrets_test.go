package uniter

import (
	"strconv"
	"strings"
	"testing"
	"time"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
	"github.com/jujulet/postgresql-k8s/internal/hooktools"
)

// secretUnits is a store with application a (leader a/0, and a/1), both started, and
// what fn adds.
func secretUnits(t *testing.T, fn func(tx *st.Tx)) (leader, follower *Uniter) {
	t.Helper()
	u := envUnit(t, nil)
	err := u.store.Update(func(tx *st.Tx) error {
		tx.PutModel(&st.Model{UUID: "m", Name: "m", Life: st.Alive, Config: map[string]string{}})
		for _, name := range []string{"a/0", "a/1"} {
			l := started()
			l.Leader = name == "a/0"
			l.Storage = map[string]bool{"data": true}
			tx.PutUnit(&st.Unit{Model: "m", App: "a", Name: name, Life: st.Alive, Local: l})
		}
		fn(tx)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return u, New(Config{Store: u.store, Model: "m", Unit: "a/1"})
}

// nextSecretHook is the unit's next operation at now, described as "<hook> <rev>".
func (u *Uniter) nextSecretHook(t *testing.T, now time.Time) *op {
	t.Helper()
	var v *view
	if err := u.store.View(func(tx *st.Tx) error {
		var err error
		v, err = u.loadView(tx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	v.expired, v.rotate, v.obsolete = nil, nil, nil
	if err := u.store.View(func(tx *st.Tx) error { v.ownedSecrets(tx, tx.Consumers(), now); return nil }); err != nil {
		t.Fatal(err)
	}
	v.now = now
	v.unit.Local.LastUpdate = now
	return nextOp(v)
}

// recordHook records that h ran at now, as runHook's commit does.
func (u *Uniter) recordHook(t *testing.T, h *st.Hook, now time.Time, change func(tx *st.Tx)) {
	t.Helper()
	err := u.store.Update(func(tx *st.Tx) error {
		unit, err := tx.Unit("m", u.name)
		if err != nil {
			return err
		}
		if change != nil {
			change(tx)
		}
		advance(tx, unit, &st.App{}, h, now)
		tx.PutUnit(unit)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func describeSecretOp(o *op) string {
	if o == nil || o.hook == nil {
		return describe(o)
	}
	return o.hook.Name + " " + strconv.Itoa(o.hook.SecretRev) + " " + o.hook.SecretLbl
}

// TestOwnedSecretHooks follows an application-owned secret's expiry, rotation and obsolete
// revision through the leader's hooks, in Juju's order, and checks the other unit gets none.
func TestOwnedSecretHooks(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const uri = "secret://m/d0gtnle7fsgd7i8mc3g0"
	due := now.Add(-2 * time.Minute)
	leader, follower := secretUnits(t, func(tx *st.Tx) {
		tx.PutSecret(&st.Secret{URI: uri, Model: "m", OwnerApp: "a", Label: "pw", Rotate: "daily", NextRotate: &due, Latest: 3,
			Revisions: map[int]map[string]string{1: {"p": "1"}, 2: {"p": "2"}, 3: {"p": "3"}},
			RevExpire: map[int]time.Time{3: due}})
		tx.PutConsumer(&st.Consumer{URI: uri, Model: "m", Unit: "b/0", Revision: 2})
	})
	if o := follower.nextSecretHook(t, now); o != nil {
		t.Errorf("the follower runs %q for its application's secret", describe(o))
	}
	steps := []struct {
		want   string
		change func(tx *st.Tx) // what the hook does
	}{
		{want: "secret-expired 3 pw"},
		{want: "secret-rotate 3 pw"}, // makes no new revision
		{want: "secret-remove 1 pw", change: func(tx *st.Tx) {
			s, _ := tx.Secret(uri)
			delete(s.Revisions, 1)
			tx.PutSecret(s)
		}},
		{want: ""},
	}
	for _, s := range steps {
		o := leader.nextSecretHook(t, now)
		if got := describeSecretOp(o); got != s.want {
			t.Fatalf("next = %q, want %q", got, s.want)
		}
		if o != nil {
			leader.recordHook(t, o.hook, now, s.change)
		}
	}
	// The rotation and the expiry come again after Juju's retry delays, as the charm
	// neither made a new revision nor removed the expired one.
	later := now.Add(st.RotateRetryDelay + time.Minute)
	if got := describeSecretOp(leader.nextSecretHook(t, later)); got != "secret-expired 3 pw" {
		t.Errorf("after the retry delay: %q", got)
	}
	var sec *st.Secret
	_ = leader.store.View(func(tx *st.Tx) error { sec, _ = tx.Secret(uri); return nil })
	if sec.NextRotate == nil || !sec.NextRotate.Equal(now.Add(st.RotateRetryDelay)) {
		t.Errorf("NextRotate %v after a rotation that made no revision", sec.NextRotate)
	}
	// Once the charm rotates, the next rotation follows the policy.
	leader.recordHook(t, &st.Hook{Kind: "secret-expired", Name: "secret-expired", SecretURI: uri, SecretRev: 3}, later, nil)
	o := leader.nextSecretHook(t, later)
	if got := describeSecretOp(o); got != "secret-rotate 3 pw" {
		t.Fatalf("next = %q, want the rotation", got)
	}
	leader.recordHook(t, o.hook, later, func(tx *st.Tx) {
		s, _ := tx.Secret(uri)
		s.Latest = 4
		s.Revisions[4] = map[string]string{"p": "4"}
		tx.PutSecret(s)
	})
	_ = leader.store.View(func(tx *st.Tx) error { sec, _ = tx.Secret(uri); return nil })
	if want := now.Add(st.RotateRetryDelay).AddDate(0, 0, 1); sec.NextRotate == nil || !sec.NextRotate.Equal(want) {
		t.Errorf("NextRotate %v, want %v", sec.NextRotate, want)
	}
	// Revision 3 is now obsolete (nobody tracks it): secret-remove, once.
	if got := describeSecretOp(leader.nextSecretHook(t, later)); got != "secret-remove 3 pw" {
		t.Errorf("next = %q, want secret-remove of revision 3", got)
	}
}

// TestSecretHookPriority: as Juju, secret hooks run only when nothing is queued
// and never for a dying unit; they come before actions, config-changed and relation hooks.
func TestSecretHookPriority(t *testing.T) {
	expired := func(v *view) { v.expired = []secretRev{{uri: "secret://m/x", rev: 1}} }
	rotate := func(v *view) { v.rotate = []secretRev{{uri: "secret://m/x", rev: 1}} }
	changed := func(v *view) { v.secrets = []secretRev{{uri: "secret://m/y", rev: 2}} }
	obsolete := func(v *view) { v.obsolete = []secretRev{{uri: "secret://m/x", rev: 1}} }
	tests := []struct {
		name string
		view func(v *view)
		want string
	}{
		{"expired first", all(obsolete, changed, rotate, expired), "secret-expired"},
		{"then rotate", all(obsolete, changed, rotate), "secret-rotate"},
		{"then changed", all(obsolete, changed), "secret-changed"},
		{"then remove", obsolete, "secret-remove"},
		{"not while start is queued", all(queuedStart, rotate), "start"},
		{"not for a dying unit", all(dying, rotate, func(v *view) { v.unit.Local.Leader = false }), "stop"},
		{"before an action", all(rotate, func(v *view) { v.actions = []*st.Action{{Name: "backup"}} }), "secret-rotate"},
		{"before config-changed", all(obsolete, func(v *view) { v.app.ConfigVersion = 1 }), "secret-remove"},
		{"before relation hooks", all(expired, withDB, seen(2, map[string]int{"b/0": 1})), "secret-expired"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := describe(nextOp(testView(tc.view))); got != tc.want {
				t.Errorf("nextOp = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestSecretSetSchedules: secret-add/secret-set --rotate schedules the first rotation, and
// --expire applies to the latest revision (the new one when the content changes).
func TestSecretSetSchedules(t *testing.T) {
	leader, _ := secretUnits(t, func(tx *st.Tx) {})
	hc := leader.newContext(&st.Hook{Kind: "config-changed", Name: "config-changed"}, nil)
	hourly, exp1, exp2 := "hourly", time.Now().Add(time.Hour).UTC(), time.Now().Add(2*time.Hour).UTC()
	before := time.Now()
	uri, err := hc.AddSecret(hooktools.SecretArgs{Rotate: &hourly, Expire: &exp1, Content: map[string]string{"p": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := hc.UpdateSecret(uri, hooktools.SecretArgs{Expire: &exp2, Content: map[string]string{"p": "2"}}); err != nil {
		t.Fatal(err)
	}
	s := hc.secrets[uri]
	if s.NextRotate == nil || s.NextRotate.Before(before.Add(time.Hour)) || s.NextRotate.After(time.Now().Add(time.Hour)) {
		t.Errorf("NextRotate %v, want an hour from now", s.NextRotate)
	}
	if !s.RevExpire[1].Equal(exp1) || !s.RevExpire[2].Equal(exp2) || s.Latest != 2 {
		t.Errorf("RevExpire %v (latest %d), want 1: %v, 2: %v", s.RevExpire, s.Latest, exp1, exp2)
	}
	if err := hc.RemoveSecret(uri, ptr(1)); err != nil {
		t.Fatal(err)
	}
	if _, ok := hc.secrets[uri].RevExpire[1]; ok {
		t.Errorf("a removed revision keeps its expiry")
	}
}

func ptr[T any](v T) *T { return &v }

// TestSecretContentBounds: Juju's 1 MB bounds on base64-encoded secret content hold for
// secret-add and secret-set, and a refused secret-set changes nothing.
func TestSecretContentBounds(t *testing.T) {
	leader, _ := secretUnits(t, func(tx *st.Tx) {})
	hc := leader.newContext(&st.Hook{Kind: "config-changed", Name: "config-changed"}, nil)
	big := strings.Repeat("x", 750*1000+1) // 1,000,004 bytes once encoded
	half := strings.Repeat("x", 400*1000)  // 533,336 bytes once encoded
	tests := []struct {
		name    string
		content map[string]string
		err     string
	}{
		{"one value too large", map[string]string{"a": big}, `base64 encoded secret content for key "a" too large: 1000004 bytes`},
		{"all values too large", map[string]string{"a": half, "b": half}, "base64 encoded secret content too large: 1066672 bytes"},
	}
	uri, err := hc.AddSecret(hooktools.SecretArgs{Content: map[string]string{"a": "small", "b": half}})
	if err != nil {
		t.Fatalf("a secret within bounds: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := hc.AddSecret(hooktools.SecretArgs{Content: tc.content}); err == nil || err.Error() != tc.err {
				t.Errorf("secret-add: %v, want %q", err, tc.err)
			}
			if err := hc.UpdateSecret(uri, hooktools.SecretArgs{Content: tc.content}); err == nil || err.Error() != tc.err {
				t.Errorf("secret-set: %v, want %q", err, tc.err)
			}
			if s := hc.secrets[uri]; s.Latest != 1 || s.Revisions[1]["a"] != "small" {
				t.Errorf("a refused secret-set changed the secret: latest %d", s.Latest)
			}
		})
	}
}
