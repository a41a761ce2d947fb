package uniter

import (
	"fmt"
	"sort"
	"strings"
	"time"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
)

// view is the remote state a unit agent decides on.
type view struct {
	unit     *st.Unit
	app      *st.App
	model    *st.Model
	rels     []*st.Relation // relations of the app, non-peer first then by id
	remote   map[int]map[string]*st.Unit
	buckets  map[int]map[string]int // relation -> seen name (unit or app) -> version
	leader   bool
	boot     map[string]string // container -> current boot id ("" when down)
	secrets  []secretRev       // consumed secrets with a newer revision
	interval time.Duration
	storage  []string // storage names of the charm, sorted
}

type secretRev struct {
	uri, label string
	rev        int
}

func (u *Uniter) loadView(t *st.Tx) (*view, error) {
	unit, err := t.Unit(u.model, u.name)
	if err != nil {
		return nil, err
	}
	app, err := t.App(unit.Model, unit.App)
	if err != nil {
		return nil, err
	}
	m, err := t.Model(unit.Model)
	if err != nil {
		return nil, err
	}
	v := &view{unit: unit, app: app, model: m, remote: map[int]map[string]*st.Unit{}, buckets: map[int]map[string]int{},
		leader: app.Leader == unit.Name}
	v.interval, _ = time.ParseDuration(st.DefaultUpdateStatusInterval)
	if d, err := time.ParseDuration(m.Config["update-status-hook-interval"]); err == nil && d > 0 {
		v.interval = d
	}
	if ch, err := u.store.Charm(app.CharmDir); err == nil {
		for name := range ch.Meta().Storage {
			v.storage = append(v.storage, name)
		}
		sort.Strings(v.storage)
	}
	v.rels = t.UnitRelations(unit.Model, unit.App)
	sort.Slice(v.rels, func(i, j int) bool {
		if v.rels[i].Peer != v.rels[j].Peer {
			return !v.rels[i].Peer
		}
		return v.rels[i].ID < v.rels[j].ID
	})
	for _, r := range v.rels {
		rem := t.RemoteUnits(r, unit)
		v.remote[r.ID] = rem
		bk := map[string]int{}
		_, other, _ := r.Side(unit.Model, unit.App)
		for seen, ru := range rem {
			bk[seen] = t.Bucket(r.ID, other, ru.Name).Version
		}
		appName := r.RemoteAppName(unit.Model, unit.App)
		bk[appName] = t.Bucket(r.ID, other, r.EPs[other].App).Version
		v.buckets[r.ID] = bk
	}
	for _, c := range t.Consumers() {
		if c.Model != unit.Model || c.Unit != unit.Name {
			continue
		}
		s, ok := t.Secret(c.URI)
		if !ok || s.Latest <= c.Revision || unit.Local.SecretRevs[c.URI] >= s.Latest {
			continue
		}
		v.secrets = append(v.secrets, secretRev{uri: c.URI, label: c.Label, rev: s.Latest})
	}
	return v, nil
}

func relHook(r *st.Relation, v *view, kind string) *st.Hook {
	me, _, _ := r.Side(v.unit.Model, v.unit.App)
	ep := r.EPs[me].Endpoint
	return &st.Hook{Kind: "relation-" + kind, Name: ep + "-relation-" + kind, RelID: r.ID, Endpoint: ep,
		RemoteApp: r.RemoteAppName(v.unit.Model, v.unit.App)}
}

func sortedUnits(names []string) []string {
	sort.Slice(names, func(i, j int) bool {
		if st.AppOfUnit(names[i]) != st.AppOfUnit(names[j]) {
			return names[i] < names[j]
		}
		return st.UnitNum(names[i]) < st.UnitNum(names[j])
	})
	return names
}

func seenUnits(rl *st.RelLocal) []string {
	var out []string
	for n := range rl.Units {
		out = append(out, n)
	}
	return sortedUnits(out)
}

// next decides the next hook (nil: nothing to do).
func (u *Uniter) next(v *view, now time.Time) *st.Hook {
	l := &v.unit.Local
	storageID := func(name string) string { return fmt.Sprintf("%s/%d", name, st.UnitNum(v.unit.Name)) }
	if !l.Installed {
		for _, name := range v.storage {
			if !l.Storage[name] {
				return &st.Hook{Kind: "storage-attached", Name: name + "-storage-attached", Storage: storageID(name)}
			}
		}
		return &st.Hook{Kind: "install", Name: "install"}
	}
	relByID := map[int]*st.Relation{}
	for _, r := range v.rels {
		relByID[r.ID] = r
	}
	localIDs := func(peerLast bool) []int {
		var ids []int
		for id := range l.Rels {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool {
			pi := relByID[ids[i]] != nil && relByID[ids[i]].Peer
			pj := relByID[ids[j]] != nil && relByID[ids[j]].Peer
			if pi != pj {
				return !pi
			}
			return ids[i] < ids[j]
		})
		return ids
	}
	if v.unit.Life != "alive" {
		for _, id := range localIDs(true) {
			rl := l.Rels[id]
			r := relByID[id]
			if r == nil {
				continue
			}
			for _, ru := range seenUnits(rl) {
				h := relHook(r, v, "departed")
				h.RemoteUnit, h.Departing = ru, v.unit.Name
				return h
			}
			if !r.Peer && rl.Created && !rl.Broken {
				return relHook(r, v, "broken")
			}
		}
		for _, name := range v.storage {
			if l.Storage[name] {
				return &st.Hook{Kind: "storage-detaching", Name: name + "-storage-detaching", Storage: storageID(name)}
			}
		}
		if !l.Stopped {
			return &st.Hook{Kind: "stop", Name: "stop"}
		}
		return &st.Hook{Kind: "remove", Name: "remove"}
	}
	// relation-created for relations this unit has not seen.
	for _, r := range v.rels {
		if r.Life != "alive" {
			continue
		}
		if rl := l.Rels[r.ID]; rl == nil || !rl.Created {
			return relHook(r, v, "created")
		}
	}
	if v.app.CharmVersion != l.CharmVersion {
		return &st.Hook{Kind: "upgrade-charm", Name: "upgrade-charm", Version: v.app.CharmVersion}
	}
	if l.PodRecreated {
		// A recreated pod runs upgrade-charm, config-changed, pebble-ready (no start).
		return &st.Hook{Kind: "upgrade-charm", Name: "upgrade-charm"}
	}
	if !l.Started && l.ConfigVersion >= 0 {
		// the first config-changed is immediately followed by start.
		return &st.Hook{Kind: "start", Name: "start"}
	}
	if v.app.Leader == "" && !l.Started {
		return nil // the controller elects a leader first
	}
	if v.leader && !l.Leader {
		return &st.Hook{Kind: "leader-elected", Name: "leader-elected"}
	}
	if !v.leader && v.app.LeaderVersion != l.LeaderVersion {
		return &st.Hook{Kind: "leader-settings-changed", Name: "leader-settings-changed", Version: v.app.LeaderVersion}
	}
	// Workload events after leadership, as in Juju's resolver: not gated on start, but
	// not while config-changed is queued after upgrade-charm. pebble-ready (a new boot)
	// first, then the Pebble notices in arrival order.
	if l.ConfigVersion != -2 {
		var cs []string
		for c := range v.boot {
			cs = append(cs, c)
		}
		sort.Strings(cs)
		for _, c := range cs {
			if b := v.boot[c]; b != "" && b != l.Boot[c] {
				return &st.Hook{Kind: "pebble-ready", Name: c + "-pebble-ready", Container: c, BootID: b}
			}
		}
		if len(v.unit.WorkloadEvents) > 0 {
			h := *v.unit.WorkloadEvents[0]
			return &h
		}
	}
	if v.app.ConfigVersion != l.ConfigVersion {
		return &st.Hook{Kind: "config-changed", Name: "config-changed", Version: v.app.ConfigVersion}
	}
	if !l.Started {
		return &st.Hook{Kind: "start", Name: "start"}
	}
	// Relations: non-peer first.
	for _, id := range localIDs(true) {
		rl := l.Rels[id]
		r := relByID[id]
		if r != nil && r.Life == "alive" {
			continue
		}
		if r == nil {
			// relation already gone: forget it silently via a broken hook without remote.
			return &st.Hook{Kind: "relation-broken", Name: "relation-broken", RelID: id}
		}
		for _, ru := range seenUnits(rl) {
			h := relHook(r, v, "departed")
			h.RemoteUnit, h.Departing = ru, ru
			return h
		}
		return relHook(r, v, "broken")
	}
	for _, r := range v.rels {
		rl := l.Rels[r.ID]
		if rl == nil || r.Life != "alive" {
			continue
		}
		cur := v.remote[r.ID]
		for _, ru := range seenUnits(rl) {
			if _, ok := cur[ru]; !ok {
				h := relHook(r, v, "departed")
				h.RemoteUnit, h.Departing = ru, ru
				return h
			}
		}
		// joined(u) is immediately followed by changed(u).
		for _, ru := range seenUnits(rl) {
			if rl.Units[ru] == -1 {
				h := relHook(r, v, "changed")
				h.RemoteUnit, h.Version = ru, v.buckets[r.ID][ru]
				return h
			}
		}
		appName := r.RemoteAppName(v.unit.Model, v.unit.App)
		if ver := v.buckets[r.ID][appName]; ver > 0 && ver != rl.AppVersion && !(r.Peer && v.leader) {
			h := relHook(r, v, "changed")
			h.Version = ver
			return h
		}
		var joins []string
		for ru := range cur {
			if _, ok := rl.Units[ru]; !ok {
				joins = append(joins, ru)
			}
		}
		if len(joins) > 0 {
			h := relHook(r, v, "joined")
			h.RemoteUnit = sortedUnits(joins)[0]
			return h
		}
		for _, ru := range seenUnits(rl) {
			if ver := v.buckets[r.ID][ru]; ver != rl.Units[ru] {
				h := relHook(r, v, "changed")
				h.RemoteUnit, h.Version = ru, ver
				return h
			}
		}
	}
	for _, s := range v.secrets {
		return &st.Hook{Kind: "secret-changed", Name: "secret-changed", SecretURI: s.uri, SecretLbl: s.label, SecretRev: s.rev}
	}
	if now.Sub(l.LastUpdate) >= v.interval {
		return &st.Hook{Kind: "update-status", Name: "update-status"}
	}
	return nil
}

// advance records in the unit's local state that hook h ran (committed or resolved).
func advance(t *st.Tx, unit *st.Unit, app *st.App, h *st.Hook, now time.Time) {
	l := &unit.Local
	if l.Rels == nil {
		l.Rels = map[int]*st.RelLocal{}
	}
	if l.Boot == nil {
		l.Boot = map[string]string{}
	}
	if l.SecretRevs == nil {
		l.SecretRevs = map[string]int{}
	}
	if h.Event != 0 {
		unit.DropWorkloadEvent(h.Event)
	}
	rl := l.Rels[h.RelID]
	switch h.Kind {
	case "storage-attached", "storage-detaching":
		if l.Storage == nil {
			l.Storage = map[string]bool{}
		}
		name, _, _ := strings.Cut(h.Storage, "/")
		l.Storage[name] = h.Kind == "storage-attached"
	case "install":
		l.Installed = true
		l.CharmVersion = app.CharmVersion
	case "leader-elected":
		l.Leader = true
		l.LeaderVersion = app.LeaderVersion
	case "leader-settings-changed":
		l.LeaderVersion = h.Version
	case "config-changed":
		l.ConfigVersion = h.Version
	case "start":
		l.Started = true
	case "upgrade-charm":
		l.PodRecreated = false
		l.CharmVersion = app.CharmVersion
		l.ConfigVersion = -2 // upgrade-charm is always followed by config-changed
	case "stop":
		l.Stopped = true
		for id := range l.Rels {
			t.LeaveScope(unit, id)
		}
		l.Rels = map[int]*st.RelLocal{}
	case "pebble-ready":
		l.Boot[h.Container] = h.BootID
	case "update-status":
		l.LastUpdate = now
	case "secret-changed":
		l.SecretRevs[h.SecretURI] = h.SecretRev
	case "relation-created":
		l.Rels[h.RelID] = &st.RelLocal{Created: true, Units: map[string]int{}}
		if r, err := t.Relation(h.RelID); err == nil {
			t.EnterScope(unit, r)
		}
	case "relation-joined":
		if rl != nil {
			rl.Units[h.RemoteUnit] = -1
		}
	case "relation-changed":
		if rl != nil {
			if h.RemoteUnit == "" {
				rl.AppVersion = h.Version
			} else {
				rl.Units[h.RemoteUnit] = h.Version
			}
		}
	case "relation-departed":
		if rl != nil {
			delete(rl.Units, h.RemoteUnit)
		}
	case "relation-broken":
		delete(l.Rels, h.RelID)
		t.LeaveScope(unit, h.RelID)
	}
}
