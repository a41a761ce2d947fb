package postgres

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jujulet/postgresql-k8s/internal/pgwatch"
	"github.com/jujulet/postgresql-k8s/internal/pki"
)

// TestProbeObservesTheServersShape runs the watcher's probe against a real primary as the
// monitoring user: what it reads, which changes change the shape and which do not, a restart
// it reconnects after, and a passfile without the user's password.
func TestProbeObservesTheServersShape(t *testing.T) {
	havePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	u := startUnit(t, ctx, "127.0.0.94")
	admin := u.initObservedPrimary(t, ctx)

	srv := u.w.ObservedServer()
	probe := NewProbe(srv)
	observe := func() pgwatch.Observation {
		t.Helper()
		o, err := probe(ctx)
		must(t, err)
		return o
	}
	first := observe()
	if first.InRecovery || first.Timeline != 1 || first.Started.IsZero() || len(first.Standbys) != 0 || len(first.Slots) != 0 || first.SyncStandbyNames != "" || first.Upstream || first.Stalled() {
		t.Fatalf("a fresh primary observed as %+v", first)
	}
	// Writes move the WAL, not the shape.
	_, err := admin.Exec(ctx, "CREATE TABLE t (v int); INSERT INTO t SELECT generate_series(1, 1000)")
	must(t, err)
	if o := observe(); o.Shape() != first.Shape() {
		t.Fatalf("writes changed the shape: %+v → %+v", first, o)
	}
	// A slot does.
	must(t, CreateSlot(ctx, admin, "unit_x"))
	withSlot := observe()
	if withSlot.Shape() == first.Shape() || len(withSlot.Slots) != 1 || withSlot.Slots[0] != (pgwatch.ObservedSlot{Name: "unit_x"}) {
		t.Fatalf("a new slot observed as %+v", withSlot)
	}
	// A standby: its own observation names its upstream, and the primary's lists it.
	r := startUnit(t, ctx, "127.0.0.95")
	r.initReplicaOf(t, ctx, u.w.Addr, admin, "unit_r", observedPassEntries(), observedHBA())
	rprobe := NewProbe(r.w.ObservedServer())
	waitFor(t, ctx, "the standby observed streaming", func() (bool, error) {
		o, err := rprobe(ctx)
		want := pgwatch.ObservedReceiver{Status: "streaming", Host: u.w.Addr, Port: DefaultPort}
		return err == nil && o.InRecovery && o.Upstream && !o.Stalled() && o.Receiver != nil && *o.Receiver == want && len(o.Standbys) == 0, err
	})
	waitFor(t, ctx, "the primary observed with its standby", func() (bool, error) {
		o, err := probe(ctx)
		want := []pgwatch.ObservedStandby{{Name: "unit_r", State: "streaming", SyncState: "async"}}
		return err == nil && o.Receiver == nil && slices.Equal(o.Standbys, want), err
	})
	withSlot = observe()

	// So does a restart: the probe's session breaks once, and the next one reconnects.
	_, err = u.w.Stop(ctx)
	must(t, err)
	if o, err := probe(ctx); err == nil {
		t.Fatalf("a stopped server observed as %+v", o)
	}
	// Its standby, still up, streams nothing (the watcher's wake-up for it: pgwatch.Observer).
	waitFor(t, ctx, "the standby observed stalled", func() (bool, error) {
		o, err := rprobe(ctx)
		return err == nil && o.Stalled(), err
	})
	must(t, u.w.Start(ctx))
	must(t, u.w.WaitReady(ctx, opLogin))
	restarted := observe()
	if !restarted.Started.After(withSlot.Started) || restarted.Shape() == withSlot.Shape() {
		t.Fatalf("a restart observed as %+v (before: %+v)", restarted, withSlot)
	}

	// A passfile without the user's password: refused before connecting, and no password in
	// what the watcher would log.
	must(t, u.w.WritePassfile(ctx, passEntries()))
	_, err = NewProbe(srv)(ctx)
	if err == nil || !strings.Contains(err.Error(), "no password for "+ObserveUser) {
		t.Fatalf("a passfile without the password: %v", err)
	}
	if strings.Contains(err.Error(), opPass) {
		t.Fatalf("the error shows a password: %v", err)
	}
	// A CA the server's certificate does not chain to: the TLS verification fails.
	otherCA, err := pki.NewCA("another cluster", time.Now())
	must(t, err)
	other, err := os.CreateTemp(t.TempDir(), "ca")
	must(t, err)
	must(t, os.WriteFile(other.Name(), otherCA.CertPEM, 0o600))
	must(t, u.w.WritePassfile(ctx, observedPassEntries()))
	bad := srv
	bad.CAFile = other.Name()
	if o, err := NewProbe(bad)(ctx); err == nil {
		t.Fatalf("a server verified with another CA observed as %+v", o)
	}
}

const monPass = "mon-pass:secret"

func observedHBA() []HBARule {
	return append(testHBA(), HBARule{"hostssl", "postgres", ObserveUser, "127.0.0.0/8", "scram-sha-256"})
}

func observedPassEntries() []PassEntry {
	return append(passEntries(), PassEntry{User: ObserveUser, Password: monPass})
}

// initObservedPrimary is initPrimary with the monitoring user the watcher observes the
// server as (its password in the passfile, admitted by pg_hba) and the replication user; it
// returns an operator session.
func (u *testUnit) initObservedPrimary(t *testing.T, ctx context.Context) *pgx.Conn {
	t.Helper()
	u.initPrimaryWith(t, ctx, observedPassEntries(), observedHBA())
	admin := connect(t, ctx, u.w)
	must(t, EnsureRole(ctx, admin, Role{Name: ObserveUser, Password: monPass, Grants: []string{"GRANT pg_monitor TO %s"}}))
	must(t, EnsureRole(ctx, admin, Role{Name: "replication", Password: replPass, Attributes: []string{"REPLICATION"}}))
	return admin
}
