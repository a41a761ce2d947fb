package controller

import (
	"github.com/jujulet/postgresql-k8s/internal/controller/api"
	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
)

// handleIntegrate relates two endpoints.
func handleIntegrate(c *call, p api.IntegrateParams) (api.None, error) {
	return api.None{}, c.update(func(t *st.Tx, m *st.Model) error {
		_, err := c.d.store.Integrate(t, m.UUID, p.Endpoints[0], p.Endpoints[1])
		return err
	})
}

// handleRemoveRelation marks the relation between the endpoints dying.
func handleRemoveRelation(c *call, p api.RemoveRelationParams) (api.None, error) {
	return api.None{}, c.update(func(t *st.Tx, m *st.Model) error {
		r, err := c.d.store.FindRelation(t, m.UUID, p.Endpoints)
		if err != nil {
			return err
		}
		t.SetRelationDying(r)
		return nil
	})
}
