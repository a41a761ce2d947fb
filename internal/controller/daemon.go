// Package controller is jujulet's controller daemon: it owns the state store, serves
// the CLI's API (HTTP+JSON over a unix socket), runs one unit agent per unit and keeps
// leadership and clean-up going.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
	"github.com/jujulet/postgresql-k8s/internal/localsock"
	"github.com/jujulet/postgresql-k8s/internal/pidfile"
	"github.com/jujulet/postgresql-k8s/internal/pod"
	"github.com/jujulet/postgresql-k8s/internal/uniter"
)

// Config configures the daemon.
type Config struct {
	Home    string
	Jujulet string // the jujulet binary (hook tools fall back to it)
	Jujuc   string // the hook tool client the tools link to, if installed (uniter.Config.Jujuc)
	Pebble  string
	Logger  *slog.Logger
	// Lease is how long a leader's pod may be dead before leadership moves (default 60s).
	Lease time.Duration
}

// SocketPath is the CLI socket of a controller home, in a directory only its owner can
// enter.
func SocketPath(home string) string { return filepath.Join(home, "run", "controller.sock") }

// PidPath is the daemon's pid file.
func PidPath(home string) string { return filepath.Join(home, "controller.pid") }

// lockPath is the file a running daemon holds locked, so that a second one on the same
// home refuses to start.
func lockPath(home string) string { return filepath.Join(home, "controller.lock") }

// IsDaemon reports whether a process's command line (from /proc) is a controller daemon's:
// what a pid read from PidPath must run before it is signalled.
func IsDaemon(argv []string) bool {
	return len(argv) > 1 && slices.Contains(argv[1:], "controller-daemon")
}

// The API server's timeouts: no call streams, and none should take minutes to answer.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute
	writeTimeout      = 10 * time.Minute
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

// newAPIServer serves h with timeouts, so that a client that stalls (or never finishes its
// request) cannot hold a connection, or the daemon's memory, for ever.
func newAPIServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes}
}

// lockHome takes the home's daemon lock; it fails if another daemon holds it. The lock
// lasts as long as the returned file stays open (the kernel drops it when the process
// dies, however it dies).
func lockHome(home string) (*os.File, error) {
	f, err := os.OpenFile(lockPath(home), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the controller lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			msg := fmt.Sprintf("a controller already runs in %s", home)
			if pid := pidfile.Read(PidPath(home), IsDaemon); pid != 0 {
				msg += fmt.Sprintf(" (pid %d)", pid)
			}
			return nil, errors.New(msg)
		}
		return nil, fmt.Errorf("locking %s: %w", lockPath(home), err)
	}
	return f, nil
}

// Daemon is a running controller.
type Daemon struct {
	cfg   Config
	store *st.Store
	log   *slog.Logger

	mu     sync.Mutex
	agents map[string]context.CancelFunc
	failed map[string]time.Time
	wg     sync.WaitGroup

	stop     context.CancelFunc
	killPods bool
}

// Run runs the daemon until ctx ends or kill-controller.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Lease == 0 {
		cfg.Lease = 60 * time.Second
	}
	if d := os.Getenv("JUJULET_LEASE"); d != "" {
		if v, err := time.ParseDuration(d); err == nil {
			cfg.Lease = v
		}
	}
	if cfg.Home == "" {
		return errors.New("no controller home: set JUJULET_HOME or HOME")
	}
	if err := os.MkdirAll(cfg.Home, 0o711); err != nil {
		return fmt.Errorf("creating %s: %w", cfg.Home, err)
	}
	lock, err := lockHome(cfg.Home)
	if err != nil {
		return err
	}
	defer lock.Close()
	store, err := st.Open(cfg.Home)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := pidfile.Write(PidPath(cfg.Home), os.Getpid()); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d := &Daemon{cfg: cfg, store: store, log: cfg.Logger, agents: map[string]context.CancelFunc{},
		failed: map[string]time.Time{}, stop: cancel}

	sock := SocketPath(cfg.Home)
	ln, err := localsock.Listen(sock)
	if err != nil {
		return err
	}
	srv := newAPIServer(d.handler())
	go func() { _ = srv.Serve(ln) }()
	d.log.Info("controller started", "home", cfg.Home, "pid", os.Getpid())

	d.removeOrphans()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastPrune := time.Time{}
	for {
		if time.Since(lastPrune) > 10*time.Minute {
			if err := store.PruneLogs(200000); err != nil {
				d.log.Warn("log pruning", "err", err)
			}
			lastPrune = time.Now()
		}
		changed := store.Changed()
		if err := store.Update(func(t *st.Tx) error {
			t.Maintain(time.Now().UTC(), cfg.Lease)
			return nil
		}); err != nil {
			d.log.Error("maintenance", "err", err)
		}
		d.syncAgents(ctx)
		select {
		case <-ctx.Done():
			shutdownCtx, c2 := context.WithTimeout(context.Background(), 5*time.Second)
			_ = srv.Shutdown(shutdownCtx)
			c2()
			d.wg.Wait()
			if d.killPods {
				d.stopAllPods()
			}
			_ = os.Remove(sock)
			_ = os.Remove(PidPath(cfg.Home))
			d.log.Info("controller stopped")
			return nil
		case <-changed:
		case <-tick.C:
		}
	}
}

func (d *Daemon) syncAgents(ctx context.Context) {
	var units []*st.Unit
	_ = d.store.View(func(t *st.Tx) error {
		units = t.AllUnits()
		return nil
	})
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, u := range units {
		k := u.Model + "|" + u.Name
		if _, ok := d.agents[k]; ok {
			continue
		}
		if t, ok := d.failed[k]; ok && time.Since(t) < 5*time.Second {
			continue
		}
		actx, cancel := context.WithCancel(ctx)
		d.agents[k] = cancel
		ag := uniter.New(uniter.Config{Store: d.store, Model: u.Model, Unit: u.Name, Home: d.cfg.Home,
			Jujulet: d.cfg.Jujulet, Jujuc: d.cfg.Jujuc, Pebble: d.cfg.Pebble, Logger: d.log})
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			err := ag.Run(actx)
			if err != nil && !errors.Is(err, context.Canceled) {
				d.log.Error("unit agent stopped", "unit", u.Name, "err", err)
			}
			d.mu.Lock()
			delete(d.agents, k)
			if err != nil {
				d.failed[k] = time.Now()
			}
			d.mu.Unlock()
			cancel()
		}()
	}
}

func (d *Daemon) stopAllPods() {
	ents, _ := os.ReadDir(filepath.Join(d.cfg.Home, "units"))
	for _, e := range ents {
		pod.Stop(filepath.Join(d.cfg.Home, "units", e.Name(), "c"))
	}
}

// removeOrphans stops the pods and removes the directories of units that no longer exist
// (a crash between a unit's remove hook commit and its clean-up).
func (d *Daemon) removeOrphans() {
	ids := map[string]bool{}
	_ = d.store.View(func(t *st.Tx) error {
		for _, u := range t.AllUnits() {
			ids[strconv.Itoa(u.ID)] = true
		}
		return nil
	})
	ents, _ := os.ReadDir(filepath.Join(d.cfg.Home, "units"))
	for _, e := range ents {
		if ids[e.Name()] {
			continue
		}
		dir := filepath.Join(d.cfg.Home, "units", e.Name())
		d.log.Info("removing orphaned unit directory", "dir", dir)
		pod.Stop(filepath.Join(dir, "c"))
		_ = os.RemoveAll(dir)
	}
}
