package controller

import (
	"fmt"
	"path/filepath"
	"sort"

	"github.com/jujulet/postgresql-k8s/internal/controller/api"
	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
	"github.com/jujulet/postgresql-k8s/internal/pod"
	"github.com/jujulet/postgresql-k8s/internal/uniter"
)

// handleRemoveUnit marks units dying; nothing is removed unless every unit exists.
func handleRemoveUnit(c *call, p api.UnitsParams) ([]api.Removal, error) {
	var out []api.Removal
	err := c.update(func(t *st.Tx, m *st.Model) error {
		for _, name := range p.Units {
			u, err := t.Unit(m.UUID, name)
			if err != nil {
				return err
			}
			t.RemoveUnit(u)
			out = append(out, api.Removal{DetachedStorage: c.d.unitStorage(t, u)})
		}
		return nil
	})
	return out, err
}

// handleShowUnit is `juju show-unit` for each named unit.
func handleShowUnit(c *call, p api.UnitsParams) (api.ShowUnit, error) {
	out := api.ShowUnit{}
	err := c.view(func(t *st.Tx, m *st.Model) error {
		for _, name := range p.Units {
			u, err := t.Unit(m.UUID, name)
			if err != nil {
				return err
			}
			out[name] = c.d.showUnit(t, u)
		}
		return nil
	})
	return out, err
}

// handleResolve marks a unit's failed hook to be retried (or, with NoRetry, skipped).
func handleResolve(c *call, p api.ResolveParams) (api.None, error) {
	return api.None{}, c.update(func(t *st.Tx, m *st.Model) error {
		u, err := t.Unit(m.UUID, p.Unit)
		if err != nil {
			return err
		}
		if u.Error == nil {
			return fmt.Errorf("unit %q is not in an error state", u.Name)
		}
		u.Resolve = "retry"
		if p.NoRetry {
			u.Resolve = "no-retry"
		}
		t.PutUnit(u)
		return nil
	})
}

// handlePod kills a unit's pod (the unit agent recreates it), stops it (it stays down)
// or lets a stopped one start again.
func handlePod(c *call, p api.PodParams) (api.None, error) {
	var dir string
	err := c.update(func(t *st.Tx, m *st.Model) error {
		u, err := t.Unit(m.UUID, p.Unit)
		if err != nil {
			return err
		}
		dir = containersDir(c.d.cfg.Home, u)
		switch p.Op {
		case api.PodStop:
			u.PodStopped = true
		case api.PodStart:
			u.PodStopped = false
		}
		t.PutUnit(u)
		return nil
	})
	if err != nil {
		return api.None{}, err
	}
	if p.Op != api.PodStart {
		pod.Kill(dir)
	}
	return api.None{}, nil
}

// handleUnitInfo locates a unit's pod: its containers' directory and their names.
func handleUnitInfo(c *call, p api.UnitParams) (api.UnitInfo, error) {
	var out api.UnitInfo
	err := c.view(func(t *st.Tx, m *st.Model) error {
		u, err := t.Unit(m.UUID, p.Unit)
		if err != nil {
			return err
		}
		a, err := t.App(m.UUID, u.App)
		if err != nil {
			return err
		}
		ch, err := c.d.store.Charm(a.CharmDir)
		if err != nil {
			return fmt.Errorf("reading charm of %q: %w", a.Name, err)
		}
		out = api.UnitInfo{ContainersDir: containersDir(c.d.cfg.Home, u)}
		for name := range ch.Meta().Containers {
			out.Containers = append(out.Containers, name)
		}
		sort.Strings(out.Containers)
		return nil
	})
	return out, err
}

// containersDir is where a unit's pod keeps its containers.
func containersDir(home string, u *st.Unit) string {
	return filepath.Join(uniter.UnitDir(home, u.ID), "c")
}
