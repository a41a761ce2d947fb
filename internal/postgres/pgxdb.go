package postgres

import (
	"context"
	"crypto/tls"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// DB is SQL on one server over one pgx connection: the verbs of sql.go as methods, which
// the charm's DB interface names.
type DB struct {
	conn *pgx.Conn
	// host, port, login and tlsCfg open the replication connection a non-superuser reads
	// timeline histories through.
	host   string
	port   int
	login  Login
	tlsCfg *tls.Config
}

// OpenDB connects to the server at host (this workload's or another unit's, on the
// workload's port) as l, to the postgres database.
func (w *Workload) OpenDB(ctx context.Context, host string, l Login) (*DB, error) {
	tlsCfg, err := w.ClientTLS(host)
	if err != nil {
		return nil, err
	}
	return w.openDB(ctx, host, l, tlsCfg)
}

// OpenDBWithCA is OpenDB verifying the server with ca, the CA Trust gave for host earlier:
// it does not call Trust, so it may run while the caller changes what Trust reads.
func (w *Workload) OpenDBWithCA(ctx context.Context, host string, l Login, ca []byte) (*DB, error) {
	tlsCfg, err := w.clientTLSWith(host, ca)
	if err != nil {
		return nil, err
	}
	return w.openDB(ctx, host, l, tlsCfg)
}

func (w *Workload) openDB(ctx context.Context, host string, l Login, tlsCfg *tls.Config) (*DB, error) {
	conn, err := Connect(ctx, host, w.Port, l, "postgres", tlsCfg)
	if err != nil {
		return nil, err
	}
	return &DB{conn: conn, host: host, port: w.Port, login: l, tlsCfg: tlsCfg}, nil
}

// Positions reads the server's WAL positions (WALPositions).
func (d *DB) Positions(ctx context.Context) (Positions, error) { return WALPositions(ctx, d.conn) }

// Promote promotes the standby (Promote).
func (d *DB) Promote(ctx context.Context) error { return Promote(ctx, d.conn) }

// Checkpoint runs CHECKPOINT.
func (d *DB) Checkpoint(ctx context.Context) error {
	if _, err := d.conn.Exec(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// EnsureRole creates or updates a role (EnsureRole).
func (d *DB) EnsureRole(ctx context.Context, r Role) error { return EnsureRole(ctx, d.conn, r) }

// EnsureCertRole creates a superuser that logs in by certificate only (EnsureCertRole).
func (d *DB) EnsureCertRole(ctx context.Context, name string) error {
	return EnsureCertRole(ctx, d.conn, name)
}

// SetPassword sets a role's password (SetPassword).
func (d *DB) SetPassword(ctx context.Context, user, password string) error {
	return SetPassword(ctx, d.conn, user, password)
}

// CreateSlot creates a physical replication slot (CreateSlot).
func (d *DB) CreateSlot(ctx context.Context, name string) error { return CreateSlot(ctx, d.conn, name) }

// DropSlot drops a replication slot (DropSlot).
func (d *DB) DropSlot(ctx context.Context, name string) error { return DropSlot(ctx, d.conn, name) }

// ListSlots lists the replication slots (ListSlots).
func (d *DB) ListSlots(ctx context.Context) ([]Slot, error) { return ListSlots(ctx, d.conn) }

// TimelineHistory reads a timeline's history file: with SQL (TimelineHistory) as a
// superuser, otherwise over the replication protocol (ReplicationTimelineHistory), which a
// role with REPLICATION may use without being granted pg_read_file (that would let it read
// every file of the data directory, the server's key included).
func (d *DB) TimelineHistory(ctx context.Context, tli int) ([]HistoryEntry, error) {
	if d.conn.PgConn().ParameterStatus("is_superuser") == "on" {
		return TimelineHistory(ctx, d.conn, tli)
	}
	return ReplicationTimelineHistory(ctx, d.host, d.port, d.login, d.tlsCfg, tli)
}

// WALTimelines returns the timelines the server holds WAL segments of (WALTimelines).
func (d *DB) WALTimelines(ctx context.Context) (map[int]bool, error) {
	return WALTimelines(ctx, d.conn)
}

// Replication is a primary's synchronous replication state (ReadReplicationState).
func (d *DB) Replication(ctx context.Context) (ReplicationState, error) {
	return ReadReplicationState(ctx, d.conn)
}

// Close closes the connection; a close that fails leaves nothing to do.
func (d *DB) Close(ctx context.Context) { _ = d.conn.Close(ctx) }

// TerminateSlotSenders ends the walsenders of the slots named prefix* (TerminateSlotSenders).
func (d *DB) TerminateSlotSenders(ctx context.Context, prefix string) (int, error) {
	return TerminateSlotSenders(ctx, d.conn, prefix)
}
