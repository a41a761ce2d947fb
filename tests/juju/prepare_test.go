package juju

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jujulet/postgresql-k8s/internal/charmpack"
	"github.com/jujulet/postgresql-k8s/internal/postgres/pgtest"
)

// writeCharmDir writes a minimal sidecar charm directory: metadata (with the given
// resources block), an optional manifest and a dispatch script.
func writeCharmDir(t *testing.T, resources, manifest string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pg")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	md := "name: pg\nsummary: s\ndescription: d\ncontainers:\n  postgresql:\n    resource: postgresql-image\n" + resources
	files := map[string]string{"metadata.yaml": md, "dispatch": "#!/bin/sh\n"}
	if manifest != "" {
		files["manifest.yaml"] = manifest
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const testManifest = "analysis:\n  attributes: []\nbases:\n- architectures: [amd64]\n  channel: '22.04'\n  name: ubuntu\n"

func TestPrepareLocalCharm(t *testing.T) {
	image := "resources:\n  postgresql-image:\n    type: oci-image\n    upstream-source: ghcr.io/canonical/charmed-postgresql:14-22.04\n"
	tests := []struct {
		name      string
		path      string
		base      string
		wantBase  string
		errSubstr string
	}{
		{name: "charm directory, base from manifest", path: writeCharmDir(t, image, testManifest), wantBase: "ubuntu@22.04/stable"},
		{name: "base flag wins", path: writeCharmDir(t, image, testManifest), base: "ubuntu@24.04", wantBase: "ubuntu@24.04/stable"},
		{name: "image without upstream-source", path: writeCharmDir(t, "resources:\n  postgresql-image:\n    type: oci-image\n", testManifest), errSubstr: "no upstream-source"},
		{name: "file resource", path: writeCharmDir(t, image+"  extra:\n    type: file\n    filename: x.tgz\n", testManifest), errSubstr: "only oci-image"},
		{name: "no such path", path: filepath.Join(t.TempDir(), "postgresql-k8s_x.charm"), errSubstr: "make charm"},
		{name: "a charm name, not a path", path: "postgresql-k8s", errSubstr: "make charm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lc, err := PrepareLocalCharm(tt.path, tt.base, "amd64")
			if tt.errSubstr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSubstr) {
					t.Fatalf("err = %v, want %q", err, tt.errSubstr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if lc.URL.String() != "local:pg" && !strings.HasPrefix(lc.URL.String(), "local:pg-") {
				t.Errorf("url %s", lc.URL)
			}
			if lc.Origin.Base.String() != tt.wantBase || lc.Images["postgresql-image"] == "" {
				t.Errorf("origin %+v images %v", lc.Origin, lc.Images)
			}
		})
	}
}

// TestPackedCharmDeployable reads the .charm of `make charm` with Juju's own local-charm
// reader, as Deploy does before uploading it. Without a packed charm it packs the charm
// directory of `make build` ($JUJULET_BIN/../build, as `make test` passes it); with neither
// it is skipped, or fails under `make test`.
func TestPackedCharmDeployable(t *testing.T) {
	path := packedCharm()
	if path == "" {
		bin := os.Getenv("JUJULET_BIN")
		if bin == "" {
			pgtest.Unavailable(t, "no packed charm: run `make charm`, set "+EnvCharm+" or JUJULET_BIN")
		}
		var err error
		path, err = charmpack.Pack(filepath.Join(bin, "..", "build", "charms", "postgresql-k8s"), t.TempDir(), charmpack.Options{})
		if err != nil {
			t.Fatalf("pack the built charm: %v", err)
		}
	}
	for _, base := range []string{"", "ubuntu@22.04", "ubuntu@24.04"} {
		lc, err := PrepareLocalCharm(path, base, "amd64")
		if err != nil {
			t.Fatalf("base %q: %v", base, err)
		}
		if lc.Charm.Meta().Name != "postgresql-k8s" || len(lc.Images) != 1 || lc.Origin.Base.OS != "ubuntu" {
			t.Errorf("base %q: %s %v %+v", base, lc.Charm.Meta().Name, lc.Images, lc.Origin)
		}
		if lc.Charm.Actions() == nil || lc.Charm.Actions().ActionSpecs["create-replication"].Description == "" {
			t.Errorf("create-replication action missing from the packed charm")
		}
		t.Logf("base %q: %s, %s, image %v", base, lc.URL, lc.Origin.Base, lc.Images)
	}
}

// packedCharm is $POSTGRESQL_K8S_CHARM or a ../../postgresql-k8s_*.charm, or "".
func packedCharm() string {
	if p := os.Getenv(EnvCharm); p != "" {
		return p
	}
	matches, _ := filepath.Glob("../../postgresql-k8s_*.charm")
	if len(matches) == 0 {
		return ""
	}
	return matches[0]
}
