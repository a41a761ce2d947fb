package postgres

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/canonical/pebble/client"
	"github.com/jujulet/postgresql-k8s/internal/pgwatch"
)

// TestWatcherRaisesWakeNotices runs the charm's real binary as the watcher service in a real
// Pebble: pushed once, not again while unchanged, again (and restarted) when it changes, and
// a deadline written to the timers file comes back as a custom notice.
func TestWatcherRaisesWakeNotices(t *testing.T) {
	havePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	exe := filepath.Join(dir, "dispatch")
	build := exec.CommandContext(ctx, "go", "build", "-o", exe, "../../cmd/postgresql-k8s")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the charm: %v\n%s", err, out)
	}
	u := startUnit(t, ctx, "127.0.0.93")
	u.w.WatchSocket = InContainerSocket(u.c.ContainersDir, Container)

	service := func() *client.ServiceInfo {
		t.Helper()
		infos, err := u.w.Pebble.Services(&client.ServicesOptions{Names: []string{WatchService}})
		if err != nil || len(infos) != 1 {
			t.Fatalf("services: %v %v", infos, err)
		}
		return infos[0]
	}
	waitActive := func() *client.ServiceInfo {
		t.Helper()
		for {
			if s := service(); s.Current == client.StatusActive {
				return s
			}
			select {
			case <-ctx.Done():
				t.Fatalf("the watcher never became active: %+v", service())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	binMod := func() time.Time {
		t.Helper()
		fi, err := os.Stat(u.w.Host(watchBin))
		if err != nil {
			t.Fatal(err)
		}
		return fi.ModTime()
	}

	must(t, u.w.EnsureWatcher(ctx, exe))
	first := waitActive()
	pushedAt := binMod()
	// Unchanged: no push, no restart.
	must(t, u.w.EnsureWatcher(ctx, exe))
	if s := service(); !s.CurrentSince.Equal(first.CurrentSince) || !binMod().Equal(pushedAt) {
		t.Fatalf("an unchanged watcher was pushed or restarted: %+v, pushed %v → %v", s, pushedAt, binMod())
	}

	// It observes the server: there is none running, and its observation says so.
	waitObservation := func(what string, ok func(pgwatch.Observation) bool) {
		t.Helper()
		for {
			o, err := u.w.ReadObservation(ctx)
			if err == nil && ok(o) {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("waiting for an observation (%s): %+v, %v", what, o, err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	waitObservation("no server", func(o pgwatch.Observation) bool { return o.Error != "" && o.Shape() == "" })

	// A deadline in the past comes back as a wake-up notice.
	since := time.Now()
	must(t, u.w.WriteTimers(ctx, pgwatch.Timers{"retry": time.Now().Add(-time.Second)}))
	if got, err := u.w.ReadTimers(ctx); err != nil || len(got) != 1 {
		t.Fatalf("timers read back: %v %v", got, err)
	}
	notices, err := u.w.Pebble.WaitNotices(ctx, time.Minute, &client.NoticesOptions{
		Types: []client.NoticeType{client.CustomNotice}, Keys: []string{pgwatch.NoticeKey}, After: since})
	if err != nil || len(notices) != 1 || notices[0].LastData["timer"] != "retry" {
		t.Fatalf("notices %+v, %v", notices, err)
	}

	// Once the server runs, the observation is its shape.
	u.initObservedPrimary(t, ctx)
	waitObservation("a primary", func(o pgwatch.Observation) bool { return o.Error == "" && !o.InRecovery && o.Timeline == 1 })

	// A new charm binary (an upgrade): pushed again and the service restarted.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(exe, later, later); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(exe, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0}) // a trailing byte keeps the ELF runnable
	f.Close()
	must(t, u.w.EnsureWatcher(ctx, exe))
	if binMod().Equal(pushedAt) {
		t.Fatal("a changed binary was not pushed")
	}
	if s := waitActive(); s.CurrentSince.Equal(first.CurrentSince) {
		t.Fatal("the watcher was not restarted on the new binary")
	}
}
