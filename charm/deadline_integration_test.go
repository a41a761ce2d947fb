package charm

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/hookenv/hookenvtest"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
	"github.com/jujulet/postgresql-k8s/internal/postgres/pgtest"
)

// stallAt listens on addr and accepts connections it never answers (a peer that hangs), until
// the test ends. It waits for addr to be free (a server that was just stopped).
func stallAt(t *testing.T, ctx context.Context, addr string) {
	t.Helper()
	var ln net.Listener
	for {
		var err error
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("listen on %s: %v", addr, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
}

// A replica whose upstream accepts connections and never answers: its hook ends, waiting
// with the stalled peer named, and its retry is scheduled by timer (no other hook needed).
func TestRealStalledUpstream(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no real PostgreSQL")
	}
	if pebbleBin == "" {
		pgtest.Unavailable(t, pgtest.NoPostgres)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	r := &realUnits{t: t, containers: map[string]*pgtest.Container{}, workloads: map[string]*postgres.Workload{}}
	w := &world{t: t, fc: newFakeCluster(), units: map[string]*testUnit{}, app: map[string]string{},
		secrets: map[string]*hookenvtest.FakeSecret{}, leader: "pg/0", addrBase: 71, open: r.open}
	w.tweak = func(c *Charm) { c.Log = slog.New(slog.NewTextHandler(testWriter{t}, nil)) }
	for i := range 2 {
		u := w.addUnit(fmt.Sprintf("pg/%d", i))
		r.start(u.name, u.s.addr)
	}
	wantStatus(t, w.mustRun("pg/0", "postgresql-pebble-ready"), "active", "Primary")

	// The primary's server goes away and a peer that hangs takes its address.
	r.containers["pg/0"].Kill()
	upstream := net.JoinHostPort(w.units["pg/0"].s.addr, "5432")
	stallAt(t, ctx, upstream)

	type result struct {
		u   *testUnit
		err error
	}
	done := make(chan result, 1)
	go func() {
		u, err := w.run("pg/1", "database-peers-relation-joined", nil, nil)
		done <- result{u, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		t.Fatal("the hook hangs on a stalled upstream")
	}
	if res.err != nil {
		t.Fatalf("hook failed: %v", res.err)
	}
	st := res.u.f.UnitStatus
	if st.Status != "waiting" || !strings.Contains(st.Message, "pg/0") || !strings.Contains(st.Message, upstream) ||
		!strings.Contains(st.Message, "timeout") {
		t.Fatalf("status %s %q does not report the stalled upstream %s", st.Status, st.Message, upstream)
	}
	timers, err := r.workloads["pg/1"].ReadTimers(ctx)
	if err != nil || timers[timerRetry].IsZero() {
		t.Fatalf("no retry scheduled: %v, %v", timers, err)
	}
}
