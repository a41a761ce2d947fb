package uniter

import (
	"testing"
	"time"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
)

func rel(id int, peer bool, life string) *st.Relation {
	if peer {
		return &st.Relation{ID: id, Peer: true, Life: life, EPs: []st.RelEP{{Model: "m", App: "a", Endpoint: "peers", Alias: "a"}}}
	}
	return &st.Relation{ID: id, Life: life, EPs: []st.RelEP{
		{Model: "m", App: "a", Endpoint: "db", Alias: "a"},
		{Model: "m", App: "b", Endpoint: "backend", Alias: "b"}}}
}

func started() st.Local {
	return st.Local{Installed: true, Started: true, ConfigVersion: 0, Leader: true, LastUpdate: time.Now(),
		Rels: map[int]*st.RelLocal{}, Boot: map[string]string{}}
}

func TestNextHook(t *testing.T) {
	peer := rel(1, true, "alive")
	db := rel(2, false, "alive")
	dying := rel(2, false, "dying")
	u2 := &st.Unit{Name: "b/0"}
	tests := []struct {
		name   string
		life   string
		local  func(l *st.Local)
		rels   []*st.Relation
		remote map[int]map[string]*st.Unit
		bk     map[int]map[string]int
		leader bool
		boot   map[string]string // container -> boot id seen now
		events []*st.Hook        // queued workload events
		want   string            // hook name + remote unit
	}{
		{name: "install first", local: func(l *st.Local) { l.Installed = false }, want: "install"},
		{name: "created before leader hooks, non-peer first", rels: []*st.Relation{db, peer},
			local: func(l *st.Local) { l.Started = false; l.Leader = false; l.ConfigVersion = -1 }, leader: true, want: "db-relation-created"},
		{name: "leader-elected before config-changed",
			local: func(l *st.Local) { l.Started = false; l.Leader = false; l.ConfigVersion = -1 }, leader: true, want: "leader-elected"},
		{name: "start right after first config-changed",
			local: func(l *st.Local) { l.Started = false; l.LeaderVersion = 5 }, leader: true, want: "start"},
		{name: "joined", rels: []*st.Relation{db}, remote: map[int]map[string]*st.Unit{2: {"b/0": u2}},
			local: func(l *st.Local) { l.Rels[2] = &st.RelLocal{Created: true, Units: map[string]int{}} }, leader: true, want: "db-relation-joined b/0"},
		{name: "changed right after joined", rels: []*st.Relation{db}, remote: map[int]map[string]*st.Unit{2: {"b/0": u2, "b/1": u2}},
			bk:    map[int]map[string]int{2: {"b": 3}},
			local: func(l *st.Local) { l.Rels[2] = &st.RelLocal{Created: true, Units: map[string]int{"b/0": -1}} }, leader: true, want: "db-relation-changed b/0"},
		{name: "departed before app change", rels: []*st.Relation{db}, remote: map[int]map[string]*st.Unit{2: {}},
			bk:    map[int]map[string]int{2: {"b": 3}},
			local: func(l *st.Local) { l.Rels[2] = &st.RelLocal{Created: true, Units: map[string]int{"b/0": 1}} }, leader: true, want: "db-relation-departed b/0"},
		{name: "dying relation: departed then broken", rels: []*st.Relation{dying},
			local: func(l *st.Local) { l.Rels[2] = &st.RelLocal{Created: true, Units: map[string]int{}} }, leader: true, want: "db-relation-broken"},
		{name: "dying unit: departures before stop", life: "dying", rels: []*st.Relation{peer},
			local: func(l *st.Local) { l.Rels[1] = &st.RelLocal{Created: true, Units: map[string]int{"a/1": 1}} }, leader: true, want: "peers-relation-departed a/1"},
		{name: "dying unit: peers never broken", life: "dying", rels: []*st.Relation{peer},
			local: func(l *st.Local) { l.Rels[1] = &st.RelLocal{Created: true, Units: map[string]int{}} }, leader: true, want: "stop"},
		{name: "pebble-ready right after install, before config-changed and start", boot: map[string]string{"w": "b1"},
			local: func(l *st.Local) { l.Started = false; l.ConfigVersion = -1 }, leader: true, want: "w-pebble-ready"},
		{name: "pebble-ready after leader-elected", boot: map[string]string{"w": "b1"},
			local: func(l *st.Local) { l.Started = false; l.Leader = false; l.ConfigVersion = -1 }, leader: true, want: "leader-elected"},
		{name: "pebble-ready not before the start queued by config-changed", boot: map[string]string{"w": "b1"},
			local: func(l *st.Local) { l.Started = false }, leader: true, want: "start"},
		{name: "pebble-ready not while config-changed is queued after upgrade-charm", boot: map[string]string{"w": "b1"},
			local: func(l *st.Local) { l.ConfigVersion = -2 }, leader: true, want: "config-changed"},
		{name: "pebble-ready before relation hooks", boot: map[string]string{"w": "b1"}, rels: []*st.Relation{db},
			remote: map[int]map[string]*st.Unit{2: {"b/0": u2}},
			local:  func(l *st.Local) { l.Rels[2] = &st.RelLocal{Created: true, Units: map[string]int{}} }, leader: true, want: "w-pebble-ready"},
		{name: "pebble-ready once per boot", boot: map[string]string{"w": "b1"}, local: func(l *st.Local) { l.Boot["w"] = "b1" },
			leader: true, want: ""},
		{name: "pebble-ready before queued notices", boot: map[string]string{"w": "b2"}, local: func(l *st.Local) { l.Boot["w"] = "b1" },
			events: []*st.Hook{{Kind: "pebble-custom-notice", Name: "w-pebble-custom-notice", Event: 1}}, leader: true, want: "w-pebble-ready"},
		{name: "notices in arrival order", boot: map[string]string{"w": "b1"}, local: func(l *st.Local) { l.Boot["w"] = "b1" },
			events: []*st.Hook{{Kind: "pebble-check-failed", Name: "w-pebble-check-failed", Event: 4}, {Kind: "pebble-custom-notice", Name: "w-pebble-custom-notice", Event: 5}},
			leader: true, want: "w-pebble-check-failed"},
		{name: "update-status when due", local: func(l *st.Local) { l.LastUpdate = time.Time{} }, leader: true, want: "update-status"},
		{name: "nothing to do", leader: true, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := started()
			if tc.local != nil {
				tc.local(&l)
			}
			life := tc.life
			if life == "" {
				life = "alive"
			}
			leader := ""
			if tc.leader {
				leader = "a/0"
			}
			v := &view{unit: &st.Unit{Model: "m", App: "a", Name: "a/0", Life: life, Local: l, WorkloadEvents: tc.events},
				app: &st.App{Name: "a", Leader: leader}, rels: tc.rels, remote: tc.remote, buckets: tc.bk,
				leader: tc.leader, interval: time.Minute, boot: tc.boot}
			if v.remote == nil {
				v.remote = map[int]map[string]*st.Unit{}
			}
			if v.buckets == nil {
				v.buckets = map[int]map[string]int{}
			}
			got := ""
			if h := (&Uniter{}).next(v, time.Now()); h != nil {
				got = h.Name
				if h.RemoteUnit != "" {
					got += " " + h.RemoteUnit
				}
			}
			if got != tc.want {
				t.Errorf("next = %q, want %q", got, tc.want)
			}
		})
	}
}
