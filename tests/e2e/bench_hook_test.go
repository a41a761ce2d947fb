package e2e

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/hookenv"
	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// BenchmarkUpdateStatusHook measures whole update-status hooks on a settled 3-unit cluster on
// jujulet with the real hook tools (measureUpdateStatus).
func BenchmarkUpdateStatusHook(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	j := scenario.StartJujulet(b)
	charmDir, trace := tracedCharm(b)
	const model, app, n = "bench", "pg", 3
	opts := scenario.SeedDeploy()
	opts.Units = n
	must(b, j.AddModel(ctx, model))
	must(b, j.Deploy(ctx, model, charmDir, app, opts))
	settled := scenario.All(scenario.AppSettled(app, n, "Primary"), scenario.UnitMessages(app, map[string]int{"Primary": 1, "Replica": n - 1}))
	settle(b, ctx, j, model, settled)
	measureUpdateStatus(b, ctx, j, trace, model, app, n, settled)
}

// BenchmarkUpdateStatusHookReplicating is BenchmarkUpdateStatusHook on the primary cluster of
// cross-regional replication: rome's 3 units, replicating to lisbon's one-unit standby
// cluster, so that every hook also reads the replication relation.
func BenchmarkUpdateStatusHookReplicating(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	j := scenario.StartJujulet(b)
	charmDir, trace := tracedCharm(b)
	s := scenario.NewSeed(j, charmDir)
	s.SettleTimeout = 15 * time.Minute
	s.DeployBoth(b, ctx)
	s.Relate(b, ctx)
	s.CreateReplication(b, ctx, 1)
	const n = 3
	must(b, j.Scale(ctx, s.Rome, s.DB1, n))
	settled := scenario.All(scenario.AppSettled(s.DB1, n, "Primary"),
		scenario.UnitMessages(s.DB1, map[string]int{"Primary": 1, "Replica": n - 1}), scenario.PrimaryOffLeader(s.DB1))
	settle(b, ctx, j, s.Rome, settled)
	measureUpdateStatus(b, ctx, j, trace, s.Rome, s.DB1, n, settled)
}

// measureUpdateStatus times the update-status hooks of app's n units in model: each op waits
// for one more update-status on every unit, at an interval of 1 s. The charm runs with
// hookenv.TraceEnv set (tracedCharm), and the trace gives each hook's wall time from process
// start to exit (hook-p50-ms, hook-max-ms), how much of it is spent in tool calls
// (tools-p50-ms) and in the charm process alone (charm-p50-ms: start-up, work and exit
// between the calls), the CPU time of the charm process and of its tool processes
// (charm-cpu-p50-ms, tools-cpu-p50-ms: what the hook costs on an idle machine, where the wall
// times are mostly waiting on a loaded one), its sequential rounds of tool calls (rounds-p50,
// rounds-max), which on real Juju are API round trips, and their depth (depth-p50, depth-max:
// hookenv.Depth, which a loaded machine does not hide). The hooks must leave the cluster as
// settled as it was.
func measureUpdateStatus(b *testing.B, ctx context.Context, j *scenario.Jujulet, trace, model, app string, n int, settled scenario.Condition) {
	b.Helper()
	ofApp := func() []hookenv.HookTrace {
		return slices.DeleteFunc(finishedUpdateStatus(b, trace), func(h hookenv.HookTrace) bool { return hookenv.AppOf(h.Unit) != app })
	}
	// Only the hooks that start from here on count.
	skip := len(ofApp())
	otherSkip := len(otherHooks(b, trace, app))
	_, err := j.Juju(ctx, "model-config", "-m", model, "update-status-hook-interval=1s")
	must(b, err)
	b.ResetTimer()
	var hooks []hookenv.HookTrace
	for i := 0; i < b.N; i++ {
		for {
			hooks = ofApp()[skip:]
			if minPerUnit(hooks, n) > i {
				break
			}
			if ctx.Err() != nil {
				b.Fatalf("waiting for update-status hooks: %v (%d traced)", ctx.Err(), len(hooks))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	b.StopTimer()
	// A steady update-status changes nothing its peers see: any other hook the app ran
	// meanwhile is one the measured hooks caused (or a flaw in the settled cluster).
	others := otherHooks(b, trace, app)[otherSkip:]
	_, err = j.Juju(ctx, "model-config", "-m", model, "update-status-hook-interval=1h")
	must(b, err)
	settle(b, ctx, j, model, settled)
	var times, inTools, inCharm, cpu, toolsCPU, steady, full []time.Duration
	var rounds, depths []int
	for _, h := range hooks {
		// A steady update-status (charm/steady.go) ends without the full reconcile.
		if hasSpan(h, "charm reconcile") {
			full = append(full, h.End)
		} else if hasSpan(h, "charm steady") {
			steady = append(steady, h.End)
		}
		if len(h.Calls) == 0 {
			b.Fatalf("%s update-status (pid %d) traced no tool call", h.Unit, h.PID)
		}
		times = append(times, h.End)
		inTools = append(inTools, h.InTools())
		inCharm = append(inCharm, h.End-h.InTools())
		cpu, toolsCPU = append(cpu, h.CPU), append(toolsCPU, h.ToolsCPU)
		rounds = append(rounds, h.Rounds())
		depths = append(depths, h.Depth())
	}
	slices.Sort(rounds)
	slices.Sort(depths)
	b.ReportMetric(ms(percentile(times, 50)), "hook-p50-ms")
	b.ReportMetric(ms(slices.Max(times)), "hook-max-ms")
	b.ReportMetric(ms(percentile(inTools, 50)), "tools-p50-ms")
	b.ReportMetric(ms(percentile(inCharm, 50)), "charm-p50-ms")
	b.ReportMetric(ms(percentile(cpu, 50)), "charm-cpu-p50-ms")
	b.ReportMetric(ms(percentile(toolsCPU, 50)), "tools-cpu-p50-ms")
	b.ReportMetric(float64(rounds[len(rounds)/2]), "rounds-p50")
	b.ReportMetric(float64(rounds[len(rounds)-1]), "rounds-max")
	b.ReportMetric(float64(depths[len(depths)/2]), "depth-p50")
	b.ReportMetric(float64(depths[len(depths)-1]), "depth-max")
	b.ReportMetric(float64(len(others)), "other-hooks")
	b.ReportMetric(100*float64(len(steady))/float64(len(hooks)), "steady-pct")
	if len(steady) > 0 {
		b.ReportMetric(ms(percentile(steady, 50)), "steady-p50-ms")
	}
	if len(full) > 0 {
		b.ReportMetric(ms(percentile(full, 50)), "full-p50-ms")
	}
	for _, h := range others {
		b.Logf("other hook meanwhile: %s %s (%v): %s", h.Unit, h.Hook, h.End.Round(10*time.Microsecond), describeCalls(h.Spans))
	}
	for _, h := range hooks {
		b.Logf("%s: %v (tools %v; CPU %v, tools' %v), %d rounds, depth %d: %s; charm's own work: %s", h.Unit, h.End.Round(10*time.Microsecond), h.InTools().Round(10*time.Microsecond),
			h.CPU, h.ToolsCPU, h.Rounds(), h.Depth(), describeCalls(h.Calls), describeCalls(h.Spans))
	}
}

// tracedCharm copies the built charm into a temporary directory with a dispatch that runs the
// real one with the tool trace appended to the returned file.
func tracedCharm(b *testing.B) (dir, trace string) {
	src := filepath.Join(filepath.Dir(os.Getenv("JUJULET_BIN")), "build", "charms", "postgresql-k8s")
	tmp := b.TempDir()
	dir, trace = filepath.Join(tmp, "postgresql-k8s"), filepath.Join(tmp, "tool-trace.log")
	if out, err := exec.Command("cp", "-a", src, dir).CombinedOutput(); err != nil {
		b.Fatalf("copy the charm (make build first): %v: %s", err, out)
	}
	must(b, os.Rename(filepath.Join(dir, "dispatch"), filepath.Join(dir, "dispatch.bin")))
	wrapper := fmt.Sprintf("#!/bin/sh\n%s=%s exec \"$JUJU_CHARM_DIR/dispatch.bin\" \"$@\"\n", hookenv.TraceEnv, trace)
	must(b, os.WriteFile(filepath.Join(dir, "dispatch"), []byte(wrapper), 0o755))
	return dir, trace
}

// finishedUpdateStatus returns the update-status hooks of the trace that have ended.
func finishedUpdateStatus(b *testing.B, trace string) []hookenv.HookTrace {
	return slices.DeleteFunc(traceHooks(b, trace), func(h hookenv.HookTrace) bool { return h.Hook != "update-status" || h.End == 0 })
}

// otherHooks returns the hooks of app in the trace other than update-status, finished or not.
func otherHooks(b *testing.B, trace, app string) []hookenv.HookTrace {
	return slices.DeleteFunc(traceHooks(b, trace), func(h hookenv.HookTrace) bool { return h.Hook == "update-status" || hookenv.AppOf(h.Unit) != app })
}

// traceHooks returns the hooks of the trace (none before the first hook wrote it).
func traceHooks(b *testing.B, trace string) []hookenv.HookTrace {
	f, err := os.Open(trace)
	if os.IsNotExist(err) {
		return nil
	}
	must(b, err)
	defer f.Close()
	all, err := hookenv.ParseTrace(f)
	must(b, err)
	return all
}

// hasSpan reports whether the hook traced a span of the charm's own work named name.
func hasSpan(h hookenv.HookTrace, name string) bool {
	return slices.ContainsFunc(h.Spans, func(s hookenv.Span) bool { return strings.ReplaceAll(s.Tool, "_", " ") == name })
}

// minPerUnit is the fewest hooks any of the n units ran (0 while one has run none).
func minPerUnit(hooks []hookenv.HookTrace, n int) int {
	count := map[string]int{}
	for _, h := range hooks {
		count[h.Unit]++
	}
	if len(count) < n {
		return 0
	}
	least := len(hooks)
	for _, c := range count {
		least = min(least, c)
	}
	return least
}

func describeCalls(calls []hookenv.Span) string {
	s := slices.Clone(calls)
	slices.SortFunc(s, func(a, b hookenv.Span) int { return cmp.Compare(a.Start, b.Start) })
	parts := make([]string, len(s))
	for i, c := range s {
		parts[i] = fmt.Sprintf("%s@%.1f-%.1f", c.Tool, ms(c.Start), ms(c.End))
	}
	return strings.Join(parts, " ")
}
