package controller

import (
	"sort"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
	"github.com/jujulet/postgresql-k8s/internal/controller/storage"
)

// unitStorage lists the storage ids of a unit: one per storage its charm declares.
func (d *Daemon) unitStorage(t *st.Tx, u *st.Unit) []string {
	a, err := t.App(u.Model, u.App)
	if err != nil || a.SAAS {
		return nil
	}
	ch, err := d.store.Charm(a.CharmDir)
	if err != nil {
		return nil
	}
	var ids []string
	for name := range ch.Meta().Storage {
		ids = append(ids, storage.ID(name, u.Name))
	}
	sort.Strings(ids)
	return ids
}
