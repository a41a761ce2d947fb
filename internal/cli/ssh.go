package cli

import (
	"context"
	"errors"
	"fmt"

	pebble "github.com/canonical/pebble/client"

	"github.com/jujulet/postgresql-k8s/internal/controller/api"
	"github.com/jujulet/postgresql-k8s/internal/pod"
)

func cmdSSH(ctx context.Context, e *Env, args []string) error {
	var model string
	fs := flags("ssh", e, &model)
	container := fs.String("container", "", "")
	_ = fs.Bool("pty", false, "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() < 1 {
		return usagef("no target name specified")
	}
	unit := fs.Arg(0)
	if !unitOrLeaderRE.MatchString(unit) {
		return fmt.Errorf("invalid target %q: jujulet's units are reached by unit name", unit)
	}
	cmd := fs.Args()[1:]
	if len(cmd) > 0 && cmd[0] == "--" {
		cmd = cmd[1:]
	}
	if len(cmd) == 0 {
		cmd = []string{"bash"}
	}
	info, err := newClient(e).UnitInfo(ctx, model, unit)
	if err != nil {
		return err
	}
	c := *container
	if c == "" {
		return errors.New("the charm container is the jujulet controller itself; use --container")
	}
	found := false
	for _, x := range info.Containers {
		found = found || x == c
	}
	if !found {
		return fmt.Errorf("container %q not found in unit %q", c, unit)
	}
	cl, err := pod.Client(info.ContainersDir, c)
	if err != nil {
		return err
	}
	proc, err := cl.Exec(&pebble.ExecOptions{Command: cmd, Stdin: e.Stdin, Stdout: e.Stdout, Stderr: e.Stderr,
		WorkingDir: pod.Rootfs(info.ContainersDir, c)})
	if err != nil {
		return fmt.Errorf("exec in %s/%s: %w", unit, c, err)
	}
	if err := proc.Wait(); err != nil {
		var ee *pebble.ExitError
		if errors.As(err, &ee) {
			return exitCode(ee.ExitCode())
		}
		return err
	}
	return nil
}

// cmdPod is jujulet's pod control: `pod kill UNIT` (SIGKILL every process of the pod; the
// controller recreates it with the same storage), `pod stop UNIT` (it stays down) and
// `pod start UNIT`.
func cmdPod(ctx context.Context, e *Env, args []string) error {
	var model string
	fs := flags("pod", e, &model)
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usagef("usage: jujulet pod kill|stop|start [-m MODEL] UNIT")
	}
	switch fs.Arg(0) {
	case api.PodKill, api.PodStop, api.PodStart:
	default:
		return usagef("unknown pod operation %q (want kill, stop or start)", fs.Arg(0))
	}
	if !validUnitName(fs.Arg(1)) {
		return usagef("unit name %q not valid", fs.Arg(1))
	}
	return newClient(e).Pod(ctx, model, fs.Arg(1), fs.Arg(0))
}
