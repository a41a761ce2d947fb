package controller_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
)

func (e *env) modelUUID(name string) string {
	var r struct {
		Models []struct {
			Short string `json:"short-name"`
			UUID  string `json:"model-uuid"`
		} `json:"models"`
	}
	if err := json.Unmarshal([]byte(e.must("models", "--format", "json")), &r); err != nil {
		e.t.Fatal(err)
	}
	for _, m := range r.Models {
		if m.Short == name {
			return m.UUID
		}
	}
	e.t.Fatalf("model %s not found", name)
	return ""
}

// countRan counts `ran "<hook>" hook` lines of a model in the controller's log.
func countRan(tb testing.TB, s *st.Store, model, hook string) int {
	logs, err := s.Logs(model, 0, 0)
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, l := range logs {
		if strings.Contains(l.Message, `ran "`+hook+`" hook`) {
			n++
		}
	}
	return n
}

// BenchmarkNoopHook measures the runtime's overhead per hook: decide, record in progress,
// build the environment, exec dispatch (which calls one hook tool over the unit socket),
// commit. Reported as ms/hook.
func BenchmarkNoopHook(b *testing.B) {
	e := newEnv(b)
	e.addModel("bench")
	e.must("deploy", "-m", "bench", filepath.Join(repoRoot, "tests", "testdata", "charms", "noop"), "n1")
	e.eventually("active", func() bool { return e.unitActive("bench", "n1/0") })
	store, err := st.Open(e.home)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	uuid := e.modelUUID("bench")
	// Below model-config's 1s floor, written straight into the store, so that update-status
	// hooks run back to back. The agent sees it at its next poll; the clock starts at the
	// first hook after that.
	if err := store.Update(func(t *st.Tx) error {
		m, err := t.Model(uuid)
		if err != nil {
			return err
		}
		m.Config["update-status-hook-interval"] = "1ns"
		t.PutModel(m)
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	base := countRan(b, store, uuid, "update-status")
	e.eventually("first hook", func() bool { return countRan(b, store, uuid, "update-status") > base })
	b.ResetTimer()
	start := time.Now()
	base = countRan(b, store, uuid, "update-status")
	e.eventually("hooks ran", func() bool { return countRan(b, store, uuid, "update-status")-base >= b.N })
	elapsed := time.Since(start)
	e.must("model-config", "-m", "bench", "update-status-hook-interval=1h")
	b.StopTimer()
	b.ReportMetric(float64(elapsed.Microseconds())/1000/float64(b.N), "ms/hook")
}

// BenchmarkDeploy20Units measures deploy → 20 units active for a trivial charm.
func BenchmarkDeploy20Units(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b)
		e.addModel("bench")
		b.StartTimer()
		start := time.Now()
		e.must("deploy", "-m", "bench", filepath.Join(repoRoot, "tests", "testdata", "charms", "noop"), "n20", "-n", "20")
		e.eventually("20 active units", func() bool {
			s := e.status("bench")
			n := 0
			for _, u := range s.Applications["n20"].Units {
				if u.Workload.Current == "active" && u.Agent.Current == "idle" {
					n++
				}
			}
			return n == 20
		})
		b.ReportMetric(time.Since(start).Seconds(), "s/deploy")
		b.StopTimer()
		e.juju("kill-controller", "-y") // each iteration's controller goes before the next
		b.StartTimer()
	}
}
