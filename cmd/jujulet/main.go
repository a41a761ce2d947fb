// Command jujulet is a single-machine Juju-compatible runtime: the Juju-like CLI,
// the controller daemon (`jujulet controller-daemon`) and, when invoked under a hook
// tool's name, that hook tool.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/jujulet/postgresql-k8s/internal/cli"
	"github.com/jujulet/postgresql-k8s/internal/controller"
	"github.com/jujulet/postgresql-k8s/internal/hooktools"
	"github.com/jujulet/postgresql-k8s/internal/hooktools/toolclient"
	"github.com/jujulet/postgresql-k8s/internal/pod"
)

func main() {
	name := filepath.Base(os.Args[0])
	if slices.Contains(hooktools.ToolNames(), name) {
		os.Exit(toolclient.Main(name, os.Args[1:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "controller-daemon" {
		os.Exit(runDaemon())
	}
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func runDaemon() int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	home, err := cli.Home(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ERROR %v\n", err)
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ERROR %v\n", err)
		return 1
	}
	pebble, err := pod.FindPebble()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ERROR %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := controller.Run(ctx, controller.Config{Home: home, Jujulet: self, Jujuc: jujucBeside(self), Pebble: pebble, Logger: logger}); err != nil {
		logger.Error("controller failed", "err", err)
		return 1
	}
	return 0
}

// jujucBeside is the jujuc binary installed next to jujulet (`make build` puts both in bin/),
// or "" when there is none and the hook tools fall back to jujulet itself.
func jujucBeside(jujulet string) string {
	p := filepath.Join(filepath.Dir(jujulet), "jujuc")
	if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return ""
	}
	return p
}
