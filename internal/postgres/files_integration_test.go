package postgres

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

// The passfile is written once: a hook that finds it holding the entries, with its mode,
// leaves it (Pebble's atomic write replaces the file, so a write shows as a new inode); a
// change of entries or of mode is written. A missing private dir is created (0700).
func TestPassfileWrittenOnlyWhenItDiffers(t *testing.T) {
	havePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u := startUnit(t, ctx, "127.0.0.65")
	w := u.w
	host := w.Host(w.PassfilePath())
	inode := func() uint64 {
		t.Helper()
		fi, err := os.Stat(host)
		must(t, err)
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	must(t, w.Remove(ctx, w.PrivateDir()))
	must(t, w.WritePassfile(ctx, passEntries()))
	if fi, err := os.Stat(w.Host(w.PrivateDir())); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("private dir: %v %v, want 0700", fi, err)
	}
	first := inode()
	must(t, w.WritePassfile(ctx, passEntries()))
	if inode() != first {
		t.Error("an unchanged passfile was written again")
	}
	changed := append(passEntries(), PassEntry{Host: "10.0.0.1", Port: 5432, User: "replication", Password: "other"})
	must(t, w.WritePassfile(ctx, changed))
	second := inode()
	if second == first {
		t.Fatal("a passfile with new entries was not written")
	}
	b, err := os.ReadFile(host)
	must(t, err)
	if want := "10.0.0.1:5432:*:replication:other\n"; len(b) < len(want) || string(b[len(b)-len(want):]) != want {
		t.Errorf("passfile ends %q, want %q", b, want)
	}
	must(t, os.Chmod(host, 0o644))
	must(t, w.WritePassfile(ctx, changed))
	fi, err := os.Stat(host)
	must(t, err)
	if fi.Mode().Perm() != 0o600 || inode() == second {
		t.Errorf("a passfile left world-readable was not rewritten 0600: %v", fi.Mode())
	}
	// The timers file creates the private dir too.
	must(t, w.Remove(ctx, w.PrivateDir()))
	must(t, w.WriteTimers(ctx, nil))
	if fi, err := os.Stat(w.Host(w.TimersPath())); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("timers file: %v %v, want 0600", fi, err)
	}
}
