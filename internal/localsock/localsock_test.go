package localsock_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jujulet/postgresql-k8s/internal/localsock"
)

func TestListen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	// A directory others could enter, and a stale socket file: both are fixed.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "a.sock")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := localsock.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", p, info.Mode().Perm(), want)
		}
	}
	go func() {
		c, err := net.Dial("unix", path)
		if err == nil {
			_, _ = c.Write([]byte("x"))
			c.Close()
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("a connection of the same user: %v", err)
	}
	uid, err := localsock.PeerUID(c.(*net.UnixConn))
	if err != nil || uid != os.Getuid() {
		t.Errorf("PeerUID = %d, %v", uid, err)
	}
	c.Close()
}

// TestHelperDial is not a test: run by TestOtherUserRefused as another user, it connects
// to $DIAL and reports on stdout whether the listener answered.
func TestHelperDial(t *testing.T) {
	path := os.Getenv("LOCALSOCK_DIAL")
	if path == "" {
		t.Skip("helper")
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		os.Stdout.WriteString("dial: " + err.Error())
		return
	}
	defer c.Close()
	b := make([]byte, 2)
	if n, _ := c.Read(b); n > 0 {
		os.Stdout.WriteString("answered")
		return
	}
	os.Stdout.WriteString("closed")
}

// TestOtherUserRefused: even with the directory and socket opened up, a process of another
// user is closed unanswered (SO_PEERCRED) while the owner's next connection is served.
func TestOtherUserRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a process as another user")
	}
	dir := filepath.Join(t.TempDir(), "run")
	path := filepath.Join(dir, "a.sock")
	ln, err := localsock.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for p, mode := range map[string]os.FileMode{filepath.Dir(dir): 0o711, dir: 0o711, path: 0o666} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("ok"))
			c.Close()
		}
	}()
	// The helper is a copy of this test binary the other user can run.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(filepath.Dir(dir), "helper.test")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(filepath.Dir(dir)), 0o711); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestHelperDial$")
	cmd.Env = []string{"LOCALSOCK_DIAL=" + path}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("helper: %v", err)
	}
	if !strings.HasPrefix(string(out), "closed") {
		t.Errorf("another user's connection: %q, want closed unanswered", out)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := make([]byte, 2)
	if n, _ := c.Read(b); string(b[:n]) != "ok" {
		t.Errorf("the owner's connection got %q", b[:n])
	}
}
