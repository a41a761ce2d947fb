package charm

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/jujulet/postgresql-k8s/internal/hookenv"
	"github.com/jujulet/postgresql-k8s/internal/hookenv/hookenvtest"
)

// runKilled runs a hook on unit that is killed before it ends: as on Juju, none of its
// hook-tool writes (secrets, relation data, charm state) is committed, while what it did to
// the database (and Pebble files, such as the timers) stays.
func (w *world) runKilled(unit, hook string, params map[string]any, mod func(*hookenv.Env)) *testUnit {
	w.t.Helper()
	u := w.units[unit]
	secrets := map[string]hookenvtest.FakeSecret{}
	for uri, s := range w.secrets {
		c := *s
		c.Content = maps.Clone(s.Content)
		secrets[uri] = c
	}
	app := maps.Clone(w.app)
	bucket := maps.Clone(u.f.Relations[peerRel].Data[unit])
	if bucket == nil {
		bucket = map[string]string{}
	}
	state := maps.Clone(u.f.State)

	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(hookKilled); !ok {
					panic(r)
				}
			}
		}()
		_, _ = w.run(unit, hook, params, mod)
	}()

	for uri := range w.secrets {
		if s, ok := secrets[uri]; ok {
			*w.secrets[uri] = s
		} else {
			delete(w.secrets, uri)
		}
	}
	w.app = app
	u.f.Relations[peerRel].Data[unit] = bucket
	u.f.State = state
	return u
}

// hookKilled is the panic of a fake that kills the hook at a given point.
type hookKilled struct{}

func (w *world) passwordsSecret() map[string]string {
	return w.secrets[w.app["secret-id"]].Content
}

// TestPasswordChangeSurvivesAKilledHook kills each hook of a password change at the point
// that matters and checks that the charm still logs in and that a later hook finishes the
// change. The leader (pg/0) is not the primary (pg/1): it changes the password remotely, and
// the primary's own hooks re-apply the secret's passwords.
func TestPasswordChangeSurvivesAKilledHook(t *testing.T) {
	const newPw = "Brand-New-Pw-1"
	tests := []struct {
		name string
		user string
		// kill is the crash: it leaves the world as the killed hook left it.
		kill func(w *world)
		// wantDB, wantCommitted, wantPending: the database and the secret after the crash
		// ("old" for the password before the change).
		wantDB, wantCommitted, wantPending string
		// wantWake: a wake-up of the leader is due whatever else happens (the killed hook
		// wrote it before its ALTER ROLE, outside its commit).
		wantWake bool
	}{
		{
			name: "set-password killed before it ends", user: "operator",
			kill: func(w *world) {
				w.runKilled("pg/0", "set-password", map[string]any{"username": "operator", "password": newPw}, nil)
			},
			wantDB: "old", wantCommitted: "old", wantPending: "",
		},
		{
			name: "applying hook killed before ALTER ROLE", user: "operator",
			kill: func(w *world) {
				w.mustAction("pg/0", "set-password", map[string]any{"username": "operator", "password": newPw})
				w.units["pg/1"].s.down = true
				w.runKilled("pg/0", hookCustomNotice, nil, wake)
				w.units["pg/1"].s.down = false
			},
			wantDB: "old", wantCommitted: "old", wantPending: newPw,
		},
		{
			name: "applying hook killed right after ALTER ROLE (operator)", user: "operator",
			kill: func(w *world) {
				w.mustAction("pg/0", "set-password", map[string]any{"username": "operator", "password": newPw})
				w.units["pg/1"].s.killAfterSetPassword = true
				w.runKilled("pg/0", hookCustomNotice, nil, wake)
				w.units["pg/1"].s.killAfterSetPassword = false
			},
			wantDB: newPw, wantCommitted: "old", wantPending: newPw, wantWake: true,
		},
		{
			name: "applying hook killed at its end, before its commit (operator)", user: "operator",
			kill: func(w *world) {
				w.mustAction("pg/0", "set-password", map[string]any{"username": "operator", "password": newPw})
				w.runKilled("pg/0", hookCustomNotice, nil, wake)
			},
			wantDB: newPw, wantCommitted: "old", wantPending: newPw,
		},
		{
			name: "applying hook killed right after ALTER ROLE (replication)", user: "replication",
			kill: func(w *world) {
				w.mustAction("pg/0", "set-password", map[string]any{"username": "replication", "password": newPw})
				w.units["pg/1"].s.killAfterSetPassword = true
				w.runKilled("pg/0", hookCustomNotice, nil, wake)
				w.units["pg/1"].s.killAfterSetPassword = false
			},
			wantDB: newPw, wantCommitted: "old", wantPending: newPw, wantWake: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := offLeader(t)
			primary := w.units["pg/1"]
			old := w.passwordsSecret()[passwordKey(tt.user)]
			if old == "" || primary.s.roles[tt.user] != old {
				t.Fatalf("setup: secret %q, role %q", old, primary.s.roles[tt.user])
			}
			resolve := func(s string) string {
				if s == "old" {
					return old
				}
				return s
			}
			tt.kill(w)
			sec := w.passwordsSecret()
			if got := primary.s.roles[tt.user]; got != resolve(tt.wantDB) {
				t.Fatalf("after the crash the database has %q, want %q", got, resolve(tt.wantDB))
			}
			// The watcher raises a deadline once: a due one is the killed hook's own.
			if at := w.timer("pg/0", timerPasswords); tt.wantWake && !at.After(w.now()) {
				t.Errorf("no wake-up of the leader left by the killed hook (timer %v)", at)
			}
			if sec[passwordKey(tt.user)] != old || sec[pendingKey(tt.user)] != tt.wantPending {
				t.Fatalf("after the crash the secret has %q pending %q, want %q pending %q",
					sec[passwordKey(tt.user)], sec[pendingKey(tt.user)], resolve(tt.wantCommitted), tt.wantPending)
			}

			// Hooks of the other units meanwhile: the primary's own reconcile (with a stale
			// record of what it applied) and a replica's still log in, and neither puts the
			// committed password back over a pending one.
			delete(w.units["pg/1"].f.Relations[peerRel].Data["pg/1"], "roles")
			for _, unit := range []string{"pg/1", "pg/2"} {
				u := w.mustRun(unit, "update-status")
				if u.f.UnitStatus.Status != "active" {
					t.Errorf("%s after the crash: %+v", unit, u.f.UnitStatus)
				}
			}
			if got := primary.s.roles[tt.user]; got != resolve(tt.wantDB) {
				t.Errorf("a hook of the primary changed the database to %q, want it left at %q", got, resolve(tt.wantDB))
			}

			// The leader's next hook finishes what is pending.
			w.mustRunEvent("pg/0", hookCustomNotice, wake)
			want := old
			if tt.wantPending != "" {
				want = tt.wantPending
			}
			sec = w.passwordsSecret()
			if primary.s.roles[tt.user] != want || sec[passwordKey(tt.user)] != want || sec[pendingKey(tt.user)] != "" {
				t.Errorf("after the next hook: database %q, secret %q pending %q; want %q, nothing pending",
					primary.s.roles[tt.user], sec[passwordKey(tt.user)], sec[pendingKey(tt.user)], want)
			}
			for _, unit := range w.names() {
				u := w.mustRun(unit, "update-status")
				if u.f.UnitStatus.Status != "active" {
					t.Errorf("%s at the end: %+v", unit, u.f.UnitStatus)
				}
			}
			gp := w.mustAction("pg/2", "get-password", map[string]any{"username": tt.user})
			if gp.f.Results["password"] != want {
				t.Errorf("get-password = %q, want %q", gp.f.Results["password"], want)
			}
		})
	}
}

// TestPendingPasswordChangeRetriedByTimer: a leader that cannot apply a pending change (the
// primary does not answer) keeps it pending and wakes up again, with a backoff.
func TestPendingPasswordChangeRetriedByTimer(t *testing.T) {
	w := offLeader(t)
	w.mustAction("pg/0", "set-password", map[string]any{"username": "monitoring", "password": "Mon-1"})
	w.units["pg/1"].s.down = true
	w.mustRunEvent("pg/0", hookCustomNotice, wake)
	if at := w.timer("pg/0", timerPasswords); !at.Equal(w.now().Add(RetryMin)) {
		t.Errorf("passwords timer %v, want now+%v", at, RetryMin)
	}
	if got := w.passwordsSecret()[pendingKey("monitoring")]; got != "Mon-1" {
		t.Fatalf("pending %q", got)
	}
	w.units["pg/1"].s.down = false
	w.elapsed += RetryMin
	w.mustRunEvent("pg/0", hookCustomNotice, wake)
	if got := w.units["pg/1"].s.roles["monitoring"]; got != "Mon-1" {
		t.Errorf("monitoring role %q after the retry", got)
	}
	if !w.timer("pg/0", timerPasswords).IsZero() {
		t.Error("passwords timer still set after the change was applied")
	}
}

// TestSetPasswordValidation: passwords that cannot be stored, or that libpq and pgx clients
// would hash differently, are refused with the reason, and nothing changes; one change of a
// user at a time.
func TestSetPasswordValidation(t *testing.T) {
	tests := []struct {
		name, pw, wantMsg string
	}{
		{"line break", "a\nb", "without NUL or line breaks"},
		{"too long", strings.Repeat("x", 101), "1-100 bytes"},
		{"soft hyphen", "pass\u00adword", "U+00AD"},
		{"ligature", "\ufb01ne-password", "U+FB01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := bootstrap(t, 1)
			before := maps.Clone(w.passwordsSecret())
			u, err := w.run("pg/0", "set-password", map[string]any{"username": "operator", "password": tt.pw}, nil)
			if err != nil || !u.f.IsFailed || !strings.Contains(u.f.Failed, tt.wantMsg) {
				t.Fatalf("err %v failed %v %q, want a failure saying %q", err, u.f.IsFailed, u.f.Failed, tt.wantMsg)
			}
			if !maps.Equal(before, w.passwordsSecret()) {
				t.Errorf("the secret changed: %v", w.passwordsSecret())
			}
		})
	}
	t.Run("accepted: no-break space, decomposed accent", func(t *testing.T) {
		w := bootstrap(t, 1)
		w.app[keyPinnedPrimary] = "pg/0"
		pw := "caf\u0065\u0301\u00a0pw"
		w.mustAction("pg/0", "set-password", map[string]any{"username": "operator", "password": pw})
		w.mustRunEvent("pg/0", hookCustomNotice, wake)
		if got := w.passwordsSecret()[passwordKey("operator")]; got != pw {
			t.Errorf("committed %q, want %q", got, pw)
		}
	})
	t.Run("a second change while one is pending", func(t *testing.T) {
		w := bootstrap(t, 1)
		w.mustAction("pg/0", "set-password", map[string]any{"username": "rewind", "password": "First-1"})
		u, err := w.run("pg/0", "set-password", map[string]any{"username": "rewind", "password": "Second-2"}, nil)
		if err != nil || !u.f.IsFailed || !strings.Contains(u.f.Failed, "still being applied") {
			t.Fatalf("err %v failed %v %q", err, u.f.IsFailed, u.f.Failed)
		}
		if got := w.passwordsSecret()[pendingKey("rewind")]; got != "First-1" {
			t.Errorf("pending %q, want the first change's", got)
		}
	})
}

// TestStorePasswordsKeepsOtherKeys: keys of the passwords secret that the password code does
// not own survive a password change.
func TestStorePasswordsKeepsOtherKeys(t *testing.T) {
	w := bootstrap(t, 1)
	w.app[keyPinnedPrimary] = "pg/0"
	sec := w.secrets[w.app["secret-id"]]
	sec.Content["other-key"] = "kept"
	w.mustAction("pg/0", "set-password", map[string]any{"username": "monitoring", "password": "Mon-2"})
	w.mustRunEvent("pg/0", hookCustomNotice, wake)
	if sec.Content["other-key"] != "kept" || sec.Content[passwordKey("monitoring")] != "Mon-2" {
		t.Errorf("secret after the change: %v", slices.Sorted(maps.Keys(sec.Content)))
	}
}

// TestInitialCredentialsCommittedBeforeInitdb: the first hook of the leader is killed after
// it created the secret; the next creates another, and neither initialises the database: a
// cluster whose superuser password is in no committed secret never exists.
func TestInitialCredentialsCommittedBeforeInitdb(t *testing.T) {
	w := newWorld(t, 1)
	u := w.runKilled("pg/0", "postgresql-pebble-ready", nil, nil)
	if u.s.initialised || w.app["secret-id"] != "" || len(w.secrets) != 0 {
		t.Fatalf("killed first hook: initialised %v, secret-id %q, secrets %d", u.s.initialised, w.app["secret-id"], len(w.secrets))
	}
	u = w.initLeader()
	wantStatus(t, u, "active", "Primary")
	for _, user := range SystemUsers {
		if u.s.roles[user] != w.passwordsSecret()[passwordKey(user)] {
			t.Errorf("%s: role and secret differ", user)
		}
	}
}

func (w *world) mustAction(unit, name string, params map[string]any) *testUnit {
	w.t.Helper()
	u, err := w.run(unit, name, params, nil)
	if err != nil || u.f.IsFailed {
		w.t.Fatalf("%s on %s: %v %q", name, unit, err, u.f.Failed)
	}
	return u
}

// TestStandbyClusterCopiesPendingChanges: the standby cluster copies a pending change from
// the shared secret (its units may meet the new password first, by replay) and drops it once
// the primary cluster committed it; its leader never applies it itself.
func TestStandbyClusterCopiesPendingChanges(t *testing.T) {
	d := replicating(t)
	own := func() map[string]string { return d.b.secrets[d.b.app["secret-id"]].Content }
	old := own()[passwordKey("replication")]
	if u := d.action("a", "pg/0", "set-password", map[string]any{"username": "replication", "password": "Repl-New-1"}); u.f.IsFailed {
		t.Fatalf("set-password: %s", u.f.Failed)
	}
	ub := d.b.units["pg/0"]
	ub.s.calls = nil
	d.mustRun("b", "pg/0", "secret-changed")
	if got := own(); got[passwordKey("replication")] != old || got[pendingKey("replication")] != "Repl-New-1" {
		t.Fatalf("standby cluster's secret after the request: committed %q pending %q",
			got[passwordKey("replication")], got[pendingKey("replication")])
	}
	if slices.ContainsFunc(ub.s.calls, func(c string) bool { return strings.HasPrefix(c, "SetPassword") }) {
		t.Errorf("the standby cluster changed a password itself: %v", ub.s.calls)
	}
	d.mustRun("a", "pg/0", "update-status") // applies it
	d.mustRun("b", "pg/0", "secret-changed")
	if got := own(); got[passwordKey("replication")] != "Repl-New-1" || got[pendingKey("replication")] != "" {
		t.Errorf("standby cluster's secret after the change: committed %q pending %q",
			got[passwordKey("replication")], got[pendingKey("replication")])
	}
}
