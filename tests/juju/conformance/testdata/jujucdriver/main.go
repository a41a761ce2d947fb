// Command jujucdriver runs Juju's own hook-tool commands (internal/worker/uniter/runner/jujuc)
// against a jujuc.Context built from a conformance scenario. It is built as a module whose
// path lies under github.com/juju/juju, which may import Juju's internal packages; see
// ../../build_test.go. Input on stdin, output on stdout, both JSON (see ../../scenario_test.go).
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/juju/charm/v12"
	"github.com/juju/cmd/v3"
	"github.com/juju/errors"
	"github.com/juju/loggo"
	"github.com/juju/names/v5"

	"github.com/juju/juju/core/application"
	"github.com/juju/juju/core/life"
	"github.com/juju/juju/core/network"
	"github.com/juju/juju/core/payloads"
	"github.com/juju/juju/core/relation"
	"github.com/juju/juju/core/secrets"
	"github.com/juju/juju/internal/worker/uniter/runner/jujuc"
	"github.com/juju/juju/juju/sockets"
	"github.com/juju/juju/rpc/params"
	"github.com/juju/juju/storage"
)

// The scenario, as ../../scenario_test.go writes it.
type scenario struct {
	Unit           string                     `json:"unit"`
	ModelUUID      string                     `json:"model-uuid"`
	Leader         bool                       `json:"leader"`
	LeaderSettings map[string]string          `json:"leader-settings"`
	Config         map[string]any             `json:"config"`
	Relations      []rel                      `json:"relations"`
	HookRelation   int                        `json:"hook-relation"`
	RemoteUnit     string                     `json:"remote-unit"`
	RemoteApp      string                     `json:"remote-app"`
	Action         map[string]any             `json:"action"`
	UnitStatus     status                     `json:"unit-status"`
	AppStatus      status                     `json:"app-status"`
	UnitStatuses   map[string]status          `json:"unit-statuses"`
	PrivateAddress string                     `json:"private-address"`
	PublicAddress  string                     `json:"public-address"`
	Ports          []port                     `json:"ports"`
	State          map[string]string          `json:"state"`
	Secrets        []secret                   `json:"secrets"`
	Storage        []stor                     `json:"storage"`
	HookStorage    string                     `json:"hook-storage"`
	GoalUnits      map[string]goal            `json:"goal-units"`
	GoalRelations  map[string]map[string]goal `json:"goal-relations"`
	Resources      map[string]string          `json:"resources"`
}

type rel struct {
	ID          int                          `json:"id"`
	Endpoint    string                       `json:"endpoint"`
	RemoteApp   string                       `json:"remote-app"`
	ModelUUID   string                       `json:"model-uuid"`
	Peer        bool                         `json:"peer"`
	Units       map[string]map[string]string `json:"units"`
	AppSettings map[string]map[string]string `json:"app-settings"`
}

type status struct {
	Status  string         `json:"status"`
	Message string         `json:"message"`
	Data    map[string]any `json:"data"`
}

type port struct {
	Endpoint string `json:"endpoint"`
	Protocol string `json:"protocol"`
	From     int    `json:"from"`
	To       int    `json:"to"`
}

type secret struct {
	ID          string            `json:"id"`
	Label       string            `json:"label"`
	Description string            `json:"description"`
	Owner       string            `json:"owner"`
	Revision    int               `json:"revision"`
	Rotate      string            `json:"rotate"`
	Content     map[string]string `json:"content"`
}

type goal struct {
	Status string `json:"status"`
	Since  string `json:"since"` // "2006-01-02 15:04:05Z"
}

func (g goal) state() application.GoalStateStatus {
	out := application.GoalStateStatus{Status: g.Status}
	if t, err := time.Parse("2006-01-02 15:04:05Z", g.Since); err == nil {
		out.Since = &t
	}
	return out
}

type stor struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Location string `json:"location"`
}

type call struct {
	Tool  string   `json:"tool"`
	Args  []string `json:"args"`
	Stdin *string  `json:"stdin"`
	Dir   string   `json:"dir"`
}

type result struct {
	Code   int      `json:"code"`
	Stdout string   `json:"stdout"`
	Stderr string   `json:"stderr"`
	Logs   []string `json:"logs"`
}

type input struct {
	Scenario scenario `json:"scenario"`
	Calls    []call   `json:"calls"`
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "serve" {
		if err := serve(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "jujucdriver serve:", err)
			os.Exit(2)
		}
		return
	}
	var in input
	dec := json.NewDecoder(os.Stdin)
	if err := dec.Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "jujucdriver: reading input:", err)
		os.Exit(2)
	}
	var out []result
	for _, c := range in.Calls {
		out = append(out, run(&in.Scenario, c))
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "jujucdriver: writing output:", err)
		os.Exit(2)
	}
}

// serve runs Juju's own hook-tool server (jujuc.NewServer, the uniter's) on a unix socket
// at path, for context id "conformance" over one context of the scenario read from stdin,
// the way Juju's runner starts it for a hook running next to its agent (empty token). It
// prints "ready" once listening and serves until stdin closes.
func serve(path string) error {
	dec := json.NewDecoder(os.Stdin)
	var in input
	if err := dec.Decode(&in); err != nil {
		return fmt.Errorf("reading the scenario: %w", err)
	}
	hc := newContext(&in.Scenario)
	getCmd := func(ctxID, name string) (cmd.Command, error) {
		if ctxID != "conformance" {
			return nil, errors.Errorf("wrong context ID; got %q", ctxID)
		}
		return jujuc.NewCommand(hc, name)
	}
	srv, err := jujuc.NewServer(getCmd, sockets.Socket{Network: "unix", Address: path}, "")
	if err != nil {
		return err
	}
	go func() { _ = srv.Run() }()
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, io.MultiReader(dec.Buffered(), os.Stdin))
	srv.Close()
	return nil
}

type noStdin struct{}

func (noStdin) Read([]byte) (int, error) { return 0, jujuc.ErrNoStdin }

type wrapper struct {
	cmd.Command
	err error
}

func (w *wrapper) Run(ctx *cmd.Context) error {
	w.err = w.Command.Run(ctx)
	return w.err
}

// logWriter collects what juju-log writes through loggo.
type logWriter struct{ lines *[]string }

func (w logWriter) Write(e loggo.Entry) {
	*w.lines = append(*w.lines, e.Level.String()+" "+e.Message)
}

// run does what Juju's Jujuc.Main does for one request, including the client's retry with
// stdin when the tool asked for it.
func run(s *scenario, c call) result {
	attempt := func(withStdin bool) (result, bool) {
		var logs []string
		loggo.ResetWriters()
		_ = loggo.RegisterWriter("default", logWriter{&logs})
		ctx := newContext(s)
		command, err := jujuc.NewCommand(ctx, c.Tool)
		if err != nil {
			return result{Code: 1, Stderr: fmt.Sprintf("ERROR bad request: %s\n", err)}, false
		}
		var stdin = any(noStdin{})
		if withStdin {
			in := ""
			if c.Stdin != nil {
				in = *c.Stdin
			}
			stdin = strings.NewReader(in)
		}
		var stdout, stderr bytes.Buffer
		cctx := &cmd.Context{Dir: c.Dir, Stdout: &stdout, Stderr: &stderr}
		cctx.Stdin = stdin.(interface{ Read([]byte) (int, error) })
		w := &wrapper{Command: command}
		code := cmd.Main(w, cctx, c.Args)
		if errors.Cause(w.err) == jujuc.ErrNoStdin {
			return result{}, true
		}
		return result{Code: code, Stdout: stdout.String(), Stderr: stderr.String(), Logs: logs}, false
	}
	r, needStdin := attempt(false)
	if needStdin {
		r, _ = attempt(true)
	}
	return r
}

// ctx is a jujuc.Context over a scenario. Its errors are the ones Juju's own
// runner/context.HookContext returns in the same situations.
type ctx struct {
	s      *scenario
	rels   map[int]*relCtx
	logger loggo.Logger
}

var errIsNotLeader = errors.Errorf("this unit is not the leader")

func newContext(s *scenario) *ctx {
	c := &ctx{s: s, rels: map[int]*relCtx{}}
	for i := range s.Relations {
		r := &s.Relations[i]
		c.rels[r.ID] = &relCtx{c: c, r: r}
	}
	return c
}

func (c *ctx) app() string { a, _ := names.UnitApplication(c.s.Unit); return a }

func (c *ctx) GetLogger(module string) loggo.Logger {
	l := loggo.GetLogger(module)
	l.SetLogLevel(loggo.TRACE)
	return l
}

// ContextUnit
func (c *ctx) UnitName() string { return c.s.Unit }
func (c *ctx) ConfigSettings() (charm.Settings, error) {
	out := charm.Settings{}
	for k, v := range c.s.Config {
		out[k] = v
	}
	return out, nil
}
func (c *ctx) GoalState() (*application.GoalState, error) {
	gs := &application.GoalState{Units: application.UnitsGoalState{}, Relations: map[string]application.UnitsGoalState{}}
	for u, st := range c.s.GoalUnits {
		gs.Units[u] = st.state()
	}
	for ep, units := range c.s.GoalRelations {
		m := application.UnitsGoalState{}
		for u, st := range units {
			m[u] = st.state()
		}
		gs.Relations[ep] = m
	}
	return gs, nil
}
func (c *ctx) SetPodSpec(string) error {
	if !c.s.Leader {
		return errIsNotLeader
	}
	return nil
}
func (c *ctx) GetPodSpec() (string, error) {
	return "", errors.NotFoundf("k8s spec for application %s", c.app())
}
func (c *ctx) SetRawK8sSpec(string) error {
	if !c.s.Leader {
		return errIsNotLeader
	}
	return nil
}
func (c *ctx) GetRawK8sSpec() (string, error) {
	return "", errors.NotFoundf("k8s spec for application %s", c.app())
}

// CloudSpec answers as the controller answers an untrusted application (scenarios have no
// trusted one): permission denied, annotated by runner/context.
func (c *ctx) CloudSpec() (*params.CloudSpec, error) {
	return nil, errors.Annotate(errors.New("permission denied"), "getting model credentials")
}

// ContextStatus
func toInfo(tag string, s status) jujuc.StatusInfo {
	return jujuc.StatusInfo{Tag: tag, Status: s.Status, Info: s.Message, Data: s.Data}
}
func (c *ctx) UnitStatus() (*jujuc.StatusInfo, error) {
	i := toInfo(c.s.Unit, c.s.UnitStatus)
	return &i, nil
}
func (c *ctx) SetUnitStatus(jujuc.StatusInfo) error { return nil }
func (c *ctx) ApplicationStatus() (jujuc.ApplicationStatusInfo, error) {
	if !c.s.Leader {
		return jujuc.ApplicationStatusInfo{}, errIsNotLeader
	}
	out := jujuc.ApplicationStatusInfo{Application: toInfo(c.app(), c.s.AppStatus)}
	var units []string
	for u := range c.s.UnitStatuses {
		units = append(units, u)
	}
	sort.Strings(units)
	for _, u := range units {
		// The controller keys unit statuses by unit name.
		out.Units = append(out.Units, toInfo(u, c.s.UnitStatuses[u]))
	}
	return out, nil
}
func (c *ctx) SetApplicationStatus(jujuc.StatusInfo) error {
	if !c.s.Leader {
		return errIsNotLeader
	}
	return nil
}

// ContextInstance
func (c *ctx) AvailabilityZone() (string, error)        { return "", errors.NotFoundf("availability zone") }
func (c *ctx) RequestReboot(jujuc.RebootPriority) error { return nil }
func (c *ctx) UnitWorkloadVersion() (string, error)     { return "", nil }
func (c *ctx) SetUnitWorkloadVersion(string) error      { return nil }
func (c *ctx) WorkloadName() (string, error)            { return "", errors.NotFoundf("workload name") }
func (c *ctx) DownloadResource(name string) (string, error) {
	p, ok := c.s.Resources[name]
	if !ok {
		return "", errors.NotFoundf("resource %q", name)
	}
	return p, nil
}

// ContextNetworking
func (c *ctx) PublicAddress() (string, error) {
	if c.s.PublicAddress == "" {
		return "", errors.NotFoundf("public address")
	}
	return c.s.PublicAddress, nil
}
func (c *ctx) PrivateAddress() (string, error) {
	if c.s.PrivateAddress == "" {
		return "", errors.NotFoundf("private address")
	}
	return c.s.PrivateAddress, nil
}

// checkPortRange is what runner/context's port recorder checks first in a CAAS model.
func checkPortRange(pr network.PortRange) error {
	if err := pr.Validate(); err != nil {
		return errors.Trace(err)
	}
	if pr.FromPort != pr.ToPort {
		return errors.NewNotSupported(nil, "port ranges are not supported for k8s applications, please specify a single port")
	}
	return nil
}
func (c *ctx) OpenPortRange(_ string, pr network.PortRange) error  { return checkPortRange(pr) }
func (c *ctx) ClosePortRange(_ string, pr network.PortRange) error { return checkPortRange(pr) }
func (c *ctx) OpenedPortRanges() network.GroupedPortRanges {
	g := network.GroupedPortRanges{}
	for _, p := range c.s.Ports {
		g[p.Endpoint] = append(g[p.Endpoint], network.PortRange{FromPort: p.From, ToPort: p.To, Protocol: p.Protocol})
	}
	return g
}
func (c *ctx) NetworkInfo([]string, int) (map[string]params.NetworkInfoResult, error) {
	return nil, errors.NotImplementedf("network-get in the conformance driver")
}

// ContextLeadership
func (c *ctx) IsLeader() (bool, error) { return c.s.Leader, nil }
func (c *ctx) LeaderSettings() (map[string]string, error) {
	out := map[string]string{}
	for k, v := range c.s.LeaderSettings {
		out[k] = v
	}
	return out, nil
}
func (c *ctx) WriteLeaderSettings(map[string]string) error {
	if !c.s.Leader {
		// What the leadership tracker's failure becomes in runner/context.
		return errors.Errorf("cannot write settings: not the leader")
	}
	return nil
}

// ContextStorage
type attachment struct{ s stor }

func (a attachment) Tag() names.StorageTag { return names.NewStorageTag(a.s.ID) }
func (a attachment) Kind() storage.StorageKind {
	switch a.s.Kind {
	case "block":
		return storage.StorageKindBlock
	case "filesystem":
		return storage.StorageKindFilesystem
	}
	return storage.StorageKindUnknown
}
func (a attachment) Location() string { return a.s.Location }

// StorageTags lists the unit's attachments in the order Juju's controller reads them:
// by document id, "<unit>#<storage id>", so by storage id.
func (c *ctx) StorageTags() ([]names.StorageTag, error) {
	var ids []string
	for _, s := range c.s.Storage {
		ids = append(ids, s.ID)
	}
	sort.Strings(ids)
	var out []names.StorageTag
	for _, id := range ids {
		out = append(out, names.NewStorageTag(id))
	}
	return out, nil
}
func (c *ctx) Storage(tag names.StorageTag) (jujuc.ContextStorageAttachment, error) {
	for _, s := range c.s.Storage {
		if s.ID == tag.Id() {
			return attachment{s}, nil
		}
	}
	return nil, errors.NotFoundf("storage attachment %s:%s", tag.Id(), c.s.Unit)
}
func (c *ctx) HookStorage() (jujuc.ContextStorageAttachment, error) {
	if c.s.HookStorage == "" {
		return nil, errors.NotFoundf("storage")
	}
	return c.Storage(names.NewStorageTag(c.s.HookStorage))
}
func (c *ctx) AddUnitStorage(map[string]params.StorageConstraints) error { return nil }

// ContextPayloads (not used by the charm; here for the interface).
func (c *ctx) GetPayload(string, string) (*payloads.Payload, error) {
	return nil, errors.NotFoundf("payload")
}
func (c *ctx) TrackPayload(payloads.Payload) error           { return nil }
func (c *ctx) UntrackPayload(string, string) error           { return nil }
func (c *ctx) SetPayloadStatus(string, string, string) error { return nil }
func (c *ctx) ListPayloads() ([]string, error)               { return nil, nil }
func (c *ctx) FlushPayloads() error                          { return nil }

// ContextRelations
func (c *ctx) Relation(id int) (jujuc.ContextRelation, error) {
	r, ok := c.rels[id]
	if !ok {
		return nil, errors.NotFoundf("relation")
	}
	return r, nil
}
func (c *ctx) RelationIds() ([]int, error) {
	ids := []int{}
	for id := range c.rels {
		ids = append(ids, id)
	}
	return ids, nil
}
func (c *ctx) HookRelation() (jujuc.ContextRelation, error) { return c.Relation(c.s.HookRelation) }
func (c *ctx) RemoteUnitName() (string, error) {
	if c.s.RemoteUnit == "" {
		return "", errors.NotFoundf("remote unit")
	}
	return c.s.RemoteUnit, nil
}
func (c *ctx) RemoteApplicationName() (string, error) {
	if c.s.RemoteApp == "" {
		return "", errors.NotFoundf("saas application")
	}
	return c.s.RemoteApp, nil
}

// actionHookContext, with runner/context's errors outside an action.
var errNotAction = errors.New("not running an action")

func (c *ctx) ActionParams() (map[string]any, error) {
	if c.s.Action == nil {
		return nil, errNotAction
	}
	return c.s.Action, nil
}
func (c *ctx) UpdateActionResults([]string, any) error {
	if c.s.Action == nil {
		return errNotAction
	}
	return nil
}
func (c *ctx) SetActionMessage(string) error {
	if c.s.Action == nil {
		return errNotAction
	}
	return nil
}
func (c *ctx) SetActionFailed() error {
	if c.s.Action == nil {
		return errNotAction
	}
	return nil
}
func (c *ctx) LogActionMessage(string) error {
	if c.s.Action == nil {
		return errNotAction
	}
	return nil
}

// unitCharmStateContext
func (c *ctx) GetCharmState() (map[string]string, error) {
	out := map[string]string{}
	for k, v := range c.s.State {
		out[k] = v
	}
	return out, nil
}
func (c *ctx) GetCharmStateValue(key string) (string, error) {
	v, ok := c.s.State[key]
	if !ok {
		return "", errors.NotFoundf("%q", key)
	}
	return v, nil
}
func (c *ctx) DeleteCharmStateValue(string) error      { return nil }
func (c *ctx) SetCharmStateValue(string, string) error { return nil }

// ContextSecrets
func (c *ctx) findSecret(uri *secrets.URI, label string) *secret {
	for i := range c.s.Secrets {
		s := &c.s.Secrets[i]
		if (uri != nil && uri.ID == s.ID) || (uri == nil && label != "" && s.Label == label) {
			return s
		}
	}
	return nil
}
func (c *ctx) GetSecret(uri *secrets.URI, label string, _, _ bool) (secrets.SecretValue, error) {
	s := c.findSecret(uri, label)
	if s == nil {
		id := label
		if uri != nil {
			id = uri.ID
		}
		return nil, errors.NotFoundf("secret %q", id)
	}
	enc := map[string]string{}
	for k, v := range s.Content {
		enc[k] = base64.StdEncoding.EncodeToString([]byte(v))
	}
	return secrets.NewSecretValue(enc), nil
}
func (c *ctx) CreateSecret(args *jujuc.SecretCreateArgs) (*secrets.URI, error) {
	if args.OwnerTag.Kind() == names.ApplicationTagKind && !c.s.Leader {
		return nil, errIsNotLeader
	}
	return &secrets.URI{SourceUUID: c.s.ModelUUID, ID: "d4e5f6a7b8c9d0e1f2g0"}, nil
}
func (c *ctx) UpdateSecret(uri *secrets.URI, _ *jujuc.SecretUpdateArgs) error {
	if c.findSecret(uri, "") == nil {
		return errors.NotFoundf("secret %q", uri.ID)
	}
	return nil
}
func (c *ctx) RemoveSecret(*secrets.URI, *int) error                         { return nil }
func (c *ctx) GrantSecret(*secrets.URI, *jujuc.SecretGrantRevokeArgs) error  { return nil }
func (c *ctx) RevokeSecret(*secrets.URI, *jujuc.SecretGrantRevokeArgs) error { return nil }
func (c *ctx) SecretMetadata() (map[string]jujuc.SecretMetadata, error) {
	out := map[string]jujuc.SecretMetadata{}
	for _, s := range c.s.Secrets {
		var owner names.Tag = names.NewApplicationTag(c.app())
		if s.Owner == "unit" {
			owner = names.NewUnitTag(c.s.Unit)
		}
		if s.Owner == "" {
			continue // not owned by this unit or its application
		}
		out[s.ID] = jujuc.SecretMetadata{
			Owner: owner, Description: s.Description, Label: s.Label,
			RotatePolicy: secrets.RotatePolicy(s.Rotate), LatestRevision: s.Revision,
		}
	}
	return out, nil
}

// relCtx is a jujuc.ContextRelation over one scenario relation.
type relCtx struct {
	c *ctx
	r *rel
}

type settings params.Settings

func (s settings) Map() params.Settings { return params.Settings(s) }
func (s settings) Set(k, v string)      { s[k] = v }
func (s settings) Delete(k string)      { delete(s, k) }

func (r *relCtx) Id() int      { return r.r.ID }
func (r *relCtx) Name() string { return r.r.Endpoint }
func (r *relCtx) RelationTag() names.RelationTag {
	return names.NewRelationTag(r.c.app() + ":" + r.r.Endpoint + " " + r.r.RemoteApp + ":" + r.r.Endpoint)
}
func (r *relCtx) FakeId() string { return fmt.Sprintf("%s:%d", r.r.Endpoint, r.r.ID) }
func (r *relCtx) Settings() (jujuc.Settings, error) {
	out := settings{}
	for k, v := range r.r.Units[r.c.s.Unit] {
		out[k] = v
	}
	return out, nil
}
func (r *relCtx) ApplicationSettings() (jujuc.Settings, error) {
	if !r.c.s.Leader {
		return nil, errors.New("permission denied")
	}
	out := settings{}
	for k, v := range r.r.AppSettings[r.c.app()] {
		out[k] = v
	}
	return out, nil
}
func (r *relCtx) UnitNames() []string {
	var out []string
	for u := range r.r.Units {
		if u != r.c.s.Unit {
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out
}
func (r *relCtx) ReadSettings(unit string) (params.Settings, error) {
	out := params.Settings{}
	for k, v := range r.r.Units[unit] {
		out[k] = v
	}
	return out, nil
}
func (r *relCtx) ReadApplicationSettings(app string) (params.Settings, error) {
	if app == r.c.app() && !r.c.s.Leader && !r.r.Peer {
		return nil, errors.New("permission denied")
	}
	out := params.Settings{}
	for k, v := range r.r.AppSettings[app] {
		out[k] = v
	}
	return out, nil
}
func (r *relCtx) Suspended() bool                 { return false }
func (r *relCtx) SetStatus(relation.Status) error { return nil }
func (r *relCtx) RemoteApplicationName() string   { return r.r.RemoteApp }
func (r *relCtx) RemoteModelUUID() string         { return r.r.ModelUUID }
func (r *relCtx) Life() life.Value                { return life.Alive }

var (
	_ jujuc.Context         = (*ctx)(nil)
	_ jujuc.ContextRelation = (*relCtx)(nil)
)
