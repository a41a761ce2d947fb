package uniter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A hook runs in its own process group. Its group id and context id are written to the
// unit's hook.pgid file while it runs, so that an agent started after the controller was
// killed can kill what is left of it before running the hook again.
func (u *Uniter) hookGroupFile() string { return filepath.Join(u.dir, "hook.pgid") }

func recordHookGroup(path string, pgid int, ctxID string) error {
	if err := os.WriteFile(path, fmt.Appendf(nil, "%d %s\n", pgid, ctxID), 0o600); err != nil {
		return fmt.Errorf("recording the hook's process group: %w", err)
	}
	return nil
}

// killStrayHook kills the processes of the hook process group recorded in path, if any
// are left: only the members of that group that carry the hook's context id in their
// environment, so that a recycled group id never kills an unrelated process.
func killStrayHook(ctx context.Context, path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	f := strings.Fields(string(b))
	pgid := 0
	if len(f) == 2 {
		pgid, _ = strconv.Atoi(f[0])
	}
	if pgid <= 1 {
		_ = os.Remove(path)
		return fmt.Errorf("%s: malformed %q (removed)", path, b)
	}
	mark := []byte("JUJU_CONTEXT_ID=" + f[1])
	for {
		pids := groupMembers(pgid, mark)
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("killing the interrupted hook's processes %v: %w", pids, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", path, err)
	}
	return nil
}

// groupMembers lists the live processes of process group pgid whose environment holds
// the entry mark.
func groupMembers(pgid int, mark []byte) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name may hold spaces and parentheses: the fields follow the last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 3 || fields[0] == "Z" {
			continue
		}
		if g, _ := strconv.Atoi(fields[2]); g != pgid {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for kv := range bytes.SplitSeq(env, []byte{0}) {
			if bytes.Equal(kv, mark) {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}
