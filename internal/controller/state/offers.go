package state

import "fmt"

// Offers lists a model's offers ("" = all).
func (t *Tx) Offers(model string) []*Offer {
	if model == "" {
		return list[Offer](t, kOffer, "")
	}
	return list[Offer](t, kOffer, key(model, ""))
}

// AddOffer offers app:endpoint under name.
func (s *Store) AddOffer(t *Tx, model, spec, name string) (*Offer, error) {
	appName, ep := SplitEndpoint(spec)
	if ep == "" {
		return nil, fmt.Errorf("endpoints must be specified as app:endpoint")
	}
	a, err := t.App(model, appName)
	if err != nil {
		return nil, err
	}
	if a.SAAS {
		return nil, fmt.Errorf("cannot offer remote application %q", appName)
	}
	eps, err := s.AppEndpoints(a)
	if err != nil {
		return nil, err
	}
	e, ok := eps[ep]
	if !ok || e.Role == "peer" {
		return nil, fmt.Errorf("application %q has no %q relation", appName, ep)
	}
	if name == "" {
		name = appName
	}
	if !ValidAppName(name) {
		return nil, fmt.Errorf("invalid offer name %q", name)
	}
	o := &Offer{}
	if t.Get(kOffer, key(model, name), o) {
		return nil, fmt.Errorf("offer %q already exists", name)
	}
	o = &Offer{Model: model, Name: name, App: appName, Endpoint: ep, UUID: NewUUID()}
	t.Put(kOffer, key(model, name), o)
	return o, t.err
}

// Consume creates a SAAS application for an offer URL "[owner/]model.offer".
func (s *Store) Consume(t *Tx, model, url, alias string) (*App, error) {
	var mname, oname string
	for i := len(url) - 1; i >= 0; i-- {
		if url[i] == '.' {
			mname, oname = url[:i], url[i+1:]
			break
		}
	}
	if mname == "" {
		return nil, fmt.Errorf("offer URL %q must be of the form [owner/]model.offer", url)
	}
	om, err := t.ModelByName(mname)
	if err != nil {
		return nil, err
	}
	o := &Offer{}
	if !t.Get(kOffer, key(om.UUID, oname), o) {
		return nil, fmt.Errorf("application offer %q not found", "admin/"+om.Name+"."+oname)
	}
	if om.UUID == model {
		return nil, fmt.Errorf("cannot consume an offer in the same model")
	}
	if alias == "" {
		alias = oname
	}
	if !ValidAppName(alias) {
		return nil, fmt.Errorf("invalid application name %q", alias)
	}
	if _, err := t.App(model, alias); err == nil {
		return nil, fmt.Errorf("cannot add application %q: application already exists", alias)
	}
	oa, err := t.App(om.UUID, o.App)
	if err != nil {
		return nil, err
	}
	eps, err := s.AppEndpoints(oa)
	if err != nil {
		return nil, err
	}
	e := eps[o.Endpoint]
	a := &App{Model: model, Name: alias, SAAS: true, OfferURL: "admin/" + om.Name + "." + oname,
		OfferRef: &OfferRef{Model: om.UUID, Name: oname}, Endpoints: []Endpoint{e}, Life: "alive",
		CharmName: oa.CharmName, Status: Status{Status: "active"}}
	t.PutApp(a)
	return a, t.err
}
