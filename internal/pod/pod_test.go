package pod

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

var pebbleBin string

func TestMain(m *testing.M) {
	pebbleBin = os.Getenv("JUJULET_PEBBLE")
	if pebbleBin == "" && os.Getenv("JUJULET_BIN") != "" {
		pebbleBin = filepath.Join(os.Getenv("JUJULET_BIN"), "pebble")
	}
	if pebbleBin == "" {
		dir, err := os.MkdirTemp("", "pebblebin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pebbleBin = filepath.Join(dir, "pebble")
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command("go", "build", "-o", pebbleBin, "github.com/canonical/pebble/cmd/pebble")
		cmd.Dir = filepath.Dir(file)
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building pebble: %v\n%s", err, out)
			os.Exit(1)
		}
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func TestPodLifecycle(t *testing.T) {
	dir, err := os.MkdirTemp("", "pod")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	spec := Spec{Dir: dir, Containers: map[string][]string{"w": {"/var/lib/data"}}, Pebble: pebbleBin}
	ctx := context.Background()
	defer Stop(dir)
	started, err := Ensure(ctx, spec)
	if err != nil || len(started) != 1 {
		t.Fatalf("Ensure = %v, %v", started, err)
	}
	for _, p := range []string{"rootfs/usr", "rootfs/tmp", "rootfs/var/lib/data", "pebble.socket"} {
		if _, err := os.Lstat(filepath.Join(dir, "w", p)); err != nil {
			t.Errorf("missing %s: %v", p, err)
		}
	}
	if err := os.WriteFile(filepath.Join(Rootfs(dir, "w"), "var/lib/data/keep"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	boot1, err := BootID(dir, "w")
	if err != nil || boot1 == "" {
		t.Fatalf("BootID = %q, %v", boot1, err)
	}
	// A second Ensure re-attaches: nothing started, same boot.
	if started, err := Ensure(ctx, spec); err != nil || len(started) != 0 {
		t.Fatalf("re-Ensure = %v, %v", started, err)
	}
	Kill(dir)
	deadline := time.Now().Add(10 * time.Second)
	for Alive(dir, "w") {
		if time.Now().After(deadline) {
			t.Fatal("pod still alive after Kill")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if started, err := Ensure(ctx, spec); err != nil || len(started) != 1 {
		t.Fatalf("Ensure after kill = %v, %v", started, err)
	}
	boot2, err := BootID(dir, "w")
	if err != nil || boot2 == boot1 {
		t.Errorf("boot id after restart %q (before %q), %v", boot2, boot1, err)
	}
	if _, err := os.Stat(filepath.Join(Rootfs(dir, "w"), "var/lib/data/keep")); err != nil {
		t.Errorf("storage lost across pod restart: %v", err)
	}
	Stop(dir)
	if Alive(dir, "w") {
		t.Errorf("alive after Stop")
	}
}
