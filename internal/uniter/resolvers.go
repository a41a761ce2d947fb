package uniter

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"sort"
	"time"

	"github.com/juju/charm/v12/hooks"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
)

// op is what the resolvers decide a unit does next: run a hook, run an action, or change
// its local state without running anything (Juju's resign-leadership operation; a
// relation that vanished is forgotten; a unit that dies before install is removed).
type op struct {
	hook   *st.Hook
	action *st.Action
	local  func(unit *st.Unit)
	what   string // what a local op does, for the log
}

// wait is a resolver's answer "nothing now, and nothing of lower priority either".
var wait = &op{what: "wait"}

func runOp(h *st.Hook) *op { return &op{hook: h} }

// resolver decides the next operation of one concern from the view, as Juju's uniter
// resolvers do: nil when it has nothing to do.
type resolver interface {
	nextOp(v *view) *op
}

// uniterResolvers are the resolvers in Juju 3.6's priority order: uniterResolver.NextOp's
// (reboot and series upgrades have no jujulet equivalent; a queued hook runs after the
// storage resolver), then its nextOp's (teardown of a dying unit, install, upgrade-charm,
// config-changed, relations, update-status).
var uniterResolvers = []resolver{
	podRecreatedResolver{},
	createdRelationsResolver{},
	leadershipResolver{},
	workloadResolver{},
	secretsResolver{},
	actionsResolver{},
	storageResolver{},
	queuedResolver{},
	teardownResolver{},
	installResolver{},
	charmResolver{},
	relationsResolver{},
	updateStatusResolver{},
}

// nextOp asks the resolvers in order; nil: nothing to do.
func nextOp(v *view) *op {
	for _, r := range uniterResolvers {
		if o := r.nextOp(v); o != nil {
			if o == wait {
				return nil
			}
			return o
		}
	}
	return nil
}

func (v *view) alive() bool { return v.unit.Life == st.Alive }

// queued is the hook Juju would hold queued after the last one: config-changed after
// upgrade-charm, start after the first config-changed.
func (v *view) queued() *st.Hook {
	l := &v.unit.Local
	switch {
	case l.ConfigVersion == -2:
		return &st.Hook{Kind: hooks.ConfigChanged, Name: string(hooks.ConfigChanged), Version: v.app.ConfigVersion}
	case l.Installed && !l.Started && l.ConfigVersion >= 0:
		return &st.Hook{Kind: hooks.Start, Name: string(hooks.Start)}
	}
	return nil
}

// idle reports Juju's Continue state: installed and no hook queued. Most resolvers act
// only then.
func (v *view) idle() bool { return v.unit.Local.Installed && v.queued() == nil }

// podRecreatedResolver: a pod that came back after a loss runs upgrade-charm first, as
// Juju's uniter resuming a charm upgrade in a new pod; config-changed is queued after it.
type podRecreatedResolver struct{}

func (podRecreatedResolver) nextOp(v *view) *op {
	if v.unit.Local.PodRecreated {
		return runOp(&st.Hook{Kind: hooks.UpgradeCharm, Name: string(hooks.UpgradeCharm)})
	}
	return nil
}

// createdRelationsResolver runs relation-created for the alive relations the unit has not
// seen: non-peer first, then by id.
type createdRelationsResolver struct{}

func (createdRelationsResolver) nextOp(v *view) *op {
	if !v.idle() || !v.alive() {
		return nil
	}
	for _, r := range v.rels {
		if r.Life != st.Alive {
			continue
		}
		if rl := v.unit.Local.Rels[r.ID]; rl == nil || !rl.Created {
			return runOp(relHook(r, v, hooks.RelationCreated))
		}
	}
	return nil
}

// leadershipResolver resigns leadership locally when the unit lost it or is dying, and runs
// leader-elected and leader-settings-changed. Until the unit has started, nothing of lower
// priority runs before the controller has elected a leader, so that leader-elected comes
// before config-changed as it does in Juju, whose uniter claims leadership at startup.
type leadershipResolver struct{}

func (leadershipResolver) nextOp(v *view) *op {
	l := &v.unit.Local
	if !l.Installed {
		return nil
	}
	if l.Leader && (!v.leader || !v.alive()) {
		return &op{what: "resign leadership", local: func(unit *st.Unit) { unit.Local.Leader = false }}
	}
	if v.queued() != nil || !v.alive() {
		return nil
	}
	switch {
	case v.app.Leader == "" && !l.Started:
		return wait
	case v.leader && !l.Leader:
		return runOp(&st.Hook{Kind: hooks.LeaderElected, Name: string(hooks.LeaderElected)})
	case !v.leader && v.app.LeaderVersion != l.LeaderVersion:
		return runOp(&st.Hook{Kind: hooks.LeaderSettingsChanged, Name: string(hooks.LeaderSettingsChanged), Version: v.app.LeaderVersion})
	}
	return nil
}

// workloadResolver runs the workload events, as Juju's workload hook resolver: a new
// Pebble boot's pebble-ready (Juju's pebblePoller), then the events made from Pebble
// notices in the order they came. Not gated on start, nor on the unit's life.
type workloadResolver struct{}

func (workloadResolver) nextOp(v *view) *op {
	if !v.idle() {
		return nil
	}
	cs := make([]string, 0, len(v.boot))
	for c := range v.boot {
		cs = append(cs, c)
	}
	sort.Strings(cs)
	for _, c := range cs {
		if b := v.boot[c]; b != "" && b != v.unit.Local.Boot[c] {
			return runOp(&st.Hook{Kind: hooks.PebbleReady, Name: c + "-" + string(hooks.PebbleReady), Container: c, BootID: b})
		}
	}
	if len(v.unit.WorkloadEvents) > 0 {
		h := *v.unit.WorkloadEvents[0]
		return runOp(&h)
	}
	return nil
}

// secretsResolver runs the secret hooks in the order of Juju's secrets resolver: an
// owned revision's expiry, an owned secret's rotation, a consumed secret's new revision,
// then an owned revision no consumer tracks any more. Not before install, not for a dying
// unit, not while a hook is queued.
type secretsResolver struct{}

func (secretsResolver) nextOp(v *view) *op {
	if !v.idle() || !v.alive() {
		return nil
	}
	hook := func(kind hooks.Kind, s secretRev) *op {
		return runOp(&st.Hook{Kind: kind, Name: string(kind), SecretURI: s.uri, SecretLbl: s.label, SecretRev: s.rev})
	}
	switch {
	case len(v.expired) > 0:
		return hook(hooks.SecretExpired, v.expired[0])
	case len(v.rotate) > 0:
		return hook(hooks.SecretRotate, v.rotate[0])
	case len(v.secrets) > 0:
		return hook(hooks.SecretChanged, v.secrets[0])
	case len(v.obsolete) > 0:
		return hook(hooks.SecretRemove, v.obsolete[0])
	}
	return nil
}

// actionsResolver runs the unit's oldest pending action, as Juju's actions resolver: only
// when no hook is queued (Continue), or while a hook error waits (step asks it then).
type actionsResolver struct{}

func (actionsResolver) nextOp(v *view) *op {
	if len(v.actions) == 0 || (!v.idle() && v.unit.Error == nil) {
		return nil
	}
	return &op{action: v.actions[0]}
}

// storageResolver runs the storage hooks as Juju's storage resolver does on Kubernetes,
// where storage comes with the pod: never before install, only when nothing is queued
// (or a hook is queued after start), attaching while the unit lives and detaching once it
// is dying, before its relations are broken and it stops.
type storageResolver struct{}

func (storageResolver) nextOp(v *view) *op {
	l := &v.unit.Local
	if !v.idle() && (v.queued() == nil || !l.Started) {
		return nil
	}
	id := func(name string) string { return fmt.Sprintf("%s/%d", name, st.UnitNum(v.unit.Name)) }
	for _, name := range v.storage {
		switch {
		case v.alive() && !l.Storage[name]:
			return runOp(&st.Hook{Kind: hooks.StorageAttached, Name: name + "-" + string(hooks.StorageAttached), Storage: id(name)})
		case !v.alive() && l.Storage[name]:
			return runOp(&st.Hook{Kind: hooks.StorageDetaching, Name: name + "-" + string(hooks.StorageDetaching), Storage: id(name)})
		}
	}
	return nil
}

// queuedResolver runs the queued hook.
type queuedResolver struct{}

func (queuedResolver) nextOp(v *view) *op {
	if h := v.queued(); h != nil {
		return runOp(h)
	}
	return nil
}

// teardownResolver takes a dying unit down, as Juju's nextOp: every relation departed and
// broken, then stop if it started, then remove if it installed. A unit that dies before
// install runs no hook at all. Nothing else runs for a dying unit.
type teardownResolver struct{}

func (teardownResolver) nextOp(v *view) *op {
	if v.alive() {
		return nil
	}
	if o := (relationsResolver{}).nextOp(v); o != nil {
		return o
	}
	l := &v.unit.Local
	switch {
	case l.Started && !l.Stopped:
		return runOp(&st.Hook{Kind: hooks.Stop, Name: string(hooks.Stop)})
	case l.Installed:
		return runOp(&st.Hook{Kind: hooks.Remove, Name: string(hooks.Remove)})
	}
	return &op{what: "remove the unit, which never installed", local: func(unit *st.Unit) { unit.Local.Removed = true }}
}

// installResolver runs install, the first hook (storage is attached after it).
type installResolver struct{}

func (installResolver) nextOp(v *view) *op {
	if v.unit.Local.Installed || !v.alive() {
		return nil
	}
	return runOp(&st.Hook{Kind: hooks.Install, Name: string(hooks.Install)})
}

// charmResolver runs upgrade-charm after a refresh (config-changed is queued after it) and
// config-changed when the application's config changed.
type charmResolver struct{}

func (charmResolver) nextOp(v *view) *op {
	l := &v.unit.Local
	if !v.idle() || !v.alive() {
		return nil
	}
	switch {
	case v.app.CharmVersion != l.CharmVersion:
		return runOp(&st.Hook{Kind: hooks.UpgradeCharm, Name: string(hooks.UpgradeCharm), Version: v.app.CharmVersion})
	case v.app.ConfigVersion != l.ConfigVersion:
		return runOp(&st.Hook{Kind: hooks.ConfigChanged, Name: string(hooks.ConfigChanged), Version: v.app.ConfigVersion})
	}
	return nil
}

// relationsResolver runs the relation hooks of the relations the unit has seen: non-peer
// relations first, then by id, one relation's hooks before the next one's.
type relationsResolver struct{}

func (relationsResolver) nextOp(v *view) *op {
	l := &v.unit.Local
	if !v.idle() {
		return nil
	}
	relByID := map[int]*st.Relation{}
	for _, r := range v.rels {
		relByID[r.ID] = r
	}
	ids := make([]int, 0, len(l.Rels))
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
	for _, id := range ids {
		r := relByID[id]
		if r == nil {
			// Gone from the store altogether: forgotten without a hook, as Juju's
			// relation state tracker does with a relation it can no longer find.
			return &op{what: fmt.Sprintf("forget vanished relation %d", id), local: func(unit *st.Unit) {
				delete(unit.Local.Rels, id)
				delete(unit.Scopes, id) // leaves its scope
			}}
		}
		if h := nextRelationHook(v, r, l.Rels[id]); h != nil {
			return runOp(h)
		}
	}
	return nil
}

// nextRelationHook is the next hook of one relation, in the order of Juju's
// nextHookForRelation: the relation-changed owed to a unit that just joined, departures,
// relation-broken (a dying relation, or a dying unit; never for peers), then the settings
// hooks.
func nextRelationHook(v *view, r *st.Relation, rl *st.RelLocal) *st.Hook {
	broken := !v.alive() || r.Life != st.Alive
	cur := v.remote[r.ID]
	if broken {
		cur = nil // as Juju: a broken relation has no remote members
	}
	if h := departureHook(v, r, rl, cur); h != nil {
		return h
	}
	switch {
	case !broken:
		return settingsHook(v, r, rl, cur)
	case r.Peer:
		return nil
	}
	return relHook(r, v, hooks.RelationBroken)
}

// departureHook finishes a join (joined is always followed by changed) or reports a remote
// unit gone from cur; a dying unit departs as the departing unit itself.
func departureHook(v *view, r *st.Relation, rl *st.RelLocal, cur map[string]*st.Unit) *st.Hook {
	seen := seenUnits(rl)
	for _, ru := range seen {
		if rl.Units[ru] == -1 {
			h := relHook(r, v, hooks.RelationChanged)
			h.RemoteUnit, h.Version = ru, v.buckets[r.ID][ru]
			return h
		}
	}
	for _, ru := range seen {
		if _, ok := cur[ru]; !ok {
			h := relHook(r, v, hooks.RelationDeparted)
			h.RemoteUnit, h.Departing = ru, ru
			if !v.alive() || v.app.Life != st.Alive {
				h.Departing = v.unit.Name
			}
			return h
		}
	}
	return nil
}

// settingsHook runs, in Juju's order, relation-changed for the remote application's
// settings (not for the peer leader, who writes them), relation-joined for a new remote
// unit, and relation-changed for a remote unit's settings.
func settingsHook(v *view, r *st.Relation, rl *st.RelLocal, cur map[string]*st.Unit) *st.Hook {
	appName := r.RemoteAppName(v.unit.Model, v.unit.App)
	if ver := v.buckets[r.ID][appName]; ver > 0 && ver != rl.AppVersion && !(r.Peer && v.leader) {
		h := relHook(r, v, hooks.RelationChanged)
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
		h := relHook(r, v, hooks.RelationJoined)
		h.RemoteUnit = sortedUnits(joins)[0]
		return h
	}
	for _, ru := range seenUnits(rl) {
		if ver := v.buckets[r.ID][ru]; ver != rl.Units[ru] {
			h := relHook(r, v, hooks.RelationChanged)
			h.RemoteUnit, h.Version = ru, ver
			return h
		}
	}
	return nil
}

// updateStatusResolver runs update-status when nothing else needs to, every interval give
// or take Juju's jitter (updateStatusWait).
type updateStatusResolver struct{}

func (updateStatusResolver) nextOp(v *view) *op {
	last := v.unit.Local.LastUpdate
	if v.idle() && v.alive() && v.now.Sub(last) >= updateStatusWait(v.interval, v.unit.Name, last) {
		return runOp(&st.Hook{Kind: hooks.UpdateStatus, Name: string(hooks.UpdateStatus)})
	}
	return nil
}

// updateStatusWait is how long a unit waits for its next update-status after the one at
// last: Juju's uniter draws each wait uniformly from [0.8, 1.2) × the interval, so that the
// units of a model do not all run the hook at once. The draw here is a hash of the unit and
// its last run instead of a random source: the same on every evaluation of one wait (the
// resolvers run many times per wait), different from unit to unit and from wait to wait.
func updateStatusWait(interval time.Duration, unit string, last time.Time) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(unit))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(last.UnixNano())))
	window := int64(interval) * 2 / 5
	if window <= 0 {
		return interval
	}
	return time.Duration(int64(interval)*4/5 + int64(h.Sum64()%uint64(window)))
}
