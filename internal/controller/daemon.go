// Package controller is jujulet's controller daemon: it owns the state store, serves
// the CLI's API (HTTP+JSON over a unix socket), runs one unit agent per unit and keeps
// leadership and clean-up going.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
	"github.com/jujulet/postgresql-k8s/internal/pod"
	"github.com/jujulet/postgresql-k8s/internal/uniter"
)

// Config configures the daemon.
type Config struct {
	Home    string
	Jujulet string // binary for hook tools
	Pebble  string
	Logger  *slog.Logger
	// Lease is how long a leader's pod may be dead before leadership moves (default 60s).
	Lease time.Duration
}

// SocketPath is the CLI socket of a controller home.
func SocketPath(home string) string { return filepath.Join(home, "controller.sock") }

// PidPath is the daemon's pid file.
func PidPath(home string) string { return filepath.Join(home, "controller.pid") }

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
	store, err := st.Open(cfg.Home)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := os.WriteFile(PidPath(cfg.Home), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing pid file: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d := &Daemon{cfg: cfg, store: store, log: cfg.Logger, agents: map[string]context.CancelFunc{},
		failed: map[string]time.Time{}, stop: cancel}

	sock := SocketPath(cfg.Home)
	_ = os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", sock, err)
	}
	_ = os.Chmod(sock, 0o600)
	srv := &http.Server{Handler: d.handler()}
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
			Jujulet: d.cfg.Jujulet, Pebble: d.cfg.Pebble, Logger: d.log})
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
