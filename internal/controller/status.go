package controller

import (
	"sort"
	"strconv"
	"strings"
	"time"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
	"github.com/jujulet/postgresql-k8s/internal/uniter"
)

func statusDoc(s st.Status) map[string]any {
	out := map[string]any{"current": s.Status}
	if s.Message != "" {
		out["message"] = s.Message
	}
	if !s.Since.IsZero() {
		out["since"] = s.Since.Local().Format("02 Jan 2006 15:04:05Z07:00")
	}
	return out
}

var severity = map[string]int{"error": 6, "blocked": 5, "maintenance": 4, "waiting": 3, "active": 2, "terminated": 1, "unknown": 0}

func baseDoc(b string) map[string]any {
	name, ch, _ := strings.Cut(b, "@")
	return map[string]any{"name": name, "channel": ch}
}

// status builds `juju status --format json` for a model.
func (d *Daemon) status(t *st.Tx, m *st.Model) (map[string]any, error) {
	apps := map[string]any{}
	saas := map[string]any{}
	rels := t.Relations()
	for _, a := range t.Apps(m.UUID) {
		relDoc := appRelationsDoc(m, a, rels)
		if a.SAAS {
			saas[a.Name] = saasDoc(a, relDoc)
			continue
		}
		apps[a.Name] = appDoc(t, m, a, relDoc)
	}
	offers := d.offersDoc(t, m, rels)
	out := map[string]any{
		"model": map[string]any{"name": m.Name, "type": "caas", "controller": "jujulet", "cloud": "jujulet",
			"region": "localhost", "version": uniter.JujuVersion, "model-status": map[string]any{"current": "available"},
			"sla": "unsupported"},
		"machines":     map[string]any{},
		"applications": apps,
		"controller":   map[string]any{"timestamp": time.Now().Format("15:04:05Z07:00")},
	}
	if len(saas) > 0 {
		out["application-endpoints"] = saas
	}
	if len(offers) > 0 {
		out["offers"] = offers
	}
	return out, nil
}

// appRelationsDoc is an application's alive relations by endpoint. A SAAS application
// stands for the remote side of its cross-model relations.
func appRelationsDoc(m *st.Model, a *st.App, rels []*st.Relation) map[string]any {
	relDoc := map[string]any{}
	for _, r := range rels {
		me, _, ok := r.Side(m.UUID, a.Name)
		if a.SAAS {
			me, ok = saasSide(m, a, r, me, ok)
		}
		if !ok || r.Life != "alive" {
			continue
		}
		ep := r.EPs[me].Endpoint
		related := a.Name
		if !r.Peer {
			o := r.EPs[1-me]
			related = o.App
			if o.Model != m.UUID {
				related = o.Alias
			}
		}
		list, _ := relDoc[ep].([]any)
		relDoc[ep] = append(list, map[string]any{"related-application": related, "interface": r.EPs[me].Interface, "scope": "global"})
	}
	return relDoc
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

func saasDoc(a *st.App, relDoc map[string]any) map[string]any {
	eps := map[string]any{}
	for _, e := range a.Endpoints {
		eps[e.Name] = map[string]any{"interface": e.Interface, "role": e.Role}
	}
	doc := map[string]any{"url": a.OfferURL, "endpoints": eps, "life": "", "application-status": statusDoc(st.Status{Status: "active"})}
	if len(relDoc) > 0 {
		doc["relations"] = relDoc
	}
	return doc
}

func appDoc(t *st.Tx, m *st.Model, a *st.App, relDoc map[string]any) map[string]any {
	units := map[string]any{}
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
	doc := map[string]any{
		"charm": a.CharmName, "charm-origin": "local", "charm-name": a.CharmName, "charm-rev": a.Revision,
		"charm-channel": a.Channel, "base": baseDoc(a.Base), "exposed": false, "scale": len(units),
		"application-status": statusDoc(appStatus), "units": units, "trust": a.Trust,
		"provider-id": a.Name,
	}
	if a.Version != "" {
		doc["version"] = a.Version
	}
	if len(relDoc) > 0 {
		doc["relations"] = relDoc
	}
	if a.Life != "alive" {
		doc["life"] = a.Life
	}
	return doc
}

func unitDoc(a *st.App, u *st.Unit) map[string]any {
	js := statusDoc(u.Agent)
	js["version"] = uniter.JujuVersion
	ud := map[string]any{"workload-status": statusDoc(u.Workload), "juju-status": js, "address": u.Addr,
		"provider-id": strings.ReplaceAll(u.Name, "/", "-")}
	if a.Leader == u.Name {
		ud["leader"] = true
	}
	if len(u.Ports) > 0 {
		ud["open-ports"] = uniquePortStrings(u.Ports)
	}
	if u.Life != "alive" {
		ud["life"] = u.Life
	}
	return ud
}

// offersDoc is the model's offers with their connection counts.
func (d *Daemon) offersDoc(t *st.Tx, m *st.Model, rels []*st.Relation) map[string]any {
	offers := map[string]any{}
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
		offers[o.Name] = map[string]any{"application": o.App, "charm": "local:" + a.CharmName,
			"total-connected-count": connected, "active-connected-count": connected,
			"endpoints": map[string]any{o.Endpoint: map[string]any{"interface": e.Interface, "role": e.Role}}}
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
		out["charm"] = "local:" + a.CharmName + "-" + itoa(a.Revision)
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
