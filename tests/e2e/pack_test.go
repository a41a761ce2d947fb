package e2e

import (
	"archive/zip"
	"debug/elf"
	"io"
	"os"
	"path/filepath"
	"testing"

	jcharm "github.com/juju/charm/v12"

	"github.com/jujulet/postgresql-k8s/internal/charmpack"
	"github.com/jujulet/postgresql-k8s/internal/postgres/pgtest"
)

// TestPackedCharm packs the charm `make build` produced, as `make charm` does, and checks what
// Juju needs of it: juju/charm reads it (metadata, actions, config, manifest bases), dispatch
// is executable, and dispatch is a static binary (no cgo, no dynamic loader) so that it runs
// in any charm container.
func TestPackedCharm(t *testing.T) {
	bin := os.Getenv("JUJULET_BIN")
	if bin == "" {
		pgtest.Unavailable(t, "JUJULET_BIN not set: run through `make test`")
	}
	dir := filepath.Join(bin, "..", "build", "charms", "postgresql-k8s")
	path, err := charmpack.Pack(dir, t.TempDir(), charmpack.Options{})
	must(t, err)

	archive, err := jcharm.ReadCharmArchive(path)
	must(t, err)
	if archive.Meta().Name != "postgresql-k8s" {
		t.Errorf("name %q", archive.Meta().Name)
	}
	for _, a := range []string{"create-replication", "promote-to-primary", "get-primary", "get-password", "set-password"} {
		if _, ok := archive.Actions().ActionSpecs[a]; !ok {
			t.Errorf("action %s missing", a)
		}
	}
	if _, ok := archive.Config().Options["profile"]; !ok {
		t.Errorf("config option profile missing")
	}
	if archive.Manifest() == nil || len(archive.Manifest().Bases) != 2 {
		t.Fatalf("manifest bases: %+v", archive.Manifest())
	}

	zr, err := zip.OpenReader(path)
	must(t, err)
	defer zr.Close()
	var dispatch *zip.File
	for _, f := range zr.File {
		if f.Name == "dispatch" {
			dispatch = f
		}
	}
	if dispatch == nil {
		t.Fatal("no dispatch in the archive")
	}
	if dispatch.Mode()&0o111 == 0 {
		t.Errorf("dispatch mode %v is not executable", dispatch.Mode())
	}
	rc, err := dispatch.Open()
	must(t, err)
	tmp := filepath.Join(t.TempDir(), "dispatch")
	out, err := os.Create(tmp)
	must(t, err)
	_, err = io.Copy(out, rc)
	rc.Close()
	out.Close()
	must(t, err)
	ef, err := elf.Open(tmp)
	must(t, err)
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Fatalf("dispatch is dynamically linked (%v): build it with CGO_ENABLED=0", p.Type)
		}
	}
}
