package controller_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Binaries built once for the whole package.
var (
	jujuletBin string
	pebbleBin  string
	repoRoot   string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Join(filepath.Dir(file), "..", "..")
	dir, err := os.MkdirTemp("", "jlbin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// make test passes JUJULET_BIN (bin/ with jujulet and pebble); otherwise build both.
	jujuletBin = filepath.Join(dir, "jujulet")
	if b := os.Getenv("JUJULET_BIN"); b != "" {
		jujuletBin = filepath.Join(b, "jujulet")
		if os.Getenv("JUJULET_PEBBLE") == "" {
			os.Setenv("JUJULET_PEBBLE", filepath.Join(b, "pebble"))
		}
	} else {
		// jujuc beside jujulet, as `make build` installs it: the hook tools link to it.
		for _, b := range []struct{ out, pkg string }{{jujuletBin, "./cmd/jujulet"}, {filepath.Join(dir, "jujuc"), "./cmd/jujuc"}} {
			build := exec.Command("go", "build", "-o", b.out, b.pkg)
			build.Dir = repoRoot
			if out, err := build.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "building %s: %v\n%s", b.pkg, err, out)
				return 1
			}
		}
	}
	pebbleBin = os.Getenv("JUJULET_PEBBLE")
	if pebbleBin == "" {
		pebbleBin = filepath.Join(dir, "pebble")
		cmd := exec.Command("go", "build", "-o", pebbleBin, "github.com/canonical/pebble/cmd/pebble")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building pebble: %v\n%s", err, out)
			return 1
		}
	}
	return m.Run()
}

// env is one controller under test.
type env struct {
	t       testing.TB
	home    string
	hookLog string
	charm   string
	models  []string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	home, err := os.MkdirTemp("", "jl")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, home: home, hookLog: filepath.Join(home, "hooks.log"),
		charm: filepath.Join(repoRoot, "tests", "testdata", "charms", "bashcharm")}
	e.must("bootstrap")
	t.Cleanup(func() {
		e.juju("kill-controller", "-y")
		if !t.Failed() {
			os.RemoveAll(home)
		} else {
			t.Logf("controller home kept at %s", home)
		}
	})
	return e
}

func (e *env) juju(args ...string) (string, string, int) {
	cmd := exec.Command(jujuletBin, args...)
	cmd.Env = append(os.Environ(), "JUJULET_HOME="+e.home, "JUJULET_PEBBLE="+pebbleBin, "JUJULET_LEASE=3s")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("running jujulet %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func (e *env) must(args ...string) string {
	e.t.Helper()
	out, errs, code := e.juju(args...)
	if code != 0 {
		e.t.Fatalf("jujulet %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func (e *env) fails(wantErr string, args ...string) {
	e.t.Helper()
	out, errs, code := e.juju(args...)
	if code == 0 {
		e.t.Fatalf("jujulet %s succeeded, want error %q\nstdout: %s", strings.Join(args, " "), wantErr, out)
	}
	if !strings.Contains(errs, "ERROR") || !strings.Contains(errs, wantErr) {
		e.t.Fatalf("jujulet %s: stderr %q, want ERROR containing %q", strings.Join(args, " "), errs, wantErr)
	}
}

// deploy deploys the bash test charm with the hook log.
func (e *env) deploy(model, name string, extra ...string) {
	e.t.Helper()
	args := append([]string{"deploy", "-m", model, e.charm, name, "--config", "log-file=" + e.hookLog}, extra...)
	e.must(args...)
}

func (e *env) addModel(name string) {
	e.t.Helper()
	e.must("add-model", name)
	e.models = append(e.models, name)
	e.must("model-config", "-m", name, "update-status-hook-interval=2s")
}

type status struct {
	Applications map[string]struct {
		Scale     int    `json:"scale"`
		Life      string `json:"life"`
		AppStatus struct {
			Current string `json:"current"`
		} `json:"application-status"`
		CharmChannel string `json:"charm-channel"`
		Units        map[string]struct {
			Workload struct {
				Current string `json:"current"`
				Message string `json:"message"`
			} `json:"workload-status"`
			Agent struct {
				Current string `json:"current"`
				Message string `json:"message"`
			} `json:"juju-status"`
			Leader  bool   `json:"leader"`
			Address string `json:"address"`
		} `json:"units"`
	} `json:"applications"`
	SAAS   map[string]any `json:"application-endpoints"`
	Offers map[string]any `json:"offers"`
}

func (e *env) status(model string) status {
	e.t.Helper()
	var s status
	if err := json.Unmarshal([]byte(e.must("status", "-m", model, "--format", "json")), &s); err != nil {
		e.t.Fatalf("decoding status: %v", err)
	}
	return s
}

// eventually polls cond until it holds or the deadline passes.
func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			var logs strings.Builder
			for _, m := range e.models {
				out, _, _ := e.juju("debug-log", "-m", m, "--replay", "--no-tail", "--level", "WARNING")
				st, _, _ := e.juju("status", "-m", m)
				logs.WriteString(st + out)
			}
			e.t.Fatalf("timed out waiting for %s\nwarnings:\n%s", what, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hooks returns the hook log lines of unit (all units if empty), as "<hook> k=v..." strings.
func (e *env) hooks(unit string) []string {
	data, _ := os.ReadFile(e.hookLog)
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		u, rest, ok := strings.Cut(l, " ")
		if !ok || (unit != "" && u != unit) {
			continue
		}
		if unit == "" {
			out = append(out, l)
		} else {
			out = append(out, rest)
		}
	}
	return out
}

func hookNames(lines []string) []string {
	var out []string
	for _, l := range lines {
		h, _, _ := strings.Cut(l, " ")
		if h != "update-status" {
			out = append(out, h)
		}
	}
	return out
}

func (e *env) ran(unit, prefix string) bool {
	for _, l := range e.hooks(unit) {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func (e *env) unitActive(model, unit string) bool {
	s := e.status(model)
	a, ok := s.Applications[strings.Split(unit, "/")[0]]
	if !ok {
		return false
	}
	u, ok := a.Units[unit]
	return ok && u.Workload.Current == "active" && u.Agent.Current == "idle"
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

func filepathGlob(p string) ([]string, error) { return filepath.Glob(p) }
