package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/controller"
	"github.com/jujulet/postgresql-k8s/internal/localsock"
)

// child is a process the test started: a stand-in controller or pod.
type child struct {
	pid    int
	exited chan error
}

// TestStandIn is not a test: run by startChild, it sleeps as a stand-in process whose
// command line looks like the controller's or a Pebble's (pid files are only trusted for
// those).
func TestStandIn(t *testing.T) {
	if os.Getenv("JUJULET_STAND_IN") == "" {
		t.Skip("stand-in process")
	}
	time.Sleep(10 * time.Minute)
}

// startChild starts a stand-in: a Pebble (in a session of its own) when setsid, else a
// controller daemon.
func startChild(t *testing.T, setsid bool) *child {
	t.Helper()
	as := []string{"controller-daemon"}
	if setsid {
		as = []string{"pebble", "run"}
	}
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestStandIn$", "--"}, as...)...)
	cmd.Env = append(os.Environ(), "JUJULET_STAND_IN=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: setsid}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{pid: cmd.Process.Pid, exited: make(chan error, 1)}
	go func() { c.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(c.pid, syscall.SIGKILL)
	})
	return c
}

// signal waits for the child to end and returns the signal that ended it.
func (c *child) signal(t *testing.T) syscall.Signal {
	t.Helper()
	select {
	case err := <-c.exited:
		c.exited <- err
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("process %d: %v, want ended by a signal", c.pid, err)
		}
		ws := ee.Sys().(syscall.WaitStatus)
		if !ws.Signaled() {
			t.Fatalf("process %d exited with %d, want ended by a signal", c.pid, ws.ExitStatus())
		}
		return ws.Signal()
	case <-time.After(time.Minute):
		t.Fatalf("process %d still runs", c.pid)
	}
	return 0
}

// fakePod makes child the Pebble of container workload of a unit's pod in home. pod.Kill
// kills the Pebble's session, so the child must lead its own.
func fakePod(t *testing.T, home string, c *child) {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(stat)[strings.LastIndexByte(string(stat), ')')+1:])
	if len(f) < 4 || f[3] != strconv.Itoa(c.pid) {
		t.Fatalf("pod stand-in %d does not lead its session: %s", c.pid, stat)
	}
	dir := filepath.Join(home, "units", "7", "c", "workload")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pebble.pid"), []byte(strconv.Itoa(c.pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// fakeController serves the API socket of home: onKill runs for the kill call (and may
// block until the caller gives up).
func fakeController(t *testing.T, home string, pid int, onKill func(r *http.Request)) {
	t.Helper()
	if err := os.WriteFile(controller.PidPath(home), []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := localsock.Listen(controller.SocketPath(home))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), `"method":"kill"`) {
			onKill(r)
		}
		_, _ = io.WriteString(w, `{}`)
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
}

func TestKillControllerTimeout(t *testing.T) {
	tests := []struct {
		name string
		args []string
		// onKill is the controller's answer to kill, given its stand-in process.
		onKill func(controller *child) func(*http.Request)
		// the signals that end the controller and the pod.
		controllerSig, podSig syscall.Signal
		forced                bool
	}{{
		name: "controller stops in time",
		args: []string{"-y"}, // Juju's default timeout, 5 minutes
		onKill: func(c *child) func(*http.Request) {
			return func(*http.Request) { _ = syscall.Kill(c.pid, syscall.SIGTERM) }
		},
		// The controller exits without stopping the pod: kill-controller stops it.
		controllerSig: syscall.SIGTERM, podSig: syscall.SIGTERM,
	}, {
		name:   "controller does not stop",
		args:   []string{"-y", "--timeout", "300ms"},
		onKill: func(*child) func(*http.Request) { return func(*http.Request) {} },
		// Forced: the controller and the pod are killed.
		controllerSig: syscall.SIGKILL, podSig: syscall.SIGKILL, forced: true,
	}, {
		name: "controller does not answer",
		args: []string{"--no-prompt", "-t", "300ms"},
		onKill: func(*child) func(*http.Request) {
			return func(r *http.Request) { <-r.Context().Done() }
		},
		controllerSig: syscall.SIGKILL, podSig: syscall.SIGKILL, forced: true,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			t.Setenv("JUJULET_HOME", home)
			ctl, pod := startChild(t, false), startChild(t, true)
			fakePod(t, home, pod)
			fakeController(t, home, ctl.pid, tc.onKill(ctl))

			var stdout, stderr bytes.Buffer
			code := Main(append([]string{"kill-controller"}, tc.args...), strings.NewReader(""), &stdout, &stderr)
			if code != 0 {
				t.Fatalf("kill-controller %v: exit %d\n%s", tc.args, code, stderr.String())
			}
			if got := ctl.signal(t); got != tc.controllerSig {
				t.Errorf("controller ended by %v, want %v", got, tc.controllerSig)
			}
			if got := pod.signal(t); got != tc.podSig {
				t.Errorf("pod ended by %v, want %v", got, tc.podSig)
			}
			if forced := strings.Contains(stderr.String(), "did not stop within"); forced != tc.forced {
				t.Errorf("forced %v, want %v; stderr:\n%s", forced, tc.forced, stderr.String())
			}
			if !strings.HasSuffix(stderr.String(), "Controller \"jujulet\" destroyed\n") {
				t.Errorf("stderr:\n%s", stderr.String())
			}
			for _, p := range []string{"units", "controller.pid"} {
				if _, err := os.Stat(filepath.Join(home, p)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s left behind: %v", p, err)
				}
			}
		})
	}
}

func TestKillControllerWithoutController(t *testing.T) {
	t.Setenv("JUJULET_HOME", filepath.Join(t.TempDir(), "none"))
	var stderr bytes.Buffer
	if code := Main([]string{"kill-controller", "-y", "--timeout", "1s"}, strings.NewReader(""), io.Discard, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), `controller "jujulet" not found`) {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
	if code := Main([]string{"kill-controller", "--timeout", "soon"}, strings.NewReader(""), io.Discard, &stderr); code != 2 {
		t.Errorf("a bad --timeout: exit %d, want 2 (usage)", code)
	}
}
