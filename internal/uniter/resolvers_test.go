package uniter

import (
	"fmt"
	"testing"
	"time"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
)

// testView is a started leader unit a/0 with nothing to do; fn adjusts it.
func testView(fn func(v *view)) *view {
	l := started()
	v := &view{unit: &st.Unit{Model: "m", App: "a", Name: "a/0", Life: st.Alive, Local: l, Scopes: map[int]bool{}},
		app: &st.App{Name: "a", Leader: "a/0", Life: st.Alive}, leader: true, interval: time.Minute, now: time.Now(),
		remote: map[int]map[string]*st.Unit{}, buckets: map[int]map[string]int{}}
	if fn != nil {
		fn(v)
	}
	return v
}

// describe names an op: "<hook> [remote unit] [storage id] [departing=<unit>]", "action:<name>",
// "local:<what>", or "" for none.
func describe(o *op) string {
	switch {
	case o == nil:
		return ""
	case o.action != nil:
		return "action:" + o.action.Name
	case o.hook == nil:
		return "local:" + o.what
	}
	s := o.hook.Name
	if o.hook.RemoteUnit != "" {
		s += " " + o.hook.RemoteUnit
	}
	if o.hook.Storage != "" {
		s += " " + o.hook.Storage
	}
	if o.hook.Departing != "" {
		s += " departing=" + o.hook.Departing
	}
	return s
}

var (
	u2     = &st.Unit{Name: "b/0"}
	notice = &st.Hook{Kind: "pebble-custom-notice", Name: "w-pebble-custom-notice", Container: "w", Event: 1}
)

func dying(v *view)    { v.unit.Life = st.Dying }
func withDB(v *view)   { v.rels = append(v.rels, rel(2, false, st.Alive)) }
func withPeer(v *view) { v.rels = append(v.rels, rel(1, true, st.Alive)) }
func queuedStart(v *view) {
	v.unit.Local.Started = false
}
func withStorage(v *view) { v.storage = []string{"data"} }
func notInstalled(v *view) {
	v.unit.Local = st.Local{ConfigVersion: -1, LeaderVersion: -1}
	v.storage = []string{"data"}
}

// seen gives the unit local state for relation id with the remote units at versions.
func seen(id int, units map[string]int) func(v *view) {
	return func(v *view) {
		if units == nil {
			units = map[string]int{}
		}
		v.unit.Local.Rels[id] = &st.RelLocal{Created: true, Units: units}
	}
}

func all(fns ...func(v *view)) func(v *view) {
	return func(v *view) {
		for _, fn := range fns {
			fn(v)
		}
	}
}

func TestResolvers(t *testing.T) {
	tests := []struct {
		name string
		r    resolver
		view func(v *view)
		want string
	}{
		// install
		{"install once installed: nothing", installResolver{}, nil, ""},
		{"install", installResolver{}, notInstalled, "install"},
		{"no install for a dying unit", installResolver{}, all(notInstalled, dying), ""},
		// storage
		{"no storage-attached before install", storageResolver{}, notInstalled, ""},
		{"storage-attached once installed and idle", storageResolver{}, withStorage, "data-storage-attached data/0"},
		{"no storage-attached while start is queued", storageResolver{}, all(withStorage, queuedStart), ""},
		{"storage-attached while config-changed is queued after start", storageResolver{}, all(withStorage, func(v *view) { v.unit.Local.ConfigVersion = -2 }),
			"data-storage-attached data/0"},
		{"storage of a unit that never installed is not detached", storageResolver{}, all(notInstalled, dying), ""},
		{"storage detached when dying", storageResolver{}, all(dying, func(v *view) {
			v.storage = []string{"data"}
			v.unit.Local.Storage = map[string]bool{"data": true}
		}), "data-storage-detaching data/0"},
		{"attached storage stays while alive", storageResolver{}, func(v *view) {
			v.storage = []string{"data"}
			v.unit.Local.Storage = map[string]bool{"data": true}
		}, ""},
		// pod recreated
		{"pod recreated: upgrade-charm", podRecreatedResolver{}, func(v *view) { v.unit.Local.PodRecreated = true }, "upgrade-charm"},
		// queued hooks
		{"start queued after the first config-changed", queuedResolver{}, queuedStart, "start"},
		{"config-changed queued after upgrade-charm", queuedResolver{}, func(v *view) { v.unit.Local.ConfigVersion = -2 }, "config-changed"},
		{"nothing queued", queuedResolver{}, nil, ""},
		// created relations
		{"relation-created, non-peer first", createdRelationsResolver{}, all(withDB, withPeer), "db-relation-created"},
		{"no relation-created for a dying relation", createdRelationsResolver{}, func(v *view) { v.rels = []*st.Relation{rel(2, false, st.Dying)} }, ""},
		{"no relation-created while start is queued", createdRelationsResolver{}, all(withDB, queuedStart), ""},
		{"no relation-created for a dying unit", createdRelationsResolver{}, all(withDB, dying), ""},
		// leadership
		{"leader-elected", leadershipResolver{}, func(v *view) { v.unit.Local.Leader = false }, "leader-elected"},
		{"leader-settings-changed", leadershipResolver{}, func(v *view) {
			v.leader, v.unit.Local.Leader, v.app.Leader, v.app.LeaderVersion = false, false, "a/1", 3
		}, "leader-settings-changed"},
		{"resign when leadership moved", leadershipResolver{}, func(v *view) { v.leader, v.app.Leader = false, "a/1" }, "local:resign leadership"},
		{"resign when dying", leadershipResolver{}, dying, "local:resign leadership"},
		{"wait for a leader before start", leadershipResolver{}, func(v *view) {
			v.leader, v.app.Leader, v.unit.Local.Leader, v.unit.Local.Started, v.unit.Local.ConfigVersion = false, "", false, false, -1
		}, "local:wait"},
		{"no leader needed once started", leadershipResolver{}, func(v *view) { v.leader, v.app.Leader, v.unit.Local.Leader = false, "", false }, ""},
		// workload
		{"pebble-ready on a new boot", workloadResolver{}, func(v *view) { v.boot = map[string]string{"w": "b1"} }, "w-pebble-ready"},
		{"pebble-ready for a dying unit", workloadResolver{}, all(dying, func(v *view) { v.boot = map[string]string{"w": "b1"} }), "w-pebble-ready"},
		{"no pebble-ready for a container that is down", workloadResolver{}, func(v *view) { v.boot = map[string]string{"w": ""} }, ""},
		{"notice event", workloadResolver{}, func(v *view) { v.unit.WorkloadEvents = []*st.Hook{notice} }, "w-pebble-custom-notice"},
		{"no workload event before install", workloadResolver{}, all(notInstalled, func(v *view) { v.unit.WorkloadEvents = []*st.Hook{notice} }), ""},
		// secrets
		{"secret-changed", secretsResolver{}, func(v *view) { v.secrets = []secretRev{{uri: "secret://m/x", rev: 2}} }, "secret-changed"},
		{"no secret-changed for a dying unit", secretsResolver{}, all(dying, func(v *view) { v.secrets = []secretRev{{uri: "secret://m/x", rev: 2}} }), ""},
		// actions
		{"action", actionsResolver{}, func(v *view) { v.actions = []*st.Action{{Name: "backup"}, {Name: "restore"}} }, "action:backup"},
		{"no action before install", actionsResolver{}, all(notInstalled, func(v *view) { v.actions = []*st.Action{{Name: "backup"}} }), ""},
		{"no action while start is queued", actionsResolver{}, all(queuedStart, func(v *view) { v.actions = []*st.Action{{Name: "backup"}} }), ""},
		{"no action while config-changed is queued", actionsResolver{}, func(v *view) {
			v.unit.Local.ConfigVersion = -2
			v.actions = []*st.Action{{Name: "backup"}}
		}, ""},
		{"action while a failed install waits", actionsResolver{}, all(notInstalled, func(v *view) {
			v.unit.Error = &st.Hook{Kind: "install", Name: "install"}
			v.actions = []*st.Action{{Name: "backup"}}
		}), "action:backup"},
		// teardown
		{"alive: no teardown", teardownResolver{}, nil, ""},
		{"dying: stop", teardownResolver{}, dying, "stop"},
		{"dying and stopped: remove", teardownResolver{}, all(dying, func(v *view) { v.unit.Local.Stopped = true }), "remove"},
		{"dying before start: remove without stop", teardownResolver{}, all(dying, func(v *view) { v.unit.Local.Started = false }), "remove"},
		{"dying before install: no hook", teardownResolver{}, all(dying, notInstalled), "local:remove the unit, which never installed"},
		{"dying: departed as the departing unit, then broken", teardownResolver{}, all(dying, withDB, seen(2, map[string]int{"b/0": 1})),
			"db-relation-departed b/0 departing=a/0"},
		{"dying: broken after departures", teardownResolver{}, all(dying, withDB, seen(2, nil)), "db-relation-broken"},
		{"dying: peers are never broken", teardownResolver{}, all(dying, withPeer, seen(1, nil)), "stop"},
		// charm
		{"upgrade-charm after a refresh", charmResolver{}, func(v *view) { v.app.CharmVersion = 1 }, "upgrade-charm"},
		{"config-changed", charmResolver{}, func(v *view) { v.app.ConfigVersion = 1 }, "config-changed"},
		{"upgrade-charm before config-changed", charmResolver{}, func(v *view) { v.app.CharmVersion, v.app.ConfigVersion = 1, 1 }, "upgrade-charm"},
		// relations
		{"joined", relationsResolver{}, all(withDB, seen(2, nil), func(v *view) { v.remote[2] = map[string]*st.Unit{"b/0": u2} }), "db-relation-joined b/0"},
		{"joined in Juju's order: unit names sorted as strings", relationsResolver{}, all(withDB, seen(2, nil), func(v *view) {
			v.remote[2] = map[string]*st.Unit{"b/2": u2, "b/10": u2}
		}), "db-relation-joined b/10"},
		{"departed in Juju's order", relationsResolver{}, all(withDB, seen(2, map[string]int{"b/9": 1, "b/10": 1})), "db-relation-departed b/10 departing=b/10"},
		{"changed right after joined, before a departure", relationsResolver{}, all(withDB, seen(2, map[string]int{"b/0": -1})),
			"db-relation-changed b/0"},
		{"departed", relationsResolver{}, all(withDB, seen(2, map[string]int{"b/0": 1})), "db-relation-departed b/0 departing=b/0"},
		{"app settings", relationsResolver{}, all(withDB, seen(2, nil), func(v *view) { v.buckets[2] = map[string]int{"b": 2} }), "db-relation-changed"},
		{"no app settings hook for the peer leader", relationsResolver{}, all(withPeer, seen(1, nil), func(v *view) { v.buckets[1] = map[string]int{"a": 2} }), ""},
		{"unit settings", relationsResolver{}, all(withDB, seen(2, map[string]int{"b/0": 1}), func(v *view) {
			v.remote[2] = map[string]*st.Unit{"b/0": u2}
			v.buckets[2] = map[string]int{"b/0": 2}
		}), "db-relation-changed b/0"},
		{"dying relation: broken", relationsResolver{}, all(seen(2, nil), func(v *view) { v.rels = []*st.Relation{rel(2, false, st.Dying)} }), "db-relation-broken"},
		{"vanished relation: forgotten without a hook", relationsResolver{}, seen(7, map[string]int{"b/0": 1}), "local:forget vanished relation 7"},
		{"non-peer relations first", relationsResolver{}, all(withPeer, withDB, seen(1, map[string]int{"a/1": 1}), seen(2, map[string]int{"b/0": 1})),
			"db-relation-departed b/0 departing=b/0"},
		// update-status
		{"update-status when due", updateStatusResolver{}, func(v *view) { v.unit.Local.LastUpdate = time.Time{} }, "update-status"},
		{"no update-status before due", updateStatusResolver{}, nil, ""},
		{"no update-status while start is queued", updateStatusResolver{}, all(queuedStart, func(v *view) { v.unit.Local.LastUpdate = time.Time{} }), ""},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%T/%s", tc.r, tc.name), func(t *testing.T) {
			if got := describe(tc.r.nextOp(testView(tc.view))); got != tc.want {
				t.Errorf("nextOp = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestResolverOrder checks the composed order (Juju 3.6's uniterResolver) where two
// resolvers have something to do.
func TestResolverOrder(t *testing.T) {
	tests := []struct {
		name string
		view func(v *view)
		want string
	}{
		{"install before storage-attached", notInstalled, "install"},
		{"after install: leader-elected before storage-attached", all(withStorage, func(v *view) {
			v.unit.Local.Leader, v.unit.Local.Started, v.unit.Local.ConfigVersion = false, false, -1
		}), "leader-elected"},
		{"after install: storage-attached before config-changed", all(withStorage, func(v *view) {
			v.unit.Local.Started, v.unit.Local.ConfigVersion = false, -1
		}), "data-storage-attached data/0"},
		{"an action before storage-attached", all(withStorage, func(v *view) {
			v.unit.Local.Started, v.unit.Local.ConfigVersion = false, -1
			v.actions = []*st.Action{{Name: "backup"}}
		}), "action:backup"},
		{"queued start before an action", all(queuedStart, func(v *view) { v.actions = []*st.Action{{Name: "backup"}} }), "start"},
		{"a dying unit that never installed runs nothing", all(notInstalled, dying), "local:remove the unit, which never installed"},
		{"pod recreated: upgrade-charm before anything", all(withDB, func(v *view) {
			v.unit.Local.PodRecreated = true
			v.boot = map[string]string{"w": "b1"}
		}), "upgrade-charm"},
		{"queued start before relation-created and pebble-ready", all(queuedStart, withDB, func(v *view) { v.boot = map[string]string{"w": "b1"} }), "start"},
		{"relation-created before leader-elected", all(withDB, func(v *view) { v.unit.Local.Leader = false }), "db-relation-created"},
		{"leader-elected before pebble-ready", func(v *view) {
			v.unit.Local.Leader = false
			v.boot = map[string]string{"w": "b1"}
		}, "leader-elected"},
		{"no leader yet: nothing, not even update-status", func(v *view) {
			v.leader, v.app.Leader, v.unit.Local.Leader, v.unit.Local.Started, v.unit.Local.ConfigVersion = false, "", false, false, -1
			v.unit.Local.LastUpdate = time.Time{}
			v.boot = map[string]string{"w": "b1"}
		}, ""},
		{"pebble-ready before secret-changed", func(v *view) {
			v.boot = map[string]string{"w": "b1"}
			v.secrets = []secretRev{{uri: "secret://m/x", rev: 2}}
		}, "w-pebble-ready"},
		{"secret-changed before an action", func(v *view) {
			v.secrets = []secretRev{{uri: "secret://m/x", rev: 2}}
			v.actions = []*st.Action{{Name: "backup"}}
		}, "secret-changed"},
		{"action before config-changed", func(v *view) {
			v.app.ConfigVersion = 1
			v.actions = []*st.Action{{Name: "backup"}}
		}, "action:backup"},
		{"secret-changed before config-changed and relation hooks", all(withDB, seen(2, map[string]int{"b/0": 1}), func(v *view) {
			v.app.ConfigVersion = 1
			v.secrets = []secretRev{{uri: "secret://m/x", rev: 2}}
		}), "secret-changed"},
		{"config-changed before relation hooks", all(withDB, seen(2, map[string]int{"b/0": 1}), func(v *view) { v.app.ConfigVersion = 1 }), "config-changed"},
		{"relation hooks before update-status", all(withDB, seen(2, map[string]int{"b/0": 1}), func(v *view) { v.unit.Local.LastUpdate = time.Time{} }),
			"db-relation-departed b/0 departing=b/0"},
		{"dying leader resigns first", all(dying, withDB, seen(2, map[string]int{"b/0": 1})), "local:resign leadership"},
		{"dying: storage-detaching before departures", all(dying, withDB, seen(2, map[string]int{"b/0": 1}), func(v *view) {
			v.unit.Local.Leader = false
			v.storage = []string{"data"}
			v.unit.Local.Storage = map[string]bool{"data": true}
		}), "data-storage-detaching data/0"},
		{"dying with a relation whose record vanished: forgotten, never a nameless relation-broken", all(dying, seen(7, nil), func(v *view) {
			v.unit.Local.Leader = false
		}), "local:forget vanished relation 7"},
		{"dying: workload events still run", all(dying, func(v *view) {
			v.unit.Local.Leader = false
			v.unit.WorkloadEvents = []*st.Hook{notice}
		}), "w-pebble-custom-notice"},
		{"dying: no config-changed or update-status, but stop", all(dying, func(v *view) {
			v.unit.Local.Leader = false
			v.app.ConfigVersion = 1
			v.unit.Local.LastUpdate = time.Time{}
		}), "stop"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := describe(nextOp(testView(tc.view))); got != tc.want {
				t.Errorf("nextOp = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestUpdateStatusWait: each wait lies in Juju's [0.8, 1.2) × interval window, is the same on
// every evaluation, and the units of an application spread over the window instead of
// running update-status together.
func TestUpdateStatusWait(t *testing.T) {
	const interval = 5 * time.Minute
	last := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	lo, hi := interval*4/5, interval*6/5
	seen := map[time.Duration]bool{}
	for i := range 20 {
		unit := fmt.Sprintf("pg/%d", i)
		w := updateStatusWait(interval, unit, last)
		if w < lo || w >= hi {
			t.Fatalf("%s waits %v, outside [%v, %v)", unit, w, lo, hi)
		}
		if again := updateStatusWait(interval, unit, last); again != w {
			t.Fatalf("%s: one wait drawn twice: %v then %v", unit, w, again)
		}
		seen[w] = true
	}
	if len(seen) < 15 {
		t.Errorf("20 units drew only %d distinct waits: %v", len(seen), seen)
	}
	// The next wait of one unit is a new draw.
	draws := map[time.Duration]bool{}
	for i := range 10 {
		draws[updateStatusWait(interval, "pg/0", last.Add(time.Duration(i)*interval))] = true
	}
	if len(draws) < 8 {
		t.Errorf("10 successive waits of pg/0 drew only %d distinct values", len(draws))
	}
	// Due at the drawn wait, not before.
	w := updateStatusWait(time.Minute, "a/0", last)
	for _, tc := range []struct {
		after time.Duration
		want  string
	}{{w - time.Millisecond, ""}, {w, "update-status"}} {
		v := testView(func(v *view) { v.unit.Local.LastUpdate = last; v.now = last.Add(tc.after) })
		if got := describe((updateStatusResolver{}).nextOp(v)); got != tc.want {
			t.Errorf("%v after the last update-status (wait %v): got %q, want %q", tc.after, w, got, tc.want)
		}
	}
}
