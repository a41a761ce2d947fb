package scenario

import (
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

// KillController SIGKILLs the jujulet controller daemon, as a crash of the controller's
// machine would, and waits until the process is gone. The pods (Pebble and PostgreSQL) keep
// running: they are not the controller's children. RestartController brings it back.
func (j *Jujulet) KillController(ctx context.Context) error {
	raw, err := os.ReadFile(filepath.Join(j.Home, "controller.pid"))
	if err != nil {
		return fmt.Errorf("kill controller: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("kill controller: bad pid file %q", raw)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill controller %d: %w", pid, err)
	}
	for {
		// Signal 0 fails once the process is gone (it is not our child: no zombie stays).
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("controller %d still running after SIGKILL: %w", pid, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// RestartController starts the controller again on its existing state, as `juju bootstrap`
// does for a home whose daemon is gone; it re-attaches to the live pods.
func (j *Jujulet) RestartController(ctx context.Context) error {
	if _, err := j.Juju(ctx, "bootstrap"); err != nil {
		return fmt.Errorf("restart controller: %w", err)
	}
	return nil
}
