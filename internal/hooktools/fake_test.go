package hooktools

import (
	"context"

	"github.com/jujulet/postgresql-k8s/internal/hooktools/toolclient"

	"fmt"
	"maps"
	"sort"
	"strings"
)

// fakeRel is one relation the fake unit is in.
type fakeRel struct {
	endpoint  string
	remoteApp string
	units     []string
	modelUUID string
	peer      bool
	unitData  map[string]map[string]string
	appData   map[string]map[string]string
}

// fakeSecret is one secret known to the fake unit.
type fakeSecret struct {
	md      SecretMetadata
	content map[string]string
}

// fakeCtx is a Context recording what the tools asked of it.
type fakeCtx struct {
	unit, model, modelUUID string
	leader                 bool
	leaderSettings         map[string]string
	config                 map[string]any
	hookRel                int
	remoteUnit, remoteApp  string
	rels                   map[int]*fakeRel
	action                 map[string]any // nil: a hook
	results                []map[string]any
	failed                 []string
	actionLog              []string
	unitStatus             Status
	appStatus              AppStatus
	version                string
	logs                   []string
	networks               map[string]NetworkInfo
	netRelID               int
	ports                  []Port
	opened, closed         []Port
	state                  map[string]string
	stateSets              []map[string]string
	stateDeletes           []string
	secrets                []*fakeSecret
	added                  []SecretArgs
	updated                map[string]SecretArgs
	removed                []string
	grants, revokes        []string
	gets                   []SecretGetArgs
	storage                map[string][2]string // id → kind, location
	hookStorage            string
	goal, cred             map[string]any
	writes                 []string
	block                  chan struct{} // when set, is-leader waits for it to close
}

func newFake() *fakeCtx {
	return &fakeCtx{
		unit: "pg/0", model: "m", modelUUID: "6a5b4c3d-1111-2222-3333-444455556666",
		leader:         true,
		leaderSettings: map[string]string{"primary": "pg/0"},
		config:         map[string]any{"port": 5432, "name": "main", "unset": nil, "flag": true},
		hookRel:        -1,
		rels: map[int]*fakeRel{
			2: {endpoint: "db", remoteApp: "app", units: []string{"app/1", "app/0"},
				modelUUID: "6a5b4c3d-1111-2222-3333-444455556666",
				unitData: map[string]map[string]string{
					"app/0": {"private-address": "127.0.0.5", "user": "jim"},
					"pg/0":  {"private-address": "127.0.0.2"},
				},
				appData: map[string]map[string]string{"app": {"database": "main"}, "pg": {}},
			},
			12: {endpoint: "db", remoteApp: "other", modelUUID: "feedface-1111-2222-3333-444455556666"},
			1:  {endpoint: "peers", remoteApp: "pg", units: []string{"pg/1"}, peer: true},
		},
		unitStatus: Status{Status: "active", Message: "ready", Data: map[string]any{"x": 1}},
		appStatus: AppStatus{
			Application: Status{Status: "active", Message: "primary is pg/0"},
			Units:       map[string]Status{"pg/0": {Status: "active"}, "pg/1": {Status: "waiting", Message: "syncing"}},
		},
		networks: map[string]NetworkInfo{"db": {
			BindAddresses:    []BindAddress{{InterfaceName: "lo", Addresses: []InterfaceAddrs{{Address: "127.0.0.2", CIDR: "127.0.0.0/8"}}}},
			EgressSubnets:    []string{"127.0.0.2/32"},
			IngressAddresses: []string{"127.0.0.2"},
		}},
		ports:   []Port{{Protocol: "udp", From: 9000, To: 9010}, {Protocol: "tcp", From: 5432, To: 5432}},
		state:   map[string]string{"init": "done"},
		updated: map[string]SecretArgs{},
		storage: map[string][2]string{"pgdata/0": {"filesystem", "/var/lib/postgresql/data"}},
		goal:    map[string]any{"units": map[string]any{"pg/0": map[string]any{"status": "active"}}},
	}
}

// inRelationHook makes the fake run a relation hook of relation id with a remote unit.
func (f *fakeCtx) inRelationHook(id int, remoteUnit string) *fakeCtx {
	f.hookRel = id
	f.remoteUnit = remoteUnit
	f.remoteApp = f.rels[id].remoteApp
	return f
}

func (f *fakeCtx) UnitName() string  { return f.unit }
func (f *fakeCtx) ModelUUID() string { return f.modelUUID }
func (f *fakeCtx) ModelName() string { return f.model }
func (f *fakeCtx) app() string       { return unitApplication(f.unit) }

func (f *fakeCtx) IsLeader() (bool, error) {
	if f.block != nil {
		<-f.block
	}
	return f.leader, nil
}
func (f *fakeCtx) LeaderSettings() (map[string]string, error) {
	return maps.Clone(f.leaderSettings), nil
}
func (f *fakeCtx) WriteLeaderSettings(v map[string]string) error {
	if !f.leader {
		return ErrNotLeader
	}
	f.writes = append(f.writes, fmt.Sprintf("leader %v", sortedKV(v)))
	for k, val := range v {
		if val == "" {
			delete(f.leaderSettings, k)
		} else {
			f.leaderSettings[k] = val
		}
	}
	return nil
}

func (f *fakeCtx) Config() (map[string]any, error) { return maps.Clone(f.config), nil }

func (f *fakeCtx) HookRelationID() (int, bool) { return f.hookRel, f.hookRel >= 0 }
func (f *fakeCtx) RemoteUnitName() string      { return f.remoteUnit }
func (f *fakeCtx) RemoteAppName() string       { return f.remoteApp }

func (f *fakeCtx) rel(id int) (*fakeRel, error) {
	r, ok := f.rels[id]
	if !ok {
		return nil, ErrRelationNotFound
	}
	return r, nil
}

func (f *fakeCtx) RelationIDs(endpoint string) ([]int, error) {
	var ids []int
	for id, r := range f.rels {
		if r.endpoint == endpoint {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
func (f *fakeCtx) RelationEndpoint(id int) (string, error) {
	r, err := f.rel(id)
	if err != nil {
		return "", err
	}
	return r.endpoint, nil
}
func (f *fakeCtx) RelationRemoteApp(id int) (string, error) {
	r, err := f.rel(id)
	if err != nil {
		return "", err
	}
	return r.remoteApp, nil
}
func (f *fakeCtx) RelationUnits(id int) ([]string, error) {
	r, err := f.rel(id)
	if err != nil {
		return nil, err
	}
	return r.units, nil
}
func (f *fakeCtx) RelationModelUUID(id int) (string, error) {
	r, err := f.rel(id)
	if err != nil {
		return "", err
	}
	return r.modelUUID, nil
}
func (f *fakeCtx) ReadUnitSettings(id int, unit string) (map[string]string, error) {
	r, err := f.rel(id)
	if err != nil {
		return nil, err
	}
	return maps.Clone(r.unitData[unit]), nil
}
func (f *fakeCtx) ReadAppSettings(id int, app string) (map[string]string, error) {
	r, err := f.rel(id)
	if err != nil {
		return nil, err
	}
	if app == f.app() && !f.leader && !r.peer {
		return nil, ErrPermissionDenied
	}
	return maps.Clone(r.appData[app]), nil
}
func (f *fakeCtx) WriteSettings(id int, app bool, v map[string]string) error {
	if _, err := f.rel(id); err != nil {
		return err
	}
	if app && !f.leader {
		return ErrNotLeader
	}
	f.writes = append(f.writes, fmt.Sprintf("rel %d app=%v %v", id, app, sortedKV(v)))
	return nil
}

func (f *fakeCtx) ActionParams() (map[string]any, error) {
	if f.action == nil {
		return nil, ErrNotAction
	}
	return f.action, nil
}
func (f *fakeCtx) UpdateActionResults(r map[string]any) error {
	if f.action == nil {
		return ErrNotAction
	}
	f.results = append(f.results, r)
	return nil
}
func (f *fakeCtx) FailAction(m string) error {
	if f.action == nil {
		return ErrNotAction
	}
	f.failed = append(f.failed, m)
	return nil
}
func (f *fakeCtx) LogAction(m string) error {
	if f.action == nil {
		return ErrNotAction
	}
	f.actionLog = append(f.actionLog, m)
	return nil
}

func (f *fakeCtx) SetUnitStatus(s Status) error {
	f.writes = append(f.writes, fmt.Sprintf("unit-status %s %q", s.Status, s.Message))
	return nil
}
func (f *fakeCtx) UnitStatus() (Status, error) { return f.unitStatus, nil }
func (f *fakeCtx) SetAppStatus(s Status) error {
	if !f.leader {
		return ErrNotLeader
	}
	f.writes = append(f.writes, fmt.Sprintf("app-status %s %q", s.Status, s.Message))
	return nil
}
func (f *fakeCtx) AppStatus() (AppStatus, error) {
	if !f.leader {
		return AppStatus{}, ErrNotLeader
	}
	return f.appStatus, nil
}
func (f *fakeCtx) SetApplicationVersion(v string) error { f.version = v; return nil }

func (f *fakeCtx) Log(level, msg string) error {
	f.logs = append(f.logs, level+" "+msg)
	return nil
}

func (f *fakeCtx) NetworkInfo(binding string, relID int) (NetworkInfo, error) {
	f.netRelID = relID
	ni, ok := f.networks[binding]
	if !ok {
		return NetworkInfo{}, ErrNoNetwork
	}
	return ni, nil
}

func (f *fakeCtx) OpenPort(p Port) error                { f.opened = append(f.opened, p); return nil }
func (f *fakeCtx) ClosePort(p Port) error               { f.closed = append(f.closed, p); return nil }
func (f *fakeCtx) OpenedPorts() ([]Port, error)         { return f.ports, nil }
func (f *fakeCtx) StateGet() (map[string]string, error) { return maps.Clone(f.state), nil }
func (f *fakeCtx) StateSet(v map[string]string) error {
	f.stateSets = append(f.stateSets, v)
	return nil
}
func (f *fakeCtx) StateDelete(k string) error { f.stateDeletes = append(f.stateDeletes, k); return nil }

func (f *fakeCtx) findSecret(uri, label string) *fakeSecret {
	for _, s := range f.secrets {
		if (uri != "" && secretIDOf(s.md.URI) == secretIDOf(uri)) || (uri == "" && label != "" && s.md.Label == label) {
			return s
		}
	}
	return nil
}

func (f *fakeCtx) AddSecret(a SecretArgs) (string, error) {
	if a.Owner == "application" && !f.leader {
		return "", ErrNotLeader
	}
	f.added = append(f.added, a)
	return "secret://" + f.modelUUID + "/d4e5f6a7b8c9d0e1f2g3", nil
}
func (f *fakeCtx) GetSecret(a SecretGetArgs) (map[string]string, error) {
	f.gets = append(f.gets, a)
	s := f.findSecret(a.URI, a.Label)
	if s == nil {
		return nil, ErrSecretNotFound
	}
	return maps.Clone(s.content), nil
}
func (f *fakeCtx) UpdateSecret(uri string, a SecretArgs) error {
	if f.findSecret(uri, "") == nil {
		return ErrSecretNotFound
	}
	f.updated[uri] = a
	return nil
}
func (f *fakeCtx) RemoveSecret(uri string, rev *int) error {
	r := "all"
	if rev != nil {
		r = fmt.Sprint(*rev)
	}
	f.removed = append(f.removed, uri+" "+r)
	return nil
}
func (f *fakeCtx) GrantSecret(uri string, relID int, unit string) error {
	f.grants = append(f.grants, fmt.Sprintf("%s %d %q", uri, relID, unit))
	return nil
}
func (f *fakeCtx) RevokeSecret(uri string, relID int, unit string) error {
	f.revokes = append(f.revokes, fmt.Sprintf("%s %d %q", uri, relID, unit))
	return nil
}
func (f *fakeCtx) SecretIDs() ([]string, error) {
	var ids []string
	for _, s := range f.secrets {
		ids = append(ids, secretIDOf(s.md.URI))
	}
	return ids, nil
}
func (f *fakeCtx) SecretInfo(uri, label string) ([]SecretMetadata, error) {
	var out []SecretMetadata
	for _, s := range f.secrets {
		if (uri == "" && label == "") || (uri != "" && secretIDOf(uri) == secretIDOf(s.md.URI)) || (label != "" && label == s.md.Label) {
			out = append(out, s.md)
		}
	}
	return out, nil
}

func (f *fakeCtx) StorageIDs() ([]string, error) {
	var ids []string
	for id := range f.storage {
		ids = append(ids, id)
	}
	return ids, nil
}
func (f *fakeCtx) StorageAttribute(id, key string) (string, error) {
	s, ok := f.storage[id]
	if !ok {
		return "", fmt.Errorf("storage %q not found", id)
	}
	if key == "kind" {
		return s[0], nil
	}
	return s[1], nil
}
func (f *fakeCtx) HookStorageID() (string, bool) { return f.hookStorage, f.hookStorage != "" }

func (f *fakeCtx) GoalState() (map[string]any, error) { return f.goal, nil }
func (f *fakeCtx) Credential() (map[string]any, error) {
	if f.cred == nil {
		return nil, ErrNoTrust
	}
	return f.cred, nil
}

func sortedKV(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

var (
	_ Context            = (*fakeCtx)(nil)
	_ StorageHookContext = (*fakeCtx)(nil)
)

// execute is Execute as jujuc prints its outcome.
func execute(ctx context.Context, hc Context, req Request) Response {
	return toolclient.Printed(Execute(ctx, hc, req))
}
