package charm

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/canonical/pebble/client"
	"github.com/jujulet/postgresql-k8s/internal/pgwatch"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// Workload is what the handlers need from this unit's PostgreSQL container. PGWorkload
// implements it over internal/postgres; tests use a fake.
type Workload interface {
	IsInitialised(ctx context.Context) (bool, error)
	InitDB(ctx context.Context, superuser postgres.Login) error
	WritePassfile(ctx context.Context, entries []postgres.PassEntry) error
	WriteConf(ctx context.Context, s postgres.Settings) (bool, error)
	WriteHBA(ctx context.Context, rules []postgres.HBARule) (bool, error)
	// PlanLayer plans the postgresql service and its checks (postgres.Layer).
	PlanLayer(ctx context.Context, o postgres.LayerOptions) error
	// EnsureWatcher runs the watcher service (internal/pgwatch) from this charm's binary.
	EnsureWatcher(ctx context.Context) error
	// ReadTimers and WriteTimers read and replace the watcher's timers file.
	ReadTimers(ctx context.Context) (pgwatch.Timers, error)
	WriteTimers(ctx context.Context, t pgwatch.Timers) error
	// ReadObservation reads the watcher's observation of the server.
	ReadObservation(ctx context.Context) (pgwatch.Observation, error)
	Running(ctx context.Context) (bool, error)
	Start(ctx context.Context) error
	Stop(ctx context.Context) (postgres.ControlData, error)
	Reload(ctx context.Context) error
	IsStandbyConfigured(ctx context.Context) (bool, error)
	WriteStandbySignal(ctx context.Context) error
	FollowPrimary(ctx context.Context, s postgres.Settings, up postgres.Upstream) (bool, error)
	BaseBackup(ctx context.Context, up postgres.Upstream) (string, error)
	Rewind(ctx context.Context, source postgres.Upstream) (string, error)
	ControlData(ctx context.Context) (postgres.ControlData, error)
	// MemoryMB is the memory available to the workload (0 when unknown).
	MemoryMB(ctx context.Context) (int, error)
	// Connect opens SQL to the server at host (this unit's or another unit's).
	Connect(ctx context.Context, host string, l postgres.Login) (DB, error)
	// ConnectWithCA is Connect verifying the server with ca (what the trust gave for host),
	// without calling the trust: a session opened early (sessions.go) runs while the hook
	// goes on changing what the trust reads.
	ConnectWithCA(ctx context.Context, host string, l postgres.Login, ca []byte) (DB, error)
	// WaitReady waits until this unit's server accepts connections.
	WaitReady(ctx context.Context, l postgres.Login) error
	Version() string
	// PlaceTLS writes TLS files (postgres.TLSFileNames) into the workload; HasTLS reports
	// whether the server's certificate and key are there.
	PlaceTLS(ctx context.Context, files map[string][]byte) error
	HasTLS(ctx context.Context) (bool, error)
	// SetTrust sets where the CA each server is verified with comes from (Connect,
	// WaitReady, OpenClientAdmin).
	SetTrust(t postgres.Trust)
}

// DB is SQL on one server. *postgres.DB implements it; tests use a fake.
type DB interface {
	Positions(ctx context.Context) (postgres.Positions, error)
	Promote(ctx context.Context) error
	Checkpoint(ctx context.Context) error
	EnsureRole(ctx context.Context, r postgres.Role) error
	// EnsureCertRole creates a superuser that logs in by certificate only, unless it exists.
	EnsureCertRole(ctx context.Context, name string) error
	SetPassword(ctx context.Context, user, password string) error
	CreateSlot(ctx context.Context, name string) error
	DropSlot(ctx context.Context, name string) error
	ListSlots(ctx context.Context) ([]postgres.Slot, error)
	// TerminateSlotSenders ends the walsenders of the slots named prefix*.
	TerminateSlotSenders(ctx context.Context, prefix string) (int, error)
	TimelineHistory(ctx context.Context, tli int) ([]postgres.HistoryEntry, error)
	// WALTimelines returns the timelines the server holds WAL segments of.
	WALTimelines(ctx context.Context) (map[int]bool, error)
	// Replication is a primary's synchronous replication state (pg_stat_replication).
	Replication(ctx context.Context) (postgres.ReplicationState, error)
	// Observe reads the server's shape, as the watcher does (postgres.Observe).
	Observe(ctx context.Context) (pgwatch.Observation, error)
	Close(ctx context.Context)
}

// PGWorkload is Workload over internal/postgres: *postgres.Workload has its methods but
// for the two below, whose signatures are the charm's.
type PGWorkload struct{ *postgres.Workload }

var (
	_ Workload = PGWorkload{}
	_ DB       = (*postgres.DB)(nil)
)

// EnsureWatcher pushes this very binary (the charm's dispatch) as the watcher.
func (p PGWorkload) EnsureWatcher(ctx context.Context) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("charm binary: %w", err)
	}
	return p.Workload.EnsureWatcher(ctx, exe)
}

// SetTrust sets the workload's postgres.Trust.
func (p PGWorkload) SetTrust(t postgres.Trust) { p.Workload.Trust = t }

// Connect opens SQL to the server at host (*postgres.Workload's own Connect is to itself).
func (p PGWorkload) Connect(ctx context.Context, host string, l postgres.Login) (DB, error) {
	db, err := p.OpenDB(ctx, host, l)
	if err != nil {
		return nil, err // a nil *postgres.DB must not become a non-nil DB
	}
	return db, nil
}

// ConnectWithCA opens SQL to the server at host, verified with ca.
func (p PGWorkload) ConnectWithCA(ctx context.Context, host string, l postgres.Login, ca []byte) (DB, error) {
	db, err := p.OpenDBWithCA(ctx, host, l, ca)
	if err != nil {
		return nil, err // a nil *postgres.DB must not become a non-nil DB
	}
	return db, nil
}

// workloadOpen is an OpenWorkload under way.
type workloadOpen struct {
	addr string
	done chan struct{}
	w    Workload // set with err before done closes
	err  error
}

// openAhead starts opening the workload at addr (nil when there is nothing to open).
func (c *Charm) openAhead(ctx context.Context, addr string) *workloadOpen {
	if c.OpenWorkload == nil || addr == "" {
		return nil
	}
	o := &workloadOpen{addr: addr, done: make(chan struct{})}
	go func() {
		defer close(o.done)
		o.w, o.err = c.OpenWorkload(ctx, addr)
	}()
	return o
}

// openHookWorkload is OpenWorkload for this hook's reconcile or stop: the one readState
// started, once, when it is for the same address; a new one otherwise.
func (c *Charm) openHookWorkload(ctx context.Context, st *State) (Workload, error) {
	if o := st.opening; o != nil && o.addr == st.Address {
		st.opening = nil
		select {
		case <-o.done:
			return o.w, o.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return c.OpenWorkload(ctx, st.Address)
}

// isNotReady reports whether err means the container is not there (yet, or any more: a
// pod that restarts in the middle of a hook drops its Pebble connection).
func isNotReady(err error) bool {
	var ce client.ConnectionError
	var sne *client.SocketNotFoundError
	return errors.Is(err, postgres.ErrNotReady) || errors.As(err, &ce) || errors.As(err, &sne)
}

// OpenClientAdmin opens the database relation's administration session on host.
func (p PGWorkload) OpenClientAdmin(ctx context.Context, host string, l postgres.Login) (ClientAdmin, error) {
	a, err := p.Workload.OpenClientAdmin(ctx, host, l)
	if err != nil {
		return nil, err // a nil *postgres.ClientAdmin must not become a non-nil ClientAdmin
	}
	return a, nil
}
