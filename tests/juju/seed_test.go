package juju

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// Environment of the controller tests.
const (
	EnvCharm      = "POSTGRESQL_K8S_CHARM" // path of the .charm (default: the newest ../../postgresql-k8s_*.charm)
	EnvKeepModels = "JUJU_KEEP_MODELS"     // non-empty: leave the test's models behind
)

// StartJuju returns a Backend for the configured controller, connected, or skips the test
// when none is configured. A misconfigured or unreachable controller fails the test at once.
func StartJuju(t *testing.T) *Backend {
	t.Helper()
	cfg, err := DefaultConfig()
	if errors.Is(err, ErrNoController) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	b := New(cfg, slog.New(slog.NewTextHandler(testWriter{t}, nil)), runtime.GOARCH)
	t.Cleanup(func() { b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*cfg.DialTimeout)
	defer cancel()
	if err := b.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("using %s", b.Name())
	return b
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// CharmPath is the packed charm the tests deploy.
func CharmPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(EnvCharm); p != "" {
		return p
	}
	matches, _ := filepath.Glob("../../postgresql-k8s_*.charm")
	if len(matches) == 0 {
		t.Fatalf("no ../../postgresql-k8s_*.charm: run `make charm` (or `make test-juju`, which does), or set %s", EnvCharm)
	}
	sort.Slice(matches, func(i, j int) bool { return modTime(matches[i]).After(modTime(matches[j])) })
	p, err := filepath.Abs(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func modTime(p string) time.Time {
	st, err := os.Stat(p)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

// testContext ends a minute before the test binary's deadline, so that failures are
// reported with what was being waited for instead of a panic.
func testContext(t *testing.T, max time.Duration) (context.Context, context.CancelFunc) {
	d := time.Now().Add(max)
	if td, ok := t.Deadline(); ok && td.Add(-time.Minute).Before(d) {
		d = td.Add(-time.Minute)
	}
	return context.WithDeadline(context.Background(), d)
}

// uniqueModels renames the seed's models so that runs do not collide on a shared
// controller, and destroys them at cleanup unless JUJU_KEEP_MODELS is set.
func uniqueModels(t *testing.T, b *Backend, s *scenario.Seed) {
	suffix := fmt.Sprintf("%x", time.Now().UnixNano()&0xffffff)
	s.Rome, s.Lisbon = "rome-"+suffix, "lisbon-"+suffix
	t.Cleanup(func() {
		if os.Getenv(EnvKeepModels) != "" {
			t.Logf("%s set: keeping models %s and %s", EnvKeepModels, s.Rome, s.Lisbon)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// The consumer first, so that the offer has no connection left.
		for _, m := range []string{s.Lisbon, s.Rome} {
			if err := b.DestroyModel(ctx, m); err != nil {
				t.Logf("destroy model %s: %v", m, err)
			}
		}
	})
}

// TestSeedFlowOnJuju is the seed flow of tests/e2e/seed_test.go on a real controller: two
// models offered/consumed, create-replication, data checked both ways, a zero-loss
// switchover there and back under a live writer, and both clusters scaled to 3.
// The test machine must reach the units' pod addresses on port 5432 (MicroK8s: it does).
func TestSeedFlowOnJuju(t *testing.T) {
	b := StartJuju(t)
	charm := CharmPath(t)
	ctx, cancel := testContext(t, 90*time.Minute)
	defer cancel()
	s := scenario.NewSeed(b, charm)
	s.SettleTimeout = 20 * time.Minute // image pulls, pod scheduling
	uniqueModels(t, b, s)

	s.RunSeedFlow(t, ctx)
}

// TestControllerFailsFast checks the bad-input paths against the configured controller: an
// unknown model and wrong credentials fail quickly with a message that says so.
func TestControllerFailsFast(t *testing.T) {
	b := StartJuju(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	start := time.Now()
	_, err := b.Status(ctx, "no-such-model-for-postgresql-k8s-tests")
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("status of an unknown model: %v", err)
	}
	t.Logf("unknown model after %v: %v", time.Since(start), err)

	cfg := b.cfg
	cfg.Password = "certainly-not-the-password"
	cfg.Store = nil
	bad := New(cfg, nil, "")
	defer bad.Close()
	start = time.Now()
	err = bad.Connect(ctx)
	if err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	t.Logf("wrong password after %v: %v", time.Since(start), err)
	if d := time.Since(start); d > cfg.DialTimeout+5*time.Second {
		t.Errorf("wrong password took %v", d)
	}
}
