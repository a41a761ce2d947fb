package state

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	mathrand "math/rand/v2"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/controller/storage"
)

var (
	modelNameRE = regexp.MustCompile(`^[a-z0-9]+[a-z0-9-]*$`)
	appNameRE   = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]*[a-z][a-z0-9]*)*$`)
)

// DefaultUpdateStatusInterval is the default update-status-hook-interval, Juju's.
const DefaultUpdateStatusInterval = "5m"

// Bounds of update-status-hook-interval. Juju documents 1m to 60m, but its check wraps a
// nil error and so refuses nothing; jujulet keeps Juju's maximum and refuses intervals
// below 1s (hook storms) while leaving tests room to run update-status every few seconds.
const (
	MinUpdateStatusInterval = time.Second
	MaxUpdateStatusInterval = 60 * time.Minute
)

// validModelConfig checks one model config value.
func validModelConfig(k, v string) error {
	switch k {
	case "update-status-hook-interval":
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("update-status-hook-interval: invalid duration %q", v)
		}
		if d < MinUpdateStatusInterval || d > MaxUpdateStatusInterval {
			return fmt.Errorf("update-status-hook-interval: %s is out of range: must be between 1s and 60m", v)
		}
	case "automatically-retry-hooks":
		if _, err := strconv.ParseBool(v); err != nil {
			return fmt.Errorf("automatically-retry-hooks: expected boolean, got %q", v)
		}
	}
	return nil
}

// NewUUID returns a random RFC 4122 v4 uuid.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (t *Tx) meta() *Meta {
	m := &Meta{}
	t.Get(kMeta, "meta", m)
	return m
}

// NextID returns a fresh controller-wide sequence number.
func (t *Tx) NextID() int {
	m := t.meta()
	m.NextID++
	t.Put(kMeta, "meta", m)
	return m.NextID
}

// Models lists the models.
func (t *Tx) Models() []*Model { return list[Model](t, kModel, "") }

// ModelByName finds a model by name (accepting an "owner/" prefix).
func (t *Tx) ModelByName(name string) (*Model, error) {
	if i := strings.Index(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	for _, m := range t.Models() {
		if m.Name == name {
			return m, nil
		}
	}
	if t.err != nil {
		return nil, t.err
	}
	return nil, fmt.Errorf("model jujulet:admin/%s not found", name)
}

// Model returns a model by uuid.
func (t *Tx) Model(uuid string) (*Model, error) {
	m := &Model{}
	if !t.Get(kModel, uuid, m) {
		return nil, fmt.Errorf("model %q not found", uuid)
	}
	return m, nil
}

// CurrentModel is the model `switch` selected.
func (t *Tx) CurrentModel() string { return t.meta().CurrentModel }

// SetCurrentModel persists the current model name.
func (t *Tx) SetCurrentModel(name string) {
	m := t.meta()
	m.CurrentModel = name
	t.Put(kMeta, "meta", m)
}

// AddModel creates a model and makes it current.
func (t *Tx) AddModel(name string) (*Model, error) {
	if !modelNameRE.MatchString(name) {
		return nil, fmt.Errorf("%q is not a valid name: model names may only contain lowercase letters, digits and hyphens", name)
	}
	if _, err := t.ModelByName(name); err == nil {
		return nil, fmt.Errorf("model %q already exists", "admin/"+name)
	}
	m := &Model{UUID: NewUUID(), Name: name, Life: "alive", Created: time.Now().UTC(),
		Config: map[string]string{"update-status-hook-interval": DefaultUpdateStatusInterval, "automatically-retry-hooks": "true"}}
	t.Put(kModel, m.UUID, m)
	t.SetCurrentModel(name)
	return m, t.err
}

// SetModelConfig sets model config keys: all of them, or none if one is invalid.
func (t *Tx) SetModelConfig(m *Model, kv map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		if err := validModelConfig(k, kv[k]); err != nil {
			return err
		}
	}
	if m.Config == nil {
		m.Config = map[string]string{}
	}
	maps.Copy(m.Config, kv)
	t.PutModel(m)
	return nil
}

// PutModel stores a model as it is (SetModelConfig validates config).
func (t *Tx) PutModel(m *Model) { t.Put(kModel, m.UUID, m) }

// DestroyModel marks a model and everything in it dying; its units' storage goes as mode
// says (destroyed or released).
func (t *Tx) DestroyModel(m *Model, mode storage.Mode) {
	m.Life = "dying"
	m.Storage = mode
	t.Put(kModel, m.UUID, m)
	for _, a := range t.Apps(m.UUID) {
		t.RemoveApp(a, mode)
	}
	for _, o := range list[Offer](t, kOffer, key(m.UUID, "")) {
		t.Delete(kOffer, key(o.Model, o.Name))
	}
	if meta := t.meta(); meta.CurrentModel == m.Name {
		meta.CurrentModel = ""
		t.Put(kMeta, "meta", meta)
	}
}

// Apps lists the applications of a model (SAAS included).
func (t *Tx) Apps(model string) []*App { return list[App](t, kApp, key(model, "")) }

// App returns an application.
func (t *Tx) App(model, name string) (*App, error) {
	a := &App{}
	if !t.Get(kApp, key(model, name), a) {
		if t.err != nil {
			return nil, t.err
		}
		return nil, fmt.Errorf("application %q not found", name)
	}
	return a, nil
}

// PutApp stores an application.
func (t *Tx) PutApp(a *App) { t.Put(kApp, key(a.Model, a.Name), a) }

// Units lists the units of an application (all apps if app is empty).
func (t *Tx) Units(model, app string) []*Unit {
	us := list[Unit](t, kUnit, key(model, ""))
	var out []*Unit
	for _, u := range us {
		if app == "" || u.App == app {
			out = append(out, u)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].App != out[j].App {
			return out[i].App < out[j].App
		}
		return UnitNum(out[i].Name) < UnitNum(out[j].Name)
	})
	return out
}

// AllUnits lists every unit of every model.
func (t *Tx) AllUnits() []*Unit { return list[Unit](t, kUnit, "") }

// Unit returns a unit.
func (t *Tx) Unit(model, name string) (*Unit, error) {
	u := &Unit{}
	if !t.Get(kUnit, key(model, name), u) {
		if t.err != nil {
			return nil, t.err
		}
		return nil, fmt.Errorf("unit %q not found", name)
	}
	return u, nil
}

// PutUnit stores a unit.
func (t *Tx) PutUnit(u *Unit) { t.Put(kUnit, key(u.Model, u.Name), u) }

// UnitNum returns the number of a unit name.
func UnitNum(name string) int {
	var n int
	if i := strings.LastIndex(name, "/"); i >= 0 {
		fmt.Sscan(name[i+1:], &n)
	}
	return n
}

// AppOfUnit returns the application part of a unit name.
func AppOfUnit(name string) string {
	if i := strings.LastIndex(name, "/"); i >= 0 {
		return name[:i]
	}
	return name
}

// ValidAppName reports whether name is a valid application name.
func ValidAppName(name string) bool { return appNameRE.MatchString(name) }

func (t *Tx) allocAddr() string {
	used := map[string]bool{}
	for _, u := range t.AllUnits() {
		used[u.Addr] = true
	}
	bound := boundLoopbackAddrs()
	m := t.meta()
	if m.AddrBlock == 0 {
		m.AddrBlock = 1 + mathrand.IntN(254)
	}
	for i := 0; i < 254*254; i++ {
		m.NextAddr++
		n := m.NextAddr % (254 * 254)
		addr := fmt.Sprintf("127.%d.%d.%d", m.AddrBlock, n/254, n%254+1)
		if !used[addr] && !bound[addr] {
			t.Put(kMeta, "meta", m)
			return addr
		}
	}
	t.Err(fmt.Errorf("no free loopback address"))
	return ""
}

// boundLoopbackAddrs lists the IPv4 addresses that some socket on this host is bound to, so
// that a new unit never gets an address another process (a leftover server, another
// controller's unit) already listens on. Best effort: unreadable tables are skipped.
func boundLoopbackAddrs() map[string]bool {
	bound := map[string]bool{}
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return bound
	}
	for _, line := range strings.Split(string(data), "\n")[1:] {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		hexAddr, _, ok := strings.Cut(fields[1], ":")
		if !ok || len(hexAddr) != 8 {
			continue
		}
		v, err := strconv.ParseUint(hexAddr, 16, 32)
		if err != nil {
			continue
		}
		// /proc/net/tcp prints the address as a little-endian 32-bit number.
		bound[fmt.Sprintf("%d.%d.%d.%d", v&0xff, v>>8&0xff, v>>16&0xff, v>>24&0xff)] = true
	}
	return bound
}

// AddUnits adds n units to an application.
func (t *Tx) AddUnits(a *App, n int) ([]*Unit, error) {
	if n < 1 {
		return nil, fmt.Errorf("cannot add %d units: the number of units must be a positive integer", n)
	}
	if alive := len(t.aliveUnits(a)); alive+n > MaxUnitsPerApp {
		return nil, fmt.Errorf("cannot add %d units to %q, which has %d: an application has at most %d units on jujulet (every unit runs on this machine)",
			n, a.Name, alive, MaxUnitsPerApp)
	}
	if a.SAAS {
		return nil, fmt.Errorf("cannot add units to remote application %q", a.Name)
	}
	if a.Life != "alive" {
		return nil, fmt.Errorf("application %q is not alive", a.Name)
	}
	var out []*Unit
	now := time.Now().UTC()
	for i := 0; i < n; i++ {
		u := &Unit{Model: a.Model, App: a.Name, Name: fmt.Sprintf("%s/%d", a.Name, a.NextUnit), ID: t.NextID(),
			Life: "alive", Scopes: map[int]bool{}, CharmState: map[string]string{},
			Workload: Status{Status: "waiting", Message: "installing agent", Since: now},
			Agent:    Status{Status: "allocating", Since: now},
			Local:    Local{ConfigVersion: -1, LeaderVersion: -1, Rels: map[int]*RelLocal{}, Boot: map[string]string{}, SecretRevs: map[string]int{}}}
		u.Addr = t.allocAddr()
		a.NextUnit++
		t.PutUnit(u)
		out = append(out, u)
	}
	t.PutApp(a)
	return out, t.err
}

// RemoveUnit marks a unit dying; its agent runs the departure hooks and removes it. Its
// storage is detached (kept).
func (t *Tx) RemoveUnit(u *Unit) { t.RemoveUnitStorage(u, storage.Detach) }

// RemoveUnitStorage marks a unit dying, its storage to go as mode says. A later removal
// (destroy-model after remove-unit) decides for a unit still dying.
func (t *Tx) RemoveUnitStorage(u *Unit, mode storage.Mode) {
	if u.Life == "alive" || u.OnRemoval != mode {
		u.Life = "dying"
		u.OnRemoval = mode
		t.PutUnit(u)
	}
}

// RemoveApp marks an application and its units dying and its relations dying; the units'
// storage goes as mode says.
func (t *Tx) RemoveApp(a *App, mode storage.Mode) {
	a.Life = "dying"
	t.PutApp(a)
	for _, u := range t.Units(a.Model, a.Name) {
		t.RemoveUnitStorage(u, mode)
	}
	for _, r := range t.Relations() {
		for _, ep := range r.EPs {
			if ep.Model == a.Model && ep.App == a.Name {
				t.SetRelationDying(r)
			}
		}
		if a.SAAS && r.Cross {
			for i, ep := range r.EPs {
				// the offering side stands as this SAAS app, the other side lives in its model
				if ep.SAASApp == a.Name && ep.Model != a.Model && r.EPs[1-i].Model == a.Model {
					t.SetRelationDying(r)
				}
			}
		}
	}
}

// Scale sets the number of units of an application.
func (t *Tx) Scale(a *App, n int) error {
	if n < 0 {
		return fmt.Errorf("scale must be a non-negative integer")
	}
	alive := t.aliveUnits(a)
	if n > len(alive) {
		_, err := t.AddUnits(a, n-len(alive))
		return err
	}
	for i := len(alive) - 1; i >= n; i-- {
		t.RemoveUnit(alive[i])
	}
	return nil
}

// MaxUnitsPerApp bounds an application's alive units: each is a Pebble (and a workload)
// on this one machine, with an address of its own.
const MaxUnitsPerApp = 64

func (t *Tx) aliveUnits(a *App) []*Unit {
	var alive []*Unit
	for _, u := range t.Units(a.Model, a.Name) {
		if u.Life == "alive" {
			alive = append(alive, u)
		}
	}
	return alive
}

// SetUnitStatus sets a unit's workload status.
func (t *Tx) SetUnitStatus(model, unit string, s Status) error {
	u, err := t.Unit(model, unit)
	if err != nil {
		return err
	}
	s.Since = time.Now().UTC()
	u.Workload = s
	u.WorkloadSetByCharm = true
	t.PutUnit(u)
	return nil
}

// SetAgentStatus sets a unit's agent status.
func (t *Tx) SetAgentStatus(model, unit, status, msg string) {
	u, err := t.Unit(model, unit)
	if err != nil {
		return
	}
	if u.Agent.Status == status && u.Agent.Message == msg {
		return
	}
	u.Agent = Status{Status: status, Message: msg, Since: time.Now().UTC()}
	t.PutUnit(u)
}

// DeleteUnit removes a unit document and its secret pins; its queued actions are cancelled.
func (t *Tx) DeleteUnit(u *Unit) {
	t.Delete(kUnit, key(u.Model, u.Name))
	for _, a := range t.PendingActions(u.Model, u.Name) {
		a.Status, a.Message, a.Completed = "cancelled", "unit removed", time.Now().UTC()
		t.PutAction(a)
	}
	for _, c := range t.Consumers() {
		if c.Model == u.Model && c.Unit == u.Name {
			t.Delete(kConsumer, key(c.URI, c.Model, c.Unit))
		}
	}
}
