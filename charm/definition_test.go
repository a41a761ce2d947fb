package charm_test

import (
	"os"
	"path/filepath"
	"testing"

	jcharm "github.com/juju/charm/v12"
)

// TestCharmDefinitionReadable reads metadata.yaml, config.yaml and actions.yaml with the
// same library Juju uses and checks the names other charms and users rely on.
func TestCharmDefinitionReadable(t *testing.T) {
	root := ".."
	open := func(name string) *os.File {
		f, err := os.Open(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	meta, err := jcharm.ReadMeta(open("metadata.yaml"))
	if err != nil {
		t.Fatalf("metadata.yaml: %v", err)
	}
	if meta.Name != "postgresql-k8s" {
		t.Errorf("name = %q", meta.Name)
	}
	c, ok := meta.Containers["postgresql"]
	if !ok || c.Resource != "postgresql-image" || len(c.Mounts) != 1 ||
		c.Mounts[0].Storage != "pgdata" || c.Mounts[0].Location != "/var/lib/postgresql/data" {
		t.Errorf("container postgresql = %+v", c)
	}
	if s := meta.Storage["pgdata"]; s.Type != jcharm.StorageFilesystem || s.Location != "/var/lib/postgresql/data" {
		t.Errorf("storage pgdata = %+v", s)
	}
	if r := meta.Resources["postgresql-image"]; r.Type.String() != "oci-image" {
		t.Errorf("resource = %+v", r)
	}
	rels := []struct {
		name, iface string
		role        jcharm.RelationRole
		limit       int
	}{
		{"database-peers", "postgresql_peers", jcharm.RolePeer, 0},
		{"database", "postgresql_client", jcharm.RoleProvider, 0},
		{"replication-offer", "postgresql_async", jcharm.RoleProvider, 1},
		{"replication", "postgresql_async", jcharm.RoleRequirer, 1},
		{"certificates", "tls-certificates", jcharm.RoleRequirer, 1},
	}
	all := meta.CombinedRelations()
	for _, want := range rels {
		got, ok := all[want.name]
		if !ok || got.Interface != want.iface || got.Role != want.role || got.Limit != want.limit {
			t.Errorf("relation %s = %+v, want %+v", want.name, got, want)
		}
	}
	if meta.Assumes == nil {
		t.Error("assumes missing")
	}

	cfg, err := jcharm.ReadConfig(open("config.yaml"))
	if err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	defaults := cfg.DefaultSettings()
	if defaults["profile"] != "production" {
		t.Errorf("profile default = %v", defaults["profile"])
	}
	if _, ok := cfg.Options["profile_limit_memory"]; !ok {
		t.Error("profile_limit_memory missing")
	}

	actions, err := jcharm.ReadActionsYaml("postgresql-k8s", open("actions.yaml"))
	if err != nil {
		t.Fatalf("actions.yaml: %v", err)
	}
	for _, name := range []string{"create-replication", "promote-to-primary", "get-primary", "get-password", "set-password"} {
		spec, ok := actions.ActionSpecs[name]
		if !ok {
			t.Errorf("action %s missing", name)
			continue
		}
		if spec.Params["additionalProperties"] != false {
			t.Errorf("action %s: additionalProperties = %v", name, spec.Params["additionalProperties"])
		}
	}
	promote := actions.ActionSpecs["promote-to-primary"]
	tests := []struct {
		params  map[string]any
		wantErr bool
	}{
		{map[string]any{"scope": "unit"}, false},
		{map[string]any{"scope": "cluster", "force": true}, false},
		{map[string]any{"scope": "region"}, true},
		{map[string]any{}, true},
		{map[string]any{"scope": "unit", "bogus": 1}, true},
	}
	for _, tt := range tests {
		err := promote.ValidateParams(tt.params)
		if (err != nil) != tt.wantErr {
			t.Errorf("ValidateParams(%v) = %v, wantErr %v", tt.params, err, tt.wantErr)
		}
	}
	getPassword := actions.ActionSpecs["get-password"]
	withDefaults, err := getPassword.InsertDefaults(map[string]any{})
	if err != nil || withDefaults["username"] != "operator" {
		t.Errorf("get-password defaults = %v, %v", withDefaults, err)
	}
}
