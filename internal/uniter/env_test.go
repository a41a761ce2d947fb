package uniter

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
)

// envUnit is unit a/0 of an application whose charm has storage "data" mounted in its
// workload container "w".
func envUnit(t testing.TB, environ map[string]string) *Uniter {
	t.Helper()
	dir := t.TempDir()
	ch := filepath.Join(dir, "charm")
	if err := os.MkdirAll(ch, 0o755); err != nil {
		t.Fatal(err)
	}
	meta := "name: a\nsummary: s\ndescription: d\ncontainers:\n  w:\n    resource: img\n    mounts:\n      - storage: data\n        location: /var/lib/data\n" +
		"resources:\n  img:\n    type: oci-image\nstorage:\n  data:\n    type: filesystem\n"
	if err := os.WriteFile(filepath.Join(ch, "metadata.yaml"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := st.Open(filepath.Join(dir, "home"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	err = s.Update(func(tx *st.Tx) error {
		tx.PutApp(&st.App{Model: "m", Name: "a", CharmDir: ch, Life: st.Alive, Leader: "a/0"})
		tx.PutUnit(&st.Unit{Model: "m", App: "a", Name: "a/0", Life: st.Alive})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	u := New(Config{Store: s, Model: "m", Unit: "a/0", Home: dir, LookupEnv: func(k string) (string, bool) {
		v, ok := environ[k]
		return v, ok
	}})
	u.dir = UnitDir(dir, 0)
	return u
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// TestHookEnv checks the variables Juju's HookVars sets in every context, and those it
// sets only in some hooks.
func TestHookEnv(t *testing.T) {
	u := envUnit(t, map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443", "HOME": "/root"})
	always := map[string]string{
		"JUJU_MACHINE_ID":          "",
		"CLOUD_API_VERSION":        "",
		"TERM":                     "tmux-256color",
		"DEBIAN_FRONTEND":          "noninteractive",
		"APT_LISTCHANGES_FRONTEND": "none",
		"LANG":                     "C.UTF-8",
		"KUBERNETES_SERVICE_HOST":  "10.0.0.1",
		"KUBERNETES_SERVICE_PORT":  "443",
	}
	only := []string{"JUJU_STORAGE_ID", "JUJU_STORAGE_LOCATION", "JUJU_STORAGE_KIND", "JUJU_SECRET_ID", "JUJU_SECRET_LABEL",
		"JUJU_SECRET_REVISION", "JUJU_RELATION", "JUJU_REMOTE_UNIT", "JUJU_WORKLOAD_NAME", "JUJU_NOTICE_ID", "JUJU_ACTION_NAME"}
	loc := filepath.Join(u.podDir(), "w", "rootfs") + "/var/lib/data"
	const uri = "secret://m/d0gtnle7fsgd7i8mc3g0"
	tests := []struct {
		name   string
		hook   *st.Hook
		action *st.Action
		want   map[string]string // of the variables in only: those set
	}{
		{name: "install", hook: &st.Hook{Kind: "install", Name: "install"}, want: map[string]string{}},
		{name: "storage-attached", hook: &st.Hook{Kind: "storage-attached", Name: "data-storage-attached", Storage: "data/0"},
			want: map[string]string{"JUJU_STORAGE_ID": "data/0", "JUJU_STORAGE_LOCATION": loc, "JUJU_STORAGE_KIND": "filesystem"}},
		{name: "storage-detaching", hook: &st.Hook{Kind: "storage-detaching", Name: "data-storage-detaching", Storage: "data/0"},
			want: map[string]string{"JUJU_STORAGE_ID": "data/0", "JUJU_STORAGE_LOCATION": loc, "JUJU_STORAGE_KIND": "filesystem"}},
		{name: "secret-changed has no revision", hook: &st.Hook{Kind: "secret-changed", Name: "secret-changed", SecretURI: uri, SecretLbl: "l", SecretRev: 3},
			want: map[string]string{"JUJU_SECRET_ID": uri, "JUJU_SECRET_LABEL": "l"}},
		{name: "secret-rotate has no revision", hook: &st.Hook{Kind: "secret-rotate", Name: "secret-rotate", SecretURI: uri},
			want: map[string]string{"JUJU_SECRET_ID": uri, "JUJU_SECRET_LABEL": ""}},
		{name: "secret-expired", hook: &st.Hook{Kind: "secret-expired", Name: "secret-expired", SecretURI: uri, SecretLbl: "l", SecretRev: 2},
			want: map[string]string{"JUJU_SECRET_ID": uri, "JUJU_SECRET_LABEL": "l", "JUJU_SECRET_REVISION": "2"}},
		{name: "secret-remove", hook: &st.Hook{Kind: "secret-remove", Name: "secret-remove", SecretURI: uri, SecretRev: 1},
			want: map[string]string{"JUJU_SECRET_ID": uri, "JUJU_SECRET_LABEL": "", "JUJU_SECRET_REVISION": "1"}},
		{name: "relation-changed", hook: &st.Hook{Kind: "relation-changed", Name: "db-relation-changed", RelID: 2, Endpoint: "db", RemoteUnit: "b/0", RemoteApp: "b"},
			want: map[string]string{"JUJU_RELATION": "db", "JUJU_REMOTE_UNIT": "b/0"}},
		{name: "pebble-custom-notice", hook: &st.Hook{Kind: "pebble-custom-notice", Name: "w-pebble-custom-notice", Container: "w", NoticeID: "1", NoticeType: "custom", NoticeKey: "k"},
			want: map[string]string{"JUJU_WORKLOAD_NAME": "w", "JUJU_NOTICE_ID": "1"}},
		{name: "action", action: &st.Action{ID: 4, Name: "backup"}, want: map[string]string{"JUJU_ACTION_NAME": "backup"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := u.env(u.newContext(tc.hook, tc.action))
			got := envMap(env)
			if len(got) != len(env) {
				t.Errorf("a variable is set twice: %q", env)
			}
			for k, v := range always {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("%s = %q (set %v), want %q", k, g, ok, v)
				}
			}
			if _, ok := got["HOME"]; ok {
				t.Errorf("HOME passed through from the agent")
			}
			for _, k := range only {
				g, ok := got[k]
				w, want := tc.want[k]
				if ok != want || g != w {
					t.Errorf("%s = %q (set %v), want %q (set %v)", k, g, ok, w, want)
				}
			}
		})
	}
	if keys := slices.Sorted(func(yield func(string) bool) {
		for k := range envMap(u.env(u.newContext(&st.Hook{Kind: "install", Name: "install"}, nil))) {
			if strings.HasPrefix(k, "KUBERNETES_") && !yield(k) {
				return
			}
		}
	}); !slices.Equal(keys, []string{"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"}) {
		t.Errorf("Kubernetes variables %q", keys)
	}
}
