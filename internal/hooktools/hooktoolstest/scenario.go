// Package hooktoolstest holds a hooktools.Context built from a scenario description, for
// tests that run jujulet's hook tools outside a unit agent: the Juju conformance suite in
// tests/juju/conformance runs the same scenarios through Juju's own hook-tool code.
package hooktoolstest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/jujulet/postgresql-k8s/internal/hooktools"
)

// Scenario is the state of one unit in one hook or action, as JSON. The conformance suite's
// Juju driver decodes the same document into Juju's jujuc.Context.
type Scenario struct {
	Unit           string                     `json:"unit"`
	ModelUUID      string                     `json:"model-uuid"`
	Leader         bool                       `json:"leader"`
	LeaderSettings map[string]string          `json:"leader-settings"`
	Config         map[string]any             `json:"config"`
	Relations      []Relation                 `json:"relations"`
	HookRelation   int                        `json:"hook-relation"` // -1: not a relation hook
	RemoteUnit     string                     `json:"remote-unit"`
	RemoteApp      string                     `json:"remote-app"`
	Action         map[string]any             `json:"action"` // nil: a hook, not an action
	UnitStatus     Status                     `json:"unit-status"`
	AppStatus      Status                     `json:"app-status"`
	UnitStatuses   map[string]Status          `json:"unit-statuses"`
	PrivateAddress string                     `json:"private-address"`
	PublicAddress  string                     `json:"public-address"`
	Ports          []Port                     `json:"ports"`
	State          map[string]string          `json:"state"`
	Secrets        []Secret                   `json:"secrets"`
	Storage        []Storage                  `json:"storage"`
	HookStorage    string                     `json:"hook-storage"`
	GoalUnits      map[string]Goal            `json:"goal-units"`
	GoalRelations  map[string]map[string]Goal `json:"goal-relations"`
	Resources      map[string]string          `json:"resources"` // name → path
}

// Relation is one relation of the unit; Units holds every unit's bucket, the local unit's
// included (the remote units are the other keys).
type Relation struct {
	ID          int                          `json:"id"`
	Endpoint    string                       `json:"endpoint"`
	RemoteApp   string                       `json:"remote-app"`
	ModelUUID   string                       `json:"model-uuid"`
	Peer        bool                         `json:"peer"`
	Units       map[string]map[string]string `json:"units"`
	AppSettings map[string]map[string]string `json:"app-settings"`
}

// Status is a workload status.
type Status struct {
	Status  string         `json:"status"`
	Message string         `json:"message"`
	Data    map[string]any `json:"data"`
}

// Port is an opened port range of an endpoint ("" for all endpoints, as Juju shows "*").
type Port struct {
	Endpoint string `json:"endpoint"`
	Protocol string `json:"protocol"`
	From     int    `json:"from"`
	To       int    `json:"to"`
}

// Secret is a secret the unit can see; Owner is "application", "unit", or "" (owned by
// another application: readable, not listed by secret-ids).
type Secret struct {
	ID          string            `json:"id"`
	Label       string            `json:"label"`
	Description string            `json:"description"`
	Owner       string            `json:"owner"`
	Revision    int               `json:"revision"`
	Rotate      string            `json:"rotate"`
	Content     map[string]string `json:"content"`
}

// Goal is one unit's (or related application's) entry in goal-state; Since is
// "2006-01-02 15:04:05Z" or empty.
type Goal struct {
	Status string `json:"status"`
	Since  string `json:"since"`
}

func (g Goal) doc() map[string]any {
	m := map[string]any{"status": g.Status}
	if g.Since != "" {
		m["since"] = g.Since
	}
	return m
}

// Storage is an attached storage instance ("name/N").
type Storage struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Location string `json:"location"`
}

// Call is one hook tool invocation; Stdin is sent only if the tool asks for it.
type Call struct {
	Tool  string   `json:"tool"`
	Args  []string `json:"args"`
	Stdin *string  `json:"stdin,omitempty"`
	Dir   string   `json:"dir"`
}

// Result is what a tool printed and its exit code, and the juju-log lines it wrote
// ("LEVEL message").
type Result struct {
	Code   int      `json:"code"`
	Stdout string   `json:"stdout"`
	Stderr string   `json:"stderr"`
	Logs   []string `json:"logs"`
}

// Input is what a driver reads: a scenario and the calls to run, each on a fresh context.
type Input struct {
	Scenario Scenario `json:"scenario"`
	Calls    []Call   `json:"calls"`
}

// DecodeInput reads an Input. Integral config numbers become int64, as jujulet's
// controller hands out int options (charm defaults and stored values alike).
func DecodeInput(r io.Reader) (Input, error) {
	var in Input
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil {
		return Input{}, fmt.Errorf("decoding scenario: %w", err)
	}
	for k, v := range in.Scenario.Config {
		in.Scenario.Config[k] = fromNumber(v)
	}
	in.Scenario.Action = fromNumbers(in.Scenario.Action)
	return in, nil
}

func fromNumbers(m map[string]any) map[string]any {
	for k, v := range m {
		m[k] = fromNumber(v)
	}
	return m
}

func fromNumber(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		return fromNumbers(v)
	}
	return v
}

// Context is a hooktools.Context over a Scenario. Writes are accepted and forgotten (each
// call gets a fresh Context); Logs collects juju-log lines.
type Context struct {
	s    *Scenario
	Logs []string
}

// NewContext returns a Context over s.
func NewContext(s *Scenario) *Context { return &Context{s: s} }

func (c *Context) app() string { app, _, _ := strings.Cut(c.s.Unit, "/"); return app }

func (c *Context) rel(id int) (*Relation, error) {
	for i := range c.s.Relations {
		if c.s.Relations[i].ID == id {
			return &c.s.Relations[i], nil
		}
	}
	return nil, hooktools.ErrRelationNotFound
}

func (c *Context) UnitName() string  { return c.s.Unit }
func (c *Context) ModelUUID() string { return c.s.ModelUUID }
func (c *Context) ModelName() string { return "conformance" }

func (c *Context) IsLeader() (bool, error) { return c.s.Leader, nil }
func (c *Context) LeaderSettings() (map[string]string, error) {
	return maps.Clone(c.s.LeaderSettings), nil
}
func (c *Context) WriteLeaderSettings(map[string]string) error {
	if !c.s.Leader {
		return hooktools.ErrNotLeader
	}
	return nil
}

func (c *Context) Config() (map[string]any, error) { return maps.Clone(c.s.Config), nil }

func (c *Context) HookRelationID() (int, bool) { return c.s.HookRelation, c.s.HookRelation >= 0 }
func (c *Context) RemoteUnitName() string      { return c.s.RemoteUnit }
func (c *Context) RemoteAppName() string       { return c.s.RemoteApp }

func (c *Context) RelationIDs(endpoint string) ([]int, error) {
	var ids []int
	for _, r := range c.s.Relations {
		if r.Endpoint == endpoint {
			ids = append(ids, r.ID)
		}
	}
	return ids, nil
}
func (c *Context) RelationEndpoint(id int) (string, error) {
	r, err := c.rel(id)
	if err != nil {
		return "", err
	}
	return r.Endpoint, nil
}
func (c *Context) RelationRemoteApp(id int) (string, error) {
	r, err := c.rel(id)
	if err != nil {
		return "", err
	}
	return r.RemoteApp, nil
}
func (c *Context) RelationUnits(id int) ([]string, error) {
	r, err := c.rel(id)
	if err != nil {
		return nil, err
	}
	var out []string
	for u := range r.Units {
		if u != c.s.Unit {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out, nil
}
func (c *Context) RelationModelUUID(id int) (string, error) {
	r, err := c.rel(id)
	if err != nil {
		return "", err
	}
	return r.ModelUUID, nil
}
func (c *Context) ReadUnitSettings(id int, unit string) (map[string]string, error) {
	r, err := c.rel(id)
	if err != nil {
		return nil, err
	}
	return maps.Clone(r.Units[unit]), nil
}
func (c *Context) ReadAppSettings(id int, app string) (map[string]string, error) {
	r, err := c.rel(id)
	if err != nil {
		return nil, err
	}
	if app == c.app() && !c.s.Leader && !r.Peer {
		return nil, hooktools.ErrPermissionDenied
	}
	return maps.Clone(r.AppSettings[app]), nil
}
func (c *Context) WriteSettings(id int, app bool, _ map[string]string) error {
	if _, err := c.rel(id); err != nil {
		return err
	}
	if app && !c.s.Leader {
		return hooktools.ErrNotLeader
	}
	return nil
}

func (c *Context) ActionParams() (map[string]any, error) {
	if c.s.Action == nil {
		return nil, hooktools.ErrNotAction
	}
	return c.s.Action, nil
}
func (c *Context) inAction() error {
	if c.s.Action == nil {
		return hooktools.ErrNotAction
	}
	return nil
}
func (c *Context) UpdateActionResults(map[string]any) error { return c.inAction() }
func (c *Context) FailAction(string) error                  { return c.inAction() }
func (c *Context) LogAction(string) error                   { return c.inAction() }

func toStatus(s Status) hooktools.Status {
	return hooktools.Status{Status: s.Status, Message: s.Message, Data: s.Data}
}
func (c *Context) SetUnitStatus(hooktools.Status) error { return nil }
func (c *Context) UnitStatus() (hooktools.Status, error) {
	return toStatus(c.s.UnitStatus), nil
}
func (c *Context) SetAppStatus(hooktools.Status) error {
	if !c.s.Leader {
		return hooktools.ErrNotLeader
	}
	return nil
}
func (c *Context) AppStatus() (hooktools.AppStatus, error) {
	if !c.s.Leader {
		return hooktools.AppStatus{}, hooktools.ErrNotLeader
	}
	out := hooktools.AppStatus{Application: toStatus(c.s.AppStatus), Units: map[string]hooktools.Status{}}
	for u, s := range c.s.UnitStatuses {
		out.Units[u] = toStatus(s)
	}
	return out, nil
}
func (c *Context) SetApplicationVersion(string) error { return nil }

func (c *Context) Log(level, message string) error {
	c.Logs = append(c.Logs, level+" "+message)
	return nil
}

func (c *Context) NetworkInfo(string, int) (hooktools.NetworkInfo, error) {
	return hooktools.NetworkInfo{}, hooktools.ErrNoNetwork
}

func (c *Context) OpenPort(hooktools.Port) error  { return nil }
func (c *Context) ClosePort(hooktools.Port) error { return nil }
func (c *Context) OpenedPorts() ([]hooktools.Port, error) {
	var out []hooktools.Port
	for _, p := range c.s.Ports {
		out = append(out, hooktools.Port{Protocol: p.Protocol, From: p.From, To: p.To, Endpoint: p.Endpoint})
	}
	return out, nil
}

func (c *Context) StateGet() (map[string]string, error) { return maps.Clone(c.s.State), nil }
func (c *Context) StateSet(map[string]string) error     { return nil }
func (c *Context) StateDelete(string) error             { return nil }

func (c *Context) find(uri, label string) *Secret {
	id := uri
	if i := strings.LastIndex(id, "/"); i >= 0 {
		id = id[i+1:]
	}
	id = strings.TrimPrefix(id, "secret:")
	for i := range c.s.Secrets {
		s := &c.s.Secrets[i]
		if (uri != "" && s.ID == id) || (uri == "" && label != "" && s.Label == label) {
			return s
		}
	}
	return nil
}
func (c *Context) AddSecret(a hooktools.SecretArgs) (string, error) {
	if a.Owner != "unit" && !c.s.Leader {
		return "", hooktools.ErrNotLeader
	}
	return "secret://" + c.s.ModelUUID + "/d4e5f6a7b8c9d0e1f2g0", nil
}
func (c *Context) GetSecret(a hooktools.SecretGetArgs) (map[string]string, error) {
	s := c.find(a.URI, a.Label)
	if s == nil {
		return nil, hooktools.ErrSecretNotFound
	}
	return maps.Clone(s.Content), nil
}
func (c *Context) UpdateSecret(uri string, _ hooktools.SecretArgs) error {
	if c.find(uri, "") == nil {
		return hooktools.ErrSecretNotFound
	}
	return nil
}
func (c *Context) RemoveSecret(string, *int) error        { return nil }
func (c *Context) GrantSecret(string, int, string) error  { return nil }
func (c *Context) RevokeSecret(string, int, string) error { return nil }
func (c *Context) SecretIDs() ([]string, error) {
	var ids []string
	for _, s := range c.s.Secrets {
		if s.Owner != "" {
			ids = append(ids, s.ID)
		}
	}
	return ids, nil
}
func (c *Context) SecretInfo(uri, label string) ([]hooktools.SecretMetadata, error) {
	var out []hooktools.SecretMetadata
	for _, s := range c.s.Secrets {
		if s.Owner == "" {
			continue
		}
		if (uri == "" && label == "") || (uri != "" && c.find(uri, "") != nil && c.find(uri, "").ID == s.ID) || (label != "" && label == s.Label) {
			out = append(out, hooktools.SecretMetadata{
				URI: s.ID, Label: s.Label, Description: s.Description, Owner: s.Owner,
				Revision: s.Revision, Rotation: s.Rotate,
			})
		}
	}
	return out, nil
}

func (c *Context) StorageIDs() ([]string, error) {
	var ids []string
	for _, s := range c.s.Storage {
		ids = append(ids, s.ID)
	}
	return ids, nil
}
func (c *Context) StorageAttribute(id, key string) (string, error) {
	for _, s := range c.s.Storage {
		if s.ID == id {
			if key == "kind" {
				return s.Kind, nil
			}
			return s.Location, nil
		}
	}
	return "", fmt.Errorf("storage %q not found", id)
}
func (c *Context) HookStorageID() (string, bool) { return c.s.HookStorage, c.s.HookStorage != "" }

func (c *Context) GoalState() (map[string]any, error) {
	units := map[string]any{}
	for u, st := range c.s.GoalUnits {
		units[u] = st.doc()
	}
	rels := map[string]any{}
	for ep, us := range c.s.GoalRelations {
		m := map[string]any{}
		for u, st := range us {
			m[u] = st.doc()
		}
		rels[ep] = m
	}
	return map[string]any{"units": units, "relations": rels}, nil
}
func (c *Context) Credential() (map[string]any, error) { return nil, hooktools.ErrNoTrust }

var (
	_ hooktools.Context            = (*Context)(nil)
	_ hooktools.StorageHookContext = (*Context)(nil)
)

func (c *Context) PrivateAddress() (string, error) {
	if c.s.PrivateAddress == "" {
		return "", fmt.Errorf("private address not found")
	}
	return c.s.PrivateAddress, nil
}

func (c *Context) PublicAddress() (string, error) {
	if c.s.PublicAddress == "" {
		return "", fmt.Errorf("public address not found")
	}
	return c.s.PublicAddress, nil
}

func (c *Context) ResourcePath(name string) (string, error) {
	p, ok := c.s.Resources[name]
	if !ok {
		return "", fmt.Errorf("resource %q: %w", name, hooktools.ErrResourceNotFound)
	}
	return p, nil
}

func (c *Context) AddUnitStorage(map[string]uint64) error { return nil }

var (
	_ hooktools.AddressContext    = (*Context)(nil)
	_ hooktools.ResourceContext   = (*Context)(nil)
	_ hooktools.StorageAddContext = (*Context)(nil)
)
