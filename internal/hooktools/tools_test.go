package hooktools

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type toolCase struct {
	name   string
	setup  func(f *fakeCtx)
	tool   string
	args   []string
	stdin  *string // nil: the client sent none
	code   int
	stdout string
	stderr string
	check  func(t *testing.T, f *fakeCtx)
}

func runCases(t *testing.T, cases []toolCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			if tc.setup != nil {
				tc.setup(f)
			}
			req := Request{ContextId: "ctx", CommandName: tc.tool, Args: tc.args, Dir: t.TempDir()}
			if tc.stdin != nil {
				req.StdinSet, req.Stdin = true, []byte(*tc.stdin)
			}
			resp := execute(context.Background(), f, req)
			assert.Equal(t, tc.stdout, string(resp.Stdout), "stdout")
			assert.Equal(t, tc.stderr, string(resp.Stderr), "stderr")
			assert.Equal(t, tc.code, resp.Code, "exit code")
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

func strp(s string) *string { return &s }

func inRel(id int, unit string) func(*fakeCtx) {
	return func(f *fakeCtx) { f.inRelationHook(id, unit) }
}

func notLeader(f *fakeCtx) { f.leader = false }

func TestRelationTools(t *testing.T) {
	runCases(t, []toolCase{
		{name: "get default remote unit key", setup: inRel(2, "app/0"), tool: "relation-get", args: []string{"user"}, stdout: "jim\n"},
		{name: "get all smart is yaml", setup: inRel(2, "app/0"), tool: "relation-get", args: nil,
			stdout: "private-address: 127.0.0.5\nuser: jim\n"},
		{name: "get all json", setup: inRel(2, "app/0"), tool: "relation-get", args: []string{"--format=json", "-"},
			stdout: `{"private-address":"127.0.0.5","user":"jim"}` + "\n"},
		{name: "get missing key prints nothing", setup: inRel(2, "app/0"), tool: "relation-get", args: []string{"nope"}},
		{name: "get missing key json null", setup: inRel(2, "app/0"), tool: "relation-get", args: []string{"nope", "--format", "json"}, stdout: "null\n"},
		{name: "get -r db:2 explicit unit", tool: "relation-get", args: []string{"-r", "db:2", "-", "pg/0"},
			stdout: "private-address: 127.0.0.2\n"},
		{name: "get -r2 (bare id)", tool: "relation-get", args: []string{"-r2", "user", "app/0"}, stdout: "jim\n"},
		{name: "get --relation=db:2", tool: "relation-get", args: []string{"--relation=db:2", "user", "app/0"}, stdout: "jim\n"},
		// gnuflag gives a one-letter flag everything after the letter: "-r=2" means "=2", as in Juju.
		{name: "get -r=2 is not -r 2", tool: "relation-get", args: []string{"-r=2", "user", "app/0"},
			code: 2, stderr: "ERROR invalid value \"=2\" for option -r: invalid relation id\n"},
		{name: "get --relation only last colon part", tool: "relation-get", args: []string{"--relation", "x:y:2", "user", "app/0"}, stdout: "jim\n"},
		{name: "get unknown relation", tool: "relation-get", args: []string{"-r", "db:99", "user", "app/0"},
			code: 2, stderr: "ERROR invalid value \"db:99\" for option -r: relation not found\n"},
		{name: "get bad relation id", tool: "relation-get", args: []string{"-r", "db:x"},
			code: 2, stderr: "ERROR invalid value \"db:x\" for option -r: invalid relation id\n"},
		{name: "get no relation", tool: "relation-get", args: []string{"user", "app/0"},
			code: 2, stderr: "ERROR no relation id specified\n"},
		{name: "get no unit", tool: "relation-get", args: []string{"-r", "2", "user"},
			code: 2, stderr: "ERROR no unit or application specified\n"},
		{name: "get app name without --app", tool: "relation-get", args: []string{"-r", "2", "-", "app"},
			code: 2, stderr: "ERROR expected unit name, got application name \"app\"\n"},
		{name: "get invalid unit", tool: "relation-get", args: []string{"-r", "2", "-", "App/x"},
			code: 2, stderr: "ERROR invalid unit name \"App/x\"\n"},
		{name: "get --app default remote app", setup: inRel(2, "app/0"), tool: "relation-get", args: []string{"--app"},
			stdout: "database: main\n"},
		{name: "get --app with unit name turns into app", tool: "relation-get", args: []string{"-r", "2", "--app", "database", "app/3"},
			stdout: "main\n"},
		{name: "get app-bucket hook (no remote unit)", setup: inRel(2, ""), tool: "relation-get", args: []string{"database"}, stdout: "main\n"},
		{name: "get own app bucket non-leader non-peer", setup: notLeader, tool: "relation-get", args: []string{"-r", "2", "--app", "-", "pg"},
			code: 1, stderr: "ERROR permission denied\n"},
		{name: "get empty bucket", tool: "relation-get", args: []string{"-r", "2", "--app", "-", "pg"}, stdout: "{}\n"},
		{name: "get flags after positionals", setup: inRel(2, "app/0"), tool: "relation-get", args: []string{"user", "--format", "json"}, stdout: "\"jim\"\n"},
		{name: "get unknown flag", tool: "relation-get", args: []string{"--bogus"},
			code: 2, stderr: "ERROR option provided but not defined: --bogus\n"},
		{name: "get too many args", tool: "relation-get", args: []string{"-r", "2", "a", "app/0", "extra"},
			code: 2, stderr: "ERROR unrecognized args: [\"extra\"]\n"},

		{name: "set trims and deletes", setup: inRel(2, "app/0"), tool: "relation-set", args: []string{" a = 1 ", "b=", "c=x=y"},
			check: func(t *testing.T, f *fakeCtx) { assert.Equal(t, []string{"rel 2 app=false a=1,b=,c=x=y"}, f.writes) }},
		{name: "set duplicate", setup: inRel(2, "app/0"), tool: "relation-set", args: []string{"a=1", "a=2"},
			code: 2, stderr: "ERROR key \"a\" specified more than once\n"},
		{name: "set not key=value", setup: inRel(2, "app/0"), tool: "relation-set", args: []string{"a"},
			code: 2, stderr: "ERROR expected \"key=value\", got \"a\"\n"},
		{name: "set --app leader", tool: "relation-set", args: []string{"-r", "db:2", "--app", "k=v"},
			check: func(t *testing.T, f *fakeCtx) { assert.Equal(t, []string{"rel 2 app=true k=v"}, f.writes) }},
		{name: "set --app non-leader", setup: notLeader, tool: "relation-set", args: []string{"-r", "2", "--app", "k=v"},
			code: 1, stderr: "ERROR cannot write relation settings\n",
			check: func(t *testing.T, f *fakeCtx) { assert.Empty(t, f.writes) }},
		{name: "set no relation", tool: "relation-set", args: []string{"k=v"}, code: 2, stderr: "ERROR no relation id specified\n"},
		{name: "set --file stdin, args override", setup: inRel(2, "app/0"), tool: "relation-set",
			args: []string{"--file", "-", "b=arg"}, stdin: strp("a: |\n  line1\n  line2\nb: file\nn: 5\n"),
			check: func(t *testing.T, f *fakeCtx) {
				assert.Equal(t, []string{"rel 2 app=false a=line1\nline2\n,b=arg,n=5"}, f.writes)
			}},
		{name: "set deprecated --format", setup: inRel(2, "app/0"), tool: "relation-set", args: []string{"--format", "json", "a=1"},
			stderr: `--format flag deprecated for command "relation-set"`},

		{name: "ids in relation hook", setup: inRel(2, "app/0"), tool: "relation-ids", stdout: "db:12\ndb:2\n"},
		{name: "ids json", tool: "relation-ids", args: []string{"db", "--format=json"}, stdout: `["db:12","db:2"]` + "\n"},
		{name: "ids none json", tool: "relation-ids", args: []string{"nothing", "--format=json"}, stdout: "[]\n"},
		{name: "ids none smart", tool: "relation-ids", args: []string{"nothing"}},
		{name: "ids no endpoint", tool: "relation-ids", code: 2, stderr: "ERROR no endpoint name specified\n"},

		{name: "list sorted", setup: inRel(2, "app/0"), tool: "relation-list", stdout: "app/0\napp/1\n"},
		{name: "list json empty", tool: "relation-list", args: []string{"-r", "12", "--format", "json"}, stdout: "[]\n"},
		{name: "list --app", tool: "relation-list", args: []string{"-r", "1", "--app"}, stdout: "pg\n"},
		{name: "list no relation", tool: "relation-list", code: 2, stderr: "ERROR no relation id specified\n"},

		{name: "model-get", tool: "relation-model-get", args: []string{"-r", "12"}, stdout: "uuid: feedface-1111-2222-3333-444455556666\n"},
		{name: "model-get json", setup: inRel(2, "app/0"), tool: "relation-model-get", args: []string{"--format", "json"},
			stdout: `{"uuid":"6a5b4c3d-1111-2222-3333-444455556666"}` + "\n"},
	})
}

func TestLeaderConfigTools(t *testing.T) {
	runCases(t, []toolCase{
		{name: "is-leader smart", tool: "is-leader", stdout: "True\n"},
		{name: "is-leader false", setup: notLeader, tool: "is-leader", stdout: "False\n"},
		{name: "is-leader json", tool: "is-leader", args: []string{"--format=json"}, stdout: "true\n"},
		{name: "is-leader json false", setup: notLeader, tool: "is-leader", args: []string{"--format", "json"}, stdout: "false\n"},
		{name: "is-leader yaml", tool: "is-leader", args: []string{"--format", "yaml"}, stdout: "true\n"},
		{name: "is-leader bad format", tool: "is-leader", args: []string{"--format", "xml"},
			code: 2, stderr: "ERROR invalid value \"xml\" for option --format: unknown format \"xml\"\n"},
		{name: "is-leader extra args", tool: "is-leader", args: []string{"x"}, code: 2, stderr: "ERROR unrecognized args: [\"x\"]\n"},

		{name: "leader-get key", tool: "leader-get", args: []string{"primary"}, stdout: "pg/0\n"},
		{name: "leader-get all", tool: "leader-get", args: []string{"-"}, stdout: "primary: pg/0\n"},
		{name: "leader-get missing json", tool: "leader-get", args: []string{"x", "--format=json"}, stdout: "null\n"},
		{name: "leader-get bad key", tool: "leader-get", args: []string{"a=b"}, code: 2, stderr: "ERROR invalid key \"a=b\"\n"},
		{name: "leader-set", tool: "leader-set", args: []string{"a=1", "primary="},
			check: func(t *testing.T, f *fakeCtx) {
				assert.Equal(t, map[string]string{"a": "1"}, f.leaderSettings)
			}},
		{name: "leader-set non-leader", setup: notLeader, tool: "leader-set", args: []string{"a=1"},
			code: 1, stderr: "ERROR cannot write leadership settings: cannot write settings: not the leader\n"},

		{name: "config-get drops nil", tool: "config-get", stdout: "flag: true\nname: main\nport: 5432\n"},
		{name: "config-get --all", tool: "config-get", args: []string{"--all"}, stdout: "flag: true\nname: main\nport: 5432\nunset: null\n"},
		{name: "config-get -a json", tool: "config-get", args: []string{"-a", "--format=json"},
			stdout: `{"flag":true,"name":"main","port":5432,"unset":null}` + "\n"},
		{name: "config-get key int", tool: "config-get", args: []string{"port"}, stdout: "5432\n"},
		{name: "config-get key bool", tool: "config-get", args: []string{"flag"}, stdout: "True\n"},
		{name: "config-get key string json", tool: "config-get", args: []string{"name", "--format", "json"}, stdout: "\"main\"\n"},
		{name: "config-get missing key", tool: "config-get", args: []string{"nope"}},
		{name: "config-get missing key json", tool: "config-get", args: []string{"nope", "--format=json"}, stdout: "null\n"},
		{name: "config-get key with --all", tool: "config-get", args: []string{"--all", "port"},
			code: 2, stderr: "ERROR cannot use argument --all together with key \"port\"\n"},
	})
}

func actionCtx(f *fakeCtx) {
	f.action = map[string]any{"scope": "all", "nested": map[string]any{"a": map[string]any{"b": "deep"}, "n": 3}}
}

func TestActionTools(t *testing.T) {
	runCases(t, []toolCase{
		{name: "get all", setup: actionCtx, tool: "action-get", stdout: "nested:\n  a:\n    b: deep\n  \"n\": 3\nscope: all\n"}, // yaml.v2 quotes YAML 1.1 booleans like n
		{name: "get key", setup: actionCtx, tool: "action-get", args: []string{"scope"}, stdout: "all\n"},
		{name: "get dotted", setup: actionCtx, tool: "action-get", args: []string{"nested.a.b"}, stdout: "deep\n"},
		{name: "get dotted map", setup: actionCtx, tool: "action-get", args: []string{"nested.a", "--format=json"}, stdout: `{"b":"deep"}` + "\n"},
		{name: "get missing", setup: actionCtx, tool: "action-get", args: []string{"nested.zz.q"}},
		{name: "get in hook", tool: "action-get", code: 1, stderr: "ERROR not running an action\n"},
		{name: "get too many", setup: actionCtx, tool: "action-get", args: []string{"a", "b"}, code: 2, stderr: "ERROR unrecognized args: [\"b\"]\n"},
		{name: "get empty params json", setup: func(f *fakeCtx) { f.action = map[string]any{} }, tool: "action-get", args: []string{"--format", "json"}, stdout: "{}\n"},

		{name: "set nested", setup: actionCtx, tool: "action-set", args: []string{"out.size=10G", "a=b=c"},
			check: func(t *testing.T, f *fakeCtx) {
				assert.Equal(t, []map[string]any{{"out": map[string]any{"size": "10G"}}, {"a": "b=c"}}, f.results)
			}},
		{name: "set bad key", setup: actionCtx, tool: "action-set", args: []string{"Foo=1"}, code: 2,
			stderr: "ERROR key \"Foo\" must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric and hyphens\n"},
		{name: "set trailing hyphen", setup: actionCtx, tool: "action-set", args: []string{"a.b-=1"}, code: 2,
			stderr: "ERROR key \"b-\" must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric and hyphens\n"},
		{name: "set reserved", setup: actionCtx, tool: "action-set", args: []string{"stdout=x"}, code: 2,
			stderr: "ERROR cannot set reserved action key \"stdout\"\n"},
		{name: "set reserved nested", setup: actionCtx, tool: "action-set", args: []string{"a.stderr-encoding=x"}, code: 2,
			stderr: "ERROR cannot set reserved action key \"stderr-encoding\"\n"},
		{name: "set no equals", setup: actionCtx, tool: "action-set", args: []string{"abc"}, code: 2,
			stderr: "ERROR argument \"abc\" must be of the form key...=value\n"},
		{name: "set in hook", tool: "action-set", args: []string{"a=1"}, code: 1, stderr: "ERROR not running an action\n"},

		{name: "fail default", setup: actionCtx, tool: "action-fail",
			check: func(t *testing.T, f *fakeCtx) {
				assert.Equal(t, []string{"action failed without reason given, check action for errors"}, f.failed)
			}},
		{name: "fail message", setup: actionCtx, tool: "action-fail", args: []string{"it broke"},
			check: func(t *testing.T, f *fakeCtx) { assert.Equal(t, []string{"it broke"}, f.failed) }},
		{name: "fail two args", setup: actionCtx, tool: "action-fail", args: []string{"a", "b"}, code: 2, stderr: "ERROR unrecognized args: [\"b\"]\n"},
		{name: "log", setup: actionCtx, tool: "action-log", args: []string{"step", "1", "done"},
			check: func(t *testing.T, f *fakeCtx) { assert.Equal(t, []string{"step 1 done"}, f.actionLog) }},
		{name: "log none", setup: actionCtx, tool: "action-log", code: 2, stderr: "ERROR no message specified\n"},
	})
}

func TestStatusLogTools(t *testing.T) {
	runCases(t, []toolCase{
		{name: "status-set", tool: "status-set", args: []string{"maintenance", "installing"},
			check: func(t *testing.T, f *fakeCtx) {
				assert.Equal(t, []string{`unit-status maintenance "installing"`}, f.writes)
			}},
		{name: "status-set no message", tool: "status-set", args: []string{"active"},
			check: func(t *testing.T, f *fakeCtx) { assert.Equal(t, []string{`unit-status active ""`}, f.writes) }},
		{name: "status-set bad status", tool: "status-set", args: []string{"error", "x"}, code: 2,
			stderr: "ERROR invalid status \"error\", expected one of [maintenance blocked waiting active]\n"},
		{name: "status-set two messages", tool: "status-set", args: []string{"active", "a", "b"}, code: 2,
			stderr: "ERROR unrecognized args: [\"b\"]\n"},
		{name: "status-set nothing", tool: "status-set", code: 2, stderr: "ERROR invalid args, require <status> [message]\n"},
		{name: "status-set --application", tool: "status-set", args: []string{"--application", "blocked", "no"},
			check: func(t *testing.T, f *fakeCtx) { assert.Equal(t, []string{`app-status blocked "no"`}, f.writes) }},
		{name: "status-set --application non-leader", setup: notLeader, tool: "status-set", args: []string{"--application", "active"},
			code: 1, stderr: "ERROR this unit is not the leader\n"},

		{name: "status-get smart", tool: "status-get", stdout: "active\n"},
		{name: "status-get json", tool: "status-get", args: []string{"--format=json"}, stdout: `{"status":"active"}` + "\n"},
		{name: "status-get include-data json", tool: "status-get", args: []string{"--include-data", "--format=json"},
			stdout: `{"message":"ready","status":"active","status-data":{"x":1}}` + "\n"},
		{name: "status-get include-data smart", tool: "status-get", args: []string{"--include-data"},
			stdout: "message: ready\nstatus: active\nstatus-data:\n  x: 1\n"},
		{name: "status-get empty data json", setup: func(f *fakeCtx) { f.unitStatus = Status{Status: "maintenance"} },
			tool: "status-get", args: []string{"--include-data", "--format", "json"},
			stdout: `{"message":"","status":"maintenance","status-data":{}}` + "\n"},
		{name: "status-get --application smart", tool: "status-get", args: []string{"--application"}, stdout: "active\n"},
		{name: "status-get --application json", tool: "status-get", args: []string{"--application", "--format=json"},
			stdout: `{"application-status":{"status":"active","units":{"pg/0":{"status":"active"},"pg/1":{"status":"waiting"}}}}` + "\n"},
		{name: "status-get --application non-leader", setup: notLeader, tool: "status-get", args: []string{"--application"},
			code: 1, stderr: "ERROR finding application status: this unit is not the leader\n"},

		{name: "juju-log default INFO", tool: "juju-log", args: []string{"hello", "world"},
			check: func(t *testing.T, f *fakeCtx) { assert.Equal(t, []string{"INFO hello world"}, f.logs) }},
		{name: "juju-log -l warn", tool: "juju-log", args: []string{"-l", "warn", "careful"},
			check: func(t *testing.T, f *fakeCtx) { assert.Equal(t, []string{"WARNING careful"}, f.logs) }},
		{name: "juju-log --log-level=ERROR", tool: "juju-log", args: []string{"--log-level=ERROR", "bad"},
			check: func(t *testing.T, f *fakeCtx) { assert.Equal(t, []string{"ERROR bad"}, f.logs) }},
		{name: "juju-log --debug", tool: "juju-log", args: []string{"--debug", "x"},
			check: func(t *testing.T, f *fakeCtx) { assert.Equal(t, []string{"DEBUG x"}, f.logs) }},
		{name: "juju-log bad level", tool: "juju-log", args: []string{"-l", "LOUD", "x"},
			check: func(t *testing.T, f *fakeCtx) {
				assert.Equal(t, []string{`WARNING Specified log level of "LOUD" is not valid`, "INFO x"}, f.logs)
			}},
		{name: "juju-log relation prefix", setup: inRel(2, "app/0"), tool: "juju-log", args: []string{"joined"},
			check: func(t *testing.T, f *fakeCtx) { assert.Equal(t, []string{"INFO db:2: joined"}, f.logs) }},
		{name: "juju-log no message", tool: "juju-log", code: 2, stderr: "ERROR no message specified\n"},

		{name: "application-version-set", tool: "application-version-set", args: []string{"16.4"},
			check: func(t *testing.T, f *fakeCtx) { assert.Equal(t, "16.4", f.version) }},
		{name: "application-version-set none", tool: "application-version-set", code: 2, stderr: "ERROR no version specified\n"},
		{name: "goal-state yaml default", tool: "goal-state", stdout: "units:\n  pg/0:\n    status: active\nrelations: {}\n"},
		{name: "goal-state json", tool: "goal-state", args: []string{"--format=json"}, stdout: `{"units":{"pg/0":{"status":"active"}},"relations":{}}` + "\n"},
		{name: "credential-get untrusted", tool: "credential-get", code: 1,
			stderr: "ERROR cannot access cloud credentials: getting model credentials: permission denied\n"},
		{name: "credential-get trusted", setup: func(f *fakeCtx) { f.cred = map[string]any{"type": "kubernetes"} },
			tool: "credential-get", args: []string{"--format=json"}, stdout: `{"type":"kubernetes"}` + "\n"},
		{name: "juju-reboot", tool: "juju-reboot", code: 1, stderr: "ERROR juju-reboot is not supported\n"},
		{name: "juju-reboot in action", setup: actionCtx, tool: "juju-reboot", args: []string{"--now"}, code: 1,
			stderr: "ERROR juju-reboot is not supported when running an action.\n"},
	})
}

func TestNetworkPortStateStorageTools(t *testing.T) {
	runCases(t, []toolCase{
		{name: "network-get json", tool: "network-get", args: []string{"db", "--format=json"},
			stdout: `{"bind-addresses":[{"mac-address":"","interface-name":"lo","addresses":[{"hostname":"","value":"127.0.0.2","cidr":"127.0.0.0/8"}]}],"egress-subnets":["127.0.0.2/32"],"ingress-addresses":["127.0.0.2"]}` + "\n",
			check:  func(t *testing.T, f *fakeCtx) { assert.Equal(t, -1, f.netRelID) }},
		{name: "network-get yaml keeps legacy keys", tool: "network-get", args: []string{"db"},
			stdout: "bind-addresses:\n- mac-address: \"\"\n  interface-name: lo\n  addresses:\n  - hostname: \"\"\n    value: 127.0.0.2\n    cidr: 127.0.0.0/8\n    address: 127.0.0.2\n  macaddress: \"\"\n  interfacename: lo\negress-subnets:\n- 127.0.0.2/32\ningress-addresses:\n- 127.0.0.2\n"},
		{name: "network-get --ingress-address", setup: inRel(2, "app/0"), tool: "network-get", args: []string{"db", "--ingress-address"},
			stdout: "127.0.0.2\n", check: func(t *testing.T, f *fakeCtx) { assert.Equal(t, 2, f.netRelID) }},
		{name: "network-get --bind-address -r", tool: "network-get", args: []string{"-r", "12", "db", "--bind-address"}, stdout: "127.0.0.2\n",
			check: func(t *testing.T, f *fakeCtx) { assert.Equal(t, 12, f.netRelID) }},
		{name: "network-get --egress-subnets", tool: "network-get", args: []string{"db", "--egress-subnets"}, stdout: "127.0.0.2/32\n"},
		{name: "network-get two flags", tool: "network-get", args: []string{"db", "--egress-subnets", "--ingress-address", "--format=json"},
			stdout: `{"egress-subnets":["127.0.0.2/32"],"ingress-address":"127.0.0.2"}` + "\n"},
		{name: "network-get unknown binding", tool: "network-get", args: []string{"nope"}, code: 1,
			stderr: "ERROR no network config found for binding \"nope\"\n"},
		{name: "network-get no args", tool: "network-get", code: 2, stderr: "ERROR no arguments specified\n"},

		{name: "open-port default tcp", tool: "open-port", args: []string{"5432"},
			check: func(t *testing.T, f *fakeCtx) { assert.Equal(t, []Port{{"tcp", 5432, 5432, ""}}, f.opened) }},
		{name: "open-port range is not for k8s", tool: "open-port", args: []string{"8000-8010/UDP"}, code: 1,
			stderr: "ERROR port ranges are not supported for k8s applications, please specify a single port\n",
			check:  func(t *testing.T, f *fakeCtx) { assert.Empty(t, f.opened) }},
		{name: "open-port endpoints", tool: "open-port", args: []string{"5432", "--endpoints", "db, admin"},
			check: func(t *testing.T, f *fakeCtx) {
				assert.Equal(t, []Port{{"tcp", 5432, 5432, "db"}, {"tcp", 5432, 5432, "admin"}}, f.opened)
			}},
		{name: "open-port icmp", tool: "open-port", args: []string{"icmp"},
			check: func(t *testing.T, f *fakeCtx) { assert.Equal(t, "icmp", f.opened[0].String()) }},
		{name: "open-port bad", tool: "open-port", args: []string{"abc"}, code: 2,
			stderr: "ERROR invalid port \"abc\": strconv.Atoi: parsing \"abc\": invalid syntax\n"},
		{name: "open-port reversed range", tool: "open-port", args: []string{"90-80"}, code: 2, stderr: "ERROR invalid port range 90-80/tcp\n"},
		{name: "open-port out of bounds", tool: "open-port", args: []string{"70000"}, code: 2,
			stderr: "ERROR port range bounds must be between 0 and 65535, got 70000-70000\n"},
		{name: "open-port icmp with port", tool: "open-port", args: []string{"8/icmp"}, code: 2,
			stderr: "ERROR protocol \"icmp\" doesn't support any ports; got \"8\"\n"},
		{name: "open-port bad proto", tool: "open-port", args: []string{"80/sctp"}, code: 2,
			stderr: "ERROR invalid protocol \"sctp\", expected \"tcp\", \"udp\", or \"icmp\"\n"},
		{name: "open-port none", tool: "open-port", code: 2, stderr: "ERROR no port or range specified\n"},
		{name: "close-port", tool: "close-port", args: []string{"5432/tcp"},
			check: func(t *testing.T, f *fakeCtx) { assert.Equal(t, []Port{{"tcp", 5432, 5432, ""}}, f.closed) }},
		{name: "opened-ports", tool: "opened-ports", stdout: "5432/tcp\n9000-9010/udp\n"},
		{name: "opened-ports sorted by protocol first", setup: func(f *fakeCtx) {
			f.ports = []Port{{"udp", 53, 53, ""}, {"tcp", 8080, 8080, ""}, {"icmp", -1, -1, ""}, {"tcp", 80, 80, ""}, {"tcp", 80, 80, "db"}}
		}, tool: "opened-ports", stdout: "icmp\n80/tcp\n8080/tcp\n53/udp\n"},
		{name: "opened-ports json", tool: "opened-ports", args: []string{"--format=json"}, stdout: `["5432/tcp","9000-9010/udp"]` + "\n"},
		{name: "opened-ports endpoints", tool: "opened-ports", args: []string{"--endpoints"}, stdout: "5432/tcp (*)\n9000-9010/udp (*)\n"},
		{name: "opened-ports named endpoints", setup: func(f *fakeCtx) {
			f.ports = []Port{{"tcp", 80, 80, "web"}, {"tcp", 80, 80, "admin"}, {"tcp", 443, 443, "web"}, {"tcp", 443, 443, ""}}
		}, tool: "opened-ports", args: []string{"--endpoints"}, stdout: "80/tcp (admin, web)\n443/tcp (*)\n"},
		{name: "opened-ports none", setup: func(f *fakeCtx) { f.ports = nil }, tool: "opened-ports"},

		{name: "state-get all", tool: "state-get", stdout: "init: done\n"},
		{name: "state-get key", tool: "state-get", args: []string{"init"}, stdout: "done\n"},
		{name: "state-get missing", tool: "state-get", args: []string{"nope"}},
		{name: "state-get missing json", tool: "state-get", args: []string{"nope", "--format=json"}, stdout: "\"\"\n"},
		{name: "state-get missing strict", tool: "state-get", args: []string{"--strict", "nope"}, code: 1, stderr: "ERROR \"nope\" not found\n"},
		{name: "state-set", tool: "state-set", args: []string{"a=1", "b="},
			check: func(t *testing.T, f *fakeCtx) {
				assert.Equal(t, []map[string]string{{"a": "1"}}, f.stateSets)
				assert.Equal(t, []string{"b"}, f.stateDeletes)
			}},
		{name: "state-set key too long", tool: "state-set", args: []string{strings.Repeat("k", 257) + "=v"}, code: 1,
			stderr: "ERROR max allowed key length (256) exceeded\n"},
		{name: "state-set value too long", tool: "state-set", args: []string{"k=" + strings.Repeat("v", 64*1024+1)}, code: 1,
			stderr: "ERROR max allowed value length (65536) exceeded\n"},
		{name: "state-set value at limit", tool: "state-set", args: []string{"k=" + strings.Repeat("v", 64*1024)}},
		{name: "state-delete", tool: "state-delete", args: []string{"init"},
			check: func(t *testing.T, f *fakeCtx) { assert.Equal(t, []string{"init"}, f.stateDeletes) }},
		{name: "state-delete none is a no-op", tool: "state-delete",
			check: func(t *testing.T, f *fakeCtx) { assert.Empty(t, f.stateDeletes) }},

		{name: "storage-get -s", tool: "storage-get", args: []string{"-s", "pgdata/0"}, stdout: "kind: filesystem\nlocation: /var/lib/postgresql/data\n"},
		{name: "storage-get key", tool: "storage-get", args: []string{"-s", "pgdata/0", "location"}, stdout: "/var/lib/postgresql/data\n"},
		{name: "storage-get hook default", setup: func(f *fakeCtx) { f.hookStorage = "pgdata/0" }, tool: "storage-get", args: []string{"kind"}, stdout: "filesystem\n"},
		{name: "storage-get none", tool: "storage-get", code: 2, stderr: "ERROR no storage instance specified\n"},
		{name: "storage-get unknown", tool: "storage-get", args: []string{"-s", "logs/3"}, code: 2,
			stderr: "ERROR invalid value \"logs/3\" for option -s: storage attachment logs/3:pg/0 not found\n"},
		{name: "storage-get bad attr", tool: "storage-get", args: []string{"-s", "pgdata/0", "size"}, code: 1, stderr: "ERROR invalid storage attribute \"size\"\n"},
		{name: "storage-list", tool: "storage-list", stdout: "pgdata/0\n"},
		{name: "storage-list other name", tool: "storage-list", args: []string{"logs"}, stdout: ""},
		{name: "storage-list none json", setup: func(f *fakeCtx) { f.storage = nil }, tool: "storage-list", args: []string{"--format=json"}, stdout: "[]\n"},
	})
}

func secretsCtx(f *fakeCtx) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	f.secrets = []*fakeSecret{{
		md: SecretMetadata{URI: "secret://" + f.modelUUID + "/cu4v5hqv1e8c7b3mknbg", Label: "admin", Owner: "application",
			Revision: 2, Rotation: "monthly", Expiry: &exp,
			Access: []SecretAccess{{Target: "application-app", Scope: "relation-2", Role: "view"}}},
		content: map[string]string{"password": "s3cret", "cert": "-----BEGIN-----\nabc\n-----END-----\n"},
	}}
}

func TestSecretTools(t *testing.T) {
	uuid := newFake().modelUUID
	runCases(t, []toolCase{
		{name: "add plain", tool: "secret-add", args: []string{"password=s3cret", "token#base64=aGVsbG8="},
			stdout: "secret://" + uuid + "/d4e5f6a7b8c9d0e1f2g3\n",
			check: func(t *testing.T, f *fakeCtx) {
				require.Len(t, f.added, 1)
				assert.Equal(t, "application", f.added[0].Owner)
				assert.Equal(t, map[string]string{"password": "s3cret", "token": "hello"}, f.added[0].Content)
				assert.Nil(t, f.added[0].Label)
			}},
		{name: "add metadata", tool: "secret-add", args: []string{"--owner", "unit", "--label", "l", "--description", "d", "--rotate", "daily", "--expire", "2030-01-02T03:04:05Z", "abc=1"},
			stdout: "secret://" + uuid + "/d4e5f6a7b8c9d0e1f2g3\n",
			check: func(t *testing.T, f *fakeCtx) {
				a := f.added[0]
				assert.Equal(t, "unit", a.Owner)
				assert.Equal(t, "l", *a.Label)
				assert.Equal(t, "d", *a.Description)
				assert.Equal(t, "daily", *a.Rotate)
				assert.Equal(t, time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), *a.Expire)
			}},
		{name: "add non-leader", setup: notLeader, tool: "secret-add", args: []string{"abc=1"}, code: 1, stderr: "ERROR this unit is not the leader\n"},
		{name: "add bad key", tool: "secret-add", args: []string{"ab=1"}, code: 2, stderr: "ERROR key \"ab\" not valid\n"},
		{name: "add bad key uppercase", tool: "secret-add", args: []string{"Abc=1"}, code: 2, stderr: "ERROR key \"Abc\" not valid\n"},
		{name: "add empty value", tool: "secret-add", args: []string{"abc="}, code: 2, stderr: "ERROR key value \"abc=\" not valid\n"},
		{name: "add nothing", tool: "secret-add", code: 2, stderr: "ERROR missing secret value or filename\n"},
		{name: "add bad owner", tool: "secret-add", args: []string{"--owner", "model", "abc=1"}, code: 2, stderr: "ERROR secret owner \"model\" not valid\n"},
		{name: "add bad rotate", tool: "secret-add", args: []string{"--rotate", "often", "abc=1"}, code: 2, stderr: "ERROR rotate policy \"often\" not valid\n"},
		{name: "add bad expire", tool: "secret-add", args: []string{"--expire", "soon", "abc=1"}, code: 2, stderr: "ERROR expire time or duration \"soon\" not valid\n"},

		{name: "get default yaml", setup: secretsCtx, tool: "secret-get", args: []string{"secret:cu4v5hqv1e8c7b3mknbg"},
			stdout: "cert: |\n  -----BEGIN-----\n  abc\n  -----END-----\npassword: s3cret\n",
			check: func(t *testing.T, f *fakeCtx) {
				assert.Equal(t, []SecretGetArgs{{URI: "cu4v5hqv1e8c7b3mknbg"}}, f.gets)
			}},
		{name: "get key", setup: secretsCtx, tool: "secret-get", args: []string{"secret://" + uuid + "/cu4v5hqv1e8c7b3mknbg", "password"},
			stdout: "s3cret\n",
			check: func(t *testing.T, f *fakeCtx) {
				assert.Equal(t, "secret://"+uuid+"/cu4v5hqv1e8c7b3mknbg", f.gets[0].URI)
			}},
		{name: "get key base64 json", setup: secretsCtx, tool: "secret-get", args: []string{"cu4v5hqv1e8c7b3mknbg", "password#base64", "--format=json"},
			stdout: "\"czNjcmV0\"\n"},
		{name: "get by label refresh", setup: secretsCtx, tool: "secret-get", args: []string{"--label", "admin", "--refresh", "--format", "json"},
			stdout: `{"cert":"-----BEGIN-----\nabc\n-----END-----\n","password":"s3cret"}` + "\n",
			check: func(t *testing.T, f *fakeCtx) {
				assert.Equal(t, []SecretGetArgs{{Label: "admin", Refresh: true}}, f.gets)
			}},
		// An xid's last character holds one bit: Juju's parser refuses anything but '0' and 'g'.
		{name: "get xid with bad last char", tool: "secret-get", args: []string{"cu4v5hqv1e8c7b3mknbh"}, code: 2,
			stderr: "ERROR secret URI \"cu4v5hqv1e8c7b3mknbh\" not valid\n"},
		{name: "get peek and refresh", tool: "secret-get", args: []string{"cu4v5hqv1e8c7b3mknbg", "--peek", "--refresh"}, code: 2,
			stderr: "ERROR specify one of --peek or --refresh but not both\n"},
		{name: "get nothing", tool: "secret-get", code: 2, stderr: "ERROR require either a secret URI or label\n"},
		{name: "get bad uri", tool: "secret-get", args: []string{"foo"}, code: 2, stderr: "ERROR secret URI \"foo\" not valid\n"},
		{name: "get smart not offered", tool: "secret-get", args: []string{"cu4v5hqv1e8c7b3mknbg", "--format=smart"}, code: 2,
			stderr: "ERROR invalid value \"smart\" for option --format: unknown format \"smart\"\n"},
		{name: "get not found", tool: "secret-get", args: []string{"cu4v5hqv1e8c7b3mknbg"}, code: 1,
			stderr: "ERROR secret \"cu4v5hqv1e8c7b3mknbg\" not found\n"},
		{name: "get missing key", setup: secretsCtx, tool: "secret-get", args: []string{"cu4v5hqv1e8c7b3mknbg", "nokey"}, code: 1,
			stderr: "ERROR secret key value \"nokey\" not found\n"},

		{name: "set content", setup: secretsCtx, tool: "secret-set", args: []string{"secret:cu4v5hqv1e8c7b3mknbg", "password=new"},
			check: func(t *testing.T, f *fakeCtx) {
				assert.Equal(t, map[string]string{"password": "new"}, f.updated["cu4v5hqv1e8c7b3mknbg"].Content)
			}},
		{name: "set metadata only", setup: secretsCtx, tool: "secret-set", args: []string{"cu4v5hqv1e8c7b3mknbg", "--label", "x"},
			check: func(t *testing.T, f *fakeCtx) {
				a := f.updated["cu4v5hqv1e8c7b3mknbg"]
				assert.Nil(t, a.Content)
				assert.Equal(t, "x", *a.Label)
			}},
		{name: "set missing uri", tool: "secret-set", code: 2, stderr: "ERROR missing secret URI\n"},

		{name: "grant", setup: inRel(2, "app/0"), tool: "secret-grant", args: []string{"cu4v5hqv1e8c7b3mknbg"},
			check: func(t *testing.T, f *fakeCtx) { assert.Equal(t, []string{`cu4v5hqv1e8c7b3mknbg 2 ""`}, f.grants) }},
		{name: "grant unit", tool: "secret-grant", args: []string{"cu4v5hqv1e8c7b3mknbg", "-r", "db:2", "--unit", "app/1"},
			check: func(t *testing.T, f *fakeCtx) { assert.Equal(t, []string{`cu4v5hqv1e8c7b3mknbg 2 "app/1"`}, f.grants) }},
		{name: "grant unit of other app", tool: "secret-grant", args: []string{"cu4v5hqv1e8c7b3mknbg", "-r", "2", "--unit", "zzz/1"}, code: 2,
			stderr: "ERROR cannot specify unit \"zzz/1\" in relation to application \"app\"\n"},
		{name: "grant no relation", tool: "secret-grant", args: []string{"cu4v5hqv1e8c7b3mknbg"}, code: 2, stderr: "ERROR no relation id specified\n"},
		{name: "revoke", tool: "secret-revoke", args: []string{"cu4v5hqv1e8c7b3mknbg", "-r", "12"},
			check: func(t *testing.T, f *fakeCtx) { assert.Equal(t, []string{`cu4v5hqv1e8c7b3mknbg 12 ""`}, f.revokes) }},
		{name: "revoke nothing", tool: "secret-revoke", args: []string{"cu4v5hqv1e8c7b3mknbg"}, code: 2,
			stderr: "ERROR missing relation or application or unit\n"},
		{name: "revoke app", tool: "secret-revoke", args: []string{"cu4v5hqv1e8c7b3mknbg", "--app", "other"},
			check: func(t *testing.T, f *fakeCtx) {
				assert.Equal(t, []string{`cu4v5hqv1e8c7b3mknbg -1 "other"`}, f.revokes)
			}},
		{name: "revoke unit", tool: "secret-revoke", args: []string{"cu4v5hqv1e8c7b3mknbg", "--unit", "app/1"},
			check: func(t *testing.T, f *fakeCtx) {
				assert.Equal(t, []string{`cu4v5hqv1e8c7b3mknbg -1 "app/1"`}, f.revokes)
			}},
		{name: "revoke relation hook and app", setup: inRel(2, "app/0"), tool: "secret-revoke", args: []string{"cu4v5hqv1e8c7b3mknbg", "--app", "app"},
			code: 2, stderr: "ERROR do not specify both relation and app\n"},
		{name: "revoke app and unit", tool: "secret-revoke", args: []string{"cu4v5hqv1e8c7b3mknbg", "--app", "app", "--unit", "app/0"},
			code: 2, stderr: "ERROR specify only one of application or unit\n"},
		{name: "remove", tool: "secret-remove", args: []string{"cu4v5hqv1e8c7b3mknbg"},
			check: func(t *testing.T, f *fakeCtx) { assert.Equal(t, []string{"cu4v5hqv1e8c7b3mknbg all"}, f.removed) }},
		{name: "remove revision", tool: "secret-remove", args: []string{"cu4v5hqv1e8c7b3mknbg", "--revision", "3"},
			check: func(t *testing.T, f *fakeCtx) { assert.Equal(t, []string{"cu4v5hqv1e8c7b3mknbg 3"}, f.removed) }},
		{name: "ids", setup: secretsCtx, tool: "secret-ids", stdout: "cu4v5hqv1e8c7b3mknbg\n"},
		{name: "ids json", setup: secretsCtx, tool: "secret-ids", args: []string{"--format=json"}, stdout: `["cu4v5hqv1e8c7b3mknbg"]` + "\n"},
		{name: "ids none", tool: "secret-ids"},
		{name: "info-get", setup: secretsCtx, tool: "secret-info-get", args: []string{"--label", "admin"},
			stdout: "cu4v5hqv1e8c7b3mknbg:\n  revision: 2\n  label: admin\n  owner: application\n  rotation: monthly\n  expiry: 2030-01-02T03:04:05Z\n  access:\n  - target: application-app\n    scope: relation-2\n    role: view\n"},
		{name: "info-get json", setup: secretsCtx, tool: "secret-info-get", args: []string{"secret:cu4v5hqv1e8c7b3mknbg", "--format=json"},
			stdout: `{"cu4v5hqv1e8c7b3mknbg":{"revision":2,"label":"admin","owner":"application","rotation":"monthly","expiry":"2030-01-02T03:04:05Z","access":[{"target":"application-app","scope":"relation-2","role":"view"}]}}` + "\n"},
		{name: "info-get not found", tool: "secret-info-get", args: []string{"--label", "nope"}, code: 1, stderr: "ERROR secret \"nope\" not found\n"},
		{name: "info-get both", tool: "secret-info-get", args: []string{"cu4v5hqv1e8c7b3mknbg", "--label", "x"}, code: 2,
			stderr: "ERROR specify either a secret URI or label but not both\n"},
	})
}

func TestSecretAddFiles(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cert.pem"), []byte("PEM\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "vals.yaml"), []byte("user: bob\nkey#base64: aGk=\n"), 0o600))
	f := newFake()
	resp := execute(context.Background(), f, Request{CommandName: "secret-add", Dir: dir,
		Args: []string{"tls-cert#file=cert.pem", "--file", "vals.yaml", "user=alice"}})
	require.Equal(t, 0, resp.Code, string(resp.Stderr))
	// --file values override key=value args, as in Juju.
	assert.Equal(t, map[string]string{"tls-cert": "PEM\n", "user": "bob", "key": "hi"}, f.added[0].Content)
}

func TestStateSetFileRelative(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "s.yaml"), []byte("a: x\nb: y\n"), 0o600))
	f := newFake()
	resp := execute(context.Background(), f, Request{CommandName: "state-set", Dir: dir, Args: []string{"--file", "s.yaml", "b=z"}})
	require.Equal(t, 0, resp.Code, string(resp.Stderr))
	assert.Equal(t, []map[string]string{{"a": "x", "b": "z"}}, f.stateSets)
}

func TestOutputFile(t *testing.T) {
	dir := t.TempDir()
	f := newFake()
	resp := execute(context.Background(), f, Request{CommandName: "config-get", Dir: dir, Args: []string{"port", "-o", "out.txt"}})
	require.Equal(t, 0, resp.Code, string(resp.Stderr))
	assert.Empty(t, resp.Stdout)
	b, err := os.ReadFile(filepath.Join(dir, "out.txt"))
	require.NoError(t, err)
	assert.Equal(t, "5432\n", string(b))
}

func TestHelpAndUnknown(t *testing.T) {
	f := newFake()
	for _, name := range ToolNames() {
		resp := execute(context.Background(), f, Request{CommandName: name, Dir: "/", Args: []string{"--help"}})
		assert.Equal(t, 0, resp.Code, name)
		assert.True(t, strings.HasPrefix(string(resp.Stdout), "Usage: "+name), "%s: %q", name, resp.Stdout)
		assert.Empty(t, resp.Stderr, name)
	}
	resp := execute(context.Background(), f, Request{CommandName: "relation-get", Dir: "/", Args: []string{"-h"}})
	assert.Equal(t, 0, resp.Code)
	assert.Contains(t, string(resp.Stdout), "Options:\n")
	resp = execute(context.Background(), f, Request{CommandName: "add-metric", Dir: "/"})
	assert.Equal(t, 1, resp.Code)
	assert.Equal(t, "ERROR bad request: unknown command: add-metric\n", string(resp.Stderr))
}

func TestNeedStdin(t *testing.T) {
	f := newFake().inRelationHook(2, "app/0")
	_, err := Execute(context.Background(), f, Request{CommandName: "relation-set", Dir: "/", Args: []string{"--file", "-"}})
	assert.ErrorIs(t, err, ErrNoStdin)
	assert.Empty(t, f.writes)
}

func TestToolNames(t *testing.T) {
	names := ToolNames()
	assert.Len(t, names, 46)
	assert.IsNonDecreasing(t, names)
	for _, n := range names {
		_, ok := newTool(n, newFake())
		assert.True(t, ok, n)
		assert.True(t, IsTool(n), n)
	}
	assert.False(t, IsTool("jujulet"))
}
