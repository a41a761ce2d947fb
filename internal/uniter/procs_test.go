package uniter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
)

// startGroup starts a shell in its own process group, with a background child, carrying
// context id ctxID; the processes are reaped at the end of the test.
func startGroup(t *testing.T, ctxID string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", "sleep 300 & wait")
	cmd.Env = []string{"JUJU_CONTEXT_ID=" + ctxID, "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	// Wait for the background sleep to exist.
	deadline := time.Now().Add(5 * time.Second)
	for len(groupMembers(cmd.Process.Pid, []byte("JUJU_CONTEXT_ID="+ctxID))) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the hook's background child did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cmd
}

// TestKillStrayHook: the agent that follows a killed controller kills every process of
// the interrupted hook's group, and nothing else.
func TestKillStrayHook(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stray := startGroup(t, "a-0-install-1")
	other := startGroup(t, "a-0-install-2")
	path := filepath.Join(t.TempDir(), "hook.pgid")
	if err := recordHookGroup(path, stray.Process.Pid, "a-0-install-1"); err != nil {
		t.Fatal(err)
	}
	if err := killStrayHook(ctx, path); err != nil {
		t.Fatal(err)
	}
	if left := groupMembers(stray.Process.Pid, []byte("JUJU_CONTEXT_ID=a-0-install-1")); len(left) != 0 {
		t.Errorf("processes %v of the interrupted hook still run", left)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the record is left: %v", err)
	}
	if n := len(groupMembers(other.Process.Pid, []byte("JUJU_CONTEXT_ID=a-0-install-2"))); n != 2 {
		t.Errorf("another hook's group has %d processes left, want 2", n)
	}

	// A record whose group now belongs to processes of another context kills nothing.
	if err := recordHookGroup(path, other.Process.Pid, "a-0-install-1"); err != nil {
		t.Fatal(err)
	}
	if err := killStrayHook(ctx, path); err != nil {
		t.Fatal(err)
	}
	if n := len(groupMembers(other.Process.Pid, []byte("JUJU_CONTEXT_ID=a-0-install-2"))); n != 2 {
		t.Errorf("a recycled group id killed %d unrelated processes", 2-n)
	}
	// No record: nothing to do.
	if err := killStrayHook(ctx, path); err != nil {
		t.Errorf("no record: %v", err)
	}
}

// TestExecuteRecordsHookGroup: while a hook runs its group is recorded, and the record
// goes when it ends.
func TestExecuteRecordsHookGroup(t *testing.T) {
	u, _ := faultUnit(t)
	// The record is written just after the hook starts: wait for it (bounded) before reading.
	f := u.hookGroupFile()
	script := "#!/bin/sh\nfor i in $(seq 500); do [ -s " + f + " ] && break; sleep 0.01; done\ncat " + f + " > " + filepath.Join(u.dir, "seen") + "\n"
	if err := os.WriteFile(filepath.Join(u.charmDir(), "dispatch"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if code, _, _, err := u.execute(context.Background(), u.newContext(&st.Hook{Kind: "install", Name: "install"}, nil)); code != 0 || err != nil {
		t.Fatalf("execute: %d %v", code, err)
	}
	b, err := os.ReadFile(filepath.Join(u.dir, "seen"))
	if err != nil || len(b) == 0 {
		t.Fatalf("the hook saw no record: %q %v", b, err)
	}
	if _, err := os.Stat(u.hookGroupFile()); !os.IsNotExist(err) {
		t.Errorf("the record outlives the hook: %v", err)
	}
}

// TestRestartKillsStrayHookFirst: an agent started after a controller was killed mid-hook
// kills what is left of the hook before it runs the hook again.
func TestRestartKillsStrayHookFirst(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	stray := startGroup(t, "a-0-install-old")
	ran := filepath.Join(dir, "ran")
	files := map[string]string{
		"metadata.yaml": "name: a\nsummary: s\ndescription: d\n",
		// The re-run hook reports whether the old one's processes still run.
		"dispatch": fmt.Sprintf("#!/bin/sh\nif kill -0 %d 2>/dev/null; then s=alive; else s=gone; fi\necho \"$JUJU_HOOK_NAME old-hook-$s\" >> %s\n",
			stray.Process.Pid, ran),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s, err := st.Open(filepath.Join(dir, "home"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	install := &st.Hook{Kind: "install", Name: "install"}
	err = s.Update(func(tx *st.Tx) error {
		tx.PutModel(&st.Model{UUID: "m", Name: "m", Life: st.Alive, Config: map[string]string{}})
		tx.PutApp(&st.App{Model: "m", Name: "a", CharmDir: src, Life: st.Alive, Leader: "a/0"})
		tx.PutUnit(&st.Unit{Model: "m", App: "a", Name: "a/0", ID: 3, Life: st.Alive, InProgress: install,
			Local: st.Local{ConfigVersion: -1, LeaderVersion: -1}})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(UnitDir(home, 3), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := recordHookGroup(filepath.Join(UnitDir(home, 3), "hook.pgid"), stray.Process.Pid, "a-0-install-old"); err != nil {
		t.Fatal(err)
	}
	u := New(Config{Store: s, Model: "m", Unit: "a/0", Home: home, Jujulet: "/bin/true", PollInterval: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, _ := os.ReadFile(ran); len(b) > 0 {
			if got := string(b); !strings.HasPrefix(got, "install old-hook-gone\n") {
				t.Errorf("the re-run hook saw %q, want the old hook's processes gone", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("install was not re-run")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Run: %v", err)
	}
}
