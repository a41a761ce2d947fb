package hookenv

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRounds(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name    string
		spans   []Span
		want    int
		inTools time.Duration
		depth   int
	}{
		{"none", nil, 0, 0, 0},
		{"one", []Span{{Start: 0, End: 2 * ms}}, 1, 2 * ms, 1},
		{"parallel", []Span{{Start: 0, End: 5 * ms}, {Start: 1 * ms, End: 3 * ms}, {Start: 4 * ms, End: 6 * ms}}, 1, 6 * ms, 2},
		{"sequential", []Span{{Start: 0, End: 2 * ms}, {Start: 2 * ms, End: 3 * ms}, {Start: 5 * ms, End: 6 * ms}}, 3, 4 * ms, 3},
		{"unsorted", []Span{{Start: 10 * ms, End: 12 * ms}, {Start: 0, End: 2 * ms}, {Start: 11 * ms, End: 13 * ms}}, 2, 5 * ms, 2},
		{"chained overlap", []Span{{Start: 0, End: 2 * ms}, {Start: 1 * ms, End: 4 * ms}, {Start: 3 * ms, End: 5 * ms}, {Start: 6 * ms, End: 7 * ms}}, 2, 6 * ms, 3},
		{"contained", []Span{{Start: 1 * ms, End: 9 * ms}, {Start: 2 * ms, End: 3 * ms}, {Start: 10 * ms, End: 11 * ms}}, 2, 9 * ms, 2},
		// A slow independent call hides two dependent rounds from Rounds, not from Depth.
		{"stretched", []Span{{Start: 0, End: 10 * ms}, {Start: 1 * ms, End: 2 * ms}, {Start: 3 * ms, End: 4 * ms}, {Start: 5 * ms, End: 6 * ms}}, 1, 10 * ms, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Rounds(tc.spans); got != tc.want {
				t.Errorf("Rounds = %d, want %d", got, tc.want)
			}
			if got := InTools(tc.spans); got != tc.inTools {
				t.Errorf("InTools = %v, want %v", got, tc.inTools)
			}
			if got := Depth(tc.spans); got != tc.depth {
				t.Errorf("Depth = %d, want %d", got, tc.depth)
			}
		})
	}
}

func TestTraceRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	start := time.Now().Add(-time.Second)
	tr := NewTracer(&buf, Env{UnitName: "pg/0", HookName: "update-status"}, start)
	tr.Call("is-leader", start.Add(10*time.Millisecond), 0)
	tr.Call("relation-get", start.Add(20*time.Millisecond), 1)
	tr.End()
	other := NewTracer(&buf, Env{UnitName: "pg/1", ActionName: "get-password"}, start)
	other.Call("action-set", start, 0)
	buf.WriteString("unrelated log line\n")
	var nilTracer *Tracer
	nilTracer.Call("status-set", start, 0) // traces nothing
	nilTracer.End()

	hooks, err := ParseTrace(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(hooks) != 2 {
		t.Fatalf("hooks = %+v, want 2", hooks)
	}
	h := hooks[0]
	if h.Unit != "pg/0" || h.Hook != "update-status" || len(h.Calls) != 2 || h.End < time.Second {
		t.Fatalf("first hook = %+v", h)
	}
	if c := h.Calls[1]; c.Tool != "relation-get" || c.Start != 20*time.Millisecond || c.End < time.Second {
		t.Errorf("second call = %+v", c)
	}
	if h.CPU <= 0 || h.ToolsCPU < 0 {
		t.Errorf("CPU %v, tools' %v: want this process's CPU time", h.CPU, h.ToolsCPU)
	}
	if h.Rounds() != 1 { // both calls run until now: they overlap
		t.Errorf("rounds = %d, want 1", h.Rounds())
	}
	if o := hooks[1]; o.Unit != "pg/1" || o.Hook != "action-get-password" || o.End != 0 || len(o.Calls) != 1 {
		t.Errorf("second hook = %+v", o)
	}
}

func TestTraceFromEnviron(t *testing.T) {
	path := t.TempDir() + "/trace"
	for _, tc := range []struct {
		value string
		want  bool
	}{{"", false}, {"0", false}, {"1", true}, {path, true}} {
		getenv := func(k string) string {
			if k == TraceEnv {
				return tc.value
			}
			return ""
		}
		if got := TraceFromEnviron(getenv, Env{UnitName: "pg/0"}) != nil; got != tc.want {
			t.Errorf("%s=%q: tracing %v, want %v", TraceEnv, tc.value, got, tc.want)
		}
	}
}

func TestExecTraces(t *testing.T) {
	x, _ := fakeTools(t, map[string]string{"is-leader": "true", "state-get": "FAIL:boom"})
	var buf bytes.Buffer
	x.Trace = NewTracer(&buf, Env{UnitName: "pg/0", HookName: "update-status"}, time.Now())
	if _, err := x.IsLeader(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := x.StateGet(t.Context()); err == nil {
		t.Fatal("state-get did not fail")
	}
	hooks, err := ParseTrace(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(hooks) != 1 || len(hooks[0].Calls) != 2 || hooks[0].Calls[0].Tool != "is-leader" || hooks[0].Calls[1].Tool != "state-get" {
		t.Fatalf("trace = %+v", hooks)
	}
	if hooks[0].Rounds() != 2 {
		t.Errorf("rounds = %d, want 2 (sequential calls)", hooks[0].Rounds())
	}
}

func TestExecStatusGet(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		app       bool
		want      StatusInfo
	}{
		{"unit", `{"message":"Replica","status":"active","status-data":{}}`, false, StatusInfo{Status: "active", Message: "Replica"}},
		{"application", `{"application-status":{"message":"Primary","status":"active","status-data":{},"units":{"pg/0":{"message":"Primary","status":"active","status-data":{}}}}}`, true,
			StatusInfo{Status: "active", Message: "Primary", Units: map[string]StatusInfo{"pg/0": {Status: "active", Message: "Primary"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, logPath := fakeTools(t, map[string]string{"status-get": tc.out})
			got, err := x.StatusGet(t.Context(), tc.app)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("StatusGet = %+v, want %+v", got, tc.want)
			}
			log, _ := os.ReadFile(logPath)
			if wantApp := strings.Contains(string(log), "--application"); wantApp != tc.app || !strings.Contains(string(log), "--include-data") {
				t.Errorf("status-get called as %q", log)
			}
		})
	}
}

func TestParseTraceEndLine(t *testing.T) {
	const prefix = "tool-trace pid=7 unit=pg/0 hook=update-status "
	for _, tc := range []struct {
		name, line    string
		cpu, toolsCPU time.Duration
		wantErr       bool
	}{
		{"without CPU times", "end-us=25004", 0, 0, false},
		{"with CPU times", "end-us=25004 cpu-us=6120 tools-cpu-us=9800", 6120 * time.Microsecond, 9800 * time.Microsecond, false},
		{"malformed cpu-us", "end-us=25004 cpu-us=six tools-cpu-us=9800", 0, 0, true},
		{"malformed tools-cpu-us", "end-us=25004 cpu-us=1 tools-cpu-us=", 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hooks, err := ParseTrace(strings.NewReader(prefix + "tool=is-leader start-us=1 end-us=2 exit=0\n" + prefix + tc.line + "\n"))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parsed %+v, want an error", hooks)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(hooks) != 1 || hooks[0].End != 25004*time.Microsecond || hooks[0].CPU != tc.cpu || hooks[0].ToolsCPU != tc.toolsCPU {
				t.Errorf("hooks %+v, want end 25.004ms, CPU %v, tools' %v", hooks, tc.cpu, tc.toolsCPU)
			}
		})
	}
}

func TestSpans(t *testing.T) {
	var buf bytes.Buffer
	start := time.Now().Add(-time.Second)
	tr := NewTracer(&buf, Env{UnitName: "pg/0", HookName: "update-status"}, start)
	StartSpan(t.Context(), "untraced")() // no tracer in the context: nothing written
	if buf.Len() != 0 {
		t.Fatalf("a span without a tracer wrote %q", buf.String())
	}
	ctx := WithTracer(t.Context(), tr)
	if WithTracer(ctx, nil) != ctx {
		t.Error("WithTracer(ctx, nil) is not ctx")
	}
	end := StartSpan(ctx, "pebble stat /x")
	tr.Call("is-leader", start.Add(10*time.Millisecond), 0)
	end()
	tr.End()

	hooks, err := ParseTrace(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(hooks) != 1 {
		t.Fatalf("hooks = %+v, want 1", hooks)
	}
	h := hooks[0]
	if len(h.Calls) != 1 || h.Calls[0].Tool != "is-leader" {
		t.Errorf("calls = %+v, want is-leader only (a span is no tool call)", h.Calls)
	}
	if len(h.Spans) != 1 || h.Spans[0].Tool != "pebble_stat_/x" || h.Spans[0].Start < time.Second || h.Spans[0].End < h.Spans[0].Start {
		t.Errorf("spans = %+v, want one pebble_stat_/x from about 1s", h.Spans)
	}
	if h.End < h.Spans[0].End {
		t.Errorf("end %v before the span's %v: the span line was read as the end", h.End, h.Spans[0].End)
	}
}
