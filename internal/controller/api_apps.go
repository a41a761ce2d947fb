package controller

import (
	"fmt"
	"github.com/jujulet/postgresql-k8s/internal/controller/storage"
	"os"
	"path/filepath"

	"github.com/juju/charm/v12"

	"github.com/jujulet/postgresql-k8s/internal/controller/api"
	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
	"github.com/jujulet/postgresql-k8s/internal/uniter"
)

// handleDeploy imports a local charm and deploys it as a new application.
func handleDeploy(c *call, p api.DeployParams) (api.Deployed, error) {
	var out api.Deployed
	dir, discard, err := c.d.importCharm(p.Charm)
	if err != nil {
		return out, err
	}
	committed := false
	defer func() {
		if !committed {
			discard()
		}
	}()
	ch, err := c.d.store.Charm(dir)
	if err != nil {
		return out, fmt.Errorf("reading charm: %w", err)
	}
	if p.Name == "" {
		p.Name = ch.Meta().Name
	}
	if p.NumUnits == 0 {
		p.NumUnits = 1
	}
	if p.Base == "" {
		p.Base = "ubuntu@22.04"
	}
	for name := range p.Resources {
		if _, ok := ch.Meta().Resources[name]; !ok {
			return out, fmt.Errorf("invalid resource %q: not defined by the charm", name)
		}
	}
	if err := c.ctx.Err(); err != nil {
		return out, err
	}
	err = c.update(func(t *st.Tx, m *st.Model) error {
		a, err := t.Deploy(ch, st.DeployArgs{Model: m.UUID, Name: p.Name, CharmDir: dir, Channel: p.Channel,
			Base: p.Base, Trust: p.Trust, NumUnits: p.NumUnits, ConfigKV: p.Config, ConfigYAML: byteSlices(p.ConfigYAML),
			Resources: p.Resources})
		if err != nil {
			return err
		}
		out = api.Deployed{Application: a.Name, Charm: a.CharmName, Revision: a.Revision, Base: a.Base}
		return nil
	})
	if err != nil {
		return api.Deployed{}, err
	}
	committed = true
	return out, nil
}

// handleRefresh switches an application to a new local charm; its units run upgrade-charm.
func handleRefresh(c *call, p api.RefreshParams) (api.Refreshed, error) {
	var out api.Refreshed
	dir, discard, err := c.d.importCharm(p.Charm)
	if err != nil {
		return out, err
	}
	ch, err := c.d.store.Charm(dir)
	if err == nil {
		err = c.ctx.Err()
	}
	if err == nil {
		err = c.update(func(t *st.Tx, m *st.Model) error {
			a, err := t.App(m.UUID, p.App)
			if err != nil {
				return err
			}
			if a.SAAS {
				return fmt.Errorf("cannot refresh remote application %q", p.App)
			}
			if ch.Meta().Name != a.CharmName {
				return fmt.Errorf("cannot refresh %q: charm name %q differs from %q", p.App, ch.Meta().Name, a.CharmName)
			}
			for k := range a.Config {
				if _, ok := ch.Config().Options[k]; !ok {
					delete(a.Config, k)
				}
			}
			a.CharmDir = dir
			a.Revision++
			a.CharmVersion++
			t.PutApp(a)
			out = api.Refreshed{Charm: a.CharmName, Revision: a.Revision}
			return nil
		})
	}
	if err != nil {
		discard()
		return api.Refreshed{}, err
	}
	return out, nil
}

// handleRemoveApplication marks an application (or a SAAS one) dying.
func handleRemoveApplication(c *call, p api.AppParams) (api.Removal, error) {
	var out api.Removal
	err := c.update(func(t *st.Tx, m *st.Model) error {
		a, err := t.App(m.UUID, p.App)
		if err != nil {
			return err
		}
		mode := storage.Detach
		if p.DestroyStorage {
			mode = storage.Destroy
		}
		t.RemoveApp(a, mode)
		for _, u := range t.Units(m.UUID, a.Name) {
			out.Units = append(out.Units, u.Name)
			if ids := c.d.unitStorage(t, u); mode == storage.Destroy {
				out.DestroyedStorage = append(out.DestroyedStorage, ids...)
			} else {
				out.DetachedStorage = append(out.DetachedStorage, ids...)
			}
		}
		return nil
	})
	return out, err
}

// handleConfig applies config changes (if any) and returns the application's settings.
func handleConfig(c *call, p api.ConfigParams) (api.Config, error) {
	var out api.Config
	write := len(p.Set) > 0 || len(p.Reset) > 0 || len(p.Files) > 0
	fn := func(t *st.Tx, m *st.Model) error {
		a, err := t.App(m.UUID, p.App)
		if err != nil {
			return err
		}
		if a.SAAS {
			return fmt.Errorf("cannot configure remote application %q", p.App)
		}
		ch, err := c.d.store.Charm(a.CharmDir)
		if err != nil {
			return fmt.Errorf("reading charm of %q: %w", a.Name, err)
		}
		if write {
			if err := t.SetConfig(ch, a, p.Set, p.Reset, byteSlices(p.Files)); err != nil {
				return err
			}
		}
		out = configView(ch, a)
		return nil
	}
	if write {
		return out, c.update(fn)
	}
	return out, c.view(fn)
}

// configView is an application's settings as `juju config` shows them.
func configView(ch charm.Charm, a *st.App) api.Config {
	settings := map[string]api.ConfigSetting{}
	for name, opt := range ch.Config().Options {
		s := api.ConfigSetting{Type: opt.Type, Description: opt.Description, Source: "unset"}
		if opt.Default != nil {
			s.Default, s.Value, s.Source = opt.Default, opt.Default, "default"
		}
		if v, ok := a.Config[name]; ok && v != nil {
			s.Value, s.Source = v, "user"
		}
		settings[name] = s
	}
	return api.Config{Application: a.Name, Charm: a.CharmName, Settings: settings, Trust: a.Trust}
}

// handleTrust grants (or with Remove revokes) an application's trust.
func handleTrust(c *call, p api.TrustParams) (api.None, error) {
	return api.None{}, c.update(func(t *st.Tx, m *st.Model) error {
		a, err := t.App(m.UUID, p.App)
		if err != nil {
			return err
		}
		t.SetTrust(a, !p.Remove)
		return nil
	})
}

// localApp returns an application of the model that is not a SAAS one.
func localApp(t *st.Tx, m *st.Model, name string) (*st.App, error) {
	a, err := t.App(m.UUID, name)
	if err != nil {
		return nil, err
	}
	if a.SAAS {
		return nil, fmt.Errorf("cannot scale remote application %q", name)
	}
	return a, nil
}

// handleAddUnit adds N units to an application.
func handleAddUnit(c *call, p api.AddUnitParams) (api.None, error) {
	return api.None{}, c.update(func(t *st.Tx, m *st.Model) error {
		a, err := localApp(t, m, p.App)
		if err != nil {
			return err
		}
		_, err = t.AddUnits(a, p.N)
		return err
	})
}

// handleScale adds or removes units until the application has N alive ones.
func handleScale(c *call, p api.ScaleParams) (api.None, error) {
	return api.None{}, c.update(func(t *st.Tx, m *st.Model) error {
		a, err := localApp(t, m, p.App)
		if err != nil {
			return err
		}
		return t.Scale(a, *p.N)
	})
}

func byteSlices(ss []string) [][]byte {
	var out [][]byte
	for _, s := range ss {
		out = append(out, []byte(s))
	}
	return out
}

// importCharm copies a charm directory or expands a .charm into the controller's charm
// store; discard removes it again (on a failed deploy/refresh).
func (d *Daemon) importCharm(src string) (dir string, discard func(), err error) {
	fi, err := os.Stat(src)
	if err != nil {
		return "", nil, fmt.Errorf("charm or bundle not found: %q", src)
	}
	charmsDir := filepath.Join(d.cfg.Home, "charms")
	if err := os.MkdirAll(charmsDir, 0o711); err != nil {
		return "", nil, fmt.Errorf("creating the charm store: %w", err)
	}
	tmp, err := os.MkdirTemp(charmsDir, "c")
	if err != nil {
		return "", nil, fmt.Errorf("creating a charm directory: %w", err)
	}
	_ = os.Chmod(tmp, 0o711)
	discard = func() { _ = os.RemoveAll(tmp) }
	dir = filepath.Join(tmp, "charm")
	if err := unpackCharm(src, fi.IsDir(), dir); err != nil {
		discard()
		return "", nil, err
	}
	return dir, discard, nil
}

// unpackCharm copies a charm directory, or expands a .charm archive, to dir and checks
// the result is a charm.
func unpackCharm(src string, isDir bool, dir string) error {
	if isDir {
		if err := st.ValidateCharmDir(src); err != nil {
			return err
		}
		if err := uniter.CopyTree(src, dir); err != nil {
			return fmt.Errorf("copying charm: %w", err)
		}
		return nil
	}
	arch, err := charm.ReadCharmArchive(src)
	if err != nil {
		return fmt.Errorf("invalid charm archive %q: %w", src, err)
	}
	if err := arch.ExpandTo(dir); err != nil {
		return fmt.Errorf("expanding charm: %w", err)
	}
	return st.ValidateCharmDir(dir)
}
