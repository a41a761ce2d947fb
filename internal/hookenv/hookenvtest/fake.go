// Package hookenvtest holds Fake, an in-memory hookenv.Tools for handler tests.
package hookenvtest

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/jujulet/postgresql-k8s/internal/hookenv"
)

// Fake is an in-memory Tools for handler tests: one unit's view of the model. Writes apply
// at once (tests look at the result of one hook). Exported fields are the state; tests set
// them up and read them back. Safe for concurrent use.
type Fake struct {
	mu sync.Mutex

	Unit   string
	Leader bool
	Config map[string]any
	Params map[string]any // action params; nil means "not running an action"

	// Relations by id ("endpoint:N").
	Relations map[string]*FakeRelation

	Leadership map[string]string
	State      map[string]string

	Results  map[string]string // action-set
	Failed   string            // action-fail message ("" when not failed)
	IsFailed bool
	ActLog   []string
	Logs     []string

	UnitStatus, AppStatus Status
	StatusHistory         []Status

	Address string // network-get bind address

	Secrets map[string]*FakeSecret // by URI
	// ModelUUID names the model in the URIs of the secrets this unit adds ("fake-model"
	// when empty): two fakes in two models must not mint the same URI.
	ModelUUID string
	Ports     []string
	Version   string

	nextSecret int
}

// Status is a status as status-set sets it.
type Status struct {
	App     bool
	Status  string
	Message string
}

// FakeRelation is one relation: remote app, remote units and all buckets.
type FakeRelation struct {
	Endpoint  string
	RemoteApp string
	// RemoteModelUUID is the remote application's model (the fake's own when empty).
	RemoteModelUUID string
	Units           []string                     // remote units in scope
	Data            map[string]map[string]string // bucket by unit or app name
}

// FakeSecret is a secret with its revisions.
type FakeSecret struct {
	Label   string
	Owner   string
	Content map[string]string
	Rev     int
	Grants  []string // relation ids
}

var _ hookenv.Tools = (*Fake)(nil)

// NewFake returns an empty fake for unit.
func NewFake(unit string) *Fake {
	return &Fake{
		Unit:       unit,
		Config:     map[string]any{},
		Relations:  map[string]*FakeRelation{},
		Leadership: map[string]string{},
		State:      map[string]string{},
		Results:    map[string]string{},
		Secrets:    map[string]*FakeSecret{},
	}
}

// AddRelation adds a relation and returns it for further setup.
func (f *Fake) AddRelation(id, remoteApp string, units ...string) *FakeRelation {
	f.mu.Lock()
	defer f.mu.Unlock()
	ep, _, _ := strings.Cut(id, ":")
	r := &FakeRelation{Endpoint: ep, RemoteApp: remoteApp, Units: units, Data: map[string]map[string]string{}}
	f.Relations[id] = r
	return r
}

// Bucket returns (creating) the bucket of a unit or app in relation id.
func (f *Fake) Bucket(id, owner string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bucket(id, owner)
}

func (f *Fake) bucket(id, owner string) map[string]string {
	r, ok := f.Relations[id]
	if !ok {
		return nil
	}
	b, ok := r.Data[owner]
	if !ok {
		b = map[string]string{}
		r.Data[owner] = b
	}
	return b
}

func (f *Fake) rel(id string) (*FakeRelation, error) {
	r, ok := f.Relations[id]
	if !ok {
		return nil, fmt.Errorf("invalid value %q for option -r: relation not found", id)
	}
	return r, nil
}

func (f *Fake) IsLeader(context.Context) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Leader, nil
}

func (f *Fake) RelationIDs(_ context.Context, endpoint string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id, r := range f.Relations {
		if r.Endpoint == endpoint {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

func (f *Fake) RelationList(_ context.Context, relID string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.rel(relID)
	if err != nil {
		return nil, err
	}
	units := append([]string(nil), r.Units...)
	sort.Strings(units)
	return units, nil
}

func (f *Fake) RelationRemoteApp(_ context.Context, relID string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.rel(relID)
	if err != nil {
		return "", err
	}
	return r.RemoteApp, nil
}

func (f *Fake) RelationModelUUID(_ context.Context, relID string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.rel(relID)
	if err != nil {
		return "", err
	}
	switch {
	case r.RemoteModelUUID != "":
		return r.RemoteModelUUID, nil
	case f.ModelUUID != "":
		return f.ModelUUID, nil
	}
	return "fake-model", nil
}

func (f *Fake) RelationGet(_ context.Context, relID, owner string, app bool) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.rel(relID); err != nil {
		return nil, err
	}
	return maps.Clone(f.bucket(relID, owner)), nil
}

func (f *Fake) RelationSet(_ context.Context, relID string, app bool, values map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.rel(relID); err != nil {
		return err
	}
	owner := f.Unit
	if app {
		if !f.Leader {
			return fmt.Errorf("cannot write relation settings")
		}
		owner = hookenv.AppOf(f.Unit)
	}
	apply(f.bucket(relID, owner), values)
	return nil
}

func (f *Fake) LeaderGet(context.Context) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.Leadership), nil
}

func (f *Fake) LeaderSet(_ context.Context, values map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.Leader {
		return fmt.Errorf("cannot write leadership settings: cannot write settings: not the leader")
	}
	apply(f.Leadership, values)
	return nil
}

func (f *Fake) ConfigGet(context.Context) (map[string]any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.Config), nil
}

func (f *Fake) ActionGet(context.Context) (map[string]any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Params == nil {
		return nil, fmt.Errorf("not running an action")
	}
	return maps.Clone(f.Params), nil
}

func (f *Fake) ActionSet(_ context.Context, values map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	maps.Copy(f.Results, values)
	return nil
}

func (f *Fake) ActionFail(_ context.Context, message string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.IsFailed, f.Failed = true, message
	return nil
}

func (f *Fake) ActionLog(_ context.Context, message string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ActLog = append(f.ActLog, message)
	return nil
}

func (f *Fake) StatusSet(_ context.Context, app bool, status, message string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := Status{App: app, Status: status, Message: message}
	if app {
		if !f.Leader {
			return fmt.Errorf("this unit is not the leader")
		}
		f.AppStatus = s
	} else {
		f.UnitStatus = s
	}
	f.StatusHistory = append(f.StatusHistory, s)
	return nil
}

func (f *Fake) StatusGet(_ context.Context, app bool) (hookenv.StatusInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	unit := hookenv.StatusInfo{Status: f.UnitStatus.Status, Message: f.UnitStatus.Message}
	if unit.Status == "" {
		unit.Status = "unknown"
	}
	if !app {
		return unit, nil
	}
	if !f.Leader {
		return hookenv.StatusInfo{}, fmt.Errorf("finding application status: this unit is not the leader")
	}
	s := hookenv.StatusInfo{Status: f.AppStatus.Status, Message: f.AppStatus.Message, Units: map[string]hookenv.StatusInfo{f.Unit: unit}}
	if s.Status == "" {
		s.Status = "unknown"
	}
	return s, nil
}

func (f *Fake) JujuLog(_ context.Context, level, message string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Logs = append(f.Logs, level+": "+message)
	return nil
}

func (f *Fake) NetworkGet(_ context.Context, binding string) (hookenv.Network, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n hookenv.Network
	n.IngressAddresses = []string{f.Address}
	n.EgressSubnets = []string{f.Address + "/32"}
	return n, nil
}

func (f *Fake) SecretAdd(_ context.Context, args hookenv.SecretAddArgs) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if (args.Owner == "" || args.Owner == "application") && !f.Leader {
		return "", fmt.Errorf("this unit is not the leader")
	}
	f.nextSecret++
	model := f.ModelUUID
	if model == "" {
		model = "fake-model"
	}
	uri := "secret://" + model + "/" + fmt.Sprintf("%020d", f.nextSecret)
	f.Secrets[uri] = &FakeSecret{Label: args.Label, Owner: args.Owner, Content: maps.Clone(args.Content), Rev: 1}
	return uri, nil
}

func (f *Fake) findSecret(uri, label string) (string, *FakeSecret) {
	if s, ok := f.Secrets[uri]; ok {
		return uri, s
	}
	for u, s := range f.Secrets {
		if (uri != "" && strings.HasSuffix(u, "/"+strings.TrimPrefix(uri, "secret:"))) || (uri == "" && label != "" && s.Label == label) {
			return u, s
		}
	}
	return "", nil
}

func (f *Fake) SecretGet(_ context.Context, args hookenv.SecretGetArgs) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, s := f.findSecret(args.URI, args.Label)
	if s == nil {
		return nil, fmt.Errorf("secret-get %s: %w", args.URI+args.Label, hookenv.ErrNotFound)
	}
	return maps.Clone(s.Content), nil
}

func (f *Fake) SecretSet(_ context.Context, uri string, content map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, s := f.findSecret(uri, "")
	if s == nil {
		return fmt.Errorf("secret-set %s: %w", uri, hookenv.ErrNotFound)
	}
	if (s.Owner == "" || s.Owner == "application") && !f.Leader {
		return fmt.Errorf("this unit is not the leader")
	}
	s.Content = maps.Clone(content)
	s.Rev++
	return nil
}

func (f *Fake) SecretGrant(_ context.Context, uri, relID, unit string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, s := f.findSecret(uri, "")
	if s == nil {
		return fmt.Errorf("secret-grant %s: %w", uri, hookenv.ErrNotFound)
	}
	s.Grants = append(s.Grants, relID)
	return nil
}

func (f *Fake) SecretRemove(_ context.Context, uri string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, s := f.findSecret(uri, "")
	if s == nil {
		return fmt.Errorf("secret-remove %s: %w", uri, hookenv.ErrNotFound)
	}
	delete(f.Secrets, u)
	return nil
}

func (f *Fake) SecretIDs(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for u := range f.Secrets {
		ids = append(ids, u[strings.LastIndex(u, "/")+1:])
	}
	sort.Strings(ids)
	return ids, nil
}

func (f *Fake) SecretInfoGet(_ context.Context, uriOrLabel string) ([]hookenv.SecretInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []hookenv.SecretInfo
	for u, s := range f.Secrets {
		if f.ModelUUID != "" && !strings.HasPrefix(u, "secret://"+f.ModelUUID+"/") {
			continue // another model's secret: readable when granted, never owned
		}
		if uriOrLabel == "" || u == uriOrLabel || s.Label == uriOrLabel {
			out = append(out, hookenv.SecretInfo{ID: u, Label: s.Label, Owner: s.Owner, Revision: s.Rev})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if len(out) == 0 && uriOrLabel != "" {
		return nil, fmt.Errorf("%w: secret %q not found", hookenv.ErrNotFound, uriOrLabel) // as Juju's tool
	}
	return out, nil
}

func (f *Fake) StateGet(context.Context) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.State), nil
}

func (f *Fake) StateSet(_ context.Context, values map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	apply(f.State, values)
	return nil
}

// apply writes values into m, as the *-set tools do: an empty value deletes its key.
func apply(m, values map[string]string) {
	for k, v := range values {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
}

func (f *Fake) OpenPort(_ context.Context, port int, protocol string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := strconv.Itoa(port) + "/" + protocol
	for _, q := range f.Ports {
		if q == p {
			return nil
		}
	}
	f.Ports = append(f.Ports, p)
	return nil
}

func (f *Fake) ApplicationVersionSet(_ context.Context, version string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Version = version
	return nil
}
