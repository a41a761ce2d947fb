package controller

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/juju/charm/v12"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
	"github.com/jujulet/postgresql-k8s/internal/pod"
	"github.com/jujulet/postgresql-k8s/internal/uniter"
)

// Request is one API call.
type Request struct {
	Method string          `json:"method"`
	Model  string          `json:"model,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
}

// Response is an API reply.
type Response struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// Params used by several calls.
type (
	// DeployParams are deploy's.
	DeployParams struct {
		Name       string            `json:"name"`
		Charm      string            `json:"charm"`
		Channel    string            `json:"channel"`
		Base       string            `json:"base"`
		Trust      bool              `json:"trust"`
		NumUnits   int               `json:"num-units"`
		Config     map[string]string `json:"config"`
		ConfigYAML []string          `json:"config-yaml"`
		Resources  map[string]string `json:"resources"`
	}
	// AppParams name an application (and a count, config...).
	AppParams struct {
		App            string            `json:"app"`
		N              int               `json:"n"`
		Units          []string          `json:"units"`
		Set            map[string]string `json:"set"`
		Reset          []string          `json:"reset"`
		Files          []string          `json:"files"`
		Remove         bool              `json:"remove"`
		NoRetry        bool              `json:"no-retry"`
		Specs          []string          `json:"specs"`
		Name           string            `json:"name"`
		DestroyStorage bool              `json:"destroy-storage"`
	}
	// RunParams enqueue actions.
	RunParams struct {
		Targets []string       `json:"targets"`
		Action  string         `json:"action"`
		Params  map[string]any `json:"params"`
	}
	// RunResult names the queued actions.
	RunResult struct {
		Unit string `json:"unit"`
		ID   int    `json:"id"`
	}
	// LogParams select log lines.
	LogParams struct {
		After int64 `json:"after"`
		Limit int   `json:"limit"`
	}
	// UnitInfo locates a unit's pod for ssh.
	UnitInfo struct {
		ContainersDir string   `json:"containers-dir"`
		Containers    []string `json:"containers"`
	}
)

func (d *Daemon) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /call", func(w http.ResponseWriter, r *http.Request) {
		var req Request
		var resp Response
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			resp.Error = "bad request: " + err.Error()
		} else if res, err := d.call(req); err != nil {
			resp.Error = err.Error()
		} else if res != nil {
			b, err := json.Marshal(res)
			if err != nil {
				resp.Error = err.Error()
			}
			resp.Result = b
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	})
	return mux
}

var errNoModel = errors.New("no current model specified; use juju switch or -m")

func (d *Daemon) modelOf(t *st.Tx, name string) (*st.Model, error) {
	if name == "" {
		name = t.CurrentModel()
		if name == "" {
			return nil, errNoModel
		}
	}
	m, err := t.ModelByName(name)
	if err != nil {
		return nil, err
	}
	if m.Life != "alive" {
		return nil, fmt.Errorf("model %q is being destroyed", "admin/"+m.Name)
	}
	return m, nil
}

func (d *Daemon) call(req Request) (any, error) {
	var p AppParams
	if len(req.Params) > 0 {
		_ = json.Unmarshal(req.Params, &p)
	}
	var result any
	withModel := func(write bool, fn func(t *st.Tx, m *st.Model) error) error {
		f := func(t *st.Tx) error {
			m, err := d.modelOf(t, req.Model)
			if err != nil {
				return err
			}
			return fn(t, m)
		}
		if write {
			return d.store.Update(f)
		}
		return d.store.View(f)
	}
	switch req.Method {
	case "ping":
		return "pong", nil
	case "kill":
		d.killPods = true
		d.stop()
		return nil, nil
	case "add-model":
		err := d.store.Update(func(t *st.Tx) error {
			m, err := t.AddModel(p.Name)
			result = m
			return err
		})
		return result, err
	case "models":
		err := d.store.View(func(t *st.Tx) error {
			var ms []*st.Model
			ms = append(ms, t.Models()...)
			sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
			result = map[string]any{"models": ms, "current": t.CurrentModel()}
			return nil
		})
		return result, err
	case "switch":
		err := d.store.Update(func(t *st.Tx) error {
			m, err := d.modelOf(t, p.Name)
			if err != nil {
				return err
			}
			t.SetCurrentModel(m.Name)
			result = m.Name
			return nil
		})
		return result, err
	case "current-model":
		err := d.store.View(func(t *st.Tx) error {
			result = t.CurrentModel()
			return nil
		})
		return result, err
	case "destroy-model":
		err := d.store.Update(func(t *st.Tx) error {
			m, err := d.modelOf(t, p.Name)
			if err != nil {
				return err
			}
			t.DestroyModel(m, p.DestroyStorage)
			return nil
		})
		return nil, err
	case "model-config":
		err := withModel(len(p.Set) > 0, func(t *st.Tx, m *st.Model) error {
			if len(p.Set) > 0 {
				if err := t.SetModelConfig(m, p.Set); err != nil {
					return err
				}
			}
			result = m.Config
			return nil
		})
		return result, err
	case "refresh":
		return d.refresh(req.Model, p.App, p.Name)
	case "deploy":
		var dp DeployParams
		if err := json.Unmarshal(req.Params, &dp); err != nil {
			return nil, err
		}
		return d.deploy(req.Model, dp)
	case "add-unit", "scale":
		err := withModel(true, func(t *st.Tx, m *st.Model) error {
			a, err := t.App(m.UUID, p.App)
			if err != nil {
				return err
			}
			if a.SAAS {
				return fmt.Errorf("cannot scale remote application %q", p.App)
			}
			if req.Method == "scale" {
				return t.Scale(a, p.N)
			}
			if p.N < 1 {
				return fmt.Errorf("--num-units must be a positive integer")
			}
			_, err = t.AddUnits(a, p.N)
			return err
		})
		return nil, err
	case "remove-unit":
		err := withModel(true, func(t *st.Tx, m *st.Model) error {
			for _, name := range p.Units {
				u, err := t.Unit(m.UUID, name)
				if err != nil {
					return err
				}
				t.RemoveUnit(u)
			}
			return nil
		})
		return nil, err
	case "remove-application":
		err := withModel(true, func(t *st.Tx, m *st.Model) error {
			a, err := t.App(m.UUID, p.App)
			if err != nil {
				return err
			}
			t.RemoveApp(a)
			return nil
		})
		return nil, err
	case "config":
		err := withModel(len(p.Set) > 0 || len(p.Reset) > 0 || len(p.Files) > 0, func(t *st.Tx, m *st.Model) error {
			a, err := t.App(m.UUID, p.App)
			if err != nil {
				return err
			}
			if a.SAAS {
				return fmt.Errorf("cannot configure remote application %q", p.App)
			}
			ch, err := d.store.Charm(a.CharmDir)
			if err != nil {
				return err
			}
			if len(p.Set) > 0 || len(p.Reset) > 0 || len(p.Files) > 0 {
				var files [][]byte
				for _, f := range p.Files {
					files = append(files, []byte(f))
				}
				if err := t.SetConfig(ch, a, p.Set, p.Reset, files); err != nil {
					return err
				}
			}
			result = configView(ch, a)
			return nil
		})
		return result, err
	case "trust":
		err := withModel(true, func(t *st.Tx, m *st.Model) error {
			a, err := t.App(m.UUID, p.App)
			if err != nil {
				return err
			}
			t.SetTrust(a, !p.Remove)
			return nil
		})
		return nil, err
	case "integrate":
		if len(p.Specs) != 2 {
			return nil, fmt.Errorf("a relation must involve two applications")
		}
		err := withModel(true, func(t *st.Tx, m *st.Model) error {
			_, err := d.store.Integrate(t, m.UUID, p.Specs[0], p.Specs[1])
			return err
		})
		return nil, err
	case "remove-relation":
		err := withModel(true, func(t *st.Tx, m *st.Model) error {
			r, err := d.store.FindRelation(t, m.UUID, p.Specs)
			if err != nil {
				return err
			}
			t.SetRelationDying(r)
			return nil
		})
		return nil, err
	case "offer":
		err := withModel(true, func(t *st.Tx, m *st.Model) error {
			o, err := d.store.AddOffer(t, m.UUID, p.App, p.Name)
			if err == nil {
				result = fmt.Sprintf("Application %q endpoints [%s] available at %q", o.App, o.Endpoint, "admin/"+m.Name+"."+o.Name)
			}
			return err
		})
		return result, err
	case "consume":
		err := withModel(true, func(t *st.Tx, m *st.Model) error {
			a, err := d.store.Consume(t, m.UUID, p.App, p.Name)
			if err == nil {
				result = fmt.Sprintf("Added %s as %s", a.OfferURL, a.Name)
			}
			return err
		})
		return result, err
	case "run":
		var rp RunParams
		if err := json.Unmarshal(req.Params, &rp); err != nil {
			return nil, err
		}
		var out []RunResult
		err := withModel(true, func(t *st.Tx, m *st.Model) error {
			for _, target := range rp.Targets {
				name := target
				if strings.HasSuffix(target, "/leader") {
					a, err := t.App(m.UUID, strings.TrimSuffix(target, "/leader"))
					if err != nil {
						return err
					}
					if a.Leader == "" {
						return fmt.Errorf("could not determine leader for %q", a.Name)
					}
					name = a.Leader
				} else if !strings.Contains(target, "/") {
					return fmt.Errorf("invalid unit or action name %q", target)
				}
				u, err := t.Unit(m.UUID, name)
				if err != nil {
					return err
				}
				act, err := d.store.EnqueueAction(t, u, rp.Action, rp.Params)
				if err != nil {
					return err
				}
				out = append(out, RunResult{Unit: u.Name, ID: act.ID})
			}
			return nil
		})
		return out, err
	case "action":
		id, _ := strconv.Atoi(p.Name)
		err := d.store.View(func(t *st.Tx) error {
			a, err := t.Action(id)
			result = a
			return err
		})
		return result, err
	case "status":
		err := withModel(false, func(t *st.Tx, m *st.Model) error {
			var err error
			result, err = d.status(t, m)
			return err
		})
		return result, err
	case "show-unit":
		err := withModel(false, func(t *st.Tx, m *st.Model) error {
			out := map[string]any{}
			for _, name := range p.Units {
				u, err := t.Unit(m.UUID, name)
				if err != nil {
					return err
				}
				out[name] = d.showUnit(t, u)
			}
			result = out
			return nil
		})
		return result, err
	case "resolve":
		err := withModel(true, func(t *st.Tx, m *st.Model) error {
			u, err := t.Unit(m.UUID, p.App)
			if err != nil {
				return err
			}
			if u.Error == nil {
				return fmt.Errorf("unit %q is not in an error state", u.Name)
			}
			u.Resolve = "retry"
			if p.NoRetry {
				u.Resolve = "no-retry"
			}
			t.PutUnit(u)
			return nil
		})
		return nil, err
	case "logs":
		var lp LogParams
		_ = json.Unmarshal(req.Params, &lp)
		var model string
		err := withModel(false, func(t *st.Tx, m *st.Model) error {
			model = m.UUID
			return nil
		})
		if err != nil {
			return nil, err
		}
		return d.store.Logs(model, lp.After, lp.Limit)
	case "pod":
		var dir string
		err := withModel(true, func(t *st.Tx, m *st.Model) error {
			u, err := t.Unit(m.UUID, p.App)
			if err != nil {
				return err
			}
			dir = filepath.Join(uniter.UnitDir(d.cfg.Home, u.ID), "c")
			switch p.Name {
			case "kill":
			case "stop":
				u.PodStopped = true
			case "start":
				u.PodStopped = false
			default:
				return fmt.Errorf("unknown pod operation %q (want kill, stop or start)", p.Name)
			}
			t.PutUnit(u)
			return nil
		})
		if err == nil && p.Name != "start" {
			pod.Kill(dir)
		}
		return nil, err
	case "unit-info":
		err := withModel(false, func(t *st.Tx, m *st.Model) error {
			u, err := t.Unit(m.UUID, p.App)
			if err != nil {
				return err
			}
			a, err := t.App(m.UUID, u.App)
			if err != nil {
				return err
			}
			ch, err := d.store.Charm(a.CharmDir)
			if err != nil {
				return err
			}
			info := UnitInfo{ContainersDir: filepath.Join(uniter.UnitDir(d.cfg.Home, u.ID), "c")}
			for c := range ch.Meta().Containers {
				info.Containers = append(info.Containers, c)
			}
			sort.Strings(info.Containers)
			result = info
			return nil
		})
		return result, err
	}
	return nil, fmt.Errorf("unknown method %q", req.Method)
}

func configView(ch charm.Charm, a *st.App) map[string]any {
	settings := map[string]any{}
	for name, opt := range ch.Config().Options {
		e := map[string]any{"type": opt.Type, "description": opt.Description, "source": "unset"}
		if opt.Default != nil {
			e["default"] = opt.Default
			e["value"] = opt.Default
			e["source"] = "default"
		}
		if v, ok := a.Config[name]; ok && v != nil {
			e["value"] = v
			e["source"] = "user"
		}
		settings[name] = e
	}
	return map[string]any{"application": a.Name, "charm": a.CharmName, "settings": settings, "trust": a.Trust}
}

// importCharm copies a charm directory or expands a .charm into the controller's charm
// store; discard removes it again (on a failed deploy/refresh).
func (d *Daemon) importCharm(src string) (dir string, discard func(), err error) {
	fi, err := os.Stat(src)
	if err != nil {
		return "", nil, fmt.Errorf("charm or bundle not found: %q", src)
	}
	charmsDir := filepath.Join(d.cfg.Home, "charms")
	if err := os.MkdirAll(charmsDir, 0o711); err != nil {
		return "", nil, err
	}
	tmp, err := os.MkdirTemp(charmsDir, "c")
	if err != nil {
		return "", nil, err
	}
	_ = os.Chmod(tmp, 0o711)
	discard = func() { _ = os.RemoveAll(tmp) }
	dir = filepath.Join(tmp, "charm")
	if fi.IsDir() {
		if err := st.ValidateCharmDir(src); err != nil {
			discard()
			return "", nil, err
		}
		if err := uniter.CopyTree(src, dir); err != nil {
			discard()
			return "", nil, fmt.Errorf("copying charm: %w", err)
		}
		return dir, discard, nil
	}
	arch, err := charm.ReadCharmArchive(src)
	if err != nil {
		discard()
		return "", nil, fmt.Errorf("invalid charm archive %q: %w", src, err)
	}
	if err := arch.ExpandTo(dir); err != nil {
		discard()
		return "", nil, fmt.Errorf("expanding charm: %w", err)
	}
	if err := st.ValidateCharmDir(dir); err != nil {
		discard()
		return "", nil, err
	}
	return dir, discard, nil
}

func (d *Daemon) deploy(model string, dp DeployParams) (any, error) {
	dir, discard, err := d.importCharm(dp.Charm)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			discard()
		}
	}()
	ch, err := d.store.Charm(dir)
	if err != nil {
		return nil, err
	}
	if dp.Name == "" {
		dp.Name = ch.Meta().Name
	}
	if dp.NumUnits == 0 {
		dp.NumUnits = 1
	}
	if dp.Base == "" {
		dp.Base = "ubuntu@22.04"
	}
	var files [][]byte
	for _, f := range dp.ConfigYAML {
		files = append(files, []byte(f))
	}
	for name := range dp.Resources {
		if _, ok := ch.Meta().Resources[name]; !ok {
			return nil, fmt.Errorf("invalid resource %q: not defined by the charm", name)
		}
	}
	var msg string
	err = d.store.Update(func(t *st.Tx) error {
		m, err := d.modelOf(t, model)
		if err != nil {
			return err
		}
		a, err := t.Deploy(ch, st.DeployArgs{Model: m.UUID, Name: dp.Name, CharmDir: dir, Channel: dp.Channel,
			Base: dp.Base, Trust: dp.Trust, NumUnits: dp.NumUnits, ConfigKV: dp.Config, ConfigYAML: files, Resources: dp.Resources})
		if err != nil {
			return err
		}
		msg = fmt.Sprintf("Deployed %q from local charm %q, revision %d on %s", a.Name, a.CharmName, a.Revision, a.Base)
		return nil
	})
	if err != nil {
		return nil, err
	}
	ok = true
	return msg, nil
}

// refresh switches an application to a new local charm; its units run upgrade-charm.
func (d *Daemon) refresh(model, app, src string) (any, error) {
	dir, discard, err := d.importCharm(src)
	if err != nil {
		return nil, err
	}
	ch, err := d.store.Charm(dir)
	if err != nil {
		discard()
		return nil, err
	}
	var msg string
	err = d.store.Update(func(t *st.Tx) error {
		m, err := d.modelOf(t, model)
		if err != nil {
			return err
		}
		a, err := t.App(m.UUID, app)
		if err != nil {
			return err
		}
		if a.SAAS {
			return fmt.Errorf("cannot refresh remote application %q", app)
		}
		if ch.Meta().Name != a.CharmName {
			return fmt.Errorf("cannot refresh %q: charm name %q differs from %q", app, ch.Meta().Name, a.CharmName)
		}
		for k := range a.Config {
			if _, ok := ch.Config().Options[k]; !ok {
				delete(a.Config, k)
			}
		}
		a.CharmDir = dir
		a.Revision++
		a.CharmVersion++
		t.PutApp(a)
		msg = fmt.Sprintf("Added local charm %q, revision %d, to the model", a.CharmName, a.Revision)
		return nil
	})
	if err != nil {
		discard()
		return nil, err
	}
	return msg, nil
}
