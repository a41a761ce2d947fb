package uniter

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
	"github.com/jujulet/postgresql-k8s/internal/hooktools"
	"github.com/jujulet/postgresql-k8s/internal/pod"
)

type hooktoolsContext = hooktools.Context

type relKey struct {
	id  int
	app bool
}

// hookCtx is one hook or action execution as the hook tools see it. Relation settings,
// secrets, charm state and ports are buffered until commit.
type hookCtx struct {
	u      *Uniter
	id     string
	hook   *st.Hook
	action *st.Action

	mu        sync.Mutex
	relSets   map[relKey]map[string]string
	state     map[string]*string
	ports     []st.Port
	portsSet  bool
	secrets   map[string]*st.Secret // modified secrets (nil value: removed)
	pins      map[string]*st.Consumer
	results   map[string]any
	failed    bool
	failMsg   string
	actionLog []st.ActionLog

	// What Juju's hook context reads once and keeps for the rest of the hook: its list of
	// relations is fixed when the context is built, and config and relation settings are
	// cached on first read. Reading them live would let a charm depend on seeing, within
	// one hook, changes that Juju never shows it.
	relIDs  map[string][]int // endpoint → relation ids; nil until first asked
	config  map[string]any
	buckets map[bucketRef]readBucketResult
}

// bucketRef names one settings bucket of a relation as a hook reads it.
type bucketRef struct {
	relID int
	name  string
	app   bool
}

type readBucketResult struct {
	data map[string]string
	own  bool
}

var _ hooktools.Context = (*hookCtx)(nil)

func (u *Uniter) newContext(h *st.Hook, a *st.Action) *hookCtx {
	what := ""
	if h != nil {
		what = h.Name
	} else {
		what = a.Name
	}
	return &hookCtx{u: u, id: fmt.Sprintf("%s-%s-%s", u.name, what, randHex(8)), hook: h, action: a,
		relSets: map[relKey]map[string]string{}, state: map[string]*string{},
		secrets: map[string]*st.Secret{}, pins: map[string]*st.Consumer{}, buckets: map[bucketRef]readBucketResult{}}
}

func (c *hookCtx) view(fn func(t *st.Tx, unit *st.Unit, app *st.App) error) error {
	return c.u.store.View(func(t *st.Tx) error {
		unit, err := t.Unit(c.u.model, c.u.name)
		if err != nil {
			return err
		}
		app, err := t.App(unit.Model, unit.App)
		if err != nil {
			return err
		}
		return fn(t, unit, app)
	})
}

func (c *hookCtx) update(fn func(t *st.Tx, unit *st.Unit, app *st.App) error) error {
	return c.u.store.Update(func(t *st.Tx) error {
		unit, err := t.Unit(c.u.model, c.u.name)
		if err != nil {
			return err
		}
		app, err := t.App(unit.Model, unit.App)
		if err != nil {
			return err
		}
		return fn(t, unit, app)
	})
}

func (c *hookCtx) UnitName() string  { return c.u.name }
func (c *hookCtx) ModelUUID() string { return c.u.model }
func (c *hookCtx) ModelName() string { return c.u.modelName }

func (c *hookCtx) IsLeader() (bool, error) {
	var l bool
	err := c.view(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		l = app.Leader == unit.Name
		return nil
	})
	return l, err
}

func (c *hookCtx) LeaderSettings() (map[string]string, error) {
	var out map[string]string
	err := c.view(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		out = maps.Clone(app.LeaderSettings)
		return nil
	})
	if out == nil {
		out = map[string]string{}
	}
	return out, err
}

func (c *hookCtx) WriteLeaderSettings(values map[string]string) error {
	return c.update(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		if app.Leader != unit.Name {
			return hooktools.ErrNotLeader
		}
		if app.LeaderSettings == nil {
			app.LeaderSettings = map[string]string{}
		}
		old := maps.Clone(app.LeaderSettings)
		for k, v := range values {
			if v == "" {
				delete(app.LeaderSettings, k)
			} else {
				app.LeaderSettings[k] = v
			}
		}
		if !maps.Equal(old, app.LeaderSettings) {
			app.LeaderVersion++
			unit.Local.LeaderVersion = app.LeaderVersion
			t.PutUnit(unit)
		}
		t.PutApp(app)
		return nil
	})
}

func (c *hookCtx) Config() (map[string]any, error) {
	c.mu.Lock()
	cached := c.config
	c.mu.Unlock()
	if cached != nil {
		return maps.Clone(cached), nil
	}
	var out map[string]any
	err := c.view(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		ch, err := c.u.store.Charm(app.CharmDir)
		if err != nil {
			return err
		}
		out = st.EffectiveConfig(ch, app)
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.config == nil {
		c.config = out
	}
	out = maps.Clone(c.config)
	c.mu.Unlock()
	return out, nil
}

func (c *hookCtx) HookRelationID() (int, bool) {
	if c.hook != nil && c.hook.RelID != 0 {
		return c.hook.RelID, true
	}
	return 0, false
}

func (c *hookCtx) RemoteUnitName() string {
	if c.hook == nil {
		return ""
	}
	return c.hook.RemoteUnit
}

func (c *hookCtx) RemoteAppName() string {
	if c.hook == nil {
		return ""
	}
	return c.hook.RemoteApp
}

// relation loads a relation of this unit's application.
func (c *hookCtx) relation(t *st.Tx, unit *st.Unit, relID int) (*st.Relation, error) {
	r, err := t.Relation(relID)
	if err != nil {
		return nil, hooktools.ErrRelationNotFound
	}
	if _, _, ok := r.Side(unit.Model, unit.App); !ok {
		return nil, hooktools.ErrRelationNotFound
	}
	return r, nil
}

// RelationIDs lists the hook's relations on endpoint: every endpoint's list is read once,
// at the first call, and kept for the hook.
func (c *hookCtx) RelationIDs(endpoint string) ([]int, error) {
	c.mu.Lock()
	ids := c.relIDs
	c.mu.Unlock()
	if ids == nil {
		ids = map[string][]int{}
		err := c.view(func(t *st.Tx, unit *st.Unit, app *st.App) error {
			for _, r := range t.UnitRelations(unit.Model, unit.App) {
				me, _, _ := r.Side(unit.Model, unit.App)
				_, known := unit.Local.Rels[r.ID]
				if r.Life == "alive" || known || (c.hook != nil && c.hook.RelID == r.ID) {
					ep := r.EPs[me].Endpoint
					ids[ep] = append(ids[ep], r.ID)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if c.relIDs == nil {
			c.relIDs = ids
		}
		ids = c.relIDs
		c.mu.Unlock()
	}
	return slices.Clone(ids[endpoint]), nil
}

func (c *hookCtx) RelationEndpoint(relID int) (string, error) {
	var ep string
	err := c.view(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		r, err := c.relation(t, unit, relID)
		if err != nil {
			return err
		}
		me, _, _ := r.Side(unit.Model, unit.App)
		ep = r.EPs[me].Endpoint
		return nil
	})
	return ep, err
}

func (c *hookCtx) RelationRemoteApp(relID int) (string, error) {
	var name string
	err := c.view(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		r, err := c.relation(t, unit, relID)
		if err != nil {
			return err
		}
		name = r.RemoteAppName(unit.Model, unit.App)
		return nil
	})
	return name, err
}

func (c *hookCtx) RelationUnits(relID int) ([]string, error) {
	var out []string
	err := c.view(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		if _, err := c.relation(t, unit, relID); err != nil {
			return err
		}
		rl := unit.Local.Rels[relID]
		seen := map[string]bool{}
		if rl != nil {
			for n := range rl.Units {
				seen[n] = true
			}
		}
		if h := c.hook; h != nil && h.RelID == relID {
			switch h.Kind {
			case "relation-joined":
				seen[h.RemoteUnit] = true
			case "relation-departed":
				delete(seen, h.RemoteUnit)
			case "relation-broken":
				seen = map[string]bool{}
			}
		}
		for n := range seen {
			out = append(out, n)
		}
		sortedUnits(out)
		return nil
	})
	return out, err
}

func (c *hookCtx) RelationModelUUID(relID int) (string, error) {
	var m string
	err := c.view(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		r, err := c.relation(t, unit, relID)
		if err != nil {
			return err
		}
		_, other, _ := r.Side(unit.Model, unit.App)
		m = r.EPs[other].Model
		return nil
	})
	return m, err
}

func (c *hookCtx) pending(relID int, app bool, data map[string]string) map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.relSets[relKey{relID, app}] {
		if v == "" {
			delete(data, k)
		} else {
			data[k] = v
		}
	}
	return data
}

func (c *hookCtx) ReadUnitSettings(relID int, name string) (map[string]string, error) {
	return c.readBucket(relID, name, false)
}

func (c *hookCtx) ReadAppSettings(relID int, name string) (map[string]string, error) {
	return c.readBucket(relID, name, true)
}

// readBucket reads one unit (app=false) or application bucket of a relation. This unit's own
// buckets include the hook's pending writes; a non-leader may not read its own application
// bucket of a non-peer relation.
func (c *hookCtx) readBucket(relID int, name string, app bool) (map[string]string, error) {
	ref := bucketRef{relID, name, app}
	c.mu.Lock()
	cached, ok := c.buckets[ref]
	c.mu.Unlock()
	if !ok {
		var err error
		if cached, err = c.loadBucket(relID, name, app); err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.buckets[ref] = cached
		c.mu.Unlock()
	}
	out := maps.Clone(cached.data)
	if cached.own {
		out = c.pending(relID, app, out)
	}
	return out, nil
}

// loadBucket reads a bucket for readBucket, which keeps it for the rest of the hook.
func (c *hookCtx) loadBucket(relID int, name string, app bool) (readBucketResult, error) {
	var out map[string]string
	own := false
	err := c.view(func(t *st.Tx, unit *st.Unit, a *st.App) error {
		r, err := c.relation(t, unit, relID)
		if err != nil {
			return err
		}
		me, _, _ := r.Side(unit.Model, unit.App)
		self := unit.Name
		if app {
			self = unit.App
		}
		if name == self {
			if app && !r.Peer && a.Leader != unit.Name {
				return hooktools.ErrPermissionDenied
			}
			own = true
			out = maps.Clone(t.Bucket(relID, me, self).Data)
			return nil
		}
		side, _, real := r.RealRemote(unit.Model, unit.App, name)
		out = maps.Clone(t.Bucket(relID, side, real).Data)
		return nil
	})
	if err != nil {
		return readBucketResult{}, err
	}
	if out == nil {
		out = map[string]string{}
	}
	return readBucketResult{data: out, own: own}, nil
}

func (c *hookCtx) WriteSettings(relID int, app bool, values map[string]string) error {
	err := c.view(func(t *st.Tx, unit *st.Unit, a *st.App) error {
		if _, err := c.relation(t, unit, relID); err != nil {
			return err
		}
		if app && a.Leader != unit.Name {
			return hooktools.ErrNotLeader
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := relKey{relID, app}
	if c.relSets[k] == nil {
		c.relSets[k] = map[string]string{}
	}
	for key, v := range values {
		c.relSets[k][key] = v
	}
	return nil
}

func (c *hookCtx) ActionParams() (map[string]any, error) {
	if c.action == nil {
		return nil, hooktools.ErrNotAction
	}
	return c.action.Params, nil
}

func mergeDeep(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			dm, ok := dst[k].(map[string]any)
			if !ok {
				dm = map[string]any{}
				dst[k] = dm
			}
			mergeDeep(dm, sm)
			continue
		}
		dst[k] = v
	}
}

func (c *hookCtx) UpdateActionResults(results map[string]any) error {
	if c.action == nil {
		return hooktools.ErrNotAction
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.results == nil {
		c.results = map[string]any{}
	}
	mergeDeep(c.results, results)
	return nil
}

func (c *hookCtx) FailAction(message string) error {
	if c.action == nil {
		return hooktools.ErrNotAction
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failed, c.failMsg = true, message
	return nil
}

func (c *hookCtx) LogAction(message string) error {
	if c.action == nil {
		return hooktools.ErrNotAction
	}
	entry := st.ActionLog{Timestamp: time.Now().UTC(), Message: message}
	c.u.logf("INFO", "action %d: %s", c.action.ID, message)
	return c.u.store.Update(func(t *st.Tx) error {
		a, err := t.Action(c.action.ID)
		if err != nil {
			return err
		}
		a.Log = append(a.Log, entry)
		t.PutAction(a)
		return nil
	})
}

func toTools(s st.Status) hooktools.Status {
	return hooktools.Status{Status: s.Status, Message: s.Message, Data: s.Data, Since: s.Since}
}

func (c *hookCtx) SetUnitStatus(s hooktools.Status) error {
	return c.u.store.Update(func(t *st.Tx) error {
		return t.SetUnitStatus(c.u.model, c.u.name, st.Status{Status: s.Status, Message: s.Message, Data: s.Data})
	})
}

func (c *hookCtx) UnitStatus() (hooktools.Status, error) {
	var s hooktools.Status
	err := c.view(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		s = toTools(unit.Workload)
		if unit.Error != nil && unit.PrevWorkload != nil {
			s = toTools(*unit.PrevWorkload)
		}
		return nil
	})
	return s, err
}

func (c *hookCtx) SetAppStatus(s hooktools.Status) error {
	return c.update(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		if app.Leader != unit.Name {
			return hooktools.ErrNotLeader
		}
		app.Status = st.Status{Status: s.Status, Message: s.Message, Data: s.Data, Since: time.Now().UTC()}
		t.PutApp(app)
		return nil
	})
}

func (c *hookCtx) AppStatus() (hooktools.AppStatus, error) {
	var out hooktools.AppStatus
	err := c.view(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		if app.Leader != unit.Name {
			return hooktools.ErrNotLeader
		}
		out.Application = toTools(app.Status)
		out.Units = map[string]hooktools.Status{}
		for _, un := range t.Units(app.Model, app.Name) {
			out.Units[un.Name] = toTools(un.Workload)
		}
		return nil
	})
	return out, err
}

func (c *hookCtx) SetApplicationVersion(version string) error {
	return c.update(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		app.Version = version
		t.PutApp(app)
		return nil
	})
}

func (c *hookCtx) Log(level, message string) error {
	c.u.logf(strings.ToUpper(level), "unit.%s.juju-log %s", c.u.name, message)
	return nil
}

func (c *hookCtx) NetworkInfo(binding string, relID int) (hooktools.NetworkInfo, error) {
	var addr string
	err := c.view(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		eps, err := c.u.store.AppEndpoints(app)
		if err != nil {
			return err
		}
		ch, _ := c.u.store.Charm(app.CharmDir)
		_, isEP := eps[binding]
		_, isExtra := ch.Meta().ExtraBindings[binding]
		if !isEP && !isExtra && binding != "juju-info" {
			return hooktools.ErrNoNetwork
		}
		addr = unit.Addr
		return nil
	})
	if err != nil {
		return hooktools.NetworkInfo{}, err
	}
	return hooktools.NetworkInfo{
		BindAddresses:    []hooktools.BindAddress{{InterfaceName: "lo", Addresses: []hooktools.InterfaceAddrs{{Address: addr, CIDR: "127.0.0.0/8"}}}},
		EgressSubnets:    []string{addr + "/32"},
		IngressAddresses: []string{addr},
	}, nil
}

func (c *hookCtx) currentPorts() ([]st.Port, error) {
	c.mu.Lock()
	if c.portsSet {
		p := append([]st.Port(nil), c.ports...)
		c.mu.Unlock()
		return p, nil
	}
	c.mu.Unlock()
	var out []st.Port
	err := c.view(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		out = append(out, unit.Ports...)
		return nil
	})
	return out, err
}

func (c *hookCtx) OpenPort(p hooktools.Port) error {
	ports, err := c.currentPorts()
	if err != nil {
		return err
	}
	np := st.Port{Protocol: p.Protocol, From: p.From, To: p.To, Endpoint: p.Endpoint}
	for _, x := range ports {
		if x == np {
			return nil
		}
	}
	c.mu.Lock()
	c.ports, c.portsSet = append(ports, np), true
	c.mu.Unlock()
	return nil
}

func (c *hookCtx) ClosePort(p hooktools.Port) error {
	ports, err := c.currentPorts()
	if err != nil {
		return err
	}
	np := st.Port{Protocol: p.Protocol, From: p.From, To: p.To, Endpoint: p.Endpoint}
	var out []st.Port
	for _, x := range ports {
		if x != np {
			out = append(out, x)
		}
	}
	c.mu.Lock()
	c.ports, c.portsSet = out, true
	c.mu.Unlock()
	return nil
}

func (c *hookCtx) OpenedPorts() ([]hooktools.Port, error) {
	ports, err := c.currentPorts()
	if err != nil {
		return nil, err
	}
	var out []hooktools.Port
	for _, p := range ports {
		out = append(out, hooktools.Port{Protocol: p.Protocol, From: p.From, To: p.To, Endpoint: p.Endpoint})
	}
	return out, nil
}

func (c *hookCtx) StateGet() (map[string]string, error) {
	var out map[string]string
	err := c.view(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		out = maps.Clone(unit.CharmState)
		return nil
	})
	if out == nil {
		out = map[string]string{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.state {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = *v
		}
	}
	return out, err
}

func (c *hookCtx) StateSet(values map[string]string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range values {
		if v == "" {
			c.state[k] = nil
			continue
		}
		v := v
		c.state[k] = &v
	}
	return nil
}

func (c *hookCtx) StateDelete(key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state[key] = nil
	return nil
}

func (c *hookCtx) StorageIDs() ([]string, error) {
	var out []string
	err := c.view(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		ch, err := c.u.store.Charm(app.CharmDir)
		if err != nil {
			return err
		}
		for name := range ch.Meta().Storage {
			out = append(out, fmt.Sprintf("%s/%d", name, st.UnitNum(unit.Name)))
		}
		sort.Strings(out)
		return nil
	})
	return out, err
}

func (c *hookCtx) StorageAttribute(id, attr string) (string, error) {
	name := id
	if i := strings.Index(id, "/"); i >= 0 {
		name = id[:i]
	}
	var val string
	err := c.view(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		ch, err := c.u.store.Charm(app.CharmDir)
		if err != nil {
			return err
		}
		s, ok := ch.Meta().Storage[name]
		if !ok {
			return fmt.Errorf("storage %q not found", id)
		}
		switch attr {
		case "kind":
			val = string(s.Type)
		case "location":
			val = "/var/lib/juju/storage/" + name + "/" + fmt.Sprint(st.UnitNum(unit.Name))
			for cname, ctr := range ch.Meta().Containers {
				for _, m := range ctr.Mounts {
					if m.Storage == name {
						val = pod.Rootfs(c.u.podDir(), cname) + m.Location
					}
				}
			}
		default:
			return fmt.Errorf("invalid storage attribute %q", attr)
		}
		return nil
	})
	return val, err
}

func (c *hookCtx) GoalState() (map[string]any, error) {
	out := map[string]any{}
	err := c.view(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		units := map[string]any{}
		for _, un := range t.Units(app.Model, app.Name) {
			status := "active"
			if un.Life != "alive" {
				status = "dying"
			}
			units[un.Name] = map[string]any{"status": status, "since": un.Agent.Since.Format("2006-01-02 15:04:05Z")}
		}
		rels := map[string]any{}
		for _, r := range t.UnitRelations(unit.Model, unit.App) {
			me, _, _ := r.Side(unit.Model, unit.App)
			ep := r.EPs[me].Endpoint
			m, _ := rels[ep].(map[string]any)
			if m == nil {
				m = map[string]any{}
				rels[ep] = m
			}
			m[r.RemoteAppName(unit.Model, unit.App)] = map[string]any{"status": "joined"}
			for seen := range t.RemoteUnits(r, unit) {
				m[seen] = map[string]any{"status": "active"}
			}
		}
		out["units"] = units
		out["relations"] = rels
		return nil
	})
	return out, err
}

func (c *hookCtx) Credential() (map[string]any, error) {
	var trusted bool
	err := c.view(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		trusted = app.Trust
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !trusted {
		return nil, hooktools.ErrNoTrust
	}
	return map[string]any{"type": "kubernetes", "name": "jujulet", "credential": map[string]any{"auth-type": "certificate", "attrs": map[string]any{}}}, nil
}

// commit applies the buffered changes (called inside the commit transaction).
func (c *hookCtx) commit(t *st.Tx, unit *st.Unit) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]relKey, 0, len(c.relSets))
	for k := range c.relSets {
		keys = append(keys, k)
	}
	for _, k := range keys {
		r, err := t.Relation(k.id)
		if err != nil {
			continue // relation gone meanwhile
		}
		me, _, ok := r.Side(unit.Model, unit.App)
		if !ok {
			continue
		}
		name := unit.Name
		if k.app {
			name = unit.App
		}
		t.WriteBucket(k.id, me, name, c.relSets[k])
		if k.app && r.Peer {
			if rl := unit.Local.Rels[k.id]; rl != nil {
				rl.AppVersion = t.Bucket(k.id, me, name).Version
			}
		}
	}
	if unit.CharmState == nil {
		unit.CharmState = map[string]string{}
	}
	for k, v := range c.state {
		if v == nil {
			delete(unit.CharmState, k)
		} else {
			unit.CharmState[k] = *v
		}
	}
	if c.portsSet {
		unit.Ports = c.ports
	}
	for uri, s := range c.secrets {
		if s == nil {
			t.DeleteSecret(uri)
			continue
		}
		t.PutSecret(s)
	}
	for _, p := range c.pins {
		t.PutConsumer(p)
	}
	return nil
}
