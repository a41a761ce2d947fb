package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// Diagnose describes, after a broken invariant, what every unit says (status) and what its
// server does (recovery, timeline, WAL positions, what it streams from or to), and saves
// the controller's whole debug log to a file, so that a finding can be routed without
// replaying it.
func (d *Drill) Diagnose(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	var b strings.Builder
	for _, c := range []side{d.rome, d.lisbon} {
		st, err := d.j.Status(ctx, c.Model)
		if err != nil {
			fmt.Fprintf(&b, "%s: status: %v\n", c.Model, err)
			continue
		}
		app := st.Applications[c.App]
		fmt.Fprintf(&b, "%s/%s: %s %q\n", c.Model, c.App, app.ApplicationStatus.Current, app.ApplicationStatus.Message)
		names := st.UnitNames(c.App)
		sort.Strings(names)
		cl := d.clusters[c.Model]
		for _, name := range names {
			u := app.Units[name]
			leader := ""
			if u.Leader {
				leader = " (leader)"
			}
			fmt.Fprintf(&b, "  %s%s %s: %s %q\n", name, leader, u.Address, u.WorkloadStatus.Current, u.WorkloadStatus.Message)
			if cl != nil {
				fmt.Fprintf(&b, "    %s\n", serverState(ctx, u.Address, cl.Password))
			}
		}
	}
	var logs strings.Builder
	for _, c := range []side{d.rome, d.lisbon} {
		out, err := d.j.Juju(ctx, "debug-log", "-m", c.Model, "--replay", "--no-tail", "-n", "1000000")
		if err != nil {
			fmt.Fprintf(&b, "debug-log of %s: %v\n", c.Model, err)
		}
		fmt.Fprintf(&logs, "==== %s ====\n%s", c.Model, out)
	}
	path := filepath.Join(os.TempDir(), fmt.Sprintf("chaos-seed-%d-%s.log", d.prof.Seed, time.Now().UTC().Format("150405")))
	if err := os.WriteFile(path, []byte(logs.String()), 0o600); err != nil {
		fmt.Fprintf(&b, "debug-log: %v\n", err)
	} else {
		fmt.Fprintf(&b, "both models' whole debug-log saved in %s\n", path)
	}
	return b.String()
}

// serverState is one line about a unit's server, read as the operator.
func serverState(ctx context.Context, addr, password string) string {
	conn, err := scenario.Connect(ctx, addr, password)
	if err != nil {
		return "server: " + err.Error()
	}
	defer conn.Close(context.Background())
	var inRecovery bool
	var tli int64
	var recv, replay, current, receiver, sender *string
	err = conn.QueryRow(ctx, `SELECT pg_is_in_recovery(), (SELECT timeline_id FROM pg_control_checkpoint()),
		pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text,
		CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END,
		(SELECT status || ' tli ' || received_tli FROM pg_stat_wal_receiver), (SELECT sender_host FROM pg_stat_wal_receiver)`).
		Scan(&inRecovery, &tli, &recv, &replay, &current, &receiver, &sender)
	if err != nil {
		return "server: " + err.Error()
	}
	s := fmt.Sprintf("in recovery %v, checkpoint timeline %d, received %s, replayed %s, current %s, walreceiver %s from %s",
		inRecovery, tli, str(recv), str(replay), str(current), str(receiver), str(sender))
	rows, err := conn.Query(ctx, `SELECT application_name || '=' || state || '/' || sync_state FROM pg_stat_replication ORDER BY 1`)
	if err == nil {
		var senders []string
		for rows.Next() {
			var v string
			if rows.Scan(&v) == nil {
				senders = append(senders, v)
			}
		}
		rows.Close()
		s += fmt.Sprintf("; walsenders %v", senders)
	}
	rows, err = conn.Query(ctx, `SELECT slot_name || ':' || active::text || '@' || coalesce(restart_lsn::text, '-') FROM pg_replication_slots ORDER BY 1`)
	if err == nil {
		var slots []string
		for rows.Next() {
			var v string
			if rows.Scan(&v) == nil {
				slots = append(slots, v)
			}
		}
		rows.Close()
		s += fmt.Sprintf("; slots %v", slots)
	}
	return s
}

func str(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}
