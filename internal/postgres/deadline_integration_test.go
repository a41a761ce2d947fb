package postgres

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A workload command that overruns its bound is killed by Pebble and reported as such.
func TestExecTimeoutKillsTheCommand(t *testing.T) {
	havePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	u := startUnit(t, ctx, "127.0.0.59")
	// The command may run as the postgres user: a directory it can write to.
	dir, err := os.MkdirTemp("", "exec-timeout-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "pid")
	ectx, ecancel := context.WithTimeout(ctx, time.Second)
	defer ecancel()
	_, err = u.w.Exec(ectx, []string{"/bin/sh", "-c", "echo $$ > " + pidFile + "; exec sleep 300"}, nil)
	var te *ExecTimeoutError
	if !errors.As(err, &te) || te.Command != "sh" || te.Bound != time.Second || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want an ExecTimeoutError for sh within 1s, got %v", err)
	}
	if !strings.Contains(err.Error(), "sh did not finish within 1s and was killed") {
		t.Fatalf("unclear error: %v", err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); errors.Is(err, os.ErrNotExist) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the command (pid %d) still runs after its bound", pid)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// The charm's sessions carry the server-side statement timeout.
func TestSessionStatementTimeout(t *testing.T) {
	havePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	u := startUnit(t, ctx, "127.0.0.59")
	u.initPrimary(t, ctx)
	conn, err := u.w.Connect(ctx, opLogin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var ms int64
	if err := conn.QueryRow(ctx, "SELECT setting::bigint FROM pg_settings WHERE name = 'statement_timeout'").Scan(&ms); err != nil {
		t.Fatal(err)
	}
	if time.Duration(ms)*time.Millisecond != StatementTimeout {
		t.Fatalf("statement_timeout %d ms, want %v", ms, StatementTimeout)
	}
}
