package controller

// In-process tests of the API: a Daemon with a store in a temporary home (no unit agents
// run) behind its real HTTP handler on a unix socket, called through the typed client.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/controller/api"
	"github.com/jujulet/postgresql-k8s/internal/controller/client"
	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
	"github.com/jujulet/postgresql-k8s/internal/controller/storage"
)

type apiEnv struct {
	t       *testing.T
	d       *Daemon
	c       *client.Client
	hc      *http.Client
	stopped context.Context
	charm   string
	ctx     context.Context
}

func newAPIEnv(t *testing.T) *apiEnv {
	t.Helper()
	home := t.TempDir()
	store, err := st.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	runCtx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	d := &Daemon{cfg: Config{Home: home}, store: store, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		agents: map[string]context.CancelFunc{}, failed: map[string]time.Time{}, stop: stop}
	sock := filepath.Join(home, "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(d.handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	_, file, _, _ := runtime.Caller(0)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	return &apiEnv{t: t, d: d, c: client.New(client.Config{Socket: sock}), hc: hc,
		stopped: runCtx, ctx: t.Context(), charm: filepath.Join(filepath.Dir(file), "..", "..", "tests", "testdata", "charms", "bashcharm")}
}

func (e *apiEnv) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// fails checks that err is an error reply of kind whose message contains want.
func (e *apiEnv) fails(err error, kind api.ErrorKind, want string) {
	e.t.Helper()
	var ae *client.Error
	if !errors.As(err, &ae) {
		e.t.Fatalf("got %v, want a %s error reply containing %q", err, kind, want)
	}
	if ae.Kind != kind || !strings.Contains(ae.Message, want) {
		e.t.Fatalf("got %s error %q, want %s containing %q", ae.Kind, ae.Message, kind, want)
	}
}

func (e *apiEnv) addModel(name string) {
	e.t.Helper()
	_, err := e.c.AddModel(e.ctx, name)
	e.must(err)
}

func (e *apiEnv) deploy(model, name string, units int) api.Deployed {
	e.t.Helper()
	d, err := e.c.Deploy(e.ctx, model, api.DeployParams{Name: name, Charm: e.charm, NumUnits: units})
	e.must(err)
	return d
}

// view runs fn on the model's state.
func (e *apiEnv) view(model string, fn func(t *st.Tx, m *st.Model)) {
	e.t.Helper()
	e.must(e.d.store.View(func(t *st.Tx) error {
		m, err := t.ModelByName(model)
		if err != nil {
			return err
		}
		fn(t, m)
		return nil
	}))
}

func (e *apiEnv) unit(model, name string) *st.Unit {
	e.t.Helper()
	var u *st.Unit
	e.view(model, func(t *st.Tx, m *st.Model) {
		var err error
		if u, err = t.Unit(m.UUID, name); err != nil {
			e.t.Fatal(err)
		}
	})
	return u
}

func (e *apiEnv) aliveUnits(model, app string) []string {
	e.t.Helper()
	var out []string
	e.view(model, func(t *st.Tx, m *st.Model) {
		for _, u := range t.Units(m.UUID, app) {
			if u.Life == "alive" {
				out = append(out, u.Name)
			}
		}
	})
	sort.Strings(out)
	return out
}

func TestAPIPingAndKill(t *testing.T) {
	e := newAPIEnv(t)
	e.must(e.c.Ping(e.ctx))
	e.must(e.c.Kill(e.ctx))
	if e.stopped.Err() == nil || !e.d.killPods {
		t.Fatalf("kill did not stop the daemon with its pods (stopped %v, killPods %v)", e.stopped.Err(), e.d.killPods)
	}
}

func TestAPIModels(t *testing.T) {
	e := newAPIEnv(t)
	if _, err := e.c.Status(e.ctx, ""); err == nil || err.Error() != errNoModel.Error() {
		t.Fatalf("status without a model: %v", err)
	}
	e.addModel("rome")
	e.addModel("lisbon")
	_, err := e.c.AddModel(e.ctx, "rome")
	e.fails(err, api.KindFailed, `model "admin/rome" already exists`)
	_, err = e.c.AddModel(e.ctx, "Bad_Name")
	e.fails(err, api.KindFailed, "not a valid name")

	ms, err := e.c.Models(e.ctx)
	e.must(err)
	if ms.Current != "lisbon" || len(ms.Models) != 2 || ms.Models[0].Name != "lisbon" || ms.Models[1].Name != "rome" ||
		ms.Models[1].Life != "alive" || ms.Models[1].UUID == "" {
		t.Fatalf("models = %+v", ms)
	}
	now, err := e.c.Switch(e.ctx, "admin/rome")
	e.must(err)
	if cur, err := e.c.CurrentModel(e.ctx); err != nil || now != "rome" || cur != "rome" {
		t.Fatalf("switch = %q, current = %q, %v", now, cur, err)
	}
	_, err = e.c.Switch(e.ctx, "nowhere")
	e.fails(err, api.KindFailed, `model jujulet:admin/nowhere not found`)

	cfg, err := e.c.ModelConfig(e.ctx, "", map[string]string{"update-status-hook-interval": "2s"})
	e.must(err)
	if cfg["update-status-hook-interval"] != "2s" || cfg["automatically-retry-hooks"] != "true" {
		t.Fatalf("model config after set = %v", cfg)
	}
	if cfg, err := e.c.ModelConfig(e.ctx, "lisbon", nil); err != nil || cfg["update-status-hook-interval"] == "2s" {
		t.Fatalf("lisbon's config = %v, %v; want rome's change not to leak", cfg, err)
	}
	_, err = e.c.ModelConfig(e.ctx, "rome", map[string]string{"automatically-retry-hooks": "sometimes"})
	e.fails(err, api.KindFailed, `automatically-retry-hooks: expected boolean, got "sometimes"`)

	e.must(e.c.DestroyModel(e.ctx, api.DestroyModelParams{Name: "rome", DestroyStorage: true}))
	ms, err = e.c.Models(e.ctx)
	e.must(err)
	if ms.Current != "" || ms.Models[1].Life != "dying" {
		t.Fatalf("models after destroying the current one = %+v", ms)
	}
	_, err = e.c.Switch(e.ctx, "rome")
	e.fails(err, api.KindFailed, `model "admin/rome" is being destroyed`)
	_, err = e.c.Status(e.ctx, "rome")
	e.fails(err, api.KindFailed, "is being destroyed")
}

func TestAPIApplications(t *testing.T) {
	e := newAPIEnv(t)
	e.addModel("rome")
	d, err := e.c.Deploy(e.ctx, "rome", api.DeployParams{Name: "b1", Charm: e.charm, NumUnits: 2, Channel: "1/edge",
		Trust: true, Config: map[string]string{"greeting": "bonjour"}, ConfigYAML: []string{"b1:\n  count: 7\n"}})
	e.must(err)
	if d != (api.Deployed{Application: "b1", Charm: "bashcharm", Revision: d.Revision, Base: "ubuntu@22.04"}) {
		t.Fatalf("deployed = %+v", d)
	}
	if got := e.aliveUnits("rome", "b1"); strings.Join(got, " ") != "b1/0 b1/1" {
		t.Fatalf("units = %v", got)
	}
	// Defaults: the charm's name, one unit.
	if d := e.deploy("rome", "", 0); d.Application != "bashcharm" || len(e.aliveUnits("rome", "bashcharm")) != 1 {
		t.Fatalf("default deploy = %+v, units %v", d, e.aliveUnits("rome", "bashcharm"))
	}

	deployErrs := []struct {
		name string
		p    api.DeployParams
		want string
	}{
		{"no charm", api.DeployParams{Name: "x", Charm: "/nonexistent/charm"}, "charm or bundle not found"},
		{"taken name", api.DeployParams{Name: "b1", Charm: e.charm}, "application already exists"},
		{"bad name", api.DeployParams{Name: "Bad_Name", Charm: e.charm}, "invalid application name"},
		{"bad config", api.DeployParams{Name: "b9", Charm: e.charm, Config: map[string]string{"count": "abc"}}, `option "count" expected int`},
		{"bad resource", api.DeployParams{Name: "b9", Charm: e.charm, Resources: map[string]string{"nope": "x"}}, `invalid resource "nope"`},
	}
	for _, tc := range deployErrs {
		_, err := e.c.Deploy(e.ctx, "rome", tc.p)
		e.fails(err, api.KindFailed, tc.want)
	}

	cfg, err := e.c.Config(e.ctx, "rome", api.ConfigParams{App: "b1"})
	e.must(err)
	if cfg.Application != "b1" || cfg.Charm != "bashcharm" || !cfg.Trust {
		t.Fatalf("config = %+v", cfg)
	}
	wantSettings := map[string]api.ConfigSetting{
		"greeting": {Default: "hello", Description: "a string", Source: "user", Type: "string", Value: "bonjour"},
		"count":    {Default: float64(1), Description: "an int", Source: "user", Type: "int", Value: float64(7)},
	}
	for k, want := range wantSettings {
		if got := cfg.Settings[k]; got != want {
			t.Errorf("setting %s = %+v, want %+v", k, got, want)
		}
	}
	cfg, err = e.c.Config(e.ctx, "rome", api.ConfigParams{App: "b1", Set: map[string]string{"count": "3"}, Reset: []string{"greeting"}})
	e.must(err)
	if g, c := cfg.Settings["greeting"], cfg.Settings["count"]; g.Source != "default" || g.Value != "hello" || c.Value != float64(3) {
		t.Fatalf("config after set and reset: greeting %+v, count %+v", g, c)
	}
	_, err = e.c.Config(e.ctx, "rome", api.ConfigParams{App: "b1", Set: map[string]string{"nokey": "1"}})
	e.fails(err, api.KindFailed, `unknown option "nokey"`)

	e.must(e.c.Trust(e.ctx, "rome", "b1", true))
	if cfg, _ := e.c.Config(e.ctx, "rome", api.ConfigParams{App: "b1"}); cfg.Trust {
		t.Fatal("trust --remove left the application trusted")
	}

	e.must(e.c.AddUnit(e.ctx, "rome", "b1", 2))
	if got := e.aliveUnits("rome", "b1"); len(got) != 4 {
		t.Fatalf("units after add-unit 2 = %v", got)
	}
	e.must(e.c.Scale(e.ctx, "rome", "b1", 1))
	if got := e.aliveUnits("rome", "b1"); strings.Join(got, " ") != "b1/0" {
		t.Fatalf("units after scale 1 = %v", got)
	}
	e.must(e.c.Scale(e.ctx, "rome", "b1", 0))
	if got := e.aliveUnits("rome", "b1"); len(got) != 0 {
		t.Fatalf("units after scale 0 = %v", got)
	}
	e.fails(e.c.AddUnit(e.ctx, "rome", "nope", 1), api.KindFailed, `application "nope" not found`)

	r, err := e.c.Refresh(e.ctx, "rome", api.RefreshParams{App: "b1", Charm: e.charm})
	e.must(err)
	if r.Charm != "bashcharm" || r.Revision != d.Revision+1 {
		t.Fatalf("refreshed = %+v, deployed revision %d", r, d.Revision)
	}
	_, err = e.c.Refresh(e.ctx, "rome", api.RefreshParams{App: "nope", Charm: e.charm})
	e.fails(err, api.KindFailed, `application "nope" not found`)

	_, err = e.c.RemoveApplication(e.ctx, "rome", api.AppParams{App: "bashcharm"})
	e.must(err)
	e.view("rome", func(t *st.Tx, m *st.Model) {
		if a, err := t.App(m.UUID, "bashcharm"); err != nil || a.Life != "dying" {
			e.t.Errorf("removed application = %+v, %v", a, err)
		}
	})
	_, err = e.c.RemoveApplication(e.ctx, "rome", api.AppParams{App: "nope"})
	e.fails(err, api.KindFailed, `application "nope" not found`)
}

func TestAPIUnits(t *testing.T) {
	e := newAPIEnv(t)
	e.addModel("rome")
	e.deploy("rome", "b1", 2)

	info, err := e.c.UnitInfo(e.ctx, "rome", "b1/1")
	e.must(err)
	u := e.unit("rome", "b1/1")
	if info.ContainersDir != containersDir(e.d.cfg.Home, u) || strings.Join(info.Containers, ",") != "workload" {
		t.Fatalf("unit info = %+v", info)
	}
	_, err = e.c.UnitInfo(e.ctx, "rome", "b1/7")
	e.fails(err, api.KindFailed, "not found")

	shown, err := e.c.ShowUnits(e.ctx, "rome", []string{"b1/0", "b1/1"})
	e.must(err)
	if len(shown) != 2 || shown["b1/1"]["life"] != "alive" || shown["b1/1"]["charm"] == nil {
		t.Fatalf("show-unit = %v", shown)
	}

	e.fails(e.c.Resolve(e.ctx, "rome", "b1/0", false), api.KindFailed, `unit "b1/0" is not in an error state`)
	for _, noRetry := range []bool{false, true} {
		e.must(e.d.store.Update(func(t *st.Tx) error {
			m, _ := t.ModelByName("rome")
			u, err := t.Unit(m.UUID, "b1/0")
			if err != nil {
				return err
			}
			u.Error = &st.Hook{Kind: "install", Name: "install"}
			t.PutUnit(u)
			return nil
		}))
		e.must(e.c.Resolve(e.ctx, "rome", "b1/0", noRetry))
		want := map[bool]st.ResolveMode{false: st.ResolveRetry, true: st.ResolveNoRetry}[noRetry]
		if got := e.unit("rome", "b1/0").Resolve; got != want {
			t.Errorf("resolve (no-retry %v) = %q, want %q", noRetry, got, want)
		}
	}

	for _, tc := range []struct {
		op      string
		stopped bool
	}{{api.PodStop, true}, {api.PodKill, true}, {api.PodStart, false}, {api.PodKill, false}} {
		e.must(e.c.Pod(e.ctx, "rome", "b1/1", tc.op))
		if got := e.unit("rome", "b1/1").PodStopped; got != tc.stopped {
			t.Errorf("after pod %s: stopped %v, want %v", tc.op, got, tc.stopped)
		}
	}

	removed, err := e.c.RemoveUnits(e.ctx, "rome", []string{"b1/1"})
	e.must(err)
	if len(removed) != 1 || strings.Join(removed[0].DetachedStorage, " ") != "data/1" {
		t.Fatalf("remove-unit says %+v, want data/1 detached", removed)
	}
	if got := e.aliveUnits("rome", "b1"); strings.Join(got, " ") != "b1/0" {
		t.Fatalf("units after remove-unit = %v", got)
	}
	// All or nothing: b1/0 stays when another unit is unknown.
	_, err = e.c.RemoveUnits(e.ctx, "rome", []string{"b1/0", "b1/9"})
	e.fails(err, api.KindFailed, "not found")
	if got := e.aliveUnits("rome", "b1"); len(got) != 1 {
		t.Fatalf("a failed remove-unit removed %v", got)
	}
}

func TestAPIRelations(t *testing.T) {
	e := newAPIEnv(t)
	e.addModel("rome")
	e.deploy("rome", "b1", 1)
	e.deploy("rome", "b2", 1)
	relations := func() (alive, dying int) {
		e.view("rome", func(t *st.Tx, m *st.Model) {
			for _, r := range t.Relations() {
				if r.Peer {
					continue
				}
				if r.Life == "alive" {
					alive++
				} else {
					dying++
				}
			}
		})
		return alive, dying
	}
	e.must(e.c.Integrate(e.ctx, "rome", "b1:db", "b2:backend"))
	if a, d := relations(); a != 1 || d != 0 {
		t.Fatalf("relations after integrate: %d alive, %d dying", a, d)
	}
	e.fails(e.c.Integrate(e.ctx, "rome", "b1:db", "b2:backend"), api.KindFailed, "already exists")
	e.fails(e.c.Integrate(e.ctx, "rome", "b1", "b2"), api.KindFailed, "ambiguous relation")
	e.fails(e.c.Integrate(e.ctx, "rome", "b1:db", "nope"), api.KindFailed, `application "nope" not found`)
	e.must(e.c.RemoveRelation(e.ctx, "rome", []string{"b2:backend", "b1:db"}))
	if a, d := relations(); a != 0 || d != 1 {
		t.Fatalf("relations after remove-relation: %d alive, %d dying", a, d)
	}
}

func TestAPIOffers(t *testing.T) {
	e := newAPIEnv(t)
	e.addModel("rome")
	e.addModel("lisbon")
	e.deploy("rome", "b1", 1)
	o, err := e.c.Offer(e.ctx, "rome", api.OfferParams{Endpoint: "b1:db", Name: "pg"})
	e.must(err)
	if o != (api.Offered{Application: "b1", Endpoint: "db", URL: "admin/rome.pg"}) {
		t.Fatalf("offered = %+v", o)
	}
	_, err = e.c.Offer(e.ctx, "rome", api.OfferParams{Endpoint: "b1"})
	e.fails(err, api.KindFailed, "endpoints must be specified as app:endpoint")

	c, err := e.c.Consume(e.ctx, "lisbon", api.ConsumeParams{URL: o.URL, Alias: "remote-pg"})
	e.must(err)
	if c.Application != "remote-pg" || !strings.HasSuffix(c.URL, "rome.pg") {
		t.Fatalf("consumed = %+v", c)
	}
	s, err := e.c.Status(e.ctx, "lisbon")
	e.must(err)
	if _, ok := s.Status.SAAS["remote-pg"]; !ok {
		t.Fatalf("lisbon's status has no SAAS remote-pg: %v", s)
	}
	e.fails(e.c.Scale(e.ctx, "lisbon", "remote-pg", 2), api.KindFailed, `cannot scale remote application "remote-pg"`)
	_, err = e.c.Config(e.ctx, "lisbon", api.ConfigParams{App: "remote-pg"})
	e.fails(err, api.KindFailed, "cannot configure remote application")
	s, err = e.c.Status(e.ctx, "rome")
	e.must(err)
	if _, ok := s.Status.Offers["pg"]; !ok {
		t.Fatalf("rome's status has no offer pg: %v", s)
	}
}

func TestAPIActions(t *testing.T) {
	e := newAPIEnv(t)
	e.addModel("rome")
	e.deploy("rome", "b1", 2)
	tasks, err := e.c.Run(e.ctx, "rome", api.RunParams{Targets: []string{"b1/0", "b1/1"}, Action: "echo",
		Params: map[string]any{"msg": "salut"}})
	e.must(err)
	if len(tasks) != 2 || tasks[0].Unit != "b1/0" || tasks[1].Unit != "b1/1" || tasks[0].ID == tasks[1].ID {
		t.Fatalf("tasks = %+v", tasks)
	}
	// One operation for the run, its id distinct from its tasks' ids (Juju numbers both
	// from one sequence).
	if op := tasks[0].Operation; op == 0 || op != tasks[1].Operation || op == tasks[0].ID || op == tasks[1].ID {
		t.Fatalf("operation ids of %+v: want one, distinct from the task ids", tasks)
	}
	op, err := e.c.Operation(e.ctx, tasks[0].Operation)
	e.must(err)
	if op.Summary != "echo run on unit-b1-0,unit-b1-1" || len(op.Tasks) != 2 || op.Tasks[0].ID != tasks[0].ID || op.Tasks[1].Operation != op.ID {
		t.Fatalf("operation = %+v", op)
	}
	_, err = e.c.Operation(e.ctx, tasks[0].ID)
	e.fails(err, api.KindFailed, fmt.Sprintf("operation %d not found", tasks[0].ID))
	a, err := e.c.Action(e.ctx, tasks[1].ID)
	e.must(err)
	if a.ID != tasks[1].ID || a.Unit != "b1/1" || a.Name != "echo" || a.Status != "pending" ||
		a.Params["msg"] != "salut" || a.Params["num"] != float64(1) || a.Enqueued.IsZero() {
		t.Fatalf("action = %+v", a)
	}

	e.must(e.d.store.Update(func(t *st.Tx) error {
		m, _ := t.ModelByName("rome")
		a, err := t.App(m.UUID, "b1")
		if err != nil {
			return err
		}
		a.Leader = "b1/1"
		t.PutApp(a)
		return nil
	}))
	tasks, err = e.c.Run(e.ctx, "rome", api.RunParams{Targets: []string{"b1/leader"}, Action: "fail"})
	e.must(err)
	if len(tasks) != 1 || tasks[0].Unit != "b1/1" {
		t.Fatalf("tasks on the leader = %+v", tasks)
	}

	runErrs := []struct {
		p    api.RunParams
		want string
	}{
		{api.RunParams{Targets: []string{"b1"}, Action: "echo"}, `invalid unit or action name "b1"`},
		{api.RunParams{Targets: []string{"b1/7"}, Action: "echo"}, "not found"},
		{api.RunParams{Targets: []string{"nope/leader"}, Action: "echo"}, `application "nope" not found`},
		{api.RunParams{Targets: []string{"b1/0"}, Action: "nope"}, `action "nope" not defined`},
		{api.RunParams{Targets: []string{"b1/0"}, Action: "pick", Params: map[string]any{"scope": "galaxy"}}, "validation failed"},
	}
	for _, tc := range runErrs {
		_, err := e.c.Run(e.ctx, "rome", tc.p)
		e.fails(err, api.KindFailed, tc.want)
	}
	// Nothing was queued by a run that failed part-way.
	_, err = e.c.Run(e.ctx, "rome", api.RunParams{Targets: []string{"b1/0", "b1/9"}, Action: "echo"})
	e.fails(err, api.KindFailed, "not found")
	if _, err := e.c.Action(e.ctx, tasks[0].ID+1); err == nil {
		t.Fatal("a failed run queued a task")
	}
	_, err = e.c.Action(e.ctx, 9999)
	e.fails(err, api.KindFailed, "action 9999 not found")
}

func TestAPILogs(t *testing.T) {
	e := newAPIEnv(t)
	e.addModel("rome")
	var uuid string
	e.view("rome", func(_ *st.Tx, m *st.Model) { uuid = m.UUID })
	for _, msg := range []string{"one", "two", "three"} {
		e.d.store.AppendLog(uuid, "unit-b1-0", "INFO", msg)
	}
	e.d.store.AppendLog("other-model", "unit-x-0", "INFO", "elsewhere")
	messages := func(lines []api.LogEntry) string {
		var out []string
		for _, l := range lines {
			out = append(out, l.Message)
		}
		return strings.Join(out, " ")
	}
	all, err := e.c.Logs(e.ctx, "rome", api.LogsParams{})
	e.must(err)
	tests := []struct {
		p    api.LogsParams
		want string
	}{
		{api.LogsParams{}, "one two three"},
		{api.LogsParams{Limit: 2}, "two three"},
		{api.LogsParams{After: all[0].ID}, "two three"},
		{api.LogsParams{After: all[2].ID}, ""},
	}
	for _, tc := range tests {
		lines, err := e.c.Logs(e.ctx, "rome", tc.p)
		e.must(err)
		if got := messages(lines); got != tc.want {
			t.Errorf("logs %+v = %q, want %q", tc.p, got, tc.want)
		}
	}
	if all[0].Entity != "unit-b1-0" || all[0].Level != "INFO" || all[0].Time.IsZero() {
		t.Errorf("log entry = %+v", all[0])
	}
}

// post sends a raw body to the API and decodes the reply.
func (e *apiEnv) post(t *testing.T, body string) (int, api.Response) {
	t.Helper()
	resp, err := e.hc.Post("http://jujulet"+api.Path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r api.Response
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("reply to %s is not an api.Response: %v", body, err)
	}
	return resp.StatusCode, r
}

func TestAPIBadRequests(t *testing.T) {
	e := newAPIEnv(t)
	e.addModel("rome")
	e.deploy("rome", "b1", 1)
	tests := []struct {
		name   string
		body   string
		status int
		kind   api.ErrorKind
		want   string
	}{
		{"empty body", ``, 400, api.KindBadRequest, "empty body"},
		{"malformed JSON", `{"method": "ping"`, 400, api.KindBadRequest, "malformed JSON"},
		{"not an object", `["ping"]`, 400, api.KindBadRequest, "expected an object, got array"},
		{"trailing data", `{"method":"ping"} {}`, 400, api.KindBadRequest, "unexpected data after the JSON value"},
		{"unknown envelope field", `{"method":"ping","verb":"x"}`, 400, api.KindBadRequest, `unknown field "verb"`},
		{"unknown method", `{"method":"explode"}`, 404, api.KindUnknownMethod, `unknown method "explode"`},
		{"no method", `{}`, 404, api.KindUnknownMethod, `unknown method ""`},
		{"model on a global method", `{"method":"models","model":"rome"}`, 400, api.KindBadRequest, `method "models" does not take a model`},
		{"params on a method without", `{"method":"status","model":"rome","params":{"x":1}}`, 400, api.KindBadRequest, `unknown field "x"`},
		{"unknown param", `{"method":"add-model","params":{"name":"a","nmae":"b"}}`, 400, api.KindBadRequest, `unknown field "nmae"`},
		{"missing param", `{"method":"add-model","params":{}}`, 400, api.KindBadRequest, `missing required field "name"`},
		{"no params", `{"method":"switch"}`, 400, api.KindBadRequest, `missing required field "name"`},
		{"wrong type", `{"method":"scale","model":"rome","params":{"app":"b1","n":"3"}}`, 400, api.KindBadRequest, `field "n": expected an integer, got string`},
		{"float for int", `{"method":"action","params":{"id":1.5}}`, 400, api.KindBadRequest, `field "id": expected an integer`},
		{"scale without n", `{"method":"scale","model":"rome","params":{"app":"b1"}}`, 400, api.KindBadRequest, `missing required field "n"`},
		{"negative scale", `{"method":"scale","model":"rome","params":{"app":"b1","n":-1}}`, 400, api.KindBadRequest, "non-negative"},
		{"add no units", `{"method":"add-unit","model":"rome","params":{"app":"b1","n":0}}`, 400, api.KindBadRequest, "--num-units must be a positive integer"},
		{"params not an object", `{"method":"deploy","model":"rome","params":"charm"}`, 400, api.KindBadRequest, "expected an object, got string"},
		{"map of wrong values", `{"method":"config","model":"rome","params":{"app":"b1","set":{"count":3}}}`, 400, api.KindBadRequest, `field "set": expected a string, got number`},
		{"one endpoint", `{"method":"integrate","model":"rome","params":{"endpoints":["b1:db"]}}`, 400, api.KindBadRequest, "a relation must involve two applications"},
		{"unknown pod op", `{"method":"pod","model":"rome","params":{"unit":"b1/0","op":"pause"}}`, 400, api.KindBadRequest, `unknown pod operation "pause"`},
		{"no task id", `{"method":"action","params":{}}`, 400, api.KindBadRequest, `missing required field "id"`},
		{"no targets", `{"method":"run","model":"rome","params":{"action":"echo"}}`, 400, api.KindBadRequest, `missing required field "targets"`},
		{"negative limit", `{"method":"logs","model":"rome","params":{"limit":-1}}`, 400, api.KindBadRequest, "must not be negative"},
		{"failed operation", `{"method":"add-unit","model":"rome","params":{"app":"nope","n":1}}`, 400, api.KindFailed, `application "nope" not found`},
		{"unknown model", `{"method":"status","model":"nowhere"}`, 400, api.KindFailed, `model jujulet:admin/nowhere not found`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, r := e.post(t, tc.body)
			if status != tc.status || r.Kind != tc.kind || !strings.Contains(r.Error, tc.want) || r.Result != nil {
				t.Errorf("reply %d %+v, want %d %s error containing %q", status, r, tc.status, tc.kind, tc.want)
			}
		})
	}
	// Nothing above changed the model.
	if got := e.aliveUnits("rome", "b1"); len(got) != 1 {
		t.Errorf("bad requests changed b1's units: %v", got)
	}
	if status, r := e.post(t, `{"method":"ping","params":null}`); status != 200 || r.Error != "" || string(r.Result) != `"pong"` {
		t.Errorf("ping with null params: %d %+v", status, r)
	}
}

func TestAPIPanicIsAnInternalError(t *testing.T) {
	e := newAPIEnv(t)
	e.addModel("rome")
	// A handler that panics inside a write transaction, as a bug would.
	commandsByMethod["test-panic"] = &command{method: "test-panic", scope: modelScoped,
		handle: typed(func(c *call, _ api.None) (api.None, error) {
			return api.None{}, c.update(func(t *st.Tx, m *st.Model) error {
				if err := t.SetModelConfig(m, map[string]string{"half": "written"}); err != nil {
					return err
				}
				panic("boom")
			})
		})}
	t.Cleanup(func() { delete(commandsByMethod, "test-panic") })

	err := e.c.Call(e.ctx, "test-panic", "rome", nil, nil)
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusInternalServerError || ae.Kind != api.KindInternal ||
		!strings.Contains(ae.Message, `internal error serving "test-panic"`) {
		t.Fatalf("panicking handler: %#v", err)
	}
	// The controller still serves, writes included, and the panicking write was rolled back.
	e.addModel("lisbon")
	cfg, err := e.c.ModelConfig(e.ctx, "rome", nil)
	e.must(err)
	if _, ok := cfg["half"]; ok {
		t.Fatalf("the panicking transaction was committed: %v", cfg)
	}
}

func TestAPICommandTable(t *testing.T) {
	if len(commandsByMethod) != len(apiCommands) {
		t.Fatalf("%d methods for %d commands: a method is listed twice", len(commandsByMethod), len(apiCommands))
	}
	for _, c := range apiCommands {
		if c.handle == nil || c.method == "" {
			t.Errorf("command %+v has no method or handler", c)
		}
	}
}

// TestAPIStorageOnRemoval: removals say which storage they detach or destroy and mark the
// units so; destroy-model with storage needs --destroy-storage or --release-storage, and
// releasing hands the model's detached storage over to its released directory.
func TestAPIStorageOnRemoval(t *testing.T) {
	e := newAPIEnv(t)
	e.addModel("rome")
	e.deploy("rome", "b1", 2)
	e.deploy("rome", "b2", 1)

	r, err := e.c.RemoveApplication(e.ctx, "rome", api.AppParams{App: "b1"})
	e.must(err)
	if strings.Join(r.Units, " ") != "b1/0 b1/1" || strings.Join(r.DetachedStorage, " ") != "data/0 data/1" || len(r.DestroyedStorage) != 0 {
		t.Fatalf("remove-application b1 = %+v, want both units' data detached", r)
	}
	if m := e.unit("rome", "b1/0").OnRemoval; m != storage.Detach {
		t.Fatalf("b1/0 storage on removal %q, want detach", m)
	}
	r, err = e.c.RemoveApplication(e.ctx, "rome", api.AppParams{App: "b2", DestroyStorage: true})
	e.must(err)
	if strings.Join(r.DestroyedStorage, " ") != "data/0" || len(r.DetachedStorage) != 0 {
		t.Fatalf("remove-application b2 --destroy-storage = %+v", r)
	}
	if m := e.unit("rome", "b2/0").OnRemoval; m != storage.Destroy {
		t.Fatalf("b2/0 storage on removal %q, want destroy", m)
	}

	// A unit already gone left its data detached.
	home := e.d.cfg.Home
	kept := filepath.Join(storage.DetachedDir(home, "rome"), "unit-b1-7", "data")
	e.must(os.MkdirAll(kept, 0o700))
	e.must(os.WriteFile(filepath.Join(kept, "PG_VERSION"), []byte("16\n"), 0o600))

	err = e.c.DestroyModel(e.ctx, api.DestroyModelParams{Name: "rome"})
	e.fails(err, api.KindFailed, "cannot destroy model \"admin/rome\"\n\nThe model has persistent storage remaining:\n    4 filesystem(s)\n")
	err = e.c.DestroyModel(e.ctx, api.DestroyModelParams{Name: "rome", DestroyStorage: true, ReleaseStorage: true})
	if err == nil || !strings.Contains(err.Error(), "--destroy-storage and --release-storage cannot both be specified") {
		t.Fatalf("destroy-model with both storage flags: %v", err)
	}
	if ms, _ := e.c.Models(e.ctx); ms.Models[0].Life != "alive" {
		t.Fatalf("a refused destroy-model changed the model: %+v", ms)
	}

	e.must(e.c.DestroyModel(e.ctx, api.DestroyModelParams{Name: "rome", ReleaseStorage: true}))
	for _, u := range []string{"b1/0", "b1/1", "b2/0"} {
		if m := e.unit("rome", u).OnRemoval; m != storage.Release {
			t.Errorf("%s storage on removal %q after destroy-model --release-storage", u, m)
		}
	}
	got, err := os.ReadFile(filepath.Join(storage.ReleasedDir(home, "rome"), "unit-b1-7", "data", "PG_VERSION"))
	if err != nil || string(got) != "16\n" {
		t.Fatalf("released data: %q, %v", got, err)
	}
	if k := storage.Kept(storage.DetachedDir(home, "rome")); len(k) != 0 {
		t.Fatalf("detached storage left after release: %v", k)
	}
}

// TestAPIStatusDoc: status as Juju builds it: a unit whose hook failed shows the error in
// its workload status and an idle agent; the local charm is local:name-rev; a SAAS
// application's relations are endpoint: [apps]; offers count their connections; the
// relations list names each side as the model knows it.
func TestAPIStatusDoc(t *testing.T) {
	e := newAPIEnv(t)
	e.addModel("rome")
	e.addModel("lisbon")
	d := e.deploy("rome", "b1", 1)
	_, err := e.c.Offer(e.ctx, "rome", api.OfferParams{Endpoint: "b1:db", Name: "pg"})
	e.must(err)
	e.deploy("lisbon", "b2", 1)
	_, err = e.c.Consume(e.ctx, "lisbon", api.ConsumeParams{URL: "admin/rome.pg", Alias: "remote-pg"})
	e.must(err)
	e.must(e.c.Integrate(e.ctx, "lisbon", "b2:backend", "remote-pg"))
	e.must(e.d.store.Update(func(t *st.Tx) error {
		m, _ := t.ModelByName("rome")
		u, err := t.Unit(m.UUID, "b1/0")
		if err != nil {
			return err
		}
		u.Workload = st.Status{Status: "active", Since: time.Now()}
		u.Agent = st.Status{Status: "error", Message: `hook failed: "config-changed"`, Since: time.Now()}
		t.PutUnit(u)
		return nil
	}))

	rome, err := e.c.Status(e.ctx, "rome")
	e.must(err)
	a := rome.Status.Applications["b1"]
	if want := fmt.Sprintf("local:bashcharm-%d", d.Revision); a.Charm != want || a.CharmName != "bashcharm" || a.CharmOrigin != "local" {
		t.Errorf("b1 charm %q name %q origin %q, want %s", a.Charm, a.CharmName, a.CharmOrigin, want)
	}
	u := a.Units["b1/0"]
	if u.Agent.Current != "idle" || u.Agent.Message != "" || u.Workload.Current != "error" || u.Workload.Message != `hook failed: "config-changed"` {
		t.Errorf("unit in error shows workload %+v agent %+v; want the error in the workload, the agent idle", u.Workload, u.Agent)
	}
	if o := rome.Status.Offers["pg"]; o.Total != 1 || o.Active != 1 || o.Charm != a.Charm {
		t.Errorf("offer pg = %+v", o)
	}
	lisbon, err := e.c.Status(e.ctx, "lisbon")
	e.must(err)
	saas := lisbon.Status.SAAS["remote-pg"]
	if got := saas.Relations["db"]; len(got) != 1 || got[0] != "b2" || saas.Life != "" {
		t.Errorf("SAAS remote-pg = %+v, want relations {db: [b2]}", saas)
	}
	var cross *api.RelationStatus
	for i, r := range lisbon.Relations {
		if r.Interface == "bashdb" {
			cross = &lisbon.Relations[i]
		}
	}
	if cross == nil || cross.Provider != "remote-pg:db" || cross.Requirer != "b2:backend" || cross.Type != "regular" || cross.Status != "joined" {
		t.Errorf("lisbon's relations %+v: want remote-pg:db provides b2:backend", lisbon.Relations)
	}

	offers, err := e.c.Offers(e.ctx, "rome", api.OffersParams{})
	e.must(err)
	if len(offers) != 1 || offers[0].URL != "admin/rome.pg" || len(offers[0].Connections) != 1 ||
		offers[0].Connections[0].Endpoint != "db" || offers[0].Endpoints["db"].Interface != "bashdb" {
		t.Errorf("offers = %+v", offers)
	}
	if offers, err := e.c.Offers(e.ctx, "rome", api.OffersParams{Name: "nope"}); err != nil || len(offers) != 0 {
		t.Errorf("offers named nope = %+v, %v", offers, err)
	}

	// Life shows on the application, only when it is not alive (no agent runs here, so b2
	// stays dying).
	if a.Life != "" {
		t.Errorf("alive application shows life %q", a.Life)
	}
	_, err = e.c.RemoveApplication(e.ctx, "lisbon", api.AppParams{App: "b2"})
	e.must(err)
	lisbon, err = e.c.Status(e.ctx, "lisbon")
	e.must(err)
	if l := lisbon.Status.Applications["b2"].Life; l != "dying" {
		t.Errorf("dying application shows life %q", l)
	}
}
