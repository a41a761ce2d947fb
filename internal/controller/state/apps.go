package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/juju/charm/v12"
)

// DeployArgs are the arguments of deploy.
type DeployArgs struct {
	Model      string
	Name       string
	CharmDir   string // the controller's copy of the charm
	Channel    string
	Base       string
	Trust      bool
	NumUnits   int
	ConfigKV   map[string]string // k=v pairs
	ConfigYAML [][]byte          // config files
	Resources  map[string]string
}

// ValidateCharmDir checks the things Juju checks on a charm directory.
func ValidateCharmDir(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "metadata.yaml")); err != nil {
		return fmt.Errorf("invalid charm %q: no metadata.yaml found", dir)
	}
	if fi, err := os.Stat(filepath.Join(dir, "dispatch")); err == nil {
		if fi.Mode()&0o111 == 0 {
			return fmt.Errorf("invalid charm %q: dispatch is not executable", dir)
		}
	}
	return nil
}

// ParseConfig validates user config against the charm's config.yaml.
func ParseConfig(ch charm.Charm, app string, kv map[string]string, files [][]byte) (map[string]any, error) {
	cfg := ch.Config()
	out := map[string]any{}
	for _, f := range files {
		s, err := cfg.ParseSettingsYAML(f, app)
		if err != nil {
			return nil, fmt.Errorf("parsing config file: %w", err)
		}
		for k, v := range s {
			out[k] = v
		}
	}
	if len(kv) > 0 {
		s, err := cfg.ParseSettingsStrings(kv)
		if err != nil {
			return nil, err
		}
		for k, v := range s {
			out[k] = v
		}
	}
	return out, nil
}

// Deploy adds an application with its units.
func (t *Tx) Deploy(ch charm.Charm, args DeployArgs) (*App, error) {
	if !ValidAppName(args.Name) {
		return nil, fmt.Errorf("invalid application name %q", args.Name)
	}
	m, err := t.Model(args.Model)
	if err != nil {
		return nil, err
	}
	if m.Life != "alive" {
		return nil, fmt.Errorf("model %q is being destroyed", m.Name)
	}
	if _, err := t.App(args.Model, args.Name); err == nil {
		return nil, fmt.Errorf("cannot add application %q: application already exists", args.Name)
	}
	cfg, err := ParseConfig(ch, args.Name, args.ConfigKV, args.ConfigYAML)
	if err != nil {
		return nil, err
	}
	meta := ch.Meta()
	a := &App{Model: args.Model, Name: args.Name, CharmDir: args.CharmDir, CharmName: meta.Name,
		Revision: ch.Revision(), Channel: args.Channel, Base: args.Base, Trust: args.Trust, Config: cfg,
		LeaderSettings: map[string]string{}, Life: "alive", Resources: args.Resources,
		Status: Status{Status: "unknown"}}
	t.PutApp(a)
	// Peer relations exist from the start.
	var peers []string
	for name := range meta.Peers {
		peers = append(peers, name)
	}
	sort.Strings(peers)
	for _, name := range peers {
		rel := meta.Peers[name]
		r := &Relation{ID: t.NextID(), Life: "alive", Peer: true,
			EPs: []RelEP{{Model: a.Model, App: a.Name, Endpoint: name, Role: "peer", Interface: rel.Interface, Alias: a.Name}}}
		t.PutRelation(r)
	}
	if args.NumUnits > 0 {
		if _, err := t.AddUnits(a, args.NumUnits); err != nil {
			return nil, err
		}
	}
	return a, t.err
}

// SetConfig changes application config (values nil reset).
func (t *Tx) SetConfig(ch charm.Charm, a *App, kv map[string]string, reset []string, files [][]byte) error {
	cfg, err := ParseConfig(ch, a.Name, kv, files)
	if err != nil {
		return err
	}
	for _, k := range reset {
		if _, ok := ch.Config().Options[k]; !ok {
			return fmt.Errorf("unknown option %q", k)
		}
	}
	if a.Config == nil {
		a.Config = map[string]any{}
	}
	changed := false
	for k, v := range cfg {
		if fmt.Sprint(a.Config[k]) != fmt.Sprint(v) || a.Config[k] == nil {
			changed = true
		}
		a.Config[k] = v
	}
	for _, k := range reset {
		if _, ok := a.Config[k]; ok {
			delete(a.Config, k)
			changed = true
		}
	}
	if changed {
		a.ConfigVersion++
	}
	t.PutApp(a)
	return nil
}

// SetTrust changes trust; a change fires config-changed.
func (t *Tx) SetTrust(a *App, trust bool) {
	if a.Trust != trust {
		a.Trust = trust
		a.ConfigVersion++
		t.PutApp(a)
	}
}

// EffectiveConfig is the app config with charm defaults (nil for unset without default).
func EffectiveConfig(ch charm.Charm, a *App) map[string]any {
	out := map[string]any{}
	for k, opt := range ch.Config().Options {
		out[k] = opt.Default
	}
	for k, v := range a.Config {
		// JSON storage turns ints into floats: back to the option's type.
		if f, ok := v.(float64); ok && ch.Config().Options[k].Type == "int" {
			v = int64(f)
		}
		out[k] = v
	}
	return out
}

// AppEndpoints lists an app's relation endpoints (from the charm or, for SAAS, the offer).
func (s *Store) AppEndpoints(a *App) (map[string]Endpoint, error) {
	out := map[string]Endpoint{}
	if a.SAAS {
		for _, e := range a.Endpoints {
			out[e.Name] = e
		}
		return out, nil
	}
	ch, err := s.Charm(a.CharmDir)
	if err != nil {
		return nil, err
	}
	meta := ch.Meta()
	add := func(m map[string]charm.Relation, role string) {
		for n, r := range m {
			out[n] = Endpoint{Name: n, Role: role, Interface: r.Interface, Limit: r.Limit}
		}
	}
	add(meta.Provides, "provider")
	add(meta.Requires, "requirer")
	add(meta.Peers, "peer")
	delete(out, "juju-info")
	return out, nil
}

// ErrNotFound marks lookups of things that do not exist.
var ErrNotFound = errors.New("not found")

// SplitEndpoint splits "app:endpoint".
func SplitEndpoint(s string) (app, ep string) {
	if i := strings.Index(s, ":"); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}
