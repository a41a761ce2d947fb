package state

import (
	"fmt"
	"time"
)

// Maintain elects leaders and removes dead things. lease is how long a leader's pod
// may be down before another unit takes over.
func (t *Tx) Maintain(now time.Time, lease time.Duration) {
	apps := list[App](t, kApp, "")
	units := t.AllUnits()
	byApp := map[string][]*Unit{}
	for _, u := range units {
		k := key(u.Model, u.App)
		byApp[k] = append(byApp[k], u)
	}
	for _, a := range apps {
		if t.reapApp(a, len(byApp[key(a.Model, a.Name)])) {
			continue
		}
		t.electLeader(a, byApp[key(a.Model, a.Name)], now, lease)
	}
	t.reapRelations(apps, units)
	t.reapModels(apps)
}

// reapApp deletes a dying application once it has no units (a consumed one at once), with
// its offers; it reports whether the application is out of the election.
func (t *Tx) reapApp(a *App, units int) bool {
	if a.SAAS {
		if a.Life == "dying" {
			t.Delete(kApp, key(a.Model, a.Name))
		}
		return true
	}
	if a.Life != "dying" || units > 0 {
		return false
	}
	t.Delete(kApp, key(a.Model, a.Name))
	for _, o := range t.Offers(a.Model) {
		if o.App == a.Name {
			t.Delete(kOffer, key(o.Model, o.Name))
		}
	}
	return true
}

// electLeader gives the application a new leader when it has none, when its leader is no
// longer alive, or when the leader's pod has been down for the lease: the first alive unit
// whose pod is up (or down for less than the lease), else, with no leader at all, the first
// alive unit.
func (t *Tx) electLeader(a *App, units []*Unit, now time.Time, lease time.Duration) {
	var cur *Unit
	var alive, healthy []*Unit
	for _, u := range units {
		if u.Name == a.Leader {
			cur = u
		}
		if u.Life == "alive" {
			alive = append(alive, u)
			if u.PodDown.IsZero() || now.Sub(u.PodDown) < lease {
				healthy = append(healthy, u)
			}
		}
	}
	if cur != nil && cur.Life == "alive" && (cur.PodDown.IsZero() || now.Sub(cur.PodDown) < lease) {
		return
	}
	var pick *Unit
	for _, u := range healthy {
		if cur == nil || u.Name != cur.Name {
			pick = u
			break
		}
	}
	if pick == nil && cur == nil && len(alive) > 0 {
		pick = alive[0]
	}
	if pick != nil && pick.Name != a.Leader {
		a.Leader = pick.Name
		a.LeaseExpiry = now.Add(lease)
		t.PutApp(a)
	}
}

// reapRelations: relations whose application went away die; dying relations with nobody in
// scope go, with their buckets.
func (t *Tx) reapRelations(apps []*App, units []*Unit) {
	appExists := map[string]bool{}
	for _, a := range apps {
		if a.Life == "alive" {
			appExists[key(a.Model, a.Name)] = true
		}
	}
	for _, r := range t.Relations() {
		if r.Life == "alive" {
			for _, ep := range r.EPs {
				if !appExists[key(ep.Model, ep.App)] {
					t.SetRelationDying(r)
				}
			}
			continue
		}
		inScope := false
		for _, u := range units {
			if u.Scopes[r.ID] {
				inScope = true
				break
			}
		}
		if !inScope {
			t.Delete(kRelation, relKey(r.ID))
			t.DeletePrefix(kBucket, fmt.Sprintf("%09d|", r.ID))
		}
	}
}

// reapModels deletes dying models with no applications left.
func (t *Tx) reapModels(apps []*App) {
	for _, m := range t.Models() {
		if m.Life != "dying" {
			continue
		}
		left := false
		for _, a := range apps {
			if a.Model == m.UUID {
				left = true
				break
			}
		}
		if !left {
			t.Delete(kModel, m.UUID)
		}
	}
}
