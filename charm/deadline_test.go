package charm

import (
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// pg_basebackup runs under clone_timeout_minutes; one killed at that bound leaves the unit
// waiting with the reason, and the retry timer seeds it again without any other hook.
func TestCloneBoundAndRetry(t *testing.T) {
	w := newWorld(t, 2)
	for _, u := range w.units {
		u.f.Config["clone_timeout_minutes"] = float64(90)
	}
	wantStatus(t, w.initLeader(), "active", "Primary")
	w.mustRun("pg/0", "database-peers-relation-changed")

	r := w.units["pg/1"]
	r.s.cloneErr = &postgres.ExecTimeoutError{Command: "pg_basebackup", Bound: 90 * time.Minute}
	u := w.mustRun("pg/1", "database-peers-relation-joined")
	if b := r.s.cloneBound; b <= 89*time.Minute || b > 90*time.Minute {
		t.Fatalf("pg_basebackup ran with %v left, want clone_timeout_minutes (90m)", b)
	}
	wantStatus(t, u, "waiting", "waiting to seed from pg/0: pg_basebackup did not finish within 1h30m0s")
	if r.s.initialised {
		t.Fatal("a failed clone left data behind")
	}
	at := w.timer("pg/1", timerRetry)
	if at.IsZero() {
		t.Fatal("no retry scheduled after the failed clone")
	}

	r.s.cloneErr = nil
	w.elapsed = at.Sub(w.now().Add(-w.elapsed))
	u = w.mustRunEvent("pg/1", hookCustomNotice, wake)
	wantStatus(t, u, "active", "Replica")
	if n := strings.Count(strings.Join(r.s.calls, " "), "BaseBackup"); n != 2 {
		t.Fatalf("%d clones, want the failed one and its retry", n)
	}
}
