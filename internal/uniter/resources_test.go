package uniter

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
	"github.com/jujulet/postgresql-k8s/internal/hooktools"
)

// resourceUnit opens a store holding unit a/0 of a charm with a file and an image
// resource, deployed with the given --resource values, and returns a hook context of it.
func resourceUnit(t *testing.T, resources map[string]string) *hookCtx {
	t.Helper()
	charmDir := t.TempDir()
	meta := `name: a
summary: a
description: a
resources:
  data:
    type: file
    filename: data.bin
  image:
    type: oci-image
  unused:
    type: file
    filename: unused.txt
`
	if err := os.WriteFile(filepath.Join(charmDir, "metadata.yaml"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := st.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	err = s.Update(func(tx *st.Tx) error {
		tx.PutApp(&st.App{Model: "m", Name: "a", CharmDir: charmDir, Resources: resources})
		tx.PutUnit(&st.Unit{Model: "m", App: "a", Name: "a/0", Life: "alive"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	u := New(Config{Store: s, Model: "m", Unit: "a/0"})
	u.dir = t.TempDir()
	return &hookCtx{u: u}
}

func TestResourcePath(t *testing.T) {
	src := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(src, []byte("v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	hc := resourceUnit(t, map[string]string{"data": src, "image": "ghcr.io/x/pg:14"})

	path, err := hc.ResourcePath("data")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(hc.u.dir, "resources", "data", "data.bin"); path != want {
		t.Errorf("path = %q, want %q", path, want)
	}
	// Each call refreshes the unit's copy from the deployed file, as Juju re-syncs.
	if err := os.WriteFile(src, []byte("v2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := hc.ResourcePath("data"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "v2" {
		t.Errorf("unit copy = %q, %v; want v2", b, err)
	}

	path, err = hc.ResourcePath("image")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "registrypath: ghcr.io/x/pg:14\n" {
		t.Errorf("image resource = %q, %v", b, err)
	}

	for _, name := range []string{"unused", "undeclared"} {
		if _, err := hc.ResourcePath(name); !errors.Is(err, hooktools.ErrResourceNotFound) {
			t.Errorf("ResourcePath(%q) = %v, want ErrResourceNotFound", name, err)
		}
	}
}

func TestUnitAddresses(t *testing.T) {
	hc := resourceUnit(t, nil)
	if _, err := hc.PrivateAddress(); err == nil || err.Error() != "private address not found" {
		t.Errorf("no address yet: %v", err)
	}
	err := hc.u.store.Update(func(tx *st.Tx) error {
		u, err := tx.Unit("m", "a/0")
		if err != nil {
			return err
		}
		u.Addr = "127.0.0.7"
		tx.PutUnit(u)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, get := range []func() (string, error){hc.PrivateAddress, hc.PublicAddress} {
		if a, err := get(); err != nil || a != "127.0.0.7" {
			t.Errorf("address = %q, %v", a, err)
		}
	}
}
