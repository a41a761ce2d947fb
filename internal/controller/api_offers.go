package controller

import (
	"github.com/jujulet/postgresql-k8s/internal/controller/api"
	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
)

// handleOffer offers an application's endpoint to other models.
func handleOffer(c *call, p api.OfferParams) (api.Offered, error) {
	var out api.Offered
	err := c.update(func(t *st.Tx, m *st.Model) error {
		o, err := c.d.store.AddOffer(t, m.UUID, p.Endpoint, p.Name)
		if err != nil {
			return err
		}
		out = api.Offered{Application: o.App, Endpoint: o.Endpoint, URL: "admin/" + m.Name + "." + o.Name}
		return nil
	})
	return out, err
}

// handleConsume adds a SAAS application standing for another model's offer.
func handleConsume(c *call, p api.ConsumeParams) (api.Consumed, error) {
	var out api.Consumed
	err := c.update(func(t *st.Tx, m *st.Model) error {
		a, err := c.d.store.Consume(t, m.UUID, p.URL, p.Alias)
		if err != nil {
			return err
		}
		out = api.Consumed{Application: a.Name, URL: a.OfferURL}
		return nil
	})
	return out, err
}
