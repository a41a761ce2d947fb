// Package pidfile writes and reads the pid files of jujulet's long-lived processes (the
// controller daemon, each container's Pebble) so that a pid is signalled only while it
// is still the process the file was written for, never a process that recycled it.
package pidfile

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's start time: 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// slack covers the one-second resolution of the boot time the start time is counted from.
const slack = 2 * time.Second

// Write records pid in path, readable by its owner only.
func Write(path string, pid int) error {
	if err := os.WriteFile(path, []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing pid file: %w", err)
	}
	return nil
}

// Read returns the pid recorded in path if that process still runs the program the file
// was written for: its command line satisfies match, and it started no later than the
// file was written (a process that recycled the pid started after). 0 otherwise.
func Read(path string, match func(argv []string) bool) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	info, err := os.Stat(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0
	}
	if !Verify(pid, info.ModTime(), match) {
		return 0
	}
	return pid
}

// Verify reports whether process pid runs, with a command line that satisfies match, and
// started no later than notAfter.
func Verify(pid int, notAfter time.Time, match func(argv []string) bool) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(cmdline) == 0 {
		return false // gone, or a zombie
	}
	argv := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
	if !match(argv) {
		return false
	}
	start, err := StartTime(pid)
	if err != nil {
		return false
	}
	return !start.After(notAfter.Add(slack))
}

// StartTime is when process pid started.
func StartTime(pid int) (time.Time, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return time.Time{}, err
	}
	// The command name may hold spaces and parentheses: the fields follow the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return time.Time{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	// After the command: state(3) ... starttime is field 22 of the whole line.
	if len(f) < 20 {
		return time.Time{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	ticks, err := strconv.ParseInt(f[19], 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("malformed /proc/%d/stat: %w", pid, err)
	}
	boot, err := bootTime()
	if err != nil {
		return time.Time{}, err
	}
	return boot.Add(time.Duration(ticks) * time.Second / clockTicks), nil
}

func bootTime() (time.Time, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("parsing btime: %w", err)
			}
			return time.Unix(s, 0), nil
		}
	}
	return time.Time{}, fmt.Errorf("no btime in /proc/stat")
}
