package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgpassfile"
	"github.com/jackc/pgx/v5"
	"github.com/jujulet/postgresql-k8s/internal/pgwatch"
	"github.com/jujulet/postgresql-k8s/internal/pki"
)

// ObserveUser is the role the watcher observes its server as: the system user with
// pg_monitor, whose password the passfile holds.
const ObserveUser = "monitoring"

// probeTimeout bounds one observation, connection included.
const probeTimeout = 5 * time.Second

// Observe reads the shape of the server on conn (pgwatch.Observation): positions, start
// time, a standby's receiver, a primary's synchronous standbys, the slots. pg_monitor is
// enough for all of it.
func Observe(ctx context.Context, conn *pgx.Conn) (pgwatch.Observation, error) {
	pos, err := WALPositions(ctx, conn)
	if err != nil {
		return pgwatch.Observation{}, err
	}
	started, stream, err := startAndStream(ctx, conn)
	if err != nil {
		return pgwatch.Observation{}, err
	}
	var rs ReplicationState
	if !pos.InRecovery {
		if rs, err = ReadReplicationState(ctx, conn); err != nil {
			return pgwatch.Observation{}, err
		}
	}
	slots, err := ListSlots(ctx, conn)
	if err != nil {
		return pgwatch.Observation{}, err
	}
	o := ObservationOf(started, pos, rs, slots)
	if pos.InRecovery {
		o.Receiver, o.Upstream = stream.receiver, stream.upstream
	}
	return o, nil
}

// stream is what a standby says of its stream: its WAL receiver (nil when it runs none) and
// whether it has an upstream to stream from (primary_conninfo is set).
type stream struct {
	receiver *pgwatch.ObservedReceiver
	upstream bool
}

// startAndStream reads, in one statement, when the server started and its stream.
// primary_conninfo is readable with pg_monitor (pg_read_all_settings); only whether it is
// set leaves the server.
func startAndStream(ctx context.Context, conn *pgx.Conn) (time.Time, stream, error) {
	var started time.Time
	var s stream
	var status, host *string
	var port *int
	err := conn.QueryRow(ctx, `SELECT pg_postmaster_start_time(), current_setting('primary_conninfo') <> '',
		r.status, r.sender_host, r.sender_port
		FROM (SELECT 1) AS one LEFT JOIN pg_stat_wal_receiver AS r ON true`).Scan(&started, &s.upstream, &status, &host, &port)
	if err != nil {
		return time.Time{}, stream{}, fmt.Errorf("start time and wal receiver: %w", err)
	}
	if status == nil {
		return started, s, nil
	}
	s.receiver = &pgwatch.ObservedReceiver{Status: *status}
	if host != nil {
		s.receiver.Host = *host
	}
	if port != nil {
		s.receiver.Port = *port
	}
	return started, s, nil
}

// ObservationOf is the observation of a server started at started, with positions pos, a
// primary's replication state rs (ignored in recovery) and slots; a standby's receiver is
// the caller's to add.
func ObservationOf(started time.Time, pos Positions, rs ReplicationState, slots []Slot) pgwatch.Observation {
	o := pgwatch.Observation{Started: started, InRecovery: pos.InRecovery, Timeline: pos.Timeline}
	if !pos.InRecovery {
		o.SyncStandbyNames = rs.SyncStandbyNames
		for _, r := range rs.Standbys {
			o.Standbys = append(o.Standbys, pgwatch.ObservedStandby{Name: r.AppName, State: r.State, SyncState: r.SyncState})
		}
	}
	for _, s := range slots {
		o.Slots = append(o.Slots, pgwatch.ObservedSlot{Name: s.Name, Lost: s.WALStatus == SlotLost})
	}
	return o
}

// Observe reads the shape of the server over the hook's session.
func (d *DB) Observe(ctx context.Context) (pgwatch.Observation, error) { return Observe(ctx, d.conn) }

// NewProbe is the watcher's probe of srv: one session, opened when needed (the passfile and
// the CA file are read again for each), kept between observations, and dropped when one
// fails. A session that cannot be opened is tried again after a backoff (1 s doubling to
// probeBackoffMax): a server that refuses the login (a standby cluster holds the other
// cluster's passwords) logs each refusal.
func NewProbe(srv pgwatch.Server) pgwatch.Probe {
	var conn *pgx.Conn
	var connectErr error
	var retryAt time.Time
	backoff := time.Duration(0)
	return func(ctx context.Context) (pgwatch.Observation, error) {
		ctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		if conn == nil || conn.IsClosed() {
			if time.Now().Before(retryAt) {
				return pgwatch.Observation{}, connectErr
			}
			c, err := connectObserver(ctx, srv)
			if err != nil {
				backoff = min(max(2*backoff, time.Second), probeBackoffMax)
				connectErr, retryAt = err, time.Now().Add(backoff)
				return pgwatch.Observation{}, err
			}
			conn, connectErr, backoff = c, nil, 0
		}
		o, err := Observe(ctx, conn)
		if err != nil {
			_ = conn.Close(ctx)
			conn = nil
		}
		return o, err
	}
}

// probeBackoffMax bounds the wait between the watcher's attempts to open its session.
const probeBackoffMax = 30 * time.Second

// connectObserver opens the watcher's session: TLS verified with the CA file, the password
// from the passfile (as libpq would look it up).
func connectObserver(ctx context.Context, srv pgwatch.Server) (*pgx.Conn, error) {
	host, portText, err := net.SplitHostPort(srv.Addr)
	if err != nil {
		return nil, fmt.Errorf("server address %q: %w", srv.Addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("server address %q: bad port", srv.Addr)
	}
	ca, err := os.ReadFile(srv.CAFile)
	if err != nil {
		return nil, fmt.Errorf("server CA: %w", err)
	}
	tlsCfg, err := pki.ClientConfig(ca, host, pki.ModeFor(host), nil)
	if err != nil {
		return nil, fmt.Errorf("server CA %s: %w", srv.CAFile, err)
	}
	pf, err := pgpassfile.ReadPassfile(srv.Passfile)
	if err != nil {
		return nil, fmt.Errorf("passfile: %w", err)
	}
	password := pf.FindPassword(host, portText, "postgres", srv.User)
	if password == "" {
		return nil, errors.New("passfile: no password for " + srv.User)
	}
	return Connect(ctx, host, port, PasswordLogin(srv.User, password), "postgres", tlsCfg)
}
