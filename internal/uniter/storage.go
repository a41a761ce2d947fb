package uniter

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
	"github.com/jujulet/postgresql-k8s/internal/controller/storage"
	"github.com/jujulet/postgresql-k8s/internal/pod"
)

// keepStorage moves a removed unit's storage out of its pod before the unit's directory is
// deleted: detached storage to the model's detached directory, released storage to its
// released one (see package storage). Storage the removal destroys stays, to go with the
// directory. Each kept storage's new path goes to the model's log.
func (u *Uniter) keepStorage() error {
	mode := storage.Detach
	modelName := u.modelName
	if err := u.store.View(func(t *st.Tx) error {
		if unit, err := t.Unit(u.model, u.name); err == nil {
			mode = unit.OnRemoval
		}
		if m, err := t.Model(u.model); err == nil {
			modelName = m.Name
		}
		return nil
	}); err != nil {
		return err
	}
	if mode == storage.Destroy {
		return nil
	}
	if _, err := os.Stat(u.charmDir()); errors.Is(err, fs.ErrNotExist) {
		// A removal interrupted while deleting the unit's directory: what storage there
		// was has been kept or deleted already.
		return nil
	}
	ch, err := u.store.Charm(u.charmDir())
	if err != nil {
		return fmt.Errorf("reading the charm for its storage: %w", err)
	}
	dir := storage.DetachedDir(u.cfg.Home, modelName)
	what := "detached"
	if mode == storage.Release {
		dir, what = storage.ReleasedDir(u.cfg.Home, modelName), "released"
	}
	containers := make([]string, 0, len(ch.Meta().Containers))
	for c := range ch.Meta().Containers {
		containers = append(containers, c)
	}
	sort.Strings(containers)
	for _, c := range containers {
		for _, m := range ch.Meta().Containers[c].Mounts {
			if m.Storage == "" {
				continue
			}
			kept, err := storage.Keep(pod.Rootfs(u.podDir(), c)+m.Location, dir, u.name, m.Storage)
			if err != nil {
				return err
			}
			if kept != "" {
				u.logf("INFO", "storage %s %s, data kept at %s", storage.ID(m.Storage, u.name), what, kept)
			}
		}
	}
	return nil
}
