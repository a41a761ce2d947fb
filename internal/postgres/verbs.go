package postgres

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/canonical/pebble/client"
)

// Bounds of the workload commands (docs/DESIGN.md, "Deadlines"), by command (execBound): a
// command whose caller gives no deadline is killed at its bound (Pebble's exec timeout) and
// the step fails with an *ExecTimeoutError.
const (
	// InitDBTimeout: initdb writes a few tens of MB and fsyncs them.
	InitDBTimeout = 5 * time.Minute
	// FastShutdownTimeout is pg_ctl stop's own wait (-t) for a fast shutdown, whose
	// shutdown checkpoint writes every dirty buffer.
	FastShutdownTimeout = 2 * time.Minute
	// DefaultCloneTimeout bounds pg_basebackup and pg_rewind when the caller gives no
	// deadline (the charm gives clone_timeout_minutes): a day copies about 2 TB at 25 MB/s.
	DefaultCloneTimeout = 24 * time.Hour
	// DefaultExecTimeout bounds the other commands (pg_controldata, mv, id): they read a
	// file or rename a directory.
	DefaultExecTimeout = time.Minute
)

// execBound is how long the command name may run when its caller gives no deadline.
func execBound(name string) time.Duration {
	switch name {
	case "initdb":
		return InitDBTimeout
	case "pg_ctl": // stop waits FastShutdownTimeout itself; status and reload are quick
		return FastShutdownTimeout + 30*time.Second
	case "pg_basebackup", "pg_rewind":
		return DefaultCloneTimeout
	}
	return DefaultExecTimeout
}

// IsInitialised reports whether PGDATA holds a cluster (PG_VERSION exists).
func (w *Workload) IsInitialised(ctx context.Context) (bool, error) {
	return w.Exists(ctx, path.Join(w.PGData(), "PG_VERSION"))
}

// InitDB creates the cluster (data checksums) with superuser as its bootstrap superuser. A
// password, if any, goes through a 0600 file that is removed afterwards.
func (w *Workload) InitDB(ctx context.Context, superuser Login) error {
	if err := w.MakeDir(ctx, w.PrivateDir(), 0o700); err != nil {
		return err
	}
	if err := w.MakeDir(ctx, w.PGData(), 0o700); err != nil {
		return err
	}
	cmd := []string{w.bin("initdb"), "-D", w.Host(w.PGData()), "--username=" + superuser.User}
	if superuser.Password == "" {
		// A superuser without a password (it logs in with a certificate): initdb's own
		// pg_hba.conf, which the charm replaces before the first start, admits nobody.
		cmd = append(cmd, "--auth-host=reject", "--auth-local=reject")
	} else {
		pw := path.Join(w.PrivateDir(), "initdb.pw")
		if err := w.WriteFile(ctx, pw, []byte(superuser.Password+"\n"), 0o600); err != nil {
			return err
		}
		defer func() { _ = w.Remove(context.WithoutCancel(ctx), pw) }()
		cmd = append(cmd, "--pwfile="+w.Host(pw), "--auth-host=scram-sha-256", "--auth-local=scram-sha-256")
	}
	cmd = append(cmd, "--data-checksums", "--encoding=UTF8", "--locale=C", "--no-instructions")
	if _, err := w.Exec(ctx, cmd, nil); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	return nil
}

// ServiceStatus returns the Pebble status of the postgresql service ("" when not planned).
func (w *Workload) ServiceStatus(ctx context.Context) (client.ServiceStatus, error) {
	var infos []*client.ServiceInfo
	err := w.pebble(ctx, "pebble services", PebbleAPITimeout, func(pc *client.Client) (err error) {
		infos, err = pc.Services(&client.ServicesOptions{Names: []string{ServiceName}})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("pebble services: %w", err)
	}
	if len(infos) == 0 {
		return "", nil
	}
	return infos[0].Current, nil
}

// waitChange waits for a service change, for ServiceChangeTimeout at most: Pebble answers at
// its (server-side) timeout, and the call is cut off a little later if it does not.
func (w *Workload) waitChange(ctx context.Context, id string) error {
	opts := &client.WaitChangeOptions{Timeout: ServiceChangeTimeout}
	if dl, ok := ctx.Deadline(); ok {
		opts.Timeout = min(opts.Timeout, time.Until(dl))
	}
	var ch *client.Change
	err := w.pebble(ctx, "wait for pebble change "+id, opts.Timeout+5*time.Second, func(pc *client.Client) (err error) {
		ch, err = pc.WaitChange(id, opts)
		return err
	})
	if err != nil {
		return fmt.Errorf("wait pebble change %s: %w", id, err)
	}
	if ch.Err != "" {
		return errors.New(ch.Err)
	}
	return nil
}

// Start starts the postgresql service (no-op when active). It returns once Pebble considers
// it started; use WaitReady to wait for connections.
func (w *Workload) Start(ctx context.Context) error {
	st, err := w.ServiceStatus(ctx)
	if err != nil {
		return err
	}
	if st == client.StatusActive {
		return nil
	}
	// A postmaster that outlived its Pebble (a restarted pod whose processes survived)
	// would make the new one fail on its lock file: shut it down cleanly first.
	if err := w.stopPostmaster(ctx); err != nil {
		return err
	}
	var id string
	err = w.pebble(ctx, "start postgresql", PebbleAPITimeout, func(pc *client.Client) (err error) {
		id, err = pc.Start(&client.ServiceOptions{Names: []string{ServiceName}})
		return err
	})
	if err != nil {
		return fmt.Errorf("start postgresql: %w", err)
	}
	if err := w.waitChange(ctx, id); err != nil {
		return fmt.Errorf("start postgresql: %w", err)
	}
	return nil
}

// stopPostmaster fast-stops the postmaster of PGDATA if one runs (under this Pebble's service
// or orphaned); a stale pid file (after a crash) is left for postgres to clean up.
func (w *Workload) stopPostmaster(ctx context.Context) error {
	if ok, err := w.Exists(ctx, path.Join(w.PGData(), "postmaster.pid")); err != nil || !ok {
		return err
	}
	running, err := w.postmasterRunning(ctx)
	if err != nil || !running {
		return err
	}
	wait := strconv.Itoa(int(FastShutdownTimeout / time.Second))
	if _, err := w.Exec(ctx, []string{w.bin("pg_ctl"), "stop", "-D", w.Host(w.PGData()), "-m", "fast", "-w", "-t", wait}, nil); err != nil {
		// A postmaster that was dying (killed with its pod) leaves its pid file behind and
		// pg_ctl reports "server does not shut down": it is down, just not cleanly.
		if running, serr := w.postmasterRunning(ctx); serr == nil && !running {
			return nil
		}
		return fmt.Errorf("fast shutdown: %w", err)
	}
	return nil
}

// postmasterRunning asks pg_ctl status whether the pid file names a live postmaster.
func (w *Workload) postmasterRunning(ctx context.Context) (bool, error) {
	_, err := w.Exec(ctx, []string{w.bin("pg_ctl"), "status", "-D", w.Host(w.PGData())}, nil)
	if err == nil {
		return true, nil
	}
	var ee *ExecError
	if errors.As(err, &ee) && ee.ExitCode == 3 {
		return false, nil
	}
	return false, fmt.Errorf("pg_ctl status: %w", err)
}

// Stop shuts PostgreSQL down with a fast shutdown (pg_ctl stop -m fast: a clean shutdown
// checkpoint that connected walsenders ship before exiting; never Pebble's SIGTERM smart
// shutdown that may end in SIGKILL), then marks the Pebble service stopped. It returns the
// control data read after the stop.
func (w *Workload) Stop(ctx context.Context) (ControlData, error) {
	if err := w.stopPostmaster(ctx); err != nil {
		return ControlData{}, err
	}
	st, err := w.ServiceStatus(ctx)
	if err != nil {
		return ControlData{}, err
	}
	if st != "" && st != client.StatusInactive {
		var id string
		err := w.pebble(ctx, "stop postgresql", PebbleAPITimeout, func(pc *client.Client) (err error) {
			id, err = pc.Stop(&client.ServiceOptions{Names: []string{ServiceName}})
			return err
		})
		if err != nil {
			return ControlData{}, fmt.Errorf("stop pebble service: %w", err)
		}
		if err := w.waitChange(ctx, id); err != nil && !strings.Contains(err.Error(), "already") {
			return ControlData{}, fmt.Errorf("stop pebble service: %w", err)
		}
	}
	if ok, err := w.IsInitialised(ctx); err != nil || !ok {
		return ControlData{}, err
	}
	return w.ControlData(ctx)
}

// Reload asks the running server to re-read its configuration files (pg_ctl reload).
func (w *Workload) Reload(ctx context.Context) error {
	_, err := w.Exec(ctx, []string{w.bin("pg_ctl"), "reload", "-D", w.Host(w.PGData())}, nil)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	return nil
}

// IsStandbyConfigured reports whether standby.signal exists in PGDATA.
func (w *Workload) IsStandbyConfigured(ctx context.Context) (bool, error) {
	return w.Exists(ctx, path.Join(w.PGData(), "standby.signal"))
}

// WriteStandbySignal makes the next start a standby (fencing: a unit not named primary never
// starts writable).
func (w *Workload) WriteStandbySignal(ctx context.Context) error {
	return w.WriteFile(ctx, path.Join(w.PGData(), "standby.signal"), nil, 0o600)
}

// FollowPrimary configures this server as a standby of up: standby.signal, primary_conninfo,
// primary_slot_name and recovery_target_timeline latest (in the include file). A running
// standby picks the change up on reload; a running primary must be stopped first.
func (w *Workload) FollowPrimary(ctx context.Context, s Settings, up Upstream) (changed bool, err error) {
	s.Upstream = &up
	if err := w.WriteStandbySignal(ctx); err != nil {
		return false, err
	}
	return w.WriteConf(ctx, s)
}

// BaseBackup seeds PGDATA from up with pg_basebackup (-X stream, using up.Slot when set)
// into a fresh directory; the current PGDATA, if any, is moved aside (never deleted) and its
// new name returned.
func (w *Workload) BaseBackup(ctx context.Context, up Upstream) (movedAside string, err error) {
	fresh := w.PGData() + ".new"
	if err := w.Remove(ctx, fresh); err != nil {
		return "", err
	}
	if err := w.MakeDir(ctx, fresh, 0o700); err != nil {
		return "", err
	}
	u := w.withFiles(up)
	// Not the standby's application_name: pg_basebackup's WAL stream shows as "streaming" in
	// pg_stat_replication and must never be taken for the standby itself (a synchronous one
	// it cannot stand in for).
	u.AppName = ""
	args := []string{w.bin("pg_basebackup"), "-d", u.ConnInfo(), "-D", w.Host(fresh),
		"-X", "stream", "--checkpoint=fast", "--no-password", "--progress"}
	if up.Slot != "" {
		args = append(args, "-S", up.Slot)
	}
	if _, err := w.Exec(ctx, args, nil); err != nil {
		_ = w.Remove(context.WithoutCancel(ctx), fresh)
		return "", fmt.Errorf("pg_basebackup from %s: %w", up.Host, err)
	}
	movedAside, err = w.MoveAside(ctx)
	if err != nil {
		return "", err
	}
	if _, err := w.execAs(ctx, "", []string{"mv", w.Host(fresh), w.Host(w.PGData())}, nil, nil); err != nil {
		return movedAside, fmt.Errorf("install base backup: %w", err)
	}
	return movedAside, nil
}

// MoveAside renames PGDATA to pgdata.old-<UTC timestamp> (when it exists) and returns the new
// container path ("" when there was nothing to move). Only that newest copy is kept: older
// pgdata.old-* directories are removed, so that repeated re-seeds cannot fill the volume.
func (w *Workload) MoveAside(ctx context.Context) (string, error) {
	ok, err := w.Exists(ctx, w.PGData())
	if err != nil || !ok {
		return "", err
	}
	aside := w.PGData() + AsideSuffix + time.Now().UTC().Format("20060102T150405.000")
	if _, err := w.execAs(ctx, "", []string{"mv", w.Host(w.PGData()), w.Host(aside)}, nil, nil); err != nil {
		return "", fmt.Errorf("move data dir aside: %w", err)
	}
	old, err := w.List(ctx, path.Dir(w.PGData()), path.Base(w.PGData())+AsideSuffix+"*")
	if err != nil {
		return aside, err
	}
	for _, name := range old {
		if p := path.Join(path.Dir(w.PGData()), name); p != aside {
			if err := w.Remove(ctx, p); err != nil {
				return aside, fmt.Errorf("remove older data kept aside: %w", err)
			}
		}
	}
	return aside, nil
}

// AsideSuffix follows PGDATA's name in the directory MoveAside keeps the old data in.
const AsideSuffix = ".old-"

// Rewind runs pg_rewind against a running source server (user with the rewind grants) on a
// stopped PGDATA. Run CHECKPOINT on the source first when it was just promoted.
func (w *Workload) Rewind(ctx context.Context, source Upstream) (string, error) {
	u := w.withFiles(source)
	if u.DBName == "" {
		u.DBName = "postgres"
	}
	out, err := w.Exec(ctx, []string{w.bin("pg_rewind"), "--target-pgdata=" + w.Host(w.PGData()),
		"--source-server=" + u.ConnInfo(), "--progress"}, nil)
	if err != nil {
		return out, fmt.Errorf("pg_rewind from %s: %w", source.Host, err)
	}
	return out, nil
}

// ControlData is what pg_controldata says about PGDATA.
type ControlData struct {
	State             string // "shut down", "shut down in recovery", "in production", "in archive recovery"...
	SystemID          string
	CheckpointLSN     LSN // Latest checkpoint location
	RedoLSN           LSN // Latest checkpoint's REDO location
	TimelineID        int // Latest checkpoint's TimeLineID
	MinRecoveryEndLSN LSN
	MinRecoveryEndTLI int
	DataChecksums     bool
	WALLogHints       bool
}

// CleanShutdown reports whether the cluster was shut down cleanly (as primary or standby).
func (c ControlData) CleanShutdown() bool {
	return c.State == "shut down" || c.State == "shut down in recovery"
}

// ControlData runs pg_controldata on PGDATA.
func (w *Workload) ControlData(ctx context.Context) (ControlData, error) {
	out, err := w.Exec(ctx, []string{w.bin("pg_controldata"), "-D", w.Host(w.PGData())}, nil)
	if err != nil {
		return ControlData{}, fmt.Errorf("pg_controldata: %w", err)
	}
	return ParseControlData(out)
}

// ParseControlData parses pg_controldata output (LANG=C).
func ParseControlData(out string) (ControlData, error) {
	var c ControlData
	var err error
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "Database cluster state":
			c.State = v
		case "Database system identifier":
			c.SystemID = v
		case "Latest checkpoint location":
			c.CheckpointLSN, err = ParseLSN(v)
		case "Latest checkpoint's REDO location":
			c.RedoLSN, err = ParseLSN(v)
		case "Latest checkpoint's TimeLineID":
			c.TimelineID, err = strconv.Atoi(v)
		case "Minimum recovery ending location":
			c.MinRecoveryEndLSN, err = ParseLSN(v)
		case "Min recovery ending loc's timeline":
			c.MinRecoveryEndTLI, err = strconv.Atoi(v)
		case "Data page checksum version":
			c.DataChecksums = v != "0"
		case "wal_log_hints setting":
			c.WALLogHints = v == "on"
		}
		if err != nil {
			return c, fmt.Errorf("pg_controldata %q: %w", k, err)
		}
	}
	if c.State == "" || c.SystemID == "" {
		return c, fmt.Errorf("pg_controldata: unexpected output %q", out)
	}
	return c, nil
}

// LSN is a WAL location.
type LSN uint64

// ParseLSN parses "X/Y".
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return 0, fmt.Errorf("bad LSN %q", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("bad LSN %q: %w", s, err)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("bad LSN %q: %w", s, err)
	}
	return LSN(h<<32 | l), nil
}

func (l LSN) String() string { return fmt.Sprintf("%X/%X", uint64(l)>>32, uint64(l)&0xffffffff) }

// HistoryEntry is one line of a timeline history file: timeline TLI ended at SwitchLSN.
type HistoryEntry struct {
	TLI       int
	SwitchLSN LSN
}

// ParseHistory parses a <tli>.history file.
func ParseHistory(s string) ([]HistoryEntry, error) {
	var out []HistoryEntry
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("bad history line %q", line)
		}
		tli, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, fmt.Errorf("bad history line %q: %w", line, err)
		}
		lsn, err := ParseLSN(f[1])
		if err != nil {
			return nil, err
		}
		out = append(out, HistoryEntry{TLI: tli, SwitchLSN: lsn})
	}
	return out, nil
}

// CanFollowWithoutRewind reports whether a stopped server with control data c can follow,
// without pg_rewind, a primary whose current timeline has history hist (entries of earlier
// timelines; empty when the primary is on timeline 1): c must have been shut down cleanly,
// or stopped as a standby, and its last checkpoint must lie before the point where the
// primary's history left c's timeline (or c's timeline must be the primary's current one).
//
// A standby that was killed ("in archive recovery", also one killed while it was being
// promoted) wrote no WAL of its own: started as a standby, it replays what it has again
// and writes nothing. pg_rewind would first run crash recovery on it as a primary, whose
// shutdown checkpoint is WAL the primary never had; on the primary's timeline pg_rewind
// then finds nothing to rewind, and the standby cannot follow past that checkpoint. A
// standby that holds WAL past the fork after all streams nothing once started, and the
// charm rewinds it then, after a clean stop.
func CanFollowWithoutRewind(c ControlData, primaryTLI int, hist []HistoryEntry) bool {
	if !c.CleanShutdown() && c.State != "in archive recovery" {
		return false
	}
	if c.TimelineID == primaryTLI {
		return true
	}
	end := c.CheckpointLSN
	if c.MinRecoveryEndLSN > end {
		end = c.MinRecoveryEndLSN // a standby may have replayed past its last restartpoint
	}
	for _, h := range hist {
		if h.TLI == c.TimelineID {
			return end < h.SwitchLSN
		}
	}
	return false
}
