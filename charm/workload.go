package charm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/canonical/pebble/client"
	"github.com/jackc/pgx/v5"
	"github.com/jujulet/postgresql-k8s/internal/pgwatch"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// Workload is what the handlers need from this unit's PostgreSQL container. *PGWorkload
// implements it over internal/postgres; tests use a fake.
type Workload interface {
	IsInitialised(ctx context.Context) (bool, error)
	InitDB(ctx context.Context, superuser, password string) error
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
	Connect(ctx context.Context, host, user, password string) (DB, error)
	// WaitReady waits until this unit's server accepts connections.
	WaitReady(ctx context.Context, user, password string) error
	Version() string
}

// DB is SQL on one server.
type DB interface {
	Positions(ctx context.Context) (postgres.Positions, error)
	Promote(ctx context.Context) error
	Checkpoint(ctx context.Context) error
	EnsureRole(ctx context.Context, r postgres.Role) error
	SetPassword(ctx context.Context, user, password string) error
	CreateSlot(ctx context.Context, name string) error
	DropSlot(ctx context.Context, name string) error
	ListSlots(ctx context.Context) ([]postgres.Slot, error)
	// TerminateSlotSenders ends the walsenders of the slots named prefix*.
	TerminateSlotSenders(ctx context.Context, prefix string) (int, error)
	TimelineHistory(ctx context.Context, tli int) ([]postgres.HistoryEntry, error)
	// Replication is a primary's synchronous replication state (pg_stat_replication).
	Replication(ctx context.Context) (postgres.ReplicationState, error)
	Close(ctx context.Context)
}

// PGWorkload adapts *postgres.Workload to Workload.
type PGWorkload struct{ W *postgres.Workload }

var _ Workload = PGWorkload{}

func (p PGWorkload) IsInitialised(ctx context.Context) (bool, error) { return p.W.IsInitialised(ctx) }
func (p PGWorkload) InitDB(ctx context.Context, u, pw string) error  { return p.W.InitDB(ctx, u, pw) }
func (p PGWorkload) WritePassfile(ctx context.Context, e []postgres.PassEntry) error {
	return p.W.WritePassfile(ctx, e)
}
func (p PGWorkload) WriteConf(ctx context.Context, s postgres.Settings) (bool, error) {
	return p.W.WriteConf(ctx, s)
}
func (p PGWorkload) WriteHBA(ctx context.Context, r []postgres.HBARule) (bool, error) {
	return p.W.WriteHBA(ctx, r)
}
func (p PGWorkload) PlanLayer(ctx context.Context, o postgres.LayerOptions) error {
	return p.W.PlanLayer(ctx, o)
}

// EnsureWatcher pushes this very binary (the charm's dispatch) as the watcher.
func (p PGWorkload) EnsureWatcher(ctx context.Context) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("charm binary: %w", err)
	}
	return p.W.EnsureWatcher(ctx, exe)
}
func (p PGWorkload) ReadTimers(ctx context.Context) (pgwatch.Timers, error) {
	return p.W.ReadTimers(ctx)
}
func (p PGWorkload) WriteTimers(ctx context.Context, t pgwatch.Timers) error {
	return p.W.WriteTimers(ctx, t)
}
func (p PGWorkload) Running(ctx context.Context) (bool, error) {
	st, err := p.W.ServiceStatus(ctx)
	return st == "active", err
}
func (p PGWorkload) Start(ctx context.Context) error                        { return p.W.Start(ctx) }
func (p PGWorkload) Stop(ctx context.Context) (postgres.ControlData, error) { return p.W.Stop(ctx) }
func (p PGWorkload) Reload(ctx context.Context) error                       { return p.W.Reload(ctx) }
func (p PGWorkload) IsStandbyConfigured(ctx context.Context) (bool, error) {
	return p.W.IsStandbyConfigured(ctx)
}
func (p PGWorkload) WriteStandbySignal(ctx context.Context) error { return p.W.WriteStandbySignal(ctx) }
func (p PGWorkload) FollowPrimary(ctx context.Context, s postgres.Settings, up postgres.Upstream) (bool, error) {
	return p.W.FollowPrimary(ctx, s, up)
}
func (p PGWorkload) BaseBackup(ctx context.Context, up postgres.Upstream) (string, error) {
	return p.W.BaseBackup(ctx, up)
}
func (p PGWorkload) Rewind(ctx context.Context, s postgres.Upstream) (string, error) {
	return p.W.Rewind(ctx, s)
}
func (p PGWorkload) ControlData(ctx context.Context) (postgres.ControlData, error) {
	return p.W.ControlData(ctx)
}
func (p PGWorkload) WaitReady(ctx context.Context, user, pw string) error {
	return p.W.WaitReady(ctx, user, pw)
}
func (p PGWorkload) Version() string { return strconv.Itoa(p.W.Major) }

// MemoryMB reads the container's cgroup limit, then its /proc/meminfo, then the charm's.
func (p PGWorkload) MemoryMB(ctx context.Context) (int, error) {
	// cgroup v2, then v1 (a v1 "unlimited" is a huge number: ignored above 1 PiB).
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := p.W.ReadFile(ctx, f); err == nil {
			if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 && n < 1<<50 {
				return int(n >> 20), nil
			}
		}
	}
	b, err := p.W.ReadFile(ctx, "/proc/meminfo")
	if err != nil {
		if b, err = os.ReadFile("/proc/meminfo"); err != nil {
			return 0, nil
		}
	}
	return parseMemTotalMB(b), nil
}

func parseMemTotalMB(b []byte) int {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.Atoi(f[1])
			return kb / 1024
		}
	}
	return 0
}

func (p PGWorkload) Connect(ctx context.Context, host, user, pw string) (DB, error) {
	c, err := postgres.Connect(ctx, host, p.W.Port, user, pw, "postgres")
	if err != nil {
		return nil, err
	}
	return pgDB{c}, nil
}

type pgDB struct{ c *pgx.Conn }

func (d pgDB) Positions(ctx context.Context) (postgres.Positions, error) {
	return postgres.WALPositions(ctx, d.c)
}
func (d pgDB) Promote(ctx context.Context) error { return postgres.Promote(ctx, d.c) }
func (d pgDB) Checkpoint(ctx context.Context) error {
	_, err := d.c.Exec(ctx, "CHECKPOINT")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}
func (d pgDB) EnsureRole(ctx context.Context, r postgres.Role) error {
	return postgres.EnsureRole(ctx, d.c, r)
}
func (d pgDB) SetPassword(ctx context.Context, u, pw string) error {
	return postgres.SetPassword(ctx, d.c, u, pw)
}
func (d pgDB) CreateSlot(ctx context.Context, n string) error {
	return postgres.CreateSlot(ctx, d.c, n)
}
func (d pgDB) DropSlot(ctx context.Context, n string) error { return postgres.DropSlot(ctx, d.c, n) }
func (d pgDB) ListSlots(ctx context.Context) ([]postgres.Slot, error) {
	return postgres.ListSlots(ctx, d.c)
}
func (d pgDB) TerminateSlotSenders(ctx context.Context, prefix string) (int, error) {
	return postgres.TerminateSlotSenders(ctx, d.c, prefix)
}
func (d pgDB) TimelineHistory(ctx context.Context, tli int) ([]postgres.HistoryEntry, error) {
	return postgres.TimelineHistory(ctx, d.c, tli)
}
func (d pgDB) Replication(ctx context.Context) (postgres.ReplicationState, error) {
	return postgres.ReadReplicationState(ctx, d.c)
}
func (d pgDB) Close(ctx context.Context) { _ = d.c.Close(ctx) }

// isNotReady reports whether err means the container is not there (yet, or any more: a
// pod that restarts in the middle of a hook drops its Pebble connection).
func isNotReady(err error) bool {
	var ce client.ConnectionError
	var sne *client.SocketNotFoundError
	return errors.Is(err, postgres.ErrNotReady) || errors.As(err, &ce) || errors.As(err, &sne)
}
