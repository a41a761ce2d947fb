package pidfile_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/pidfile"
)

func isSleep(argv []string) bool { return filepath.Base(argv[0]) == "sleep" }

func TestRead(t *testing.T) {
	cmd := exec.Command("sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	dir := t.TempDir()
	path := filepath.Join(dir, "x.pid")
	if err := pidfile.Write(path, cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if got := pidfile.Read(path, isSleep); got != cmd.Process.Pid {
		t.Errorf("Read = %d, want %d", got, cmd.Process.Pid)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", info.Mode())
	}
	tests := []struct {
		name  string
		setup func() // makes path stale
		match func([]string) bool
	}{
		{"another program has the pid", func() {}, func(argv []string) bool { return slices.Contains(argv, "controller-daemon") }},
		{"the process started after the file was written (a recycled pid)", func() {
			old := time.Now().Add(-time.Hour)
			_ = os.Chtimes(path, old, old)
		}, isSleep},
		{"garbage", func() { _ = os.WriteFile(path, []byte("12x\n"), 0o600) }, isSleep},
		{"pid 1", func() { _ = os.WriteFile(path, []byte("1\n"), 0o600) }, func([]string) bool { return true }},
		{"no file", func() { _ = os.Remove(path) }, isSleep},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_ = pidfile.Write(path, cmd.Process.Pid)
			tc.setup()
			if got := pidfile.Read(path, tc.match); got != 0 {
				t.Errorf("Read = %d, want 0", got)
			}
		})
	}
	// A process that has exited is not read either.
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	_ = pidfile.Write(path, cmd.Process.Pid)
	if got := pidfile.Read(path, isSleep); got != 0 {
		t.Errorf("Read of an exited process = %d", got)
	}
}

func TestStartTime(t *testing.T) {
	start, err := pidfile.StartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < -2*time.Second || d > 10*time.Minute {
		t.Errorf("this test process started %s ago", d)
	}
}
