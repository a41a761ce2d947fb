package state

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"maps"
	"sort"
	"strings"
)

// Relations lists every relation of the controller.
func (t *Tx) Relations() []*Relation { return list[Relation](t, kRelation, "") }

// Relation returns a relation by id.
func (t *Tx) Relation(id int) (*Relation, error) {
	r := &Relation{}
	if !t.Get(kRelation, relKey(id), r) {
		if t.err != nil {
			return nil, t.err
		}
		return nil, fmt.Errorf("relation %d not found", id)
	}
	return r, nil
}

func relKey(id int) string { return fmt.Sprintf("%09d", id) }

// PutRelation stores a relation.
func (t *Tx) PutRelation(r *Relation) { t.Put(kRelation, relKey(r.ID), r) }

// Side returns the index of the endpoint of (model, app) in r, and the other side's.
func (r *Relation) Side(model, app string) (me, other int, ok bool) {
	for i, ep := range r.EPs {
		if ep.Model == model && ep.App == app {
			if r.Peer {
				return i, i, true
			}
			return i, 1 - i, true
		}
	}
	return 0, 0, false
}

// KeyFor is the relation key as the model sees it ("a:x b:y", peers "a:x").
func (r *Relation) KeyFor(model string) string {
	var parts []string
	for i, ep := range r.EPs {
		name := ep.App
		if ep.Model != model {
			name = ep.Alias
		}
		_ = i
		parts = append(parts, name+":"+ep.Endpoint)
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// InModel reports whether one side of r is in model.
func (r *Relation) InModel(model string) bool {
	for _, ep := range r.EPs {
		if ep.Model == model {
			return true
		}
	}
	return false
}

// SetRelationDying starts a relation's departure.
func (t *Tx) SetRelationDying(r *Relation) {
	if r.Life == "alive" {
		r.Life = "dying"
		t.PutRelation(r)
	}
}

// RemoteToken is the 32-hex token naming a consuming application in the offering model.
func RemoteToken(model, app string) string {
	h := md5.Sum([]byte(model + "/" + app))
	return hex.EncodeToString(h[:])
}

type candidate struct {
	app *App
	ep  Endpoint
}

func (s *Store) candidates(t *Tx, model, spec string) ([]candidate, error) {
	appName, epName := SplitEndpoint(spec)
	a, err := t.App(model, appName)
	if err != nil {
		return nil, err
	}
	if a.Life != "alive" {
		return nil, fmt.Errorf("application %q is not alive", appName)
	}
	eps, err := s.AppEndpoints(a)
	if err != nil {
		return nil, err
	}
	var out []candidate
	if epName != "" {
		e, ok := eps[epName]
		if !ok {
			return nil, fmt.Errorf("application %q has no %q relation", appName, epName)
		}
		return []candidate{{a, e}}, nil
	}
	for _, e := range eps {
		out = append(out, candidate{a, e})
	}
	return out, nil
}

func compatible(a, b Endpoint) bool {
	return a.Interface == b.Interface && ((a.Role == "provider" && b.Role == "requirer") || (a.Role == "requirer" && b.Role == "provider"))
}

// Integrate relates two endpoints of a model.
func (s *Store) Integrate(t *Tx, model, spec1, spec2 string) (*Relation, error) {
	c1, err := s.candidates(t, model, spec1)
	if err != nil {
		return nil, err
	}
	c2, err := s.candidates(t, model, spec2)
	if err != nil {
		return nil, err
	}
	var matches [][2]candidate
	for _, x := range c1 {
		for _, y := range c2 {
			if compatible(x.ep, y.ep) {
				matches = append(matches, [2]candidate{x, y})
			}
		}
	}
	if len(matches) == 0 {
		a1, e1 := SplitEndpoint(spec1)
		a2, e2 := SplitEndpoint(spec2)
		if e1 != "" && e2 != "" && len(c1) == 1 && len(c2) == 1 {
			x, y := c1[0].ep, c2[0].ep
			if x.Interface != y.Interface {
				return nil, fmt.Errorf("cannot relate %q and %q: endpoint interfaces do not match (%q vs %q)", spec1, spec2, x.Interface, y.Interface)
			}
			return nil, fmt.Errorf("cannot relate %q and %q: endpoint roles do not match (%s vs %s)", spec1, spec2, x.Role, y.Role)
		}
		_ = a1
		_ = a2
		return nil, fmt.Errorf("no relations found")
	}
	if len(matches) > 1 {
		var opts []string
		for _, m := range matches {
			opts = append(opts, fmt.Sprintf("%q", m[0].app.Name+":"+m[0].ep.Name+" "+m[1].app.Name+":"+m[1].ep.Name))
		}
		return nil, fmt.Errorf("ambiguous relation: %q could refer to %s", spec1+" "+spec2, strings.Join(opts, "; "))
	}
	x, y := matches[0][0], matches[0][1]
	if x.app.SAAS && y.app.SAAS {
		return nil, fmt.Errorf("cannot relate two remote applications")
	}
	mk := func(c candidate) (RelEP, error) {
		if !c.app.SAAS {
			return RelEP{Model: c.app.Model, App: c.app.Name, Endpoint: c.ep.Name, Role: c.ep.Role, Interface: c.ep.Interface, Alias: c.app.Name}, nil
		}
		o := &Offer{}
		if !t.Get(kOffer, key(c.app.OfferRef.Model, c.app.OfferRef.Name), o) {
			return RelEP{}, fmt.Errorf("offer %q not found", c.app.OfferURL)
		}
		return RelEP{Model: o.Model, App: o.App, Endpoint: o.Endpoint, Role: c.ep.Role, Interface: c.ep.Interface, Alias: c.app.Name, SAASApp: c.app.Name}, nil
	}
	e1, err := mk(x)
	if err != nil {
		return nil, err
	}
	e2, err := mk(y)
	if err != nil {
		return nil, err
	}
	cross := e1.Model != e2.Model
	if cross {
		if x.app.SAAS {
			e2.Alias = "remote-" + RemoteToken(e2.Model, e2.App)
		} else {
			e1.Alias = "remote-" + RemoteToken(e1.Model, e1.App)
		}
	}
	r := &Relation{EPs: []RelEP{e1, e2}, Life: "alive", Cross: cross}
	keyStr := r.KeyFor(model)
	for _, other := range t.Relations() {
		if other.Peer {
			continue
		}
		if other.InModel(model) && other.KeyFor(model) == keyStr {
			return nil, fmt.Errorf("cannot add relation %q: relation %s already exists", keyStr, keyStr)
		}
	}
	for i, c := range []candidate{x, y} {
		ep := r.EPs[i]
		if c.ep.Limit > 0 {
			n := 0
			for _, other := range t.Relations() {
				for _, oep := range other.EPs {
					if oep.Model == ep.Model && oep.App == ep.App && oep.Endpoint == ep.Endpoint && other.Life == "alive" {
						n++
					}
				}
			}
			if n >= c.ep.Limit {
				return nil, fmt.Errorf("establishing a new relation for %s:%s would exceed its maximum relation limit of %d", c.app.Name, c.ep.Name, c.ep.Limit)
			}
		}
	}
	r.ID = t.NextID()
	t.PutRelation(r)
	return r, t.err
}

// FindRelation finds a relation of a model by its two endpoint specs or by id.
func (s *Store) FindRelation(t *Tx, model string, specs []string) (*Relation, error) {
	if len(specs) == 1 {
		var id int
		if _, err := fmt.Sscan(specs[0], &id); err == nil {
			r, err := t.Relation(id)
			if err != nil || !r.InModel(model) {
				return nil, fmt.Errorf("relation %d not found", id)
			}
			return r, nil
		}
		return nil, fmt.Errorf("a relation must involve two applications")
	}
	if len(specs) != 2 {
		return nil, fmt.Errorf("a relation must involve two applications")
	}
	var found []*Relation
	for _, r := range t.Relations() {
		if r.Peer || !r.InModel(model) || r.Life != "alive" {
			continue
		}
		var names []string
		for _, ep := range r.EPs {
			n := ep.App
			if ep.Model != model {
				n = ep.Alias
			}
			names = append(names, n+":"+ep.Endpoint)
		}
		match := func(spec string) bool {
			a, e := SplitEndpoint(spec)
			for _, n := range names {
				na, ne := SplitEndpoint(n)
				if na == a && (e == "" || e == ne) {
					return true
				}
			}
			return false
		}
		if match(specs[0]) && match(specs[1]) {
			found = append(found, r)
		}
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("relation %q not found", specs[0]+" "+specs[1])
	}
	if len(found) > 1 {
		return nil, fmt.Errorf("ambiguous relation %q", specs[0]+" "+specs[1])
	}
	return found[0], nil
}

func bucketKey(relID, side int, name string) string {
	return fmt.Sprintf("%09d|%d|%s", relID, side, name)
}

// Bucket reads a relation bucket of a real unit or app name on a side.
func (t *Tx) Bucket(relID, side int, name string) *Bucket {
	b := &Bucket{Data: map[string]string{}}
	t.Get(kBucket, bucketKey(relID, side, name), b)
	if b.Data == nil {
		b.Data = map[string]string{}
	}
	return b
}

// WriteBucket merges values (empty deletes) and bumps the version if anything changed.
func (t *Tx) WriteBucket(relID, side int, name string, values map[string]string) {
	b := t.Bucket(relID, side, name)
	old := maps.Clone(b.Data)
	for k, v := range values {
		if v == "" {
			delete(b.Data, k)
		} else {
			b.Data[k] = v
		}
	}
	if !maps.Equal(old, b.Data) || b.Version == 0 {
		b.Version++
		t.Put(kBucket, bucketKey(relID, side, name), b)
	}
}

// EnterScope puts a unit in a relation's scope with its address settings.
func (t *Tx) EnterScope(u *Unit, r *Relation) {
	me, _, ok := r.Side(u.Model, u.App)
	if !ok {
		return
	}
	if u.Scopes == nil {
		u.Scopes = map[int]bool{}
	}
	u.Scopes[r.ID] = true
	t.WriteBucket(r.ID, me, u.Name, map[string]string{"private-address": u.Addr, "ingress-address": u.Addr, "egress-subnets": u.Addr + "/32"})
}

// LeaveScope takes a unit out of a relation's scope.
func (t *Tx) LeaveScope(u *Unit, relID int) {
	delete(u.Scopes, relID)
}

// RemoteUnits lists the remote units of r in scope, as the viewer (a unit) names them,
// mapped to their real names.
func (t *Tx) RemoteUnits(r *Relation, viewer *Unit) map[string]*Unit {
	_, other, ok := r.Side(viewer.Model, viewer.App)
	out := map[string]*Unit{}
	if !ok || r.Life != "alive" {
		return out
	}
	ep := r.EPs[other]
	for _, u := range t.Units(ep.Model, ep.App) {
		if u.Name == viewer.Name && u.Model == viewer.Model || u.Life != "alive" || !u.Scopes[r.ID] {
			continue
		}
		alias := ep.Alias
		if ep.Model == viewer.Model {
			alias = ep.App
		}
		out[fmt.Sprintf("%s/%d", alias, UnitNum(u.Name))] = u
	}
	return out
}

// RemoteAppName is the remote application's name as the viewer sees it.
func (r *Relation) RemoteAppName(viewerModel, viewerApp string) string {
	_, other, _ := r.Side(viewerModel, viewerApp)
	ep := r.EPs[other]
	if ep.Model == viewerModel {
		return ep.App
	}
	return ep.Alias
}

// RealRemote maps a remote unit or app name as the viewer sees it to (model, real name).
func (r *Relation) RealRemote(viewerModel, viewerApp, seen string) (side int, model, real string) {
	_, other, _ := r.Side(viewerModel, viewerApp)
	ep := r.EPs[other]
	if i := strings.LastIndex(seen, "/"); i >= 0 {
		return other, ep.Model, fmt.Sprintf("%s/%s", ep.App, seen[i+1:])
	}
	return other, ep.Model, ep.App
}

// UnitRelations lists the relations an application takes part in.
func (t *Tx) UnitRelations(model, app string) []*Relation {
	var out []*Relation
	for _, r := range t.Relations() {
		if _, _, ok := r.Side(model, app); ok {
			out = append(out, r)
		}
	}
	return out
}
