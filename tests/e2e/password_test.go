package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// setPasswordHookKilledAfterAlterRole (a subtest of TestSingleCluster, on its settled
// cluster of n units): the hook that applies a set-password is killed
// (SIGKILL to its process group, as the agent's death would) after its ALTER ROLE and before
// it could clear the pending marker; the charm still logs in and finishes the change.
//
// How the kill lands at that point, deterministically and without a test hook in the charm:
// a replica, one of the primary's synchronous standbys (all of them must acknowledge), has its
// walreceiver stopped
// (SIGSTOP) before set-password. The ALTER ROLE of the applying hook then commits locally on
// the primary and waits for the standby's acknowledgement (pg_stat_activity shows the backend
// waiting on SyncRep): the hook cannot get past the statement, so killing its process group
// (jujulet records it in the unit's hook.pgid) kills it after the ALTER ROLE and before the
// marker is cleared. The backend goes on waiting without its client; once the walreceiver
// resumes, the change is acknowledged and in the database while the committed secret still
// holds the old password with the new one pending. Writing that state through the tools
// instead would test a state the charm is assumed to reach; this reaches it for real.
func setPasswordHookKilledAfterAlterRole(t *testing.T, ctx context.Context, j *scenario.Jujulet, model, app string, n int) {
	const newPw = "Killed-After-Alter-1"
	c := loadCluster(t, ctx, j, model, app)
	oldPw := c.Password
	leader := leaderOf(t, ctx, j, model, app)
	_, primary, err := scenario.Primary(ctx, c)
	must(t, err)
	standby := otherUnit(c, primary)

	// Stop the synchronous standby's walreceiver.
	conn, err := scenario.Connect(ctx, c.Units[standby], oldPw)
	must(t, err)
	var walreceiver int
	err = conn.QueryRow(ctx, "SELECT pid FROM pg_stat_wal_receiver").Scan(&walreceiver)
	conn.Close(ctx)
	must(t, err)
	must(t, syscall.Kill(walreceiver, syscall.SIGSTOP))
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			must(t, syscall.Kill(walreceiver, syscall.SIGCONT))
		}
	}
	defer resume()

	res, err := j.RunAction(ctx, model, leader, "set-password", map[string]any{"username": "operator", "password": newPw})
	must(t, err)
	if res.Status != "completed" {
		t.Fatalf("set-password: %s %s", res.Status, res.Message)
	}
	// The leader's next hook runs the ALTER ROLE, which waits for the stopped standby.
	waitFor(t, ctx, 20*time.Second, "the ALTER ROLE to wait for the synchronous standby", func() error {
		n, err := sqlCount(ctx, c, c.Units[primary],
			`SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep' AND query ILIKE 'ALTER ROLE%'`)
		if err == nil && n != 1 {
			err = fmt.Errorf("%d ALTER ROLE waiting", n)
		}
		return err
	})
	pgid, hook := hookGroup(t, j.Home, leader)
	t.Logf("killing the process group %d of %s's hook %s", pgid, leader, hook)
	must(t, syscall.Kill(-pgid, syscall.SIGKILL))
	waitFor(t, ctx, 10*time.Second, "the hook's processes to exit", func() error {
		if err := syscall.Kill(-pgid, 0); err == nil {
			return fmt.Errorf("process group %d still has processes", pgid)
		}
		return nil
	})
	resume()

	// The ALTER ROLE is acknowledged: the database has the new password although no hook
	// committed it.
	waitFor(t, ctx, 30*time.Second, "the new password to be in the database", func() error {
		conn, err := scenario.Connect(ctx, c.Units[primary], newPw)
		if err == nil {
			conn.Close(ctx)
		}
		return err
	})

	// The next hook (Juju retries the failed one; the charm also left itself a wake-up)
	// logs in with the pending password and finishes the change.
	waitFor(t, ctx, 2*time.Minute, "get-password to return the new password", func() error {
		if got := loadCluster(t, ctx, j, model, app).Password; got != newPw {
			return fmt.Errorf("get-password still returns the old password")
		}
		return nil
	})
	settle(t, ctx, j, model, scenario.All(scenario.AppSettled(app, n, "Primary"), scenario.UnitMessages(app, map[string]int{"Primary": 1, "Replica": n - 1})))
	for unit, addr := range c.Units {
		conn, err := scenario.Connect(ctx, addr, newPw)
		if err != nil {
			t.Errorf("log in on %s with the new password: %v", unit, err)
			continue
		}
		conn.Close(ctx)
		if conn, err := scenario.Connect(ctx, addr, oldPw); err == nil {
			conn.Close(ctx)
			t.Errorf("the old password still logs in on %s", unit)
		}
	}
}

// hookGroup returns the process group of the hook unit is running, from the hook.pgid file
// jujulet keeps in the unit's directory while a hook runs, and the hook's name.
func hookGroup(t testing.TB, home, unit string) (int, string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(home, "units", "*", "hook.pgid"))
	must(t, err)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		fields := strings.Fields(string(b))
		if len(fields) != 2 {
			continue
		}
		pgid, err := strconv.Atoi(fields[0])
		if err != nil || pgid <= 1 {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pgid))
		if err != nil {
			continue
		}
		vars := map[string]string{}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if k, v, ok := strings.Cut(string(kv), "="); ok {
				vars[k] = v
			}
		}
		if vars["JUJU_UNIT_NAME"] == unit {
			return pgid, vars["JUJU_HOOK_NAME"] + vars["JUJU_ACTION_NAME"]
		}
	}
	t.Fatalf("no hook of %s is running (hook.pgid files %v)", unit, files)
	return 0, ""
}
