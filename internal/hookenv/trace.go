package hookenv

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// TraceEnv names the environment variable that turns on the hook tool trace: "1" writes it to
// stderr (which Juju and jujulet put in the unit's debug-log), an absolute path appends it to
// that file. Each tool call is one line with its start and end offsets from the start of the
// hook process, and the hook ends with one line of its own:
//
//	tool-trace pid=41 unit=pg/0 hook=update-status tool=is-leader start-us=812 end-us=4310 exit=0
//	tool-trace pid=41 unit=pg/0 hook=update-status end-us=25004 cpu-us=6120 tools-cpu-us=9800
//
// cpu-us is the CPU time (user and system) of the hook process, tools-cpu-us that of its tool
// processes: unlike the offsets, they hardly grow on a loaded machine.
//
// Calls whose spans overlap are one round trip's worth of latency; Rounds counts them.
//
// The hook's own work can be traced too, as named spans of the context (StartSpan): its
// Pebble calls and SQL sessions, which are not tool calls and count as the charm's time:
//
//	tool-trace pid=41 unit=pg/0 hook=update-status span=pebble:service-status start-us=9120 end-us=9800
const TraceEnv = "POSTGRESQL_K8S_TRACE_TOOLS"

// processStart approximates the hook process's start (package initialisation, before main).
var processStart = time.Now()

// Tracer writes the tool trace of one hook process. A nil *Tracer traces nothing.
type Tracer struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	start  time.Time
}

// TraceFromEnviron returns the tracer TraceEnv asks for (nil when unset or unusable; an
// unusable value is reported on stderr).
func TraceFromEnviron(getenv func(string) string, env Env) *Tracer {
	v := getenv(TraceEnv)
	var w io.Writer
	switch {
	case v == "" || v == "0":
		return nil
	case strings.HasPrefix(v, "/"):
		f, err := os.OpenFile(v, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", TraceEnv, err)
			return nil
		}
		w = f // left open: the process ends with the hook
	default:
		w = os.Stderr
	}
	return NewTracer(w, env, processStart)
}

// NewTracer traces to w with offsets from start.
func NewTracer(w io.Writer, env Env, start time.Time) *Tracer {
	event := env.HookName
	if event == "" {
		event = "action-" + env.ActionName
	}
	return &Tracer{w: w, start: start,
		prefix: fmt.Sprintf("tool-trace pid=%d unit=%s hook=%s", os.Getpid(), field(env.UnitName), field(event))}
}

// field keeps a value one token of a trace line.
func field(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Join(strings.Fields(s), "_")
}

func (t *Tracer) offset(at time.Time) int64 { return at.Sub(t.start).Microseconds() }

func (t *Tracer) line(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// One write per line: lines of concurrent calls (and processes appending to one file)
	// do not interleave.
	_, _ = io.WriteString(t.w, t.prefix+" "+s+"\n")
}

// Call records a tool call that ran from start until now.
func (t *Tracer) Call(tool string, start time.Time, exitCode int) {
	if t == nil {
		return
	}
	t.line(fmt.Sprintf("tool=%s start-us=%d end-us=%d exit=%d", field(tool), t.offset(start), t.offset(time.Now()), exitCode))
}

// tracerKey is the context key of the Tracer that StartSpan records into.
type tracerKey struct{}

// WithTracer returns ctx with t as the tracer of its spans (ctx itself when t is nil).
func WithTracer(ctx context.Context, t *Tracer) context.Context {
	if t == nil {
		return ctx
	}
	return context.WithValue(ctx, tracerKey{}, t)
}

// StartSpan starts a span named name of the work done under ctx, and returns the function
// that ends it; nothing is traced (and nothing allocated) when ctx carries no tracer.
func StartSpan(ctx context.Context, name string) (end func()) {
	t, _ := ctx.Value(tracerKey{}).(*Tracer)
	if t == nil {
		return func() {}
	}
	start := time.Now()
	return func() {
		t.line(fmt.Sprintf("span=%s start-us=%d end-us=%d", field(name), t.offset(start), t.offset(time.Now())))
	}
}

// End records the end of the hook process, with its CPU time and its tools'.
func (t *Tracer) End() {
	if t == nil {
		return
	}
	end := t.offset(time.Now())
	var self, tools syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &self) != nil || syscall.Getrusage(syscall.RUSAGE_CHILDREN, &tools) != nil {
		t.line(fmt.Sprintf("end-us=%d", end))
		return
	}
	t.line(fmt.Sprintf("end-us=%d cpu-us=%d tools-cpu-us=%d", end, cpuMicros(self), cpuMicros(tools)))
}

// cpuMicros is the user and system CPU time of r in microseconds.
func cpuMicros(r syscall.Rusage) int64 {
	return r.Utime.Nano()/1e3 + r.Stime.Nano()/1e3
}

// Span is one traced tool call, or one span of the charm's own work (StartSpan): its offsets
// from the start of the hook process. Tool is the tool's name, or the span's.
type Span struct {
	Tool       string
	Start, End time.Duration
}

// HookTrace is the trace of one hook process.
type HookTrace struct {
	PID        int
	Unit, Hook string
	Calls      []Span
	// Spans are the spans of the charm's own work (StartSpan), which Calls do not include.
	Spans []Span
	// End is the process's end offset (0 when the trace has no end line: the hook has not
	// finished, or died).
	End time.Duration
	// CPU and ToolsCPU are the CPU time of the hook process and of its tool processes (0 when
	// the end line has none).
	CPU, ToolsCPU time.Duration
}

// Rounds counts the sequential rounds of tool calls: calls whose spans overlap (directly or
// through other calls) are one round.
func (h HookTrace) Rounds() int { return Rounds(h.Calls) }

// InTools is the part of the hook's wall time during which at least one tool call ran; the
// rest (End minus InTools) is the charm process on its own: start-up, its work, exit.
func (h HookTrace) InTools() time.Duration { return InTools(h.Calls) }

// Depth is the longest chain of the hook's tool calls each of which started after the one
// before it ended: the sequential rounds its dependencies force. Unlike Rounds, it does not
// shrink when a loaded machine stretches independent calls over dependent ones.
func (h HookTrace) Depth() int { return Depth(h.Calls) }

// Rounds counts the groups of overlapping spans.
func Rounds(spans []Span) int { return len(rounds(spans)) }

// Depth is the length of the longest chain of spans each starting at or after the end of the
// one before it.
func Depth(spans []Span) int {
	s := slices.Clone(spans)
	slices.SortFunc(s, func(a, b Span) int { return cmp.Compare(a.Start, b.Start) })
	depth := make([]int, len(s)) // depth[i]: the longest chain ending with s[i]
	best := 0
	for i, sp := range s {
		depth[i] = 1
		for j := range i {
			if s[j].End <= sp.Start {
				depth[i] = max(depth[i], depth[j]+1)
			}
		}
		best = max(best, depth[i])
	}
	return best
}

// InTools is the length of the union of spans.
func InTools(spans []Span) time.Duration {
	var d time.Duration
	for _, r := range rounds(spans) {
		d += r.End - r.Start
	}
	return d
}

// rounds merges overlapping spans (directly or through other spans) into one span each, in
// order of start.
func rounds(spans []Span) []Span {
	s := slices.Clone(spans)
	slices.SortFunc(s, func(a, b Span) int { return cmp.Compare(a.Start, b.Start) })
	var out []Span
	for _, sp := range s {
		if n := len(out); n > 0 && sp.Start < out[n-1].End {
			out[n-1].End = max(out[n-1].End, sp.End)
			continue
		}
		out = append(out, Span{Start: sp.Start, End: sp.End})
	}
	return out
}

// ParseTrace reads trace lines (other lines are skipped) and returns the hooks in the order
// of their first line.
func ParseTrace(r io.Reader) ([]HookTrace, error) {
	var out []*HookTrace
	byKey := map[string]*HookTrace{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, "tool-trace ")
		if i < 0 {
			continue
		}
		kv := map[string]string{}
		for _, f := range strings.Fields(line[i+len("tool-trace "):]) {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				return nil, fmt.Errorf("trace line %q: field %q", line, f)
			}
			kv[k] = v
		}
		pid, err := strconv.Atoi(kv["pid"])
		if err != nil {
			return nil, fmt.Errorf("trace line %q: pid: %w", line, err)
		}
		// A pid is reused, but not by two hooks of one unit that overlap: a hook's lines
		// end with its end line.
		key := kv["unit"] + " " + kv["pid"]
		h := byKey[key]
		if h == nil {
			h = &HookTrace{PID: pid, Unit: kv["unit"], Hook: kv["hook"]}
			byKey[key] = h
			out = append(out, h)
		}
		end, err := strconv.ParseInt(kv["end-us"], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("trace line %q: end-us: %w", line, err)
		}
		if name := kv["span"]; name != "" {
			start, err := strconv.ParseInt(kv["start-us"], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("trace line %q: start-us: %w", line, err)
			}
			h.Spans = append(h.Spans, Span{Tool: name, Start: time.Duration(start) * time.Microsecond, End: time.Duration(end) * time.Microsecond})
			continue
		}
		if kv["tool"] == "" {
			h.End = time.Duration(end) * time.Microsecond
			for k, d := range map[string]*time.Duration{"cpu-us": &h.CPU, "tools-cpu-us": &h.ToolsCPU} {
				if v, ok := kv[k]; ok {
					us, err := strconv.ParseInt(v, 10, 64)
					if err != nil {
						return nil, fmt.Errorf("trace line %q: %s: %w", line, k, err)
					}
					*d = time.Duration(us) * time.Microsecond
				}
			}
			delete(byKey, key)
			continue
		}
		start, err := strconv.ParseInt(kv["start-us"], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("trace line %q: start-us: %w", line, err)
		}
		h.Calls = append(h.Calls, Span{Tool: kv["tool"], Start: time.Duration(start) * time.Microsecond, End: time.Duration(end) * time.Microsecond})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	res := make([]HookTrace, len(out))
	for i, h := range out {
		res[i] = *h
	}
	return res, nil
}
