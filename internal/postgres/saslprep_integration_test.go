package postgres

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestSCRAMVerifierLogsInWithPgxAndLibpq sets passwords the way the charm does (SetPassword:
// a verifier computed here, never the clear password in SQL) and logs in with them for real,
// with pgx and with psql (libpq), typed as set and in another form that normalises alike.
// The soft hyphen shows why CheckPassword refuses it: libpq logs in, pgx cannot.
func TestSCRAMVerifierLogsInWithPgxAndLibpq(t *testing.T) {
	havePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const addr = "127.0.0.54" // unique across packages: the charm's integration tests run alongside (127.0.0.6x, 7x)
	u := startUnit(t, ctx, addr)
	must(t, u.w.InitDB(ctx, opLogin))
	_, err := u.w.WriteConf(ctx, testSettings())
	must(t, err)
	_, err = u.w.WriteHBA(ctx, []HBARule{{"host", "all", "all", "127.0.0.0/8", "scram-sha-256"}})
	must(t, err)
	must(t, u.w.PlanLayer(ctx, LayerOptions{}))
	must(t, u.w.Start(ctx))
	must(t, u.w.WaitReady(ctx, opLogin))
	op := connect(t, ctx, u.w)
	must(t, EnsureRole(ctx, op, Role{Name: "sasl_user", Password: "placeholder-1"}))

	pgxLogin := func(pw string) error {
		conn, err := Connect(ctx, addr, 0, PasswordLogin("sasl_user", pw), "postgres", nil)
		if err == nil {
			conn.Close(ctx)
		}
		return err
	}
	psqlLogin := func(pw string) error {
		cmd := exec.CommandContext(ctx, u.w.bin("psql"), "-X", "-At", "-c", "SELECT 1",
			"host="+addr+" port=5432 user=sasl_user dbname=postgres sslmode=disable connect_timeout=5")
		// The password reaches libpq through its environment, as a passfile entry would.
		cmd.Env = append(os.Environ(), "PGPASSWORD="+pw)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return &loginError{out: strings.TrimSpace(string(out)), err: err}
		}
		return nil
	}
	tests := []struct {
		name, set string
		alike     []string // typed otherwise, normalised alike
		accepted  bool     // CheckPassword
	}{
		{"no-break space", "pass\u00a0word-1", []string{"pass word-1"}, true},
		{"decomposed accent", "cafe\u0301-2", []string{"caf\u00e9-2"}, true},
		{"both", "\u00e9te\u0301\u00a0\u00e9t\u00e9-3", []string{"\u00e9t\u00e9 \u00e9t\u00e9-3"}, true},
		{"soft hyphen", "soft\u00adhyphen-4", []string{"softhyphen-4"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckPassword(tt.set); (err == nil) != tt.accepted {
				t.Fatalf("CheckPassword = %v, want accepted %v", err, tt.accepted)
			}
			must(t, SetPassword(ctx, op, "sasl_user", tt.set))
			for _, pw := range append([]string{tt.set}, tt.alike...) {
				if err := psqlLogin(pw); err != nil {
					t.Errorf("psql (libpq) with %+q: %v", pw, err)
				}
				err := pgxLogin(pw)
				if tt.accepted && err != nil {
					t.Errorf("pgx with %+q: %v", pw, err)
				}
				// pgx sends a soft hyphen as it is (PRECIS refuses it) where libpq and the
				// server remove it: this password could never log in with pgx.
				if !tt.accepted && pw == tt.set && err == nil {
					t.Errorf("pgx logged in with %+q: CheckPassword refuses it for nothing", pw)
				}
			}
			if err := pgxLogin(tt.set + "x"); err == nil {
				t.Errorf("pgx logged in with a wrong password")
			}
		})
	}

	// A commit waiting for a synchronous standby that never answers: the password change
	// protocol clears its pending marker only when SetPassword succeeds, so SetPassword must
	// never report success for a change no standby acknowledged. A cancelled wait is reported
	// as a success by the server (with a warning); the session's statement timeout does not
	// cancel it (PostgreSQL disarms the timeout before the commit), and the caller's deadline
	// ends it as an error.
	t.Run("synchronous standby missing", func(t *testing.T) {
		_, err := op.Exec(ctx, "ALTER SYSTEM SET synchronous_standby_names = 'nobody'")
		must(t, err)
		_, err = op.Exec(ctx, "SELECT pg_reload_conf()")
		must(t, err)
		defer func() {
			_, _ = op.Exec(ctx, "ALTER SYSTEM RESET synchronous_standby_names")
			_, _ = op.Exec(ctx, "SELECT pg_reload_conf()")
		}()
		// The reload is asynchronous: commits wait once a probe commit does (one that writes
		// WAL, cut off after a short bound; committed locally, which is harmless here).
		waitSyncRep := func() error {
			pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer pcancel()
			probe, err := Connect(ctx, addr, 0, opLogin, "postgres", nil)
			if err != nil {
				return err
			}
			defer probe.Close(ctx)
			if _, err := probe.Exec(pctx, "SELECT pg_logical_emit_message(true, 'sync-probe', '')"); err == nil {
				return errors.New("a commit did not wait for a synchronous standby yet")
			}
			return nil
		}
		for err := waitSyncRep(); err != nil; err = waitSyncRep() {
			select {
			case <-ctx.Done():
				t.Fatalf("synchronous replication never took effect: %v", err)
			case <-time.After(50 * time.Millisecond): // the poll's interval
			}
		}
		conn, err := Connect(ctx, addr, 0, opLogin, "postgres", nil)
		must(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "SET statement_timeout = '300ms'")
		must(t, err)
		sctx, scancel := context.WithTimeout(ctx, 3*time.Second)
		defer scancel()
		err = SetPassword(sctx, conn, "sasl_user", "never-replicated-5")
		if err == nil {
			t.Fatal("SetPassword reported success for a change no synchronous standby acknowledged")
		}
	})
}

type loginError struct {
	out string
	err error
}

func (e *loginError) Error() string { return e.err.Error() + ": " + e.out }
