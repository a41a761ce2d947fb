package postgres

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
)

// MemoryMB is the memory available to the workload: the container's cgroup limit, else its
// /proc/meminfo, else the charm's (0 when none is readable).
func (w *Workload) MemoryMB(ctx context.Context) (int, error) {
	// cgroup v2, then v1 (a v1 "unlimited" is a huge number: ignored above 1 PiB).
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := w.ReadFile(ctx, f); err == nil {
			if n, ok := parseCgroupLimit(b); ok {
				return int(n >> 20), nil
			}
		}
	}
	b, err := w.ReadFile(ctx, "/proc/meminfo")
	if err != nil {
		if b, err = os.ReadFile("/proc/meminfo"); err != nil {
			return 0, nil
		}
	}
	return parseMemTotalMB(b), nil
}

// parseCgroupLimit reads a cgroup memory limit in bytes; "max" and v1's "unlimited" (a huge
// number) are no limit.
func parseCgroupLimit(b []byte) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 || n >= 1<<50 {
		return 0, false
	}
	return n, true
}

// parseMemTotalMB reads MemTotal from /proc/meminfo content (0 when absent).
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
