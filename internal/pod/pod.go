// Package pod runs a unit's workload "containers": one detached `pebble run --hold`
// process per container, each with its own directory tree under the unit's containers
// dir (see docs/SEAMS.md), surviving controller restarts.
package pod

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/canonical/pebble/client"

	"github.com/jujulet/postgresql-k8s/internal/pidfile"
)

// Spec describes one unit's pod.
type Spec struct {
	// Dir is the unit's containers dir (JUJULET_CONTAINERS_DIR).
	Dir string
	// Containers maps container name to its storage mount locations.
	Containers map[string][]string
	// Pebble is the pebble binary.
	Pebble string
}

// Socket returns the Pebble socket of container c.
func Socket(dir, c string) string { return filepath.Join(dir, c, "pebble.socket") }

// Rootfs returns the root directory of container c.
func Rootfs(dir, c string) string { return filepath.Join(dir, c, "rootfs") }

func pidFile(dir, c string) string { return filepath.Join(dir, c, "pebble.pid") }

// FindPebble locates the pebble binary: $JUJULET_PEBBLE, beside self, then PATH.
func FindPebble() (string, error) {
	if p := os.Getenv("JUJULET_PEBBLE"); p != "" {
		return p, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "pebble")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("pebble")
	if err != nil {
		return "", fmt.Errorf("pebble not found (set JUJULET_PEBBLE or put it beside jujulet): %w", err)
	}
	return p, nil
}

// Prepare creates a container's directory tree (idempotent).
func Prepare(dir, c string, mounts []string) error {
	root := Rootfs(dir, c)
	if err := os.MkdirAll(root, 0o711); err != nil {
		return fmt.Errorf("creating rootfs: %w", err)
	}
	_ = os.Chmod(filepath.Join(dir), 0o711)
	_ = os.Chmod(filepath.Join(dir, c), 0o711)
	for _, d := range []string{"usr", "bin", "sbin", "lib", "lib64", "etc"} {
		p := filepath.Join(root, d)
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if _, err := os.Stat("/" + d); err != nil {
			continue
		}
		if err := os.Symlink("/"+d, p); err != nil {
			return fmt.Errorf("linking %s: %w", p, err)
		}
	}
	for _, d := range []string{"var", "tmp", "run", "home"} {
		mode := os.FileMode(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		p := filepath.Join(root, d)
		if err := os.MkdirAll(p, mode); err != nil {
			return fmt.Errorf("creating %s: %w", p, err)
		}
		_ = os.Chmod(p, mode)
	}
	for _, m := range mounts {
		p := filepath.Join(root, filepath.Clean("/"+m))
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("creating mount %s: %w", p, err)
		}
	}
	return nil
}

// Alive reports whether container c's Pebble runs and answers on its socket.
func Alive(dir, c string) bool {
	pid := readPid(dir, c)
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	if cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err != nil || !strings.Contains(string(cmd), "pebble") {
		return false
	}
	conn, err := net.DialTimeout("unix", Socket(dir, c), time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// readPid is the pid of container c's Pebble, 0 if it does not run: the pid file is
// trusted only while its process is a Pebble started before the file was written, so a
// recycled pid is never signalled.
func readPid(dir, c string) int { return pidfile.Read(pidFile(dir, c), isPebble) }

func isPebble(argv []string) bool {
	return len(argv) > 1 && slices.Contains(argv[1:], "run") &&
		slices.ContainsFunc(argv, func(a string) bool { return filepath.Base(a) == "pebble" })
}

// Ensure starts every container's Pebble that is not running. It returns the
// containers it (re)started.
func Ensure(ctx context.Context, s Spec) ([]string, error) {
	var started []string
	for c, mounts := range s.Containers {
		if err := Prepare(s.Dir, c, mounts); err != nil {
			return started, err
		}
		if Alive(s.Dir, c) {
			continue
		}
		if err := start(ctx, s, c); err != nil {
			return started, fmt.Errorf("starting pebble for %s: %w", c, err)
		}
		started = append(started, c)
	}
	return started, nil
}

func start(ctx context.Context, s Spec, c string) error {
	cdir := filepath.Join(s.Dir, c)
	if pid := readPid(s.Dir, c); pid > 0 && syscall.Kill(pid, 0) == nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = os.Remove(Socket(s.Dir, c))
	logf, err := os.OpenFile(filepath.Join(cdir, "pebble.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(s.Pebble, "run", "--hold", "--create-dirs", "--verbose")
	cmd.Env = append(os.Environ(), "PEBBLE="+cdir, "PEBBLE_SOCKET="+Socket(s.Dir, c))
	cmd.Dir = Rootfs(s.Dir, c)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	if err := pidfile.Write(pidFile(s.Dir, c), cmd.Process.Pid); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for !Alive(s.Dir, c) {
		if time.Now().After(deadline) {
			return errors.New("pebble did not come up within 30s")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// Client returns a Pebble client for container c.
func Client(dir, c string) (*client.Client, error) {
	return client.New(&client.Config{Socket: Socket(dir, c)})
}

// BootID returns container c's Pebble boot id.
func BootID(dir, c string) (string, error) {
	cl, err := Client(dir, c)
	if err != nil {
		return "", err
	}
	defer cl.CloseIdleConnections()
	info, err := cl.SysInfo()
	if err != nil {
		return "", err
	}
	// Pebble's boot id is the kernel's; a container boot is one Pebble process, so the
	// id also names the process (pid and start time).
	pid := readPid(dir, c)
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", fmt.Errorf("reading pebble process: %w", err)
	}
	start := ""
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 {
		if f := strings.Fields(string(stat)[i+1:]); len(f) > 19 {
			start = f[19]
		}
	}
	return fmt.Sprintf("%s-%d-%s", info.BootID, pid, start), nil
}

// sessionPids lists the processes of session sid (Pebble and every service it started:
// Pebble runs in its own session and its services in their own process groups of it).
func sessionPids(sid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat)[i+1:])
		// fields after the command: state ppid pgrp session ...
		if len(f) > 3 && f[3] == strconv.Itoa(sid) {
			out = append(out, pid)
		}
	}
	return out
}

// Kill sends SIGKILL to every process of every container of the pod (pod loss).
func Kill(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		pid := readPid(dir, e.Name())
		if pid <= 0 {
			continue
		}
		for _, p := range sessionPids(pid) {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
}

// Stop stops every container's Pebble (which stops its services), then kills whatever
// of the pod is left.
func Stop(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		pid := readPid(dir, e.Name())
		if pid <= 0 {
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(10 * time.Second)
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		for _, p := range sessionPids(pid) {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
		_ = os.Remove(pidFile(dir, e.Name()))
	}
}
