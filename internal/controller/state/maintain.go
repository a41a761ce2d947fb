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
	relations := t.Relations()
	for _, a := range apps {
		us := byApp[key(a.Model, a.Name)]
		if a.SAAS {
			if a.Life == "dying" {
				t.Delete(kApp, key(a.Model, a.Name))
			}
			continue
		}
		if a.Life == "dying" && len(us) == 0 {
			t.Delete(kApp, key(a.Model, a.Name))
			for _, o := range t.Offers(a.Model) {
				if o.App == a.Name {
					t.Delete(kOffer, key(o.Model, o.Name))
				}
			}
			continue
		}
		var cur *Unit
		var alive, healthy []*Unit
		for _, u := range us {
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
		needNew := cur == nil || cur.Life != "alive" || (!cur.PodDown.IsZero() && now.Sub(cur.PodDown) >= lease)
		if !needNew {
			continue
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
	// Relations whose application went away die; dying relations with nobody in scope go.
	appExists := map[string]bool{}
	for _, a := range apps {
		if a.Life == "alive" {
			appExists[key(a.Model, a.Name)] = true
		}
	}
	for _, r := range relations {
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
	for _, m := range t.Models() {
		if m.Life == "dying" {
			left := false
			for _, a := range apps {
				if a.Model == m.UUID {
					left = true
				}
			}
			if !left {
				t.Delete(kModel, m.UUID)
			}
		}
	}
}
