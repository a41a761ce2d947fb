package charm

import (
	"maps"
	"strings"
	"testing"
)

// A single cluster (no extension installed) refuses the cross-cluster actions with a message
// that says what is missing, changes nothing, and keeps its in-cluster statuses.
func TestSingleClusterExtensionDefaults(t *testing.T) {
	tests := []struct {
		name    string
		action  string
		params  map[string]any
		wantMsg string
	}{
		{"create-replication", "create-replication", map[string]any{}, "integrate replication-offer with replication"},
		{"promote cluster", "promote-to-primary", map[string]any{"scope": "cluster"}, "scope=cluster needs cross-regional replication"},
		{"promote cluster force", "promote-to-primary", map[string]any{"scope": "cluster", "force": true}, "scope=cluster needs cross-regional replication"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := bootstrap(t, 1)
			app := maps.Clone(w.app)
			u, err := w.run("pg/0", tt.action, tt.params, nil)
			if err != nil {
				t.Fatalf("%s: %v", tt.action, err)
			}
			if !u.f.IsFailed || !strings.Contains(u.f.Failed, tt.wantMsg) {
				t.Errorf("%s failed=%v %q, want a failure with %q", tt.action, u.f.IsFailed, u.f.Failed, tt.wantMsg)
			}
			if !maps.Equal(app, w.app) {
				t.Errorf("peer app data changed: %v -> %v", app, w.app)
			}
			u = w.mustRun("pg/0", "update-status")
			wantStatus(t, u, "active", "Primary")
			if u.f.AppStatus.Status != "active" || u.f.AppStatus.Message != "Primary" {
				t.Errorf("app status %+v", u.f.AppStatus)
			}
		})
	}
}

// A Charm built without New runs as a single cluster.
func TestCharmWithoutExtensionIsSingleCluster(t *testing.T) {
	c := &Charm{}
	if _, ok := c.extension().(noExtension); !ok {
		t.Fatalf("extension of a zero Charm = %T, want noExtension", c.extension())
	}
	EnableAsyncReplication(c)
	if _, ok := c.extension().(*asyncRepl); !ok {
		t.Fatalf("extension after EnableAsyncReplication = %T, want *asyncRepl", c.extension())
	}
}
