package uniter

import (
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/juju/charm/v12/hooks"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
)

// view is the remote state a unit agent decides on.
type view struct {
	unit    *st.Unit
	app     *st.App
	model   *st.Model
	rels    []*st.Relation // relations of the app, non-peer first then by id
	remote  map[int]map[string]*st.Unit
	buckets map[int]map[string]int // relation -> seen name (unit or app) -> version
	leader  bool
	boot    map[string]string // container -> current boot id ("" when down)
	secrets []secretRev       // consumed secrets with a newer revision
	// Of the secrets the unit owns (its own, its application's when leader): revisions
	// due to expire, secrets due to rotate (rev: the latest revision), and obsolete
	// revisions secret-remove has not run for.
	expired, rotate, obsolete []secretRev
	interval                  time.Duration
	storage                   []string     // storage names of the charm, sorted
	actions                   []*st.Action // pending actions, oldest first
	now                       time.Time
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
	if d, err := time.ParseDuration(m.Config["update-status-hook-interval"]); err == nil {
		// Model config is validated when set; a value stored before that still cannot
		// make a hook storm.
		v.interval = min(max(d, st.MinUpdateStatusInterval), st.MaxUpdateStatusInterval)
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
	cons := t.Consumers()
	for _, c := range cons {
		if c.Model != unit.Model || c.Unit != unit.Name {
			continue
		}
		s, ok := t.Secret(c.URI)
		if !ok || s.Latest <= c.Revision || unit.Local.SecretRevs[c.URI] >= s.Latest {
			continue
		}
		v.secrets = append(v.secrets, secretRev{uri: c.URI, label: c.Label, rev: s.Latest})
	}
	v.ownedSecrets(t, cons, time.Now())
	return v, nil
}

// ownedSecrets finds (cons: every consumer) the secret-expired, secret-rotate and secret-remove hooks due at now
// for the secrets the unit owns, as Juju's secret expiry and rotation workers and its
// obsolete revisions watcher report them to the owner (the leader, for an application's).
func (v *view) ownedSecrets(t *st.Tx, cons []*st.Consumer, now time.Time) {
	l := &v.unit.Local
	var tracked map[string]map[int]bool // made once, only if the unit owns a secret
	for _, s := range t.Secrets() {
		if s.Model != v.unit.Model || !(s.OwnerUnit == v.unit.Name || (s.OwnerUnit == "" && s.OwnerApp == v.unit.App && v.leader)) {
			continue
		}
		for _, rev := range slices.Sorted(maps.Keys(s.RevExpire)) {
			at, ok := l.SecretExpireRetry[s.URI][rev]
			if !ok {
				at = s.RevExpire[rev]
			}
			if _, exists := s.Revisions[rev]; exists && st.TriggerDue(at, now) {
				v.expired = append(v.expired, secretRev{uri: s.URI, label: s.Label, rev: rev})
			}
		}
		if s.NextRotate != nil && st.TriggerDue(*s.NextRotate, now) {
			v.rotate = append(v.rotate, secretRev{uri: s.URI, label: s.Label, rev: s.Latest})
		}
		if tracked == nil {
			tracked = st.TrackedRevisions(cons)
		}
		for _, rev := range s.ObsoleteRevisions(tracked[s.URI]) {
			if !slices.Contains(l.SecretRemoved[s.URI], rev) {
				v.obsolete = append(v.obsolete, secretRev{uri: s.URI, label: s.Label, rev: rev})
			}
		}
	}
}

func relHook(r *st.Relation, v *view, kind hooks.Kind) *st.Hook {
	me, _, _ := r.Side(v.unit.Model, v.unit.App)
	ep := r.EPs[me].Endpoint
	return &st.Hook{Kind: kind, Name: ep + "-" + string(kind), RelID: r.ID, Endpoint: ep,
		RemoteApp: r.RemoteAppName(v.unit.Model, v.unit.App)}
}

// sortedUnits sorts unit names as Juju does (its relation resolver and relation-list
// sort them as strings: "b/10" comes before "b/2").
func sortedUnits(names []string) []string {
	sort.Strings(names)
	return names
}

func seenUnits(rl *st.RelLocal) []string {
	var out []string
	for n := range rl.Units {
		out = append(out, n)
	}
	return sortedUnits(out)
}

// next decides the next hook at now, after the local operations that come before it
// (applied to v.unit); nil: no hook to run.
func (u *Uniter) next(v *view, now time.Time) *st.Hook {
	v.now = now
	for range 10 {
		o := nextOp(v)
		switch {
		case o == nil:
			return nil
		case o.local == nil:
			return o.hook
		}
		o.local(v.unit)
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
	if h.Kind.IsRelation() {
		advanceRelation(t, unit, h)
		return
	}
	switch h.Kind {
	case hooks.StorageAttached, hooks.StorageDetaching:
		if l.Storage == nil {
			l.Storage = map[string]bool{}
		}
		name, _, _ := strings.Cut(h.Storage, "/")
		l.Storage[name] = h.Kind == hooks.StorageAttached
	case hooks.Install:
		l.Installed = true
		l.CharmVersion = app.CharmVersion
	case hooks.LeaderElected:
		l.Leader = true
		l.LeaderVersion = app.LeaderVersion
	case hooks.LeaderSettingsChanged:
		l.LeaderVersion = h.Version
	case hooks.ConfigChanged:
		l.ConfigVersion = h.Version
	case hooks.Start:
		l.Started = true
	case hooks.UpgradeCharm:
		l.PodRecreated = false
		l.CharmVersion = app.CharmVersion
		l.ConfigVersion = -2 // upgrade-charm is always followed by config-changed
	case hooks.Stop:
		l.Stopped = true
		for id := range l.Rels {
			t.LeaveScope(unit, id)
		}
		l.Rels = map[int]*st.RelLocal{}
	case hooks.PebbleReady:
		l.Boot[h.Container] = h.BootID
	case hooks.UpdateStatus:
		l.LastUpdate = now
	case hooks.SecretChanged:
		l.SecretRevs[h.SecretURI] = h.SecretRev
	case hooks.SecretRotate, hooks.SecretExpired, hooks.SecretRemove:
		advanceOwnedSecret(t, unit, h, now)
	}
}

// advanceOwnedSecret records that an owner's secret hook ran (after the hook's own
// changes to the secret were committed).
func advanceOwnedSecret(t *st.Tx, unit *st.Unit, h *st.Hook, now time.Time) {
	l := &unit.Local
	s, ok := t.Secret(h.SecretURI)
	switch h.Kind {
	case hooks.SecretRotate:
		if ok {
			s.Rotated(h.SecretRev, now)
			t.PutSecret(s)
		}
	case hooks.SecretExpired:
		// Runs again later unless the charm removed the revision.
		if l.SecretExpireRetry == nil {
			l.SecretExpireRetry = map[string]map[int]time.Time{}
		}
		if l.SecretExpireRetry[h.SecretURI] == nil {
			l.SecretExpireRetry[h.SecretURI] = map[int]time.Time{}
		}
		l.SecretExpireRetry[h.SecretURI][h.SecretRev] = now.Add(st.ExpireRetryDelay)
	case hooks.SecretRemove:
		if l.SecretRemoved == nil {
			l.SecretRemoved = map[string][]int{}
		}
		l.SecretRemoved[h.SecretURI] = append(l.SecretRemoved[h.SecretURI], h.SecretRev)
	}
	pruneOwnedSecrets(t, l)
}

// pruneOwnedSecrets forgets what the unit recorded about secret revisions that are gone.
func pruneOwnedSecrets(t *st.Tx, l *st.Local) {
	for uri, revs := range l.SecretExpireRetry {
		s, ok := t.Secret(uri)
		for rev := range revs {
			if _, exists := s.Revisions[rev]; !ok || !exists {
				delete(revs, rev)
			}
		}
		if len(revs) == 0 {
			delete(l.SecretExpireRetry, uri)
		}
	}
	for uri, revs := range l.SecretRemoved {
		s, ok := t.Secret(uri)
		revs = slices.DeleteFunc(revs, func(rev int) bool {
			_, exists := s.Revisions[rev]
			return !ok || !exists
		})
		if len(revs) == 0 {
			delete(l.SecretRemoved, uri)
		} else {
			l.SecretRemoved[uri] = revs
		}
	}
}

// advanceRelation records that relation hook h ran.
func advanceRelation(t *st.Tx, unit *st.Unit, h *st.Hook) {
	l := &unit.Local
	rl := l.Rels[h.RelID]
	switch {
	case h.Kind == hooks.RelationCreated:
		l.Rels[h.RelID] = &st.RelLocal{Created: true, Units: map[string]int{}}
		if r, err := t.Relation(h.RelID); err == nil {
			t.EnterScope(unit, r)
		}
	case h.Kind == hooks.RelationBroken:
		delete(l.Rels, h.RelID)
		t.LeaveScope(unit, h.RelID)
	case rl == nil:
		// the relation was forgotten meanwhile
	case h.Kind == hooks.RelationJoined:
		rl.Units[h.RemoteUnit] = -1
	case h.Kind == hooks.RelationChanged && h.RemoteUnit == "":
		rl.AppVersion = h.Version
	case h.Kind == hooks.RelationChanged:
		rl.Units[h.RemoteUnit] = h.Version
	case h.Kind == hooks.RelationDeparted:
		delete(rl.Units, h.RemoteUnit)
	}
}
