package controller

import (
	"fmt"
	"sort"

	"github.com/jujulet/postgresql-k8s/internal/controller/storage"

	"github.com/jujulet/postgresql-k8s/internal/controller/api"
	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
)

func modelDoc(m *st.Model) api.Model {
	return api.Model{Name: m.Name, UUID: m.UUID, Life: string(m.Life), Config: m.Config}
}

// handleAddModel creates a model and makes it current.
func handleAddModel(c *call, p api.AddModelParams) (api.Model, error) {
	var out api.Model
	err := c.d.store.Update(func(t *st.Tx) error {
		m, err := t.AddModel(p.Name)
		if err != nil {
			return err
		}
		out = modelDoc(m)
		return nil
	})
	return out, err
}

// handleModels lists every model, dying ones included, by name.
func handleModels(c *call, _ api.None) (api.Models, error) {
	var out api.Models
	err := c.d.store.View(func(t *st.Tx) error {
		for _, m := range t.Models() {
			out.Models = append(out.Models, modelDoc(m))
		}
		out.Current = t.CurrentModel()
		return nil
	})
	sort.Slice(out.Models, func(i, j int) bool { return out.Models[i].Name < out.Models[j].Name })
	return out, err
}

// handleSwitch makes an alive model current.
func handleSwitch(c *call, p api.SwitchParams) (api.CurrentModel, error) {
	var out api.CurrentModel
	err := c.d.store.Update(func(t *st.Tx) error {
		m, err := modelOf(t, p.Name)
		if err != nil {
			return err
		}
		t.SetCurrentModel(m.Name)
		out.Name = m.Name
		return nil
	})
	return out, err
}

// handleCurrentModel names the current model ("" if none).
func handleCurrentModel(c *call, _ api.None) (api.CurrentModel, error) {
	var out api.CurrentModel
	err := c.d.store.View(func(t *st.Tx) error {
		out.Name = t.CurrentModel()
		return nil
	})
	return out, err
}

// handleDestroyModel marks a model dying; its applications go, then the model. As in Juju,
// a model with storage (its units', or detached storage of units already removed) is
// only destroyed when told whether to destroy or release that storage.
func handleDestroyModel(c *call, p api.DestroyModelParams) (api.None, error) {
	var name, uuid string
	mode := storage.Destroy
	if p.ReleaseStorage {
		mode = storage.Release
	}
	err := c.d.store.Update(func(t *st.Tx) error {
		m, err := modelOf(t, p.Name)
		if err != nil {
			return err
		}
		name, uuid = m.Name, m.UUID
		if !p.DestroyStorage && !p.ReleaseStorage {
			n := len(storage.Kept(storage.DetachedDir(c.d.cfg.Home, m.Name)))
			for _, u := range t.Units(m.UUID, "") {
				n += len(c.d.unitStorage(t, u))
			}
			if n > 0 {
				return persistentStorageError("admin/"+m.Name, n)
			}
		}
		t.DestroyModel(m, mode)
		return nil
	})
	if err != nil {
		return api.None{}, err
	}
	// Detached storage belongs to no unit any more: it goes now.
	if mode == storage.Release {
		kept, err := storage.ReleaseDetached(c.d.cfg.Home, name)
		for _, p := range kept {
			c.d.store.AppendLog(uuid, "model", "INFO", "storage released, data kept at "+p)
		}
		return api.None{}, err
	}
	return api.None{}, storage.DestroyDetached(c.d.cfg.Home, name)
}

// persistentStorageError is Juju's refusal to destroy a model with storage unless told
// what to do with it (cmd/juju/model/destroy.go); Kubernetes storage is filesystems.
func persistentStorageError(model string, filesystems int) error {
	//lint:ignore ST1005 Juju's text, blank lines included
	return fmt.Errorf(`cannot destroy model %q

The model has persistent storage remaining:
    %d filesystem(s)

To destroy the storage, run the destroy-model
command again with the "--destroy-storage" option.

To release the storage from Juju's management
without destroying it, use the "--release-storage"
option instead. The storage can then be imported
into another Juju model.

`, model, filesystems)
}

// handleModelConfig sets the given keys (if any) and returns the model's config.
func handleModelConfig(c *call, p api.ModelConfigParams) (api.ModelConfig, error) {
	var out api.ModelConfig
	fn := func(t *st.Tx, m *st.Model) error {
		if len(p.Set) > 0 {
			if err := t.SetModelConfig(m, p.Set); err != nil {
				return err
			}
		}
		out = m.Config
		return nil
	}
	if len(p.Set) > 0 {
		return out, c.update(fn)
	}
	return out, c.view(fn)
}
