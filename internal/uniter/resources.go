package uniter

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/juju/charm/v12/resource"
	"gopkg.in/yaml.v3"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
	"github.com/jujulet/postgresql-k8s/internal/hooktools"
)

var _ hooktools.ResourceContext = (*hookCtx)(nil)

// ResourcePath serves resource-get: as Juju does, it refreshes the unit's own copy of the
// resource under <unit>/resources/<name>/ from what deploy --resource gave, and returns its
// path. A file resource is the deployed file (named as the charm's metadata says); an
// oci-image resource is the YAML document Juju hands out for one (registrypath).
func (c *hookCtx) ResourcePath(name string) (string, error) {
	var value string
	var meta resource.Meta
	var declared bool
	err := c.view(func(_ *st.Tx, _ *st.Unit, app *st.App) error {
		ch, err := c.u.store.Charm(app.CharmDir)
		if err != nil {
			return err
		}
		meta, declared = ch.Meta().Resources[name]
		value = app.Resources[name]
		return nil
	})
	if err != nil {
		return "", err
	}
	if !declared || value == "" {
		return "", fmt.Errorf("resource %q: %w", name, hooktools.ErrResourceNotFound)
	}
	dir := filepath.Join(c.u.dir, "resources", name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("resource %q: %w", name, err)
	}
	switch meta.Type {
	case resource.TypeContainerImage:
		doc, err := yaml.Marshal(map[string]string{"registrypath": value})
		if err != nil {
			return "", err
		}
		path := filepath.Join(dir, "content.yaml")
		return path, writeFileAtomic(path, func(w io.Writer) error { _, err := w.Write(doc); return err })
	default:
		filename := meta.Path
		if filename == "" {
			filename = name
		}
		path := filepath.Join(dir, filepath.Base(filename))
		src, err := os.Open(value)
		if err != nil {
			return "", fmt.Errorf("resource %q: %w", name, err)
		}
		defer func() { _ = src.Close() }()
		return path, writeFileAtomic(path, func(w io.Writer) error { _, err := io.Copy(w, src); return err })
	}
}

// writeFileAtomic writes a file beside path and renames it over path, so that a charm
// never reads a half-written resource.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".resource")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(f.Name()) }()
	if err := write(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
