// Package pgtest runs real workload containers for tests: a Pebble daemon (built from the
// pinned module) per unit, laid out the way jujulet lays them out (JUJULET_CONTAINERS_DIR:
// <dir>/<container>/{pebble.socket,rootfs}), so that internal/postgres and the charm can be
// tested against real PostgreSQL binaries of the machine.
package pgtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// BuildPebble builds Pebble into dir and returns its path.
func BuildPebble(dir string) (string, error) {
	bin := filepath.Join(dir, "pebble")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/canonical/pebble/cmd/pebble")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build pebble: %w", err)
	}
	return bin, nil
}

// HavePostgres reports whether Debian's PostgreSQL binaries are installed.
func HavePostgres() bool {
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	return len(m) > 0
}

// RequireEnv is set by `make test`: there an end-to-end test whose prerequisites (jujulet's
// binaries, PostgreSQL's) are missing fails instead of skipping, so that a green run means
// that every end-to-end test ran. A plain `go test ./...` still skips them.
const RequireEnv = "JUJULET_REQUIRE_E2E"

// Unavailable ends a test that cannot run here for reason: a skip, or a failure when
// RequireEnv is set.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("%s (%s is set, as under `make test`: end-to-end tests must run, not skip)", reason, RequireEnv)
	}
	t.Skip(reason)
}

// NoPostgres is the reason given when HavePostgres is false.
const NoPostgres = "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/postgres): run scripts/setup.sh"

// Container is one running workload container.
type Container struct {
	ContainersDir string // the JUJULET_CONTAINERS_DIR value
	Socket        string
	Root          string
	cmd           *exec.Cmd
	logPath       string
	done          chan struct{}
	once          sync.Once
}

// Crash kills the Pebble daemon with SIGKILL, leaving its services (own process groups)
// running as orphans, and starts a new Pebble on the same directories: a pod whose Pebble
// restarted while PostgreSQL survived.
func (c *Container) Crash(t testing.TB) {
	t.Helper()
	_ = c.cmd.Process.Kill()
	<-c.done
	cmd := exec.Command(c.cmd.Path, c.cmd.Args[1:]...)
	cmd.Env, cmd.Stdout, cmd.Stderr = c.cmd.Env, c.cmd.Stdout, c.cmd.Stderr
	_ = os.Remove(c.Socket)
	logf, err := os.OpenFile(c.logPath, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.cmd, c.done, c.once = cmd, make(chan struct{}), sync.Once{}
	done := c.done
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
}

// Kill stops the Pebble daemon with SIGTERM (its services are stopped by it) and waits.
func (c *Container) Kill() {
	c.once.Do(func() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		<-c.done
	})
}

// Start lays out a container named name with a storage mount at mount and runs Pebble
// (--hold --create-dirs). Directories are 0711 so that the postgres user can reach the data.
// beforeKill runs in cleanup before Pebble is stopped (e.g. a fast shutdown of PostgreSQL).
func Start(t testing.TB, pebbleBin, name, mount string, beforeKill func()) *Container {
	t.Helper()
	base, err := os.MkdirTemp("", "pgt-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	containers := filepath.Join(base, "containers")
	cdir := filepath.Join(containers, name)
	rootfs := filepath.Join(cdir, "rootfs")
	for _, d := range []string{"var", "tmp", "run", "home", mount} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o711); err != nil {
			t.Fatal(err)
		}
	}
	for p := filepath.Join(rootfs, mount); strings.HasPrefix(p, base); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(rootfs, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"usr", "bin", "sbin", "lib", "lib64", "etc"} {
		if _, err := os.Stat("/" + l); err == nil {
			if err := os.Symlink("/"+l, filepath.Join(rootfs, l)); err != nil {
				t.Fatal(err)
			}
		}
	}
	socket := filepath.Join(cdir, "pebble.socket")
	// --verbose: service output (PostgreSQL's own log) goes to the log shown on failure.
	cmd := exec.Command(pebbleBin, "run", "--hold", "--create-dirs", "--verbose")
	cmd.Env = append(os.Environ(), "PEBBLE="+filepath.Join(cdir, "pebble"), "PEBBLE_SOCKET="+socket)
	logPath := filepath.Join(base, "pebble.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &Container{ContainersDir: containers, Socket: socket, Root: rootfs, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	done := c.done
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		if beforeKill != nil {
			beforeKill()
		}
		c.Kill()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("pebble log of %s:\n%s", base, b)
		}
	})
	return c
}
