// Command postgresql-k8s is the charm's dispatch binary: Juju runs it (as dispatch, or through
// a hooks/<name> symlink) for every hook and action. Run as "dispatch pg-watch ..." it is the
// watcher the charm runs as a Pebble service in the workload container (internal/pgwatch).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/jujulet/postgresql-k8s/charm"
	"github.com/jujulet/postgresql-k8s/internal/hookenv"
	"github.com/jujulet/postgresql-k8s/internal/pgwatch"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

func main() {
	os.Exit(run())
}

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// Juju runs dispatch without arguments: an argument means the watcher service.
	if len(os.Args) > 1 && os.Args[1] == pgwatch.Subcommand {
		return pgwatch.Main(ctx, os.Args[2:], os.Stderr, postgres.NewProbe)
	}

	env := hookenv.FromEnviron(os.Getenv)
	if env.DispatchPath == "" && env.HookName == "" && env.ActionName == "" {
		// Run through a hooks/<name> symlink by an old dispatcher: the name is argv[0].
		env.HookName = filepath.Base(os.Args[0])
	}
	tools := hookenv.Exec{Trace: hookenv.TraceFromEnviron(os.Getenv, env)}
	defer tools.Trace.End()
	// The hook trace (hookenv.TraceEnv) also gets the spans of the charm's own work.
	ctx = hookenv.WithTracer(ctx, tools.Trace)
	// Tool calls go straight to the unit agent's socket where its protocol is known, and
	// through the tool executables otherwise (hookenv.DialAgent).
	if agent, err := hookenv.DialAgent(ctx, os.Getenv); err == nil {
		tools.Agent = agent
		defer func() { _ = agent.Close() }()
	}
	log := slog.New(&jujuLogHandler{ctx: ctx, tools: tools, level: slog.LevelInfo})

	open := func(ctx context.Context, addr string) (charm.Workload, error) {
		socket, root := postgres.SocketPath(env.ContainersDir, postgres.Container)
		w, err := postgres.Open(ctx, postgres.Options{Socket: socket, Root: root, Addr: addr,
			WatchSocket: postgres.InContainerSocket(env.ContainersDir, postgres.Container)})
		if err != nil {
			return nil, err
		}
		return charm.PGWorkload{Workload: w}, nil
	}
	c := charm.New(env, tools, open, log)
	charm.EnableAsyncReplication(c)
	if err := c.Run(ctx); err != nil {
		msg := fmt.Sprintf("%s failed: %v", env.Event(), err)
		log.Error(msg)
		fmt.Fprintln(os.Stderr, msg)
		if errors.Is(err, context.Canceled) {
			return 130
		}
		return 1
	}
	return 0
}

// jujuLogHandler sends slog records to juju-log (and stderr when juju-log fails).
type jujuLogHandler struct {
	ctx   context.Context
	tools hookenv.Tools
	level slog.Level
	attrs []slog.Attr
}

func (h *jujuLogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *jujuLogHandler) Handle(ctx context.Context, r slog.Record) error {
	msg := r.Message
	for _, a := range h.attrs {
		msg += " " + a.String()
	}
	r.Attrs(func(a slog.Attr) bool { msg += " " + a.String(); return true })
	level := "INFO"
	switch {
	case r.Level >= slog.LevelError:
		level = "ERROR"
	case r.Level >= slog.LevelWarn:
		level = "WARNING"
	case r.Level < slog.LevelInfo:
		level = "DEBUG"
	}
	if err := h.tools.JujuLog(context.WithoutCancel(ctx), level, msg); err != nil {
		fmt.Fprintf(os.Stderr, "%s %s\n", level, msg)
	}
	return nil
}

func (h *jujuLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &n
}

func (h *jujuLogHandler) WithGroup(string) slog.Handler { return h }
