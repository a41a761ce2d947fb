package state

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestNewXIDAndURIs(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-v]{20}$`)
	seen := map[string]bool{}
	for range 100 {
		id := NewXID()
		if !re.MatchString(id) || seen[id] {
			t.Fatalf("bad or duplicate xid %q", id)
		}
		seen[id] = true
	}
	tests := []struct{ in, want string }{
		{"abc", "secret://m/abc"},
		{"secret:abc", "secret://m/abc"},
		{"secret://other/abc", "secret://other/abc"},
	}
	for _, tc := range tests {
		if got := NormaliseSecretURI("m", tc.in); got != tc.want {
			t.Errorf("NormaliseSecretURI(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := SecretID("secret://m/abc"); got != "abc" {
		t.Errorf("SecretID = %q", got)
	}
	if tok := RemoteToken("m", "a"); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(tok) || tok != RemoteToken("m", "a") {
		t.Errorf("RemoteToken %q not a stable 32-hex token", tok)
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"db1", true}, {"replication-offer", true}, {"postgresql-k8s", true},
		{"Db1", false}, {"1db", false}, {"db_1", false}, {"db-", false}, {"db-1", false},
	}
	for _, tc := range tests {
		if got := ValidAppName(tc.name); got != tc.ok {
			t.Errorf("ValidAppName(%q) = %v, want %v", tc.name, got, tc.ok)
		}
	}
	if UnitNum("db1/12") != 12 || AppOfUnit("db1/12") != "db1" {
		t.Errorf("unit name helpers")
	}
}

func charmDir(t *testing.T) string {
	return filepath.Join("..", "..", "..", "tests", "testdata", "charms", "bashcharm")
}

func TestStoreModelsAppsRelations(t *testing.T) {
	home := t.TempDir()
	s, err := Open(home)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(filepath.Join(home, "state.db"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state.db mode %v %v", fi.Mode(), err)
	}
	ch, err := s.Charm(charmDir(t))
	if err != nil {
		t.Fatal(err)
	}
	var model string
	err = s.Update(func(tx *Tx) error {
		m, err := tx.AddModel("rome")
		if err != nil {
			return err
		}
		model = m.UUID
		if _, err := tx.AddModel("rome"); err == nil {
			t.Errorf("duplicate model accepted")
		}
		for _, n := range []string{"a", "b"} {
			if _, err := tx.Deploy(ch, DeployArgs{Model: model, Name: n, CharmDir: charmDir(t), NumUnits: 2,
				ConfigKV: map[string]string{"count": "3"}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		a, b, wantErr string
	}{
		{"a", "b", "ambiguous relation"},
		{"a:db", "b:other", "endpoint interfaces do not match"},
		{"a:db", "b:db", "endpoint roles do not match"},
		{"a:nope", "b", `application "a" has no "nope" relation`},
		{"a:db", "c", `application "c" not found`},
		{"a:db", "b:backend", ""},
		{"b:backend", "a:db", "already exists"},
		{"a:limited", "b:lim-user", ""},
		{"b:limited", "a:lim-user", ""},
	}
	for _, tc := range tests {
		err := s.Update(func(tx *Tx) error {
			_, err := s.Integrate(tx, model, tc.a, tc.b)
			return err
		})
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("Integrate(%s, %s) = %v, want %q", tc.a, tc.b, err, tc.wantErr)
		}
	}
	// remove-relation's specs come from API clients: any count but one or two is refused.
	for _, specs := range [][]string{nil, {"a:db", "b:backend", "x"}} {
		err := s.View(func(tx *Tx) error {
			_, err := s.FindRelation(tx, model, specs)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "must involve two applications") {
			t.Errorf("FindRelation(%q) = %v", specs, err)
		}
	}
	// Config is typed by config.yaml; bad values are refused and change nothing.
	err = s.Update(func(tx *Tx) error {
		a, err := tx.App(model, "a")
		if err != nil {
			return err
		}
		if fmt.Sprint(a.Config["count"]) != "3" {
			t.Errorf("count = %#v", a.Config["count"])
		}
		return tx.SetConfig(ch, a, map[string]string{"count": "x"}, nil, nil)
	})
	if err == nil || !strings.Contains(err.Error(), `expected int`) {
		t.Errorf("bad config accepted: %v", err)
	}
	// Leadership: one leader per app, moved off a unit whose pod is down past the lease.
	now := time.Now()
	_ = s.Update(func(tx *Tx) error { tx.Maintain(now, time.Minute); return nil })
	_ = s.Update(func(tx *Tx) error {
		a, _ := tx.App(model, "a")
		if a.Leader != "a/0" {
			t.Errorf("leader %q, want a/0", a.Leader)
		}
		u, _ := tx.Unit(model, "a/0")
		u.PodDown = now.Add(-2 * time.Minute)
		tx.PutUnit(u)
		return nil
	})
	_ = s.Update(func(tx *Tx) error { tx.Maintain(now, time.Minute); return nil })
	_ = s.View(func(tx *Tx) error {
		a, _ := tx.App(model, "a")
		if a.Leader != "a/1" {
			t.Errorf("leader %q after pod loss, want a/1", a.Leader)
		}
		addrs := map[string]bool{}
		for _, u := range tx.AllUnits() {
			ip := net.ParseIP(u.Addr)
			if addrs[u.Addr] || ip == nil || !ip.IsLoopback() || strings.HasPrefix(u.Addr, "127.0.0.") {
				t.Errorf("address %q not unique loopback", u.Addr)
			}
			addrs[u.Addr] = true
		}
		return nil
	})
}

func TestEffectiveConfigTypes(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ch, err := s.Charm(charmDir(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := EffectiveConfig(ch, &App{Config: map[string]any{"count": float64(7)}})
	if cfg["count"] != int64(7) || cfg["greeting"] != "hello" || cfg["log-file"] != "" {
		t.Errorf("effective config %#v", cfg)
	}
}

func TestBoundLoopbackAddrsSeesListeners(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.77:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if !boundLoopbackAddrs()["127.0.0.77"] {
		t.Fatalf("127.0.0.77 has a listener but is not reported as bound")
	}
}

// A panic in an Update function (an API handler's, recovered by net/http) must not leave
// the write transaction open: the single write connection would block every later Update.
func TestUpdateAfterPanicDoesNotBlock(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	func() {
		defer func() { _ = recover() }()
		_ = s.Update(func(t *Tx) error {
			t.NextID()
			panic("boom")
		})
	}()
	done := make(chan error, 1)
	go func() { done <- s.Update(func(t *Tx) error { t.NextID(); return nil }) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Update after a panic: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Update after a panic still blocked after 30s")
	}
}

func TestSetModelConfigValidates(t *testing.T) {
	tests := []struct {
		kv      map[string]string
		wantErr string
	}{
		{kv: map[string]string{"update-status-hook-interval": "5m"}},
		{kv: map[string]string{"update-status-hook-interval": "1s"}},
		{kv: map[string]string{"update-status-hook-interval": "60m"}},
		{kv: map[string]string{"update-status-hook-interval": "999ms"}, wantErr: "update-status-hook-interval: 999ms is out of range: must be between 1s and 60m"},
		{kv: map[string]string{"update-status-hook-interval": "61m"}, wantErr: "out of range"},
		{kv: map[string]string{"update-status-hook-interval": "-5m"}, wantErr: "out of range"},
		{kv: map[string]string{"update-status-hook-interval": "often"}, wantErr: `invalid duration "often"`},
		{kv: map[string]string{"automatically-retry-hooks": "maybe"}, wantErr: "expected boolean"},
		// nothing is set when one key is invalid
		{kv: map[string]string{"automatically-retry-hooks": "false", "update-status-hook-interval": "1ms"}, wantErr: "out of range"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.kv), func(t *testing.T) {
			m := &Model{UUID: "u", Config: map[string]string{"update-status-hook-interval": DefaultUpdateStatusInterval, "automatically-retry-hooks": "true"}}
			s, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			err = s.Update(func(tx *Tx) error { return tx.SetModelConfig(m, tc.kv) })
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("SetModelConfig: %v", err)
				}
				for k, v := range tc.kv {
					if m.Config[k] != v {
						t.Errorf("config %s = %q, want %q", k, m.Config[k], v)
					}
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("SetModelConfig error %v, want %q", err, tc.wantErr)
			}
			if m.Config["automatically-retry-hooks"] != "true" || m.Config["update-status-hook-interval"] != DefaultUpdateStatusInterval {
				t.Errorf("config changed by a refused set: %v", m.Config)
			}
		})
	}
}
