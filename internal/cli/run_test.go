package cli

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/controller/api"
)

// TestRunParamsYAMLv2: k=v values are parsed as Juju parses them, with yaml.v2.
func TestRunParamsYAMLv2(t *testing.T) {
	tests := []struct {
		arg  string
		want any
	}{
		{"v=yes", true},
		{"v=on", true},
		{"v=off", false},
		{"v=null", nil},
		{"v=~", nil},
		{"v=2024-01-02", "2024-01-02"},
		{"v=5", 5},
		{"v=1.5", 1.5},
		{"v=text", "text"},
		{"v=", ""},
		{"v=y", true},
		{"v={a: 1}", map[string]any{"a": 1}},
		{"v=[x, z]", []any{"x", "z"}},
	}
	for _, tc := range tests {
		p, err := runParams([]string{"db/0", "act", tc.arg}, "", false)
		if err != nil {
			t.Errorf("%s: %v", tc.arg, err)
			continue
		}
		got, ok := p.Params["v"]
		if !ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s parsed as %#v, want %#v", tc.arg, got, tc.want)
		}
	}
	p, err := runParams([]string{"db/leader", "act", "a.b.c=yes", "s=on"}, "", true)
	if err != nil || p.Params["s"] != "on" || p.Params["a"].(map[string]any)["b"].(map[string]any)["c"] != "yes" {
		t.Errorf("--string-args: %#v, %v", p.Params, err)
	}
}

// TestTaskFailures: only a return code of 1 or more fails `juju run`, with Juju's text.
func TestTaskFailures(t *testing.T) {
	if err := taskFailures(map[int]int{}); err != nil {
		t.Errorf("no failures: %v", err)
	}
	err := taskFailures(map[int]int{4: 3})
	want := "the following task failed:\n - id \"4\" with return code 3\n\nuse 'juju show-task' to inspect the failure\n"
	if err == nil || err.Error() != want {
		t.Errorf("one failure: %q, want %q", err, want)
	}
	err = taskFailures(map[int]int{4: 3, 6: 1})
	if err == nil || !strings.Contains(err.Error(), "tasks failed:\n - id \"4\" with return code 3\n - id \"6\" with return code 1\n") ||
		!strings.HasSuffix(err.Error(), "failures\n") {
		t.Errorf("two failures: %q", err)
	}
}

func finished(id int, unit, status, msg string, results map[string]any) api.Action {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return api.Action{ID: id, Unit: unit, Status: status, Message: msg, Results: results,
		Enqueued: ts, Started: ts, Completed: ts}
}

// TestPrintRunResults: the plain format is the results YAML, a blank line, stdout and
// stderr, all on stdout; a failed action (action-fail, exit 0) says so and returns code 0;
// several units make one YAML map.
func TestPrintRunResults(t *testing.T) {
	tests := []struct {
		name     string
		actions  []api.Action
		want     string
		wantCode []int
	}{
		{"completed", []api.Action{finished(2, "db/0", "completed", "", map[string]any{
			"echoed": "hi", "list": []any{"a", "b"}, "return-code": float64(0), "stdout": "out\r\n", "stderr": "err\n"})},
			"echoed: hi\nlist:\n- a\n- b\n\nout\nerr\n", []int{0}},
		{"action-fail then exit 0", []api.Action{finished(3, "db/0", "failed", "no can do", map[string]any{"return-code": float64(0)})},
			"Action id 3 failed: no can do\n\n", []int{0}},
		{"exit 3", []api.Action{finished(4, "db/0", "failed", "exit status 3", map[string]any{"return-code": float64(3), "stdout": "partial\n"})},
			"Action id 4 failed: exit status 3\n\npartial\n", []int{3}},
		{"no results", []api.Action{finished(5, "db/0", "cancelled", "", nil)},
			"Task 5 cancelled\n\n", []int{-1}},
		{"two units", []api.Action{
			finished(7, "db/0", "completed", "", map[string]any{"k": "v", "return-code": float64(0)}),
			finished(8, "db/1", "failed", "bad", map[string]any{"return-code": float64(0)})},
			"db/0:\n  id: \"7\"\n  output: |\n    k: v\n  status: completed\ndb/1:\n  id: \"8\"\n  message: bad\n  output: \"\"\n  status: failed\n", []int{0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			info := map[string]any{}
			for i, a := range tc.actions {
				doc, code := taskDoc(a, utcTime)
				if code != tc.wantCode[i] {
					t.Errorf("task %d return code %d, want %d", a.ID, code, tc.wantCode[i])
				}
				info[a.Unit] = doc
			}
			var out bytes.Buffer
			if err := printRunResults(&out, "plain", info); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("plain output:\n%q\nwant\n%q", out.String(), tc.want)
			}
		})
	}
}

// TestRunResultsYAML: the yaml format is yaml.v2's, with the results' return code an
// integer and empty stdout dropped, as Juju's formatActionResult does.
func TestRunResultsYAML(t *testing.T) {
	doc, _ := taskDoc(finished(2, "db/0", "completed", "", map[string]any{"return-code": float64(0), "stdout": "", "list": []any{"x"}}), utcTime)
	var out bytes.Buffer
	if err := printRunResults(&out, "yaml", map[string]any{"db/0": doc}); err != nil {
		t.Fatal(err)
	}
	want := `db/0:
  id: "2"
  results:
    list:
    - x
    return-code: 0
  status: completed
  timing:
    completed: 2026-01-02 03:04:05 +0000 UTC
    enqueued: 2026-01-02 03:04:05 +0000 UTC
    started: 2026-01-02 03:04:05 +0000 UTC
  unit: db/0
`
	if out.String() != want {
		t.Errorf("yaml output:\n%s\nwant\n%s", out.String(), want)
	}
}

// TestFormatOperation: show-operation's document: the operation's status from its tasks',
// the action when all tasks run the same one, tasks by id with their host.
func TestFormatOperation(t *testing.T) {
	a := finished(3, "db/0", "completed", "", map[string]any{"x": "y"})
	a.Name, a.Params = "echo", map[string]any{"msg": "hi"}
	b := finished(4, "db/1", "failed", "no", nil)
	b.Name, b.Params = "echo", map[string]any{"msg": "hi"}
	info := formatOperation(api.Operation{ID: 2, Summary: "echo run on unit-db-0,unit-db-1", Tasks: []api.Action{a, b}}, utcTime)
	if info.Status != "failed" || info.Action == nil || info.Action.Name != "echo" || info.Tasks["4"].Host != "db/1" ||
		info.Tasks["3"].Results["x"] != "y" || info.Timing.Completed == "" {
		t.Errorf("operation info %+v", info)
	}
	b.Status, b.Completed = "running", time.Time{}
	b.Params = map[string]any{"msg": "other"}
	info = formatOperation(api.Operation{ID: 2, Tasks: []api.Action{a, b}}, utcTime)
	if info.Status != "running" || info.Action != nil || info.Timing.Completed != "" {
		t.Errorf("running operation with two actions: %+v", info)
	}
}
