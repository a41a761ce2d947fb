package postgres

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jujulet/postgresql-k8s/internal/hookenv"
)

// Connect opens a pgx connection over TCP as l; the password travels in the config only.
// With tlsCfg the connection is TLS only (no fallback to cleartext); nil connects in
// cleartext, which only servers without TLS (tests) accept. A certificate login (l.Cert)
// needs tlsCfg.
func Connect(ctx context.Context, host string, port int, l Login, db string, tlsCfg *tls.Config) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig("")
	if err != nil {
		return nil, err
	}
	if port == 0 {
		port = DefaultPort
	}
	if db == "" {
		db = "postgres"
	}
	cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database = host, uint16(port), l.User, l.Password, db
	cfg.ConnectTimeout = 5 * time.Second
	if cfg.TLSConfig, err = l.withCert(tlsCfg); err != nil {
		return nil, err
	}
	cfg.Fallbacks = nil
	cfg.RuntimeParams["application_name"] = "postgresql-k8s-charm"
	withDeadlines(&cfg.Config)
	cfg.Tracer = spanTracer{}
	end := hookenv.StartSpan(ctx, "sql connect "+l.User+"@"+host)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	end()
	if err != nil {
		return nil, fmt.Errorf("connect %s@%s:%d: %w", l.User, host, port, err)
	}
	return conn, nil
}

// Connect opens a connection to this workload's server, verified as ClientTLS says.
func (w *Workload) Connect(ctx context.Context, l Login) (*pgx.Conn, error) {
	return w.connect(ctx, w.Addr, l, "postgres")
}

// connect opens a verified TLS connection to the server at host, on the workload's port.
func (w *Workload) connect(ctx context.Context, host string, l Login, db string) (*pgx.Conn, error) {
	tlsCfg, err := w.ClientTLS(host)
	if err != nil {
		return nil, err
	}
	return Connect(ctx, host, w.Port, l, db, tlsCfg)
}

// WaitReady polls until the server accepts a connection for l, or ctx ends. A server that
// answers but refuses the login (SQLSTATE class 28: no such role, authentication failed) is
// up: that error is returned at once, since waiting changes nothing.
func (w *Workload) WaitReady(ctx context.Context, l Login) error {
	var last error
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		conn, err := w.Connect(cctx, l)
		cancel()
		if err == nil {
			_ = conn.Close(ctx)
			return nil
		}
		if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "28") {
			return err
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("server not ready: %w (last: %v)", ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Promote promotes a standby (pg_promote, waiting) and checkpoints so that pg_rewind against
// it sees the new timeline at once.
func Promote(ctx context.Context, conn *pgx.Conn) error {
	inRec, err := IsInRecovery(ctx, conn)
	if err != nil {
		return err
	}
	if inRec {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT pg_promote(true, 60)").Scan(&ok); err != nil {
			return fmt.Errorf("pg_promote: %w", err)
		}
		if !ok {
			return errors.New("pg_promote: server did not finish promoting within 60s")
		}
	}
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("checkpoint after promote: %w", err)
	}
	return nil
}

// IsInRecovery reports pg_is_in_recovery().
func IsInRecovery(ctx context.Context, conn *pgx.Conn) (bool, error) {
	var b bool
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&b); err != nil {
		return false, fmt.Errorf("pg_is_in_recovery: %w", err)
	}
	return b, nil
}

// Positions are the WAL positions of a server. On a primary, Received and Replayed are zero.
type Positions struct {
	InRecovery bool
	Current    LSN // primary: pg_current_wal_lsn()
	Received   LSN // standby: pg_last_wal_receive_lsn()
	Replayed   LSN // standby: pg_last_wal_replay_lsn()
	Timeline   int // timeline of the last checkpoint (pg_control_checkpoint)
	// ReplayLag is now() - pg_last_xact_replay_timestamp() on a standby (0 when unknown).
	ReplayLag time.Duration
}

// WALPositions reads the server's WAL positions.
func WALPositions(ctx context.Context, conn *pgx.Conn) (Positions, error) {
	var p Positions
	var cur, rec, rep *string
	var lagSec *float64
	var tli *int
	var posErr error
	posRead := false // the first query's answer was read (its error, if any, in posErr)
	// One batch: the standby's timeline is asked along, and used only in recovery (a
	// primary has no WAL receiver). Its errors are ignored, as is its answer on a primary.
	b := &pgx.Batch{}
	b.Queue(`SELECT pg_is_in_recovery(),
		CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END,
		pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text,
		extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8,
		(SELECT timeline_id FROM pg_control_checkpoint())`).QueryRow(func(row pgx.Row) error {
		posErr, posRead = row.Scan(&p.InRecovery, &cur, &rec, &rep, &lagSec, &p.Timeline), true
		return posErr
	})
	b.Queue("SELECT received_tli FROM pg_stat_wal_receiver").QueryRow(func(row pgx.Row) error {
		if row.Scan(&tli) != nil {
			tli = nil
		}
		return nil
	})
	err := conn.SendBatch(ctx, b).Close()
	if !posRead || posErr != nil {
		return p, fmt.Errorf("wal positions: %w", cmp.Or(posErr, err))
	}
	for _, x := range []struct {
		s   *string
		dst *LSN
	}{{cur, &p.Current}, {rec, &p.Received}, {rep, &p.Replayed}} {
		if x.s != nil {
			if *x.dst, err = ParseLSN(*x.s); err != nil {
				return p, err
			}
		}
	}
	if lagSec != nil && p.InRecovery {
		p.ReplayLag = time.Duration(*lagSec * float64(time.Second))
	}
	// The timeline a standby is on: the one it receives/replays (pg_control may lag).
	if p.InRecovery && tli != nil && *tli > p.Timeline {
		p.Timeline = *tli
	}
	return p, nil
}

// TimelineHistory returns the history of the server's timeline tli (nil for timeline 1).
// It needs a superuser (pg_read_file).
func TimelineHistory(ctx context.Context, conn *pgx.Conn, tli int) ([]HistoryEntry, error) {
	if tli <= 1 {
		return nil, nil
	}
	var s string
	name := fmt.Sprintf("pg_wal/%08X.history", tli)
	if err := conn.QueryRow(ctx, "SELECT pg_read_file($1)", name).Scan(&s); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, historyError(err))
	}
	return ParseHistory(s)
}

// WALTimelines returns the timelines of the WAL segment files the server holds (pg_wal),
// partial ones included. A standby fetches the history files of its upstream's timelines
// whether or not it can follow them; only a timeline it received WAL on has segments.
// pg_ls_waldir needs a superuser or pg_monitor.
func WALTimelines(ctx context.Context, conn *pgx.Conn) (map[int]bool, error) {
	rows, err := conn.Query(ctx, `SELECT DISTINCT substr(name, 1, 8) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}(\.partial)?$'`)
	if err != nil {
		return nil, fmt.Errorf("wal segments: %w", err)
	}
	tlis, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("wal segments: %w", err)
	}
	held := make(map[int]bool, len(tlis))
	for _, hex := range tlis {
		tli, err := strconv.ParseUint(hex, 16, 32)
		if err != nil {
			return nil, fmt.Errorf("wal segment timeline %q: %w", hex, err)
		}
		held[int(tli)] = true
	}
	return held, nil
}

// ErrNoHistory is a timeline whose history file the server does not have: it never was on
// that timeline, nor did it fetch the timeline's history from an upstream. Any other error
// reading a history says nothing about the timeline.
var ErrNoHistory = errors.New("no such timeline history")

// historyError marks the server's "no such file" (SQLSTATE 58P01) as ErrNoHistory.
func historyError(err error) error {
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == "58P01" {
		return fmt.Errorf("%w: %w", ErrNoHistory, err)
	}
	return err
}

// ReplicationTimelineHistory returns the history of timeline tli (nil for timeline 1) read
// with the replication command TIMELINE_HISTORY, over a physical replication connection as
// l (pg_hba: database "replication"), with tlsCfg as Connect.
func ReplicationTimelineHistory(ctx context.Context, host string, port int, l Login, tlsCfg *tls.Config, tli int) ([]HistoryEntry, error) {
	if tli <= 1 {
		return nil, nil
	}
	cfg, err := pgconn.ParseConfig("")
	if err != nil {
		return nil, err
	}
	if port == 0 {
		port = DefaultPort
	}
	cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database = host, uint16(port), l.User, l.Password, "replication"
	cfg.ConnectTimeout = 5 * time.Second
	if cfg.TLSConfig, err = l.withCert(tlsCfg); err != nil {
		return nil, err
	}
	cfg.Fallbacks = nil
	cfg.RuntimeParams["application_name"] = "postgresql-k8s-charm"
	cfg.RuntimeParams["replication"] = "true"
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("replication connection %s@%s:%d: %w", l.User, host, port, err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	// A walsender takes the simple query protocol only; tli is an int, nothing to quote.
	res, err := conn.Exec(ctx, fmt.Sprintf("TIMELINE_HISTORY %d", tli)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("TIMELINE_HISTORY %d: %w", tli, historyError(err))
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) != 2 {
		return nil, fmt.Errorf("TIMELINE_HISTORY %d: unexpected result", tli)
	}
	// The content column is the file's bytes as they are (not bytea's hex text form).
	return ParseHistory(string(res[0].Rows[0][1]))
}

// CurrentTimeline returns the timeline the server writes (primary) or follows (standby).
func CurrentTimeline(ctx context.Context, conn *pgx.Conn) (int, error) {
	p, err := WALPositions(ctx, conn)
	return p.Timeline, err
}

var slotName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9_]{1,63}$`) })

// SlotName turns a unit name into a replication slot name (postgresql-k8s/1 → postgresql_k8s_1).
func SlotName(unit string) string {
	b := []byte(unit)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c >= 'A' && c <= 'Z':
			b[i] = c + 'a' - 'A'
		default:
			b[i] = '_'
		}
	}
	if len(b) > 63 {
		b = b[:63]
	}
	return string(b)
}

// CreateSlot creates a physical replication slot (reserving WAL at once) unless it exists.
func CreateSlot(ctx context.Context, conn *pgx.Conn, name string) error {
	if !slotName().MatchString(name) {
		return fmt.Errorf("invalid slot name %q", name)
	}
	_, err := conn.Exec(ctx, `SELECT pg_create_physical_replication_slot($1, true)
		WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`, name)
	if err != nil {
		return fmt.Errorf("create slot %s: %w", name, err)
	}
	return nil
}

// DropSlot drops a replication slot if it exists and is not in use.
func DropSlot(ctx context.Context, conn *pgx.Conn, name string) error {
	_, err := conn.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
		WHERE slot_name = $1 AND NOT active`, name)
	if err != nil {
		return fmt.Errorf("drop slot %s: %w", name, err)
	}
	return nil
}

// Slot is a replication slot.
type Slot struct {
	Name       string
	Active     bool
	RestartLSN LSN
	// WALStatus is pg_replication_slots.wal_status: reserved, extended, unreserved, or lost
	// (max_slot_wal_keep_size removed WAL the slot's consumer still needed).
	WALStatus string
}

// SlotLost is the WALStatus of a slot whose consumer can no longer catch up.
const SlotLost = "lost"

// ListSlots lists the physical replication slots.
func ListSlots(ctx context.Context, conn *pgx.Conn) ([]Slot, error) {
	rows, err := conn.Query(ctx, `SELECT slot_name, active, coalesce(restart_lsn::text, '0/0'), coalesce(wal_status, '')
		FROM pg_replication_slots WHERE slot_type = 'physical' ORDER BY slot_name`)
	if err != nil {
		return nil, fmt.Errorf("list slots: %w", err)
	}
	defer rows.Close()
	var out []Slot
	for rows.Next() {
		var s Slot
		var lsn string
		if err := rows.Scan(&s.Name, &s.Active, &lsn, &s.WALStatus); err != nil {
			return nil, err
		}
		if s.RestartLSN, err = ParseLSN(lsn); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// TerminateSlotSenders ends the walsenders streaming through the slots whose names start with
// prefix (a detached standby must not keep streaming) and returns how many it signalled.
func TerminateSlotSenders(ctx context.Context, conn *pgx.Conn, prefix string) (int, error) {
	if prefix == "" || !slotName().MatchString(prefix) {
		return 0, fmt.Errorf("invalid slot prefix %q", prefix)
	}
	var n int
	// starts_with: '_' in a LIKE pattern would match any character.
	err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(active_pid))
		FROM pg_replication_slots WHERE active AND active_pid IS NOT NULL AND starts_with(slot_name, $1)`, prefix).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("terminate walsenders of slots %s*: %w", prefix, err)
	}
	return n, nil
}

// Replica is a row of pg_stat_replication.
type Replica struct {
	AppName   string
	State     string // startup, catchup, streaming, backup, stopping
	SyncState string // async, potential, sync, quorum
	FlushLSN  LSN    // 0 when the standby has not reported it
	ReplayLSN LSN
}

const replicaColumns = `application_name, state, sync_state,
	coalesce(flush_lsn::text, '0/0'), coalesce(replay_lsn::text, '0/0')`

func scanReplica(rows pgx.Rows) (Replica, error) {
	var r Replica
	var flush, replay string
	if err := rows.Scan(&r.AppName, &r.State, &r.SyncState, &flush, &replay); err != nil {
		return r, err
	}
	var err error
	if r.FlushLSN, err = ParseLSN(flush); err != nil {
		return r, err
	}
	r.ReplayLSN, err = ParseLSN(replay)
	return r, err
}

// Replicas lists the connected walsenders' standbys.
func Replicas(ctx context.Context, conn *pgx.Conn) ([]Replica, error) {
	rows, err := conn.Query(ctx, `SELECT `+replicaColumns+` FROM pg_stat_replication ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("pg_stat_replication: %w", err)
	}
	defer rows.Close()
	var out []Replica
	for rows.Next() {
		r, err := scanReplica(rows)
		if err != nil {
			return nil, fmt.Errorf("pg_stat_replication: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ReplicationState is what a primary knows about its synchronous replication. The flush
// position is read before the standbys, so a standby reported at or past it has everything
// acknowledged before the read.
type ReplicationState struct {
	// SyncStandbyNames is synchronous_standby_names as this session sees it: after a reload it
	// shows the new value once the server has re-read its configuration.
	SyncStandbyNames string
	// FlushLSN is pg_current_wal_flush_lsn(): every acknowledged commit lies before it.
	FlushLSN LSN
	Standbys []Replica
}

// ReadReplicationState reads the primary's synchronous replication state: the setting and the
// flush position, then the standbys, in that order in one batch.
func ReadReplicationState(ctx context.Context, conn *pgx.Conn) (ReplicationState, error) {
	var st ReplicationState
	var stepErr error // what a step's answer said, rather than the batch's summary of it
	b := &pgx.Batch{}
	b.Queue(`SELECT current_setting('synchronous_standby_names'), pg_current_wal_flush_lsn()::text`).QueryRow(func(row pgx.Row) error {
		var flush string
		if err := row.Scan(&st.SyncStandbyNames, &flush); err != nil {
			stepErr = fmt.Errorf("replication state: %w", err)
			return stepErr
		}
		st.FlushLSN, stepErr = ParseLSN(flush)
		return stepErr
	})
	b.Queue(`SELECT ` + replicaColumns + ` FROM pg_stat_replication ORDER BY 1`).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			r, err := scanReplica(rows)
			if err != nil {
				stepErr = fmt.Errorf("pg_stat_replication: %w", err)
				return stepErr
			}
			st.Standbys = append(st.Standbys, r)
		}
		return nil // rows.Err() is the batch's
	})
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		if stepErr != nil {
			return st, stepErr
		}
		return st, fmt.Errorf("replication state: %w", err)
	}
	return st, nil
}

// ScramVerifier computes a SCRAM-SHA-256 verifier for password, so that the clear password is
// never sent in SQL (where statement logging could record it). It hashes the password as
// the server would (SASLprep, saslprep.go), which is what libpq clients send; pgx clients
// send the same for every password CheckPassword accepts.
func ScramVerifier(password string) (string, error) {
	password = libpqForm(password)
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	const iter = 4096
	salted, err := pbkdf2.Key(sha256.New, password, salt, iter, 32)
	if err != nil {
		return "", err
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	server := mac(salted, "Server Key")
	enc := base64.StdEncoding.EncodeToString
	return "SCRAM-SHA-256$" + strconv.Itoa(iter) + ":" + enc(salt) + "$" + enc(stored[:]) + ":" + enc(server), nil
}

// Role is a system user and what it may do.
type Role struct {
	Name     string
	Password string
	// Attributes: e.g. "SUPERUSER", "REPLICATION".
	Attributes []string
	// Grants run after creation, e.g. "GRANT pg_monitor TO %s" (%s is the quoted role name).
	Grants []string
}

// EnsureRole creates the role (LOGIN) or alters it to have the attributes and password. It
// commits without waiting for synchronous standbys: the charm runs it in the hook that promotes
// a primary, before any standby streams from it (waiting would hang that hook, and with it
// the events that bring the standbys), and it only re-applies passwords that set-password
// already committed synchronously or that the replicas are seeded with.
func EnsureRole(ctx context.Context, conn *pgx.Conn, r Role) error {
	verifier, err := ScramVerifier(r.Password)
	if err != nil {
		return err
	}
	ident := pgx.Identifier{r.Name}.Sanitize()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("role %s: %w", r.Name, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = local"); err != nil {
		return fmt.Errorf("role %s: %w", r.Name, err)
	}
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", r.Name).Scan(&exists); err != nil {
		return fmt.Errorf("role %s: %w", r.Name, err)
	}
	verb := "CREATE"
	if exists {
		verb = "ALTER"
	}
	attrs := " LOGIN"
	for _, a := range r.Attributes {
		attrs += " " + a
	}
	// The verifier is not a secret in the sense of a password, but keep it out of logs too.
	stmt := fmt.Sprintf("%s ROLE %s WITH%s PASSWORD %s", verb, ident, attrs, quoteLiteral(verifier))
	if _, err := tx.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("%s role %s: %w", verb, r.Name, err)
	}
	for _, g := range r.Grants {
		if _, err := tx.Exec(ctx, fmt.Sprintf(g, ident)); err != nil {
			return fmt.Errorf("grant to %s: %w", r.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("%s role %s: %w", verb, r.Name, err)
	}
	return nil
}

// SetPassword changes a role's password (sent as a SCRAM verifier). The commit waits for the
// synchronous standbys like any other: a failover must not bring back the old password.
func SetPassword(ctx context.Context, conn *pgx.Conn, user, password string) error {
	verifier, err := ScramVerifier(password)
	if err != nil {
		return err
	}
	stmt := fmt.Sprintf("ALTER ROLE %s WITH PASSWORD %s", pgx.Identifier{user}.Sanitize(), quoteLiteral(verifier))
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("set password of %s: %w", user, err)
	}
	return nil
}

func quoteLiteral(s string) string {
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}

// ReplicationGrants are what the replication role needs beyond REPLICATION for the SQL the
// other cluster's charm runs on this one (it logs in as replication, never as a superuser):
// CHECKPOINT before it rewinds onto this server (pg_checkpoint, PostgreSQL 15 and later; on
// older servers that step fails and the follower re-seeds instead). Slots need REPLICATION
// only, the WAL position functions and pg_replication_slots are public, and timeline
// histories are read over the replication protocol (DB.TimelineHistory).
var ReplicationGrants = []string{
	`DO $$BEGIN IF to_regrole('pg_checkpoint') IS NOT NULL THEN EXECUTE 'GRANT pg_checkpoint TO %s'; END IF; END$$`,
}

// EnsureCertRole creates the superuser name, which logs in with a client certificate only
// (no password), unless it exists.
func EnsureCertRole(ctx context.Context, conn *pgx.Conn, name string) error {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("role %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE ROLE "+pgx.Identifier{name}.Sanitize()+" WITH LOGIN SUPERUSER"); err != nil {
		return fmt.Errorf("create role %s: %w", name, err)
	}
	return nil
}

// RewindGrants are the grants pg_rewind needs from a non-superuser source role.
var RewindGrants = []string{
	"GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO %s",
	"GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO %s",
	"GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO %s",
	"GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO %s",
}
