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

// handleOffers lists the model's offers (or the one named) with their connections: the
// alive relations from other models to each offer's endpoint.
func handleOffers(c *call, p api.OffersParams) ([]api.OfferDetails, error) {
	out := []api.OfferDetails{}
	err := c.view(func(t *st.Tx, m *st.Model) error {
		rels := t.Relations()
		for _, o := range t.Offers(m.UUID) {
			if p.Name != "" && o.Name != p.Name {
				continue
			}
			a, err := t.App(m.UUID, o.App)
			if err != nil {
				continue
			}
			eps, _ := c.d.store.AppEndpoints(a)
			e := eps[o.Endpoint]
			od := api.OfferDetails{Name: o.Name, Application: o.App, Charm: localCharmURL(a),
				URL:       "admin/" + m.Name + "." + o.Name,
				Endpoints: map[string]api.Endpoint{o.Endpoint: {Interface: e.Interface, Role: e.Role}}}
			for _, r := range rels {
				if !r.Cross || r.Life != st.Alive || offerConnections(m, o, r) == 0 {
					continue
				}
				for _, ep := range r.EPs {
					if ep.Model != m.UUID {
						od.Connections = append(od.Connections, api.OfferConnection{SourceModelUUID: ep.Model,
							Username: "admin", RelationID: r.ID, Endpoint: o.Endpoint, Status: "joined"})
					}
				}
			}
			out = append(out, od)
		}
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
