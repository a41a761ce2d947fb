package controller_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	pebble "github.com/canonical/pebble/client"

	"github.com/jujulet/postgresql-k8s/internal/pod"
)

func TestDeployHookOrder(t *testing.T) {
	e := newEnv(t)
	e.addModel("rome")
	e.deploy("rome", "b1", "-n", "2", "--channel", "1/edge", "--trust", "--base", "ubuntu@22.04")
	e.eventually("both units active with peers joined", func() bool {
		return e.ran("b1/0", "cluster-relation-changed") && e.ran("b1/1", "cluster-relation-changed") &&
			e.unitActive("rome", "b1/0") && e.unitActive("rome", "b1/1")
	})
	s := e.status("rome")
	if s.Applications["b1"].CharmChannel != "1/edge" || s.Applications["b1"].Scale != 2 {
		t.Errorf("status app = %+v", s.Applications["b1"])
	}
	leaders := 0
	addrs := map[string]bool{}
	for name, u := range s.Applications["b1"].Units {
		if u.Leader {
			leaders++
		}
		if !strings.HasPrefix(u.Address, "127.") || addrs[u.Address] {
			t.Errorf("unit %s address %q not a unique loopback address", name, u.Address)
		}
		addrs[u.Address] = true
	}
	if leaders != 1 {
		t.Errorf("want exactly one leader, got %d", leaders)
	}
	for _, unit := range []string{"b1/0", "b1/1"} {
		hooks := hookNames(e.hooks(unit))
		want := []string{"install", "cluster-relation-created"}
		for i, h := range want {
			if i >= len(hooks) || hooks[i] != h {
				t.Fatalf("%s hooks %v: want prefix %v", unit, hooks, want)
			}
		}
		// Juju's resolver: leadership, then workload events (pebble-ready: the pod is up
		// by now), then storage (on Kubernetes, never before install), then
		// config-changed and the start it queues.
		leaderHook := "leader-settings-changed"
		if s.Applications["b1"].Units[unit].Leader {
			leaderHook = "leader-elected"
		}
		want = []string{"install", "cluster-relation-created", leaderHook,
			"workload-pebble-ready", "data-storage-attached", "config-changed", "start"}
		// The leader's leader-set may show a follower a second leader-settings-changed.
		var order []string
		for i, h := range hooks {
			if h != "leader-settings-changed" || indexOf(hooks, h) == i {
				order = append(order, h)
			}
		}
		if len(order) < len(want) || !slices.Equal(order[:len(want)], want) {
			t.Errorf("%s hooks %v: want prefix %v", unit, hooks, want)
		}
		// joined(u) is immediately followed by changed(u).
		lines := e.hooks(unit)
		var rel []string
		for _, l := range lines {
			if !strings.HasPrefix(l, "update-status") {
				rel = append(rel, l)
			}
		}
		for i, l := range rel {
			if strings.HasPrefix(l, "cluster-relation-joined") {
				if i+1 >= len(rel) || !strings.HasPrefix(rel[i+1], "cluster-relation-changed") ||
					field(rel[i+1], "remote") != field(l, "remote") {
					t.Errorf("%s: joined not followed by changed for the same unit: %v", unit, rel)
				}
			}
		}
	}
	// update-status runs on the model's interval.
	e.eventually("update-status", func() bool { return e.ran("b1/0", "update-status") })
	// The hooks above ran their tools through jujuc, installed beside jujulet (main_test.go).
	links, err := filepath.Glob(filepath.Join(e.home, "units", "*", "tools", "is-leader"))
	if err != nil || len(links) != 2 {
		t.Fatalf("tool links %v (%v): want one per unit", links, err)
	}
	for _, l := range links {
		if target, err := os.Readlink(l); err != nil || filepath.Base(target) != "jujuc" {
			t.Errorf("%s links to %q (%v), want jujuc", l, target, err)
		}
	}
}

func field(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

func TestScaleUpDownAndLeadership(t *testing.T) {
	e := newEnv(t)
	e.addModel("rome")
	e.deploy("rome", "b1")
	e.eventually("b1/0 active", func() bool { return e.unitActive("rome", "b1/0") })
	e.must("scale-application", "-m", "rome", "b1", "3")
	e.eventually("3 units joined each other", func() bool {
		return e.ran("b1/0", "cluster-relation-changed rel=cluster:1 remote=b1/2") &&
			e.ran("b1/2", "cluster-relation-changed rel=cluster:1 remote=b1/1")
	})
	e.must("scale-application", "-m", "rome", "b1", "2")
	e.eventually("b1/2 removed", func() bool {
		_, ok := e.status("rome").Applications["b1"].Units["b1/2"]
		return !ok && e.ran("b1/2", "remove")
	})
	hooks := hookNames(e.hooks("b1/2"))
	n := len(hooks)
	// Juju's order: the storage resolver detaches before nextOp breaks relations and stops.
	want := []string{"data-storage-detaching", "cluster-relation-departed", "cluster-relation-departed", "stop", "remove"}
	if n < len(want) || !slices.Equal(hooks[n-len(want):], want) {
		t.Errorf("dying unit hooks %v: want ... %v", hooks, want)
	}
	if !e.ran("b1/2", "cluster-relation-departed rel=cluster:1 remote=b1/0 app=b1 departing=b1/2") {
		t.Errorf("dying unit departed hook lacks JUJU_DEPARTING_UNIT=itself: %v", e.hooks("b1/2"))
	}
	e.eventually("survivor sees departure", func() bool {
		return e.ran("b1/0", "cluster-relation-departed rel=cluster:1 remote=b1/2 app=b1 departing=b1/2")
	})
	// Leadership moves when the leader is removed.
	e.must("remove-unit", "-m", "rome", "b1/0")
	e.eventually("b1/1 elected", func() bool { return e.ran("b1/1", "leader-elected") })
	e.eventually("b1/1 shown as leader", func() bool {
		return e.status("rome").Applications["b1"].Units["b1/1"].Leader
	})
	e.eventually("scale 1", func() bool { return e.status("rome").Applications["b1"].Scale == 1 })
}

func TestIntegrateRemoveRelationAndErrors(t *testing.T) {
	e := newEnv(t)
	e.addModel("rome")
	e.deploy("rome", "b1")
	e.deploy("rome", "b2")
	e.deploy("rome", "b3")
	e.fails(`ambiguous relation`, "integrate", "-m", "rome", "b1", "b2")
	e.fails(`endpoint interfaces do not match`, "integrate", "-m", "rome", "b1:limited", "b2:other")
	e.fails(`application "nope" not found`, "integrate", "-m", "rome", "b1:db", "nope")
	e.fails(`application "b1" has no "nodb" relation`, "integrate", "-m", "rome", "b1:nodb", "b2")
	e.fails(`model jujulet:admin/nomodel not found`, "integrate", "-m", "nomodel", "b1:db", "b2:backend")
	e.must("integrate", "-m", "rome", "b1:db", "b2:backend")
	e.fails(`already exists`, "relate", "-m", "rome", "b1:db", "b2:backend")
	e.must("integrate", "-m", "rome", "b1:limited", "b2:lim-user")
	e.fails(`would exceed its maximum relation limit of 1`, "integrate", "-m", "rome", "b1:limited", "b3:lim-user")
	e.eventually("b2 got the token through the granted secret", func() bool {
		return strings.Contains(e.must("show-unit", "-m", "rome", "b2/0"), "got-token: s3cr3t-b1")
	})
	for _, l := range e.hooks("b2/0") {
		if strings.HasPrefix(l, "backend-relation-joined") && field(l, "remote") != "b1/0" {
			t.Errorf("joined with remote %q", field(l, "remote"))
		}
	}
	// b2 can have the token (b1's application data) before b1/0 has run joined.
	e.eventually("b1/0 created and joined db", func() bool {
		return e.ran("b1/0", "db-relation-created rel=db:") && e.ran("b1/0", "db-relation-joined rel=db:")
	})
	e.eventually("b2/0 joined b1/0", func() bool {
		return field(hookLineWith(e, "b2/0", "backend-relation-changed", "remote=b1/0"), "remote") == "b1/0"
	})
	e.must("remove-relation", "-m", "rome", "b1:db", "b2:backend")
	e.eventually("departed and broken on both sides", func() bool {
		return e.ran("b1/0", "db-relation-broken") && e.ran("b2/0", "backend-relation-broken")
	})
	hooks := hookNames(e.hooks("b2/0"))
	if d, b := indexOf(hooks, "backend-relation-departed"), indexOf(hooks, "backend-relation-broken"); d < 0 || d > b {
		t.Errorf("b2/0 hooks %v: want departed before broken", hooks)
	}
	// Bad input changes nothing.
	e.fails(`charm or bundle not found`, "deploy", "-m", "rome", "/nonexistent/charm")
	e.fails(`application already exists`, "deploy", "-m", "rome", e.charm, "b1")
	e.fails(`invalid application name`, "deploy", "-m", "rome", e.charm, "Bad_Name")
	e.fails(`option "count" expected int`, "deploy", "-m", "rome", e.charm, "b9", "--config", "count=abc")
	e.fails(`unknown option "nokey"`, "config", "-m", "rome", "b1", "nokey=1")
	dir := t.TempDir()
	e.fails(`no metadata.yaml`, "deploy", "-m", "rome", dir, "b8")
	if err := os.WriteFile(dir+"/metadata.yaml", []byte("name: x\nsummary: x\ndescription: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/dispatch", []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.fails(`dispatch is not executable`, "deploy", "-m", "rome", dir, "b8")
	s := e.status("rome")
	for _, bad := range []string{"b8", "b9", "Bad_Name"} {
		if _, ok := s.Applications[bad]; ok {
			t.Errorf("failed deploy left application %s", bad)
		}
	}
}

func TestFailedHookDiscardAndResolve(t *testing.T) {
	e := newEnv(t)
	e.addModel("rome")
	// Resolution by hand only, as a Juju user debugging a charm would set it.
	e.must("model-config", "-m", "rome", "automatically-retry-hooks=false")
	e.deploy("rome", "b1", "-n", "2")
	e.eventually("active", func() bool { return e.unitActive("rome", "b1/0") && e.unitActive("rome", "b1/1") })
	e.must("config", "-m", "rome", "b1", "fail-hook=config-changed")
	e.eventually("units in error", func() bool {
		u := e.status("rome").Applications["b1"].Units["b1/0"]
		return u.Workload.Current == "error" && u.Workload.Message == `hook failed: "config-changed"`
	})
	// Actions still run while the hook queue is blocked.
	out := e.must("run", "-m", "rome", "b1/0", "echo", "msg=while-broken")
	if !strings.Contains(out, "echoed: while-broken") {
		t.Errorf("run output %q", out)
	}
	// --no-retry skips the hook without committing its changes; retry re-runs it.
	e.must("config", "-m", "rome", "b1", "fail-hook=")
	e.must("resolve", "-m", "rome", "--no-retry", "b1/1")
	e.eventually("b1/1 recovers", func() bool { return e.unitActive("rome", "b1/1") })
	e.must("resolve", "-m", "rome", "b1/0")
	e.eventually("b1/0 recovers", func() bool { return e.unitActive("rome", "b1/0") })
	if show := e.must("show-unit", "-m", "rome", "b1/0", "b1/1"); strings.Contains(show, "failed-marker") {
		t.Errorf("failed hook's relation-set was committed:\n%s", show)
	}
	e.fails(`is not in an error state`, "resolve", "-m", "rome", "b1/0")
}

// TestFailedHookIsRetriedAutomatically: by default (automatically-retry-hooks=true) a failed
// hook is re-run after a backoff, as Juju does, so a transient failure heals by itself.
func TestFailedHookIsRetriedAutomatically(t *testing.T) {
	e := newEnv(t)
	e.addModel("rome")
	e.deploy("rome", "b1")
	e.eventually("active", func() bool { return e.unitActive("rome", "b1/0") })
	e.fails(`automatically-retry-hooks: expected boolean, got "sometimes"`, "model-config", "-m", "rome", "automatically-retry-hooks=sometimes")
	e.must("config", "-m", "rome", "b1", "fail-hook=config-changed")
	e.eventually("unit in error", func() bool {
		u := e.status("rome").Applications["b1"].Units["b1/0"]
		return u.Workload.Current == "error" && u.Workload.Message == `hook failed: "config-changed"`
	})
	// The cause goes away; nobody runs resolve.
	e.must("config", "-m", "rome", "b1", "fail-hook=")
	e.eventually("b1/0 recovers by itself", func() bool { return e.unitActive("rome", "b1/0") })
}

func TestActions(t *testing.T) {
	e := newEnv(t)
	e.addModel("rome")
	e.deploy("rome", "b1", "-n", "2")
	e.eventually("active", func() bool { return e.unitActive("rome", "b1/0") && e.unitActive("rome", "b1/1") })
	out := e.must("run", "-m", "rome", "b1/0", "echo", "msg=yo", "--format", "json")
	var res map[string]struct {
		ID      string         `json:"id"`
		Status  string         `json:"status"`
		Results map[string]any `json:"results"`
		Timing  map[string]any `json:"timing"`
		Unit    string         `json:"unit"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("run json %q: %v", out, err)
	}
	r := res["b1/0"]
	if r.Status != "completed" || r.Results["echoed"] != "yo" || r.Results["return-code"] != float64(0) ||
		r.Results["nested"].(map[string]any)["num"] != "1" || r.Results["stdout"] != "stdout says yo\n" || r.Unit != "b1/0" {
		t.Errorf("run result %+v", r)
	}
	if _, err := strconv.Atoi(r.ID); err != nil || r.Timing["completed"] == nil {
		t.Errorf("id %q timing %v", r.ID, r.Timing)
	}
	// Plain: the results, a blank line, then the action's stdout.
	plain := e.must("run", "-m", "rome", "b1/0", "echo", "msg=plain", "num=5")
	if plain != "echoed: plain\nnested:\n  num: \"5\"\n\nstdout says plain\n" {
		t.Errorf("plain output %q", plain)
	}
	// Several units: one YAML map.
	plain = e.must("run", "-m", "rome", "b1/0", "b1/1", "pick", "scope=unit")
	if !strings.HasPrefix(plain, "b1/0:\n  id: ") || !strings.Contains(plain, "\nb1/1:\n  id: ") ||
		!strings.Contains(plain, "  output: |\n    scope: unit\n  status: completed\n") {
		t.Errorf("plain output of two units %q", plain)
	}

	// action-fail and exit 0: the task failed, `juju run` did not.
	out, errs, code := e.juju("run", "-m", "rome", "b1/0", "fail")
	if code != 0 || !regexp.MustCompile(`^Action id [0-9]+ failed: told to fail\n`).MatchString(out) {
		t.Errorf("run fail: exit %d, stdout %q, stderr %q; want exit 0 and the failure on stdout", code, out, errs)
	}
	// A non-zero exit fails `juju run`, and the action's stderr is on stdout.
	out, errs, code = e.juju("run", "-m", "rome", "b1/0", "exit3")
	if code != 1 || !regexp.MustCompile(`ERROR the following task failed:\n - id "[0-9]+" with return code 3\n\nuse 'juju show-task' to inspect the failure\n`).MatchString(errs) ||
		!strings.Contains(out, "Action id ") || !strings.HasSuffix(out, "\nbye\n") {
		t.Errorf("run exit3: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	tests := []struct {
		args     []string
		wantCode int
		wantErr  string
	}{
		{[]string{"pick", "scope=bad"}, 1, "validation failed"},
		{[]string{"pick", "scope=unit", "extra=1"}, 1, "validation failed"},
		{[]string{"pick"}, 1, "validation failed"},
		{[]string{"nosuch"}, 1, `action "nosuch" not defined`},
	}
	for _, tc := range tests {
		_, errs, code := e.juju(append([]string{"run", "-m", "rome", "b1/0"}, tc.args...)...)
		if code != tc.wantCode || !strings.Contains(errs, tc.wantErr) {
			t.Errorf("run %v: code %d stderr %q, want %d %q", tc.args, code, errs, tc.wantCode, tc.wantErr)
		}
	}
	// A validation failure enqueues nothing: the next id follows the last one.
	out = e.must("run", "-m", "rome", "b1/0", "pick", "scope=cluster", "--format", "yaml")
	if !strings.Contains(out, "scope: cluster") {
		t.Errorf("pick output %q", out)
	}

	// --background: the operation and its task, with ids of their own.
	_, errs, code = e.juju("run", "-m", "rome", "b1/0", "echo", "--background")
	m := regexp.MustCompile(`^Scheduled operation ([0-9]+) with task ([0-9]+)\nCheck operation status with 'juju show-operation [0-9]+'\nCheck task status with 'juju show-task ([0-9]+)'\n$`).FindStringSubmatch(errs)
	if code != 0 || m == nil || m[1] == m[2] || m[2] != m[3] {
		t.Fatalf("run --background: exit %d, stderr %q", code, errs)
	}
	e.eventually("background task completed", func() bool {
		return strings.Contains(e.must("show-task", m[2]), "status: completed")
	})
	if op := e.must("show-operation", m[1]); !strings.HasPrefix(op, "summary: echo run on unit-b1-0\nstatus: completed\naction:\n  name: echo\n") ||
		!strings.Contains(op, "\ntasks:\n  \""+m[2]+"\":\n    host: b1/0\n    status: completed\n") {
		t.Errorf("show-operation %s:\n%s", m[1], op)
	}

	// --wait: a task that takes longer is given up on, as Juju does.
	e.must("config", "-m", "rome", "b1", "slow-hook=action:echo")
	_, errs, code = e.juju("run", "-m", "rome", "b1/1", "echo", "--wait", "1s")
	if code != 1 || !strings.HasSuffix(errs, "ERROR timed out waiting for results from: unit b1/1\n") {
		t.Errorf("run --wait 1s on a slow action: exit %d, stderr %q", code, errs)
	}
	e.must("config", "-m", "rome", "b1", "slow-hook=")
}

// TestUnitGetAndResourceGet runs unit-get and resource-get in an action: the unit's pod
// address, and the oci-image resource given at deploy as the document Juju hands out.
func TestUnitGetAndResourceGet(t *testing.T) {
	e := newEnv(t)
	e.addModel("rome")
	e.deploy("rome", "b1", "--resource", "workload-image=ghcr.io/example/img:1")
	e.eventually("active", func() bool { return e.unitActive("rome", "b1/0") })
	out := e.must("run", "-m", "rome", "b1/0", "unit-info", "--format", "json")
	var res map[string]struct {
		Results map[string]any `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("run json %q: %v", out, err)
	}
	r := res["b1/0"].Results
	if addr, _ := r["address"].(string); !strings.HasPrefix(addr, "127.") {
		t.Errorf("unit-get private-address = %v", r["address"])
	}
	if r["image"] != "registrypath: ghcr.io/example/img:1" {
		t.Errorf("resource-get content = %q", r["image"])
	}
}

var remoteRE = regexp.MustCompile(`remote-[0-9a-f]{32}`)

func TestCrossModel(t *testing.T) {
	e := newEnv(t)
	e.addModel("rome")
	e.addModel("lisbon")
	e.must("switch", "rome")
	e.deploy("rome", "db1")
	e.must("offer", "db1:db", "dboffer")
	e.must("switch", "lisbon")
	e.deploy("lisbon", "db2")
	e.must("consume", "rome.dboffer")
	e.must("integrate", "dboffer", "db2:backend")
	e.eventually("consumer read the granted secret across models", func() bool {
		return strings.Contains(e.must("show-unit", "-m", "lisbon", "db2/0"), "got-token: s3cr3t-db1")
	})
	e.eventually("consumer joined", func() bool { return e.ran("db2/0", "backend-relation-changed rel=backend:5 remote=dboffer/0") })
	if !e.ran("db2/0", "backend-relation-joined rel=backend:") || field(hookLine(e, "db2/0", "backend-relation-joined"), "remote") != "dboffer/0" {
		t.Errorf("consumer hooks %v", e.hooks("db2/0"))
	}
	l := hookLine(e, "db1/0", "db-relation-joined")
	if !remoteRE.MatchString(field(l, "remote")) || !strings.HasSuffix(field(l, "remote"), "/0") {
		t.Errorf("offering side sees remote unit %q", field(l, "remote"))
	}
	s := e.status("lisbon")
	if _, ok := s.SAAS["dboffer"]; !ok {
		t.Errorf("no SAAS dboffer in lisbon status")
	}
	if _, ok := e.status("rome").Offers["dboffer"]; !ok {
		t.Errorf("no offer in rome status")
	}
	// A new revision of the granted secret reaches the consumer as secret-changed.
	e.must("run", "-m", "rome", "db1/leader", "rotate-secret", "token=rotated")
	e.eventually("consumer refreshed the secret", func() bool {
		return e.ran("db2/0", "secret-changed") && strings.Contains(e.must("show-unit", "-m", "lisbon", "db2/0"), "got-token: rotated")
	})
	// Departures cross models.
	e.must("scale-application", "-m", "lisbon", "db2", "2")
	e.eventually("offering side sees the second consumer unit", func() bool {
		return e.ran("db1/0", "db-relation-changed rel=db:") && strings.Count(strings.Join(e.hooks("db1/0"), "\n"), "db-relation-joined") == 2
	})
	e.must("scale-application", "-m", "lisbon", "db2", "1")
	e.eventually("offering side sees the departure", func() bool { return e.ran("db1/0", "db-relation-departed") })
	e.must("remove-relation", "-m", "lisbon", "dboffer", "db2")
	e.eventually("relation broken on both sides", func() bool {
		return e.ran("db1/0", "db-relation-broken") && e.ran("db2/0", "backend-relation-broken")
	})
}

func hookLine(e *env, unit, prefix string) string {
	for _, l := range e.hooks(unit) {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

func pebblePids(t *testing.T, home string) map[string]string {
	out := map[string]string{}
	files, _ := filepathGlob(home + "/units/*/c/*/pebble.pid")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[f] = strings.TrimSpace(string(b))
	}
	return out
}

func TestControllerRestartAndPodRestart(t *testing.T) {
	e := newEnv(t)
	e.addModel("rome")
	e.deploy("rome", "b1", "-n", "2")
	e.eventually("active", func() bool { return e.unitActive("rome", "b1/0") && e.unitActive("rome", "b1/1") })
	e.eventually("peers joined", func() bool {
		return e.ran("b1/1", "cluster-relation-changed") && e.ran("b1/0", "cluster-relation-changed")
	})
	before := pebblePids(t, e.home)
	if len(before) != 2 {
		t.Fatalf("pebble pid files %v", before)
	}
	pidb, err := os.ReadFile(e.home + "/controller.pid")
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidb)))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.eventually("controller gone", func() bool { return syscall.Kill(pid, 0) != nil })
	installs := strings.Count(strings.Join(e.hooks(""), "\n"), " install ")
	readies := strings.Count(strings.Join(e.hooks(""), "\n"), "workload-pebble-ready")
	e.must("bootstrap")
	e.must("scale-application", "-m", "rome", "b1", "3")
	e.eventually("new unit joined after restart", func() bool {
		return e.ran("b1/0", "cluster-relation-joined rel=cluster:1 remote=b1/2") && e.ran("b1/2", "workload-pebble-ready")
	})
	after := pebblePids(t, e.home)
	for f, p := range before {
		if after[f] != p {
			t.Errorf("pod %s restarted across controller restart: %s -> %s", f, p, after[f])
		}
	}
	all := strings.Join(e.hooks(""), "\n")
	if got := strings.Count(all, " install "); got != installs+1 {
		t.Errorf("install ran %d times after restart, want %d", got, installs+1)
	}
	if got := strings.Count(all, "workload-pebble-ready"); got != readies+1 {
		t.Errorf("pebble-ready ran %d times after restart, want %d (only the new unit)", got, readies+1)
	}
	// Pod loss: every process of b1/0's pod is killed; it comes back with the same storage
	// and runs upgrade-charm, config-changed and pebble-ready (no start).
	n0 := len(hookNames(e.hooks("b1/0")))
	e.must("pod", "kill", "-m", "rome", "b1/0")
	e.eventually("pebble-ready after pod restart", func() bool {
		hooks := hookNames(e.hooks("b1/0"))
		i := indexOf(hooks[n0:], "upgrade-charm")
		return i >= 0 && len(hooks) > n0+i+2
	})
	hooks := hookNames(e.hooks("b1/0"))
	i := n0 + indexOf(hooks[n0:], "upgrade-charm")
	if got := strings.Join(hooks[i:i+3], " "); got != "upgrade-charm config-changed workload-pebble-ready" {
		t.Errorf("hooks after pod loss %v", hooks[n0:])
	}
}

func TestPodStopMovesLeadership(t *testing.T) {
	e := newEnv(t)
	e.addModel("rome")
	e.deploy("rome", "b1", "-n", "2")
	e.eventually("active", func() bool { return e.unitActive("rome", "b1/0") && e.unitActive("rome", "b1/1") })
	e.eventually("b1/0 leads", func() bool { return e.status("rome").Applications["b1"].Units["b1/0"].Leader })
	e.must("pod", "stop", "-m", "rome", "b1/0")
	// JUJULET_LEASE=3s in these tests: the lease of the dead leader runs out.
	e.eventually("b1/1 elected", func() bool { return e.ran("b1/1", "leader-elected") })
	e.eventually("b1/0 agent lost", func() bool {
		return e.status("rome").Applications["b1"].Units["b1/0"].Agent.Current == "lost"
	})
	n := len(e.hooks("b1/0"))
	e.must("pod", "start", "-m", "rome", "b1/0")
	e.eventually("b1/0 back", func() bool { return e.ran("b1/0", "upgrade-charm") && e.unitActive("rome", "b1/0") })
	if strings.Contains(strings.Join(e.hooks("b1/0")[n:], "\n"), "leader-elected") {
		t.Errorf("returning unit re-elected: %v", e.hooks("b1/0")[n:])
	}
}

func hookLineWith(e *env, unit, prefix, contains string) string {
	for _, l := range e.hooks(unit) {
		if strings.HasPrefix(l, prefix) && strings.Contains(l, contains) {
			return l
		}
	}
	return ""
}

func TestHookInterruptedByCrashIsRerun(t *testing.T) {
	e := newEnv(t)
	e.addModel("rome")
	e.deploy("rome", "b1")
	e.eventually("active", func() bool { return e.unitActive("rome", "b1/0") })
	e.must("config", "-m", "rome", "b1", "slow-hook=config-changed")
	e.eventually("slow config-changed running", func() bool {
		return strings.Count(strings.Join(hookNames(e.hooks("b1/0")), " "), "config-changed") == 2
	})
	pidb, err := os.ReadFile(e.home + "/controller.pid")
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidb)))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.eventually("controller gone", func() bool { return syscall.Kill(pid, 0) != nil })
	if show := e.must_noController(); show != "" {
		t.Fatal(show)
	}
	e.must("bootstrap")
	e.eventually("config-changed re-run and committed", func() bool {
		return strings.Count(strings.Join(hookNames(e.hooks("b1/0")), " "), "config-changed") == 3 &&
			strings.Contains(e.must("show-unit", "-m", "rome", "b1/0"), "slow-marker")
	})
}

// must_noController checks that the CLI reports a dead controller as an error.
func (e *env) must_noController() string {
	_, errs, code := e.juju("status", "-m", "rome")
	if code == 0 || !strings.HasPrefix(errs, "ERROR ") {
		return "status with a dead controller: code " + strconv.Itoa(code) + " " + errs
	}
	return ""
}

func TestModelAndApplicationLifecycle(t *testing.T) {
	e := newEnv(t)
	e.addModel("rome")
	e.addModel("lisbon")
	e.fails(`already exists`, "add-model", "rome")
	e.fails(`not a valid name`, "add-model", "Bad_Model")
	e.fails(`update-status-hook-interval: 10ms is out of range: must be between 1s and 60m`,
		"model-config", "-m", "rome", "update-status-hook-interval=10ms")
	if out := e.must("models"); !strings.Contains(out, "lisbon*") || !strings.Contains(out, "rome") {
		t.Errorf("models output %q", out)
	}
	e.must("switch", "rome")
	if out := e.must("switch"); strings.TrimSpace(out) != "jujulet:admin/rome" {
		t.Errorf("switch shows %q", out)
	}
	e.deploy("rome", "b1", "-n", "2")
	e.deploy("rome", "b2")
	e.must("integrate", "b1:db", "b2:backend")
	e.eventually("active", func() bool { return e.unitActive("rome", "b2/0") && e.ran("b2/0", "backend-relation-joined") })
	// trust and config changes fire config-changed.
	n := strings.Count(strings.Join(hookNames(e.hooks("b2/0")), " "), "config-changed")
	e.must("trust", "b2")
	e.eventually("config-changed on trust", func() bool {
		return strings.Count(strings.Join(hookNames(e.hooks("b2/0")), " "), "config-changed") == n+1
	})
	e.must("config", "b2", "greeting=bonjour")
	if out := e.must("config", "b2", "greeting"); out != "bonjour\n" {
		t.Errorf("config get %q", out)
	}
	e.must("config", "b2", "--reset", "greeting")
	if out := e.must("config", "b2", "greeting"); out != "hello\n" {
		t.Errorf("config after reset %q", out)
	}
	e.must("remove-application", "b1")
	e.eventually("b1 gone and b2 saw the relation broken", func() bool {
		_, ok := e.status("rome").Applications["b1"]
		return !ok && e.ran("b2/0", "backend-relation-broken")
	})
	e.must("destroy-model", "rome", "--no-prompt", "--destroy-storage")
	if out := e.must("models"); strings.Contains(out, "rome") {
		t.Errorf("models after destroy %q", out)
	}
	if units, _ := filepathGlob(e.home + "/units/*"); len(units) != 0 {
		t.Errorf("unit dirs left after destroy-model: %v", units)
	}
	// b1's units detached their storage when b1 went; --destroy-storage took it.
	if left, _ := filepathGlob(e.home + "/storage/rome/*"); len(left) != 0 {
		t.Errorf("storage left after destroy-model --destroy-storage: %v", left)
	}
	e.fails(`model jujulet:admin/rome not found`, "status", "-m", "rome")
}

func TestGoCharmSSHAndJujuSymlink(t *testing.T) {
	e := newEnv(t)
	// The Go charm: copy its directory and build its dispatch.
	charmDir := filepath.Join(t.TempDir(), "gocharm")
	src := filepath.Join(repoRoot, "tests", "testdata", "charms", "gocharm")
	if err := os.MkdirAll(charmDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"metadata.yaml", "config.yaml", "actions.yaml"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(charmDir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-o", filepath.Join(charmDir, "dispatch"), "./tests/testdata/charms/gocharm/src")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the go charm: %v\n%s", err, out)
	}
	e.addModel("rome")
	e.must("deploy", "-m", "rome", charmDir, "g1", "-n", "2", "--config", "log-file="+e.hookLog)
	e.deploy("rome", "b1")
	e.must("integrate", "-m", "rome", "g1:backend", "b1:db")
	e.eventually("go charm answered over the relation", func() bool {
		out := e.must("show-unit", "-m", "rome", "b1/0")
		return strings.Contains(out, "from-go: g1/0") && strings.Contains(out, "from-go: g1/1") && strings.Contains(out, "peer-unit: b1/0")
	})
	e.eventually("go charm active", func() bool { return e.unitActive("rome", "g1/0") && e.unitActive("rome", "g1/1") })
	// Juju prints the results, then a blank line (before the action's stdout, none here).
	if out := e.must("run", "-m", "rome", "g1/leader", "hello", "name=jujulet"); out != "greeting: hello jujulet\n\n" {
		t.Errorf("hello output %q", out)
	}
	// ssh runs through the unit's Pebble.
	e.eventually("b1/0 active", func() bool { return e.unitActive("rome", "b1/0") })
	if out := e.must("ssh", "-m", "rome", "--container", "workload", "b1/0", "--", "echo", "hi from the pod"); out != "hi from the pod\n" {
		t.Errorf("ssh output %q", out)
	}
	if _, _, code := e.juju("ssh", "-m", "rome", "--container", "workload", "b1/0", "--", "false"); code != 1 {
		t.Errorf("ssh false exit code %d", code)
	}
	// Invoked through a symlink named juju.
	link := filepath.Join(t.TempDir(), "juju")
	if err := os.Symlink(jujuletBin, link); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(link, "status", "-m", "rome", "--format", "json")
	cmd.Env = append(os.Environ(), "JUJULET_HOME="+e.home)
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), `"g1"`) {
		t.Errorf("juju symlink status: %v %s", err, out)
	}
}

// noticeCharm writes a charm with one container whose dispatch logs each hook as
// "<hook> <JUJU_WORKLOAD_NAME, JUJU_NOTICE_* and JUJU_PEBBLE_CHECK_NAME, sorted>".
func noticeCharm(t *testing.T) (dir, log string) {
	t.Helper()
	dir = t.TempDir()
	log = filepath.Join(dir, "hooks.log")
	meta := "name: notices\nsummary: s\ndescription: d\ncontainers:\n  workload:\n    resource: img\n" +
		"resources:\n  img:\n    type: oci-image\n    description: unused\n"
	dispatch := "#!/bin/sh\n" +
		"vars=$(env | grep -E '^JUJU_(WORKLOAD_NAME|NOTICE_|PEBBLE_CHECK_NAME)' | sort | tr '\\n' ' ')\n" +
		"echo \"$JUJU_HOOK_NAME $vars\" >> " + log + "\n"
	if err := os.WriteFile(filepath.Join(dir, "metadata.yaml"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dispatch"), []byte(dispatch), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, log
}

// logged returns the lines of a hook log, trailing blanks trimmed.
func logged(log string) []string {
	data, _ := os.ReadFile(log)
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		out = append(out, strings.TrimSpace(l))
	}
	return out
}

// killController SIGKILLs the controller and waits until it is gone.
func (e *env) killController() {
	e.t.Helper()
	pidb, err := os.ReadFile(e.home + "/controller.pid")
	if err != nil {
		e.t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidb)))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		e.t.Fatal(err)
	}
	e.eventually("controller gone", func() bool { return syscall.Kill(pid, 0) != nil })
}

func TestPebbleNoticeHooks(t *testing.T) {
	e := newEnv(t)
	e.addModel("rome")
	charm, log := noticeCharm(t)
	e.must("deploy", "-m", "rome", charm, "n1")
	e.eventually("pebble-ready", func() bool { return slices.Contains(logged(log), "workload-pebble-ready JUJU_WORKLOAD_NAME=workload") })
	dirs, _ := filepath.Glob(e.home + "/units/*/c")
	if len(dirs) != 1 {
		t.Fatalf("containers dirs %v", dirs)
	}
	cl, err := pod.Client(dirs[0], "workload")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.CloseIdleConnections()
	notify := func(key string) string {
		t.Helper()
		id, err := cl.Notify(&pebble.NotifyOptions{Type: pebble.CustomNotice, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		return "workload-pebble-custom-notice JUJU_NOTICE_ID=" + id + " JUJU_NOTICE_KEY=" + key +
			" JUJU_NOTICE_TYPE=custom JUJU_WORKLOAD_NAME=workload"
	}
	delivered := func(line string) func() bool {
		return func() bool { return slices.Contains(logged(log), line) }
	}
	one := notify("jujulet.test/one")
	e.eventually("custom notice one", delivered(one))

	flag := filepath.Join(t.TempDir(), "flag")
	layer := "checks:\n  flag:\n    override: replace\n    period: 200ms\n    threshold: 1\n    exec:\n      command: test -e " + flag + "\n"
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cl.AddLayer(&pebble.AddLayerOptions{Label: "checks", LayerData: []byte(layer)}); err != nil {
		t.Fatal(err)
	}
	os.Remove(flag)
	failed := "workload-pebble-check-failed JUJU_PEBBLE_CHECK_NAME=flag JUJU_WORKLOAD_NAME=workload"
	e.eventually("check-failed", delivered(failed))
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	recovered := "workload-pebble-check-recovered JUJU_PEBBLE_CHECK_NAME=flag JUJU_WORKLOAD_NAME=workload"
	e.eventually("check-recovered", delivered(recovered))

	// A notice raised while the controller is down is delivered once it is back; the
	// ones delivered before are not repeated. Notices are delivered in order, so once
	// the third is in, a repeat of an earlier one would be too.
	e.killController()
	two := notify("jujulet.test/two")
	e.must("bootstrap")
	e.eventually("custom notice two after the restart", delivered(two))
	three := notify("jujulet.test/three")
	e.eventually("custom notice three", delivered(three))
	var workload []string
	for _, l := range logged(log) {
		if strings.Contains(l, "-pebble-c") {
			workload = append(workload, l)
		}
	}
	if want := []string{one, failed, recovered, two, three}; !slices.Equal(workload, want) {
		t.Errorf("workload hooks\n%s\nwant\n%s", strings.Join(workload, "\n"), strings.Join(want, "\n"))
	}
}

func TestRefreshRunsUpgradeCharm(t *testing.T) {
	e := newEnv(t)
	e.addModel("rome")
	e.deploy("rome", "b1")
	e.eventually("active", func() bool { return e.unitActive("rome", "b1/0") })
	n := len(hookNames(e.hooks("b1/0")))
	e.must("refresh", "-m", "rome", "b1", "--path", e.charm)
	e.eventually("upgrade-charm then config-changed", func() bool {
		hooks := hookNames(e.hooks("b1/0"))[n:]
		i := indexOf(hooks, "upgrade-charm")
		return i >= 0 && len(hooks) > i+1 && hooks[i+1] == "config-changed"
	})
	e.fails(`application "nope" not found`, "refresh", "-m", "rome", "nope", "--path", e.charm)
}

// running reports whether process pid runs (a zombie does not).
func running(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z"
}

func TestKillControllerStopsUnits(t *testing.T) {
	e := newEnv(t)
	e.addModel("rome")
	e.deploy("rome", "b1")
	e.eventually("active", func() bool { return e.unitActive("rome", "b1/0") })
	pebbles := pebblePids(t, e.home)
	if len(pebbles) != 1 {
		t.Fatalf("pebble pid files %v", pebbles)
	}
	pidb, err := os.ReadFile(e.home + "/controller.pid")
	if err != nil {
		t.Fatal(err)
	}
	_, errs, code := e.juju("kill-controller", "-y", "--timeout", "2m")
	if code != 0 || strings.Contains(errs, "did not stop") || !strings.Contains(errs, `Controller "jujulet" destroyed`) {
		t.Fatalf("kill-controller: exit %d, stderr:\n%s", code, errs)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidb)))
	if running(pid) {
		t.Errorf("controller %d still runs", pid)
	}
	for f, p := range pebbles {
		if n, _ := strconv.Atoi(p); running(n) {
			t.Errorf("pebble %s (%s) still runs", p, f)
		}
	}
	for _, p := range []string{"units", "state.db", "controller.sock", "controller.pid"} {
		if _, err := os.Stat(filepath.Join(e.home, p)); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", p, err)
		}
	}
	e.fails(`no controller running`, "status", "-m", "rome")
}

// TestStorageOnRemoval: as on Juju's Kubernetes models, removing a unit or an application
// detaches its storage and keeps the data; --destroy-storage deletes it; destroy-model
// refuses a model with storage until told what to do with it, and --release-storage
// leaves the data on disk and says where.
func TestStorageOnRemoval(t *testing.T) {
	e := newEnv(t)
	e.addModel("rome")
	e.deploy("rome", "b1", "-n", "2")
	e.deploy("rome", "b2")
	e.eventually("active", func() bool {
		return e.unitActive("rome", "b1/0") && e.unitActive("rome", "b1/1") && e.unitActive("rome", "b2/0")
	})
	dirs, _ := filepathGlob(e.home + "/units/*/c/workload/rootfs/srv/data")
	if len(dirs) != 3 {
		t.Fatalf("storage dirs %v, want 3", dirs)
	}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, "marker"), []byte("kept\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	kept := func(path string) bool {
		b, err := os.ReadFile(filepath.Join(e.home, path, "marker"))
		return err == nil && string(b) == "kept\n"
	}

	if out := e.must("remove-unit", "-m", "rome", "b1/1"); out != "will remove unit b1/1\n- will detach storage data/1\n" {
		t.Errorf("remove-unit output %q", out)
	}
	e.eventually("b1/1 gone", func() bool { _, ok := e.status("rome").Applications["b1"].Units["b1/1"]; return !ok })
	if !kept("storage/rome/unit-b1-1/data") {
		t.Errorf("b1/1's data was not kept")
	}
	if out := e.must("remove-application", "-m", "rome", "b2", "--destroy-storage"); out != "will remove application b2\n- will remove unit b2/0\n- will remove storage data/0\n" {
		t.Errorf("remove-application --destroy-storage output %q", out)
	}
	e.eventually("b2 gone", func() bool { _, ok := e.status("rome").Applications["b2"]; return !ok })
	if left, _ := filepathGlob(e.home + "/storage/rome/unit-b2-0"); len(left) != 0 {
		t.Errorf("b2/0's destroyed storage left: %v", left)
	}

	_, errs, code := e.juju("destroy-model", "rome", "--no-prompt")
	if code != 1 || !strings.Contains(errs, "ERROR cannot destroy model \"admin/rome\"\n\nThe model has persistent storage remaining:\n    2 filesystem(s)\n") {
		t.Fatalf("destroy-model without a storage option: exit %d, stderr %q", code, errs)
	}
	// The unit may still be running the hooks of b1/1's departure, so its agent need not
	// be idle; what a refusal must not do is start taking the model down.
	if s := e.status("rome"); s.Applications["b1"].Life != "" || s.Applications["b1"].Units["b1/0"].Workload.Current != "active" {
		t.Fatalf("a refused destroy-model touched the model: b1 life %q, b1/0 %+v", s.Applications["b1"].Life, s.Applications["b1"].Units["b1/0"])
	}
	_, errs, _ = e.juju("destroy-model", "rome", "--no-prompt", "--release-storage")
	for _, p := range []string{"released-storage/rome/unit-b1-0/data", "released-storage/rome/unit-b1-1/data"} {
		if !kept(p) {
			t.Errorf("%s not kept", p)
		}
		if !strings.Contains(errs, "released storage kept at "+filepath.Join(e.home, p)) {
			t.Errorf("destroy-model does not report %s: %q", p, errs)
		}
	}
	if left, _ := filepathGlob(e.home + "/storage/rome"); len(left) != 0 {
		t.Errorf("detached storage left after release: %v", left)
	}
}
