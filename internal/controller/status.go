package controller

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/controller/api"
	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
	"github.com/jujulet/postgresql-k8s/internal/uniter"
)

// sinceFormat is how Juju's status shows a status's since time.
const sinceFormat = "02 Jan 2006 15:04:05Z07:00"

func statusInfo(s st.Status) api.StatusInfo {
	out := api.StatusInfo{Current: s.Status, Message: s.Message}
	if !s.Since.IsZero() {
		out.Since = s.Since.Local().Format(sinceFormat)
	}
	return out
}

var severity = map[string]int{"error": 6, "blocked": 5, "maintenance": 4, "waiting": 3, "active": 2, "terminated": 1, "unknown": 0}

func baseDoc(b string) *api.Base {
	name, ch, _ := strings.Cut(b, "@")
	return &api.Base{Name: name, Channel: ch}
}

// lifeDoc is a life as Juju's status shows it: nothing for alive.
func lifeDoc(l st.Life) string {
	if l == st.Alive || l == "" {
		return ""
	}
	return string(l)
}

// localCharmURL is a local charm's URL, as Juju's status shows it.
func localCharmURL(a *st.App) string { return "local:" + a.CharmName + "-" + itoa(a.Revision) }

// status builds `juju status` for a model.
func (d *Daemon) status(t *st.Tx, m *st.Model) (api.FullStatus, error) {
	s := api.Status{
		Model: api.ModelStatus{Name: m.Name, Type: "caas", Controller: "jujulet", Cloud: "jujulet",
			CloudRegion: "localhost", Version: uniter.JujuVersion, Status: api.StatusInfo{Current: "available"},
			SLA: "unsupported"},
		Machines:     map[string]struct{}{},
		Applications: map[string]api.ApplicationStatus{},
		Controller:   &api.ControllerStatus{Timestamp: time.Now().Format("15:04:05Z07:00")},
	}
	if !m.Created.IsZero() {
		s.Model.Status.Since = m.Created.Local().Format(sinceFormat)
	}
	rels := t.Relations()
	for _, a := range t.Apps(m.UUID) {
		if a.SAAS {
			if s.SAAS == nil {
				s.SAAS = map[string]api.SAASStatus{}
			}
			s.SAAS[a.Name] = saasDoc(m, a, rels)
			continue
		}
		s.Applications[a.Name] = appDoc(t, m, a, rels)
	}
	s.Offers = d.offersDoc(t, m, rels)
	return api.FullStatus{Status: s, Relations: relationsDoc(m, rels)}, nil
}

// relSide is one alive relation of an application's endpoint, as the model sees it.
type relSide struct {
	endpoint, related, iface string
}

// appRelations lists an application's alive relations. A SAAS application stands for the
// remote side of its cross-model relations.
func appRelations(m *st.Model, a *st.App, rels []*st.Relation) []relSide {
	var out []relSide
	for _, r := range rels {
		me, _, ok := r.Side(m.UUID, a.Name)
		if a.SAAS {
			me, ok = saasSide(m, a, r, me, ok)
		}
		if !ok || r.Life != st.Alive {
			continue
		}
		related := a.Name
		if !r.Peer {
			related = seenName(m, r.EPs[1-me])
		}
		out = append(out, relSide{endpoint: r.EPs[me].Endpoint, related: related, iface: r.EPs[me].Interface})
	}
	return out
}

// seenName is the name under which model m knows a relation's side.
func seenName(m *st.Model, ep st.RelEP) string {
	if ep.Model != m.UUID {
		return ep.Alias
	}
	return ep.App
}

// saasSide is the side of r that SAAS application a stands for, if r is a cross-model
// relation between a's offer and a's model (else me, ok as given).
func saasSide(m *st.Model, a *st.App, r *st.Relation, me int, ok bool) (int, bool) {
	for i, ep := range r.EPs {
		if ep.SAASApp == a.Name && ep.Model != m.UUID && len(r.EPs) == 2 && r.EPs[1-i].Model == m.UUID {
			me, ok = i, true
		}
	}
	return me, ok
}

func saasDoc(m *st.Model, a *st.App, rels []*st.Relation) api.SAASStatus {
	doc := api.SAASStatus{URL: a.OfferURL, Endpoints: map[string]api.Endpoint{}, Life: lifeDoc(a.Life),
		Status: statusInfo(st.Status{Status: "active"})}
	for _, e := range a.Endpoints {
		doc.Endpoints[e.Name] = api.Endpoint{Interface: e.Interface, Role: e.Role}
	}
	for _, r := range appRelations(m, a, rels) {
		if doc.Relations == nil {
			doc.Relations = map[string][]string{}
		}
		doc.Relations[r.endpoint] = append(doc.Relations[r.endpoint], r.related)
	}
	for _, l := range doc.Relations {
		sort.Strings(l)
	}
	return doc
}

func appDoc(t *st.Tx, m *st.Model, a *st.App, rels []*st.Relation) api.ApplicationStatus {
	units := map[string]api.UnitStatus{}
	worst := st.Status{Status: "unknown"}
	for _, u := range t.Units(m.UUID, a.Name) {
		if severity[u.Workload.Status] > severity[worst.Status] {
			worst = u.Workload
		}
		units[u.Name] = unitDoc(a, u)
	}
	appStatus := a.Status
	if appStatus.Status == "" || appStatus.Status == "unknown" {
		appStatus = worst
	}
	doc := api.ApplicationStatus{
		Charm: localCharmURL(a), Base: baseDoc(a.Base), CharmOrigin: "local", CharmName: a.CharmName,
		CharmRev: a.Revision, CharmChannel: a.Channel, Scale: len(units), ProviderID: a.Name,
		Life: lifeDoc(a.Life), Status: statusInfo(appStatus), Units: units, Version: a.Version,
	}
	for _, r := range appRelations(m, a, rels) {
		if doc.Relations == nil {
			doc.Relations = map[string][]api.ApplicationRelation{}
		}
		doc.Relations[r.endpoint] = append(doc.Relations[r.endpoint],
			api.ApplicationRelation{Related: r.related, Interface: r.iface, Scope: "global"})
	}
	for _, l := range doc.Relations {
		sort.Slice(l, func(i, j int) bool { return l[i].Related < l[j].Related })
	}
	return doc
}

// unitDoc is a unit's status. Juju shows a failed hook in the workload status and keeps
// the agent idle (state.ModelStatus.UnitAgent), so that is what a unit in error shows.
func unitDoc(a *st.App, u *st.Unit) api.UnitStatus {
	agent := u.Agent
	workload := u.Workload
	if agent.Status == "error" {
		workload = st.Status{Status: "error", Message: agent.Message, Data: agent.Data, Since: agent.Since}
		agent = st.Status{Status: "idle", Since: agent.Since}
	}
	js := statusInfo(agent)
	js.Version = uniter.JujuVersion
	ud := api.UnitStatus{Workload: statusInfo(workload), Agent: js, Leader: a.Leader == u.Name,
		Address: u.Addr, ProviderID: strings.ReplaceAll(u.Name, "/", "-")}
	ud.OpenPorts = uniquePortStrings(u.Ports)
	return ud
}

// relationsDoc lists the model's relations for `status --relations`: provider first,
// each side named as the model knows it.
func relationsDoc(m *st.Model, rels []*st.Relation) []api.RelationStatus {
	var out []api.RelationStatus
	for _, r := range rels {
		var mine []int
		for i, ep := range r.EPs {
			if ep.Model == m.UUID {
				mine = append(mine, i)
			}
		}
		if len(mine) == 0 {
			continue
		}
		rs := api.RelationStatus{ID: r.ID, Interface: r.EPs[0].Interface, Type: "regular", Status: "joined"}
		if r.Life != st.Alive {
			rs.Status = "broken"
		}
		name := func(ep st.RelEP) string {
			return seenName(m, ep) + ":" + ep.Endpoint
		}
		if r.Peer || len(r.EPs) == 1 {
			rs.Type = "peer"
			rs.Provider, rs.Requirer = name(r.EPs[0]), name(r.EPs[0])
		} else {
			for _, ep := range r.EPs {
				if ep.Role == "provider" {
					rs.Provider = name(ep)
				} else {
					rs.Requirer = name(ep)
				}
			}
		}
		out = append(out, rs)
	}
	return out
}

// offersDoc is the model's offers with their connection counts.
func (d *Daemon) offersDoc(t *st.Tx, m *st.Model, rels []*st.Relation) map[string]api.OfferStatus {
	var offers map[string]api.OfferStatus
	for _, o := range t.Offers(m.UUID) {
		a, err := t.App(m.UUID, o.App)
		if err != nil {
			continue
		}
		eps, _ := d.store.AppEndpoints(a)
		e := eps[o.Endpoint]
		connected := 0
		for _, r := range rels {
			if r.Cross && r.Life == "alive" {
				connected += offerConnections(m, o, r)
			}
		}
		if offers == nil {
			offers = map[string]api.OfferStatus{}
		}
		offers[o.Name] = api.OfferStatus{Application: o.App, Charm: localCharmURL(a), Total: connected, Active: connected,
			Endpoints: map[string]api.Endpoint{o.Endpoint: {Interface: e.Interface, Role: e.Role}}}
	}
	return offers
}

// offerConnections counts r's sides that are offer o's endpoint.
func offerConnections(m *st.Model, o *st.Offer, r *st.Relation) int {
	n := 0
	for _, ep := range r.EPs {
		if ep.Model == m.UUID && ep.App == o.App && ep.Endpoint == o.Endpoint {
			n++
		}
	}
	return n
}

func portString(p st.Port) string {
	if p.Protocol == "icmp" {
		return "icmp"
	}
	if p.From == p.To {
		return itoa(p.From) + "/" + p.Protocol
	}
	return itoa(p.From) + "-" + itoa(p.To) + "/" + p.Protocol
}

func itoa(i int) string { return strconv.Itoa(i) }

// showUnit is `juju show-unit` for one unit.
func (d *Daemon) showUnit(t *st.Tx, u *st.Unit) map[string]any {
	a, _ := t.App(u.Model, u.App)
	var rinfo []any
	for _, r := range t.UnitRelations(u.Model, u.App) {
		me, other, _ := r.Side(u.Model, u.App)
		rem := map[string]any{}
		for seen, ru := range t.RemoteUnits(r, u) {
			rem[seen] = map[string]any{"in-scope": true, "data": t.Bucket(r.ID, other, ru.Name).Data}
		}
		entry := map[string]any{
			"relation-id":      r.ID,
			"endpoint":         r.EPs[me].Endpoint,
			"related-endpoint": r.EPs[other].Endpoint,
			"application-data": t.Bucket(r.ID, other, r.EPs[other].App).Data,
			"local-unit":       map[string]any{"in-scope": u.Scopes[r.ID], "data": t.Bucket(r.ID, me, u.Name).Data},
		}
		if len(rem) > 0 {
			entry["related-units"] = rem
		}
		if !r.Peer {
			entry["cross-model"] = r.Cross
		}
		rinfo = append(rinfo, entry)
	}
	sort.Slice(rinfo, func(i, j int) bool {
		return rinfo[i].(map[string]any)["relation-id"].(int) < rinfo[j].(map[string]any)["relation-id"].(int)
	})
	out := map[string]any{
		"workload-version": "",
		"opened-ports":     []string{},
		"charm":            "local:" + u.App,
		"leader":           a != nil && a.Leader == u.Name,
		"life":             u.Life,
		"address":          u.Addr,
		"provider-id":      strings.ReplaceAll(u.Name, "/", "-"),
		"relation-info":    rinfo,
	}
	if a != nil {
		out["workload-version"] = a.Version
		out["charm"] = localCharmURL(a)
	}
	out["opened-ports"] = append(out["opened-ports"].([]string), uniquePortStrings(u.Ports)...)
	return out
}

// uniquePortStrings renders a unit's open ports once per range, in order: a range open
// for several endpoints is one port to status, as in Juju.
func uniquePortStrings(ports []st.Port) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range ports {
		s := portString(p)
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
