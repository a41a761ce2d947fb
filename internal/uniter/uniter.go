// Package uniter is jujulet's unit agent: it compares the controller state with what
// the unit has done, runs the next hook (or queued action) through the charm's
// dispatch, and commits the hook's buffered changes in one transaction when it exits 0.
package uniter

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/juju/charm/v12/hooks"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
	"github.com/jujulet/postgresql-k8s/internal/hooktools"
	"github.com/jujulet/postgresql-k8s/internal/localsock"
	"github.com/jujulet/postgresql-k8s/internal/pod"
)

// Config configures a unit agent.
type Config struct {
	Store   *st.Store
	Model   string // model uuid
	Unit    string
	Home    string // JUJULET_HOME
	Jujulet string // the jujulet binary (the hook tools' fallback target, see Jujuc)
	// Jujuc is the small hook tool client (cmd/jujuc) the hook tools are symlinks to; when
	// empty they link to the multi-call Jujulet, which starts several times slower.
	Jujuc  string
	Pebble string
	Logger *slog.Logger
	// PollInterval is how often the pod is polled for boot ids (default 1s).
	PollInterval time.Duration
	// LookupEnv reads the agent's environment, of which hooks inherit the Kubernetes
	// variables (default os.LookupEnv).
	LookupEnv func(key string) (string, bool)
}

// Uniter is one unit's agent.
type Uniter struct {
	cfg       Config
	store     *st.Store
	model     string
	name      string
	modelName string
	id        int
	dir       string
	log       *slog.Logger

	mu       sync.Mutex
	contexts map[string]*hookCtx

	containers map[string][]string
	boot       map[string]string
	watchers   noticeWatchers

	// pending is an operation that ran but whose result could not be committed; only the
	// Run goroutine uses it.
	pending *pendingCommit
	// commitFault, when set (by tests), fails commits as a full disk would.
	commitFault func() error
}

// pendingCommit is a hook or action that ran but whose result could not be committed (a
// full disk, a locked database). The commit is retried after a backoff, without running
// the charm again: as Juju's uniter, which records a hook as done before it commits it.
type pendingCommit struct {
	what     string
	commit   func() (removed bool, err error)
	failures int
	retryAt  time.Time
}

// commitBackoff is the wait before the n-th retry of a failed commit: 1s doubling to 1m.
func commitBackoff(n int) time.Duration {
	d := time.Second
	for i := 0; i < n && d < time.Minute; i++ {
		d *= 2
	}
	return min(d, time.Minute)
}

// deferCommit keeps a commit that failed for a retry after the backoff.
func (u *Uniter) deferCommit(what string, commit func() (bool, error), err error) error {
	if u.pending == nil || u.pending.what != what {
		u.pending = &pendingCommit{what: what, commit: commit}
	}
	p := u.pending
	p.retryAt = time.Now().Add(commitBackoff(p.failures))
	p.failures++
	return fmt.Errorf("committing %s (retrying in %s): %w", what, time.Until(p.retryAt).Round(time.Second), err)
}

// retryCommit retries the pending commit once its backoff has passed; busy: the pending
// commit still waits (nothing else may run before it).
func (u *Uniter) retryCommit() (done, busy bool, err error) {
	p := u.pending
	if p == nil {
		return false, false, nil
	}
	if time.Now().Before(p.retryAt) {
		return false, true, nil
	}
	removed, err := p.commit()
	if err != nil {
		return false, true, u.deferCommit(p.what, p.commit, err)
	}
	u.pending = nil
	if removed {
		return true, true, u.finishRemoval()
	}
	return false, true, nil
}

// UnitDir is the directory of the unit with controller id id.
func UnitDir(home string, id int) string { return filepath.Join(home, "units", strconv.Itoa(id)) }

// New creates a unit agent.
func New(cfg Config) *Uniter {
	if cfg.PollInterval == 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.LookupEnv == nil {
		cfg.LookupEnv = os.LookupEnv
	}
	return &Uniter{cfg: cfg, store: cfg.Store, model: cfg.Model, name: cfg.Unit,
		log: cfg.Logger.With("unit", cfg.Unit), contexts: map[string]*hookCtx{}}
}

func (u *Uniter) entity() string { return "unit-" + tagName(u.name) }

func tagName(n string) string {
	b := []byte(n)
	for i := range b {
		if b[i] == '/' {
			b[i] = '-'
		}
	}
	return string(b)
}

func (u *Uniter) logf(level, format string, args ...any) {
	u.store.AppendLog(u.model, u.entity(), level, fmt.Sprintf(format, args...))
}

func (u *Uniter) charmDir() string   { return filepath.Join(u.dir, "charm") }
func (u *Uniter) toolsDir() string   { return filepath.Join(u.dir, "tools") }
func (u *Uniter) podDir() string     { return filepath.Join(u.dir, "c") }
func (u *Uniter) socketPath() string { return filepath.Join(u.dir, "run", "a.sock") }

// setup prepares the unit's directories, charm copy and tools.
func (u *Uniter) setup(unit *st.Unit, app *st.App) error {
	u.id = unit.ID
	u.dir = UnitDir(u.cfg.Home, unit.ID)
	for _, d := range []string{filepath.Join(u.cfg.Home, "units"), u.dir, u.toolsDir()} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
		_ = os.Chmod(d, 0o711)
	}
	if _, err := os.Stat(filepath.Join(u.charmDir(), "metadata.yaml")); err != nil {
		tmp := u.charmDir() + ".tmp"
		_ = os.RemoveAll(tmp)
		if err := CopyTree(app.CharmDir, tmp); err != nil {
			return fmt.Errorf("copying charm: %w", err)
		}
		if err := os.Rename(tmp, u.charmDir()); err != nil {
			return fmt.Errorf("installing charm copy: %w", err)
		}
	}
	if err := linkTools(u.toolsDir(), cmp.Or(u.cfg.Jujuc, u.cfg.Jujulet)); err != nil {
		return err
	}
	ch, err := u.store.Charm(app.CharmDir)
	if err != nil {
		return err
	}
	u.containers = map[string][]string{}
	for c, spec := range ch.Meta().Containers {
		var mounts []string
		for _, m := range spec.Mounts {
			mounts = append(mounts, m.Location)
		}
		u.containers[c] = mounts
	}
	return nil
}

// CopyTree copies a directory tree, keeping symlinks and modes.
func CopyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, out)
		case d.IsDir():
			return os.MkdirAll(out, info.Mode().Perm()|0o700)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(out, b, info.Mode().Perm())
		}
	})
}

// Run runs the agent until ctx ends or the unit is removed.
func (u *Uniter) Run(ctx context.Context) error {
	var unit *st.Unit
	var app *st.App
	var modelName string
	err := u.store.View(func(t *st.Tx) error {
		var err error
		if unit, err = t.Unit(u.model, u.name); err != nil {
			return err
		}
		if app, err = t.App(unit.Model, unit.App); err != nil {
			return err
		}
		m, err := t.Model(u.model)
		if err != nil {
			return err
		}
		modelName = m.Name
		return nil
	})
	if err != nil {
		return fmt.Errorf("loading unit %s: %w", u.name, err)
	}
	u.modelName = modelName
	if unit.Local.Removed {
		return u.finishRemoval()
	}
	if err := u.setup(unit, app); err != nil {
		u.setAgent("error", err.Error())
		return err
	}
	ln, err := localsock.Listen(u.socketPath())
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := hooktools.NewServer(u.lookup)
	go func() { _ = srv.Serve(sctx, ln) }()
	defer ln.Close()
	defer u.stopNoticeWatchers()

	// A controller killed mid-hook leaves the hook's processes running: kill them before
	// the hook (or anything else) runs again.
	if err := killStrayHook(ctx, u.hookGroupFile()); err != nil {
		return err
	}
	if err := u.failInterruptedActions(); err != nil {
		return err
	}
	if unit.InProgress != nil {
		u.logf("INFO", "re-running hook %q interrupted by a controller restart", unit.InProgress.Name)
		if _, err := u.runHook(ctx, unit.InProgress); err != nil {
			if u.pending == nil || ctx.Err() != nil {
				return err
			}
			u.logf("ERROR", "%v", err) // the loop retries the commit
		}
	}
	u.setAgent("idle", "")
	tick := time.NewTicker(u.cfg.PollInterval)
	defer tick.Stop()
	lastPoll := time.Time{}
	for {
		changed := u.store.Changed()
		u.syncNoticeWatchers(sctx)
		if time.Since(lastPoll) >= u.cfg.PollInterval {
			u.pollPod(ctx)
			lastPoll = time.Now()
		}
		done, worked, err := u.step(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			u.log.Error("unit agent step failed", "err", err)
			u.logf("ERROR", "%v", err)
		}
		if done {
			return nil
		}
		if worked && err == nil {
			continue
		}
		// After an error, wait (for the next tick at least) rather than spin.
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-tick.C:
		}
	}
}

func (u *Uniter) setAgent(status, msg string) {
	_ = u.store.Update(func(t *st.Tx) error {
		t.SetAgentStatus(u.model, u.name, status, msg)
		return nil
	})
}

// pollPod keeps the pod's Pebbles running (unless `pod stop` took it down) and reads
// their boot ids (pebble-ready, as Juju's pebblePoller). Checks come as Pebble notices.
func (u *Uniter) pollPod(ctx context.Context) {
	if len(u.containers) == 0 {
		return
	}
	var unit *st.Unit
	if err := u.store.View(func(t *st.Tx) error {
		var err error
		unit, err = t.Unit(u.model, u.name)
		return err
	}); err != nil {
		return
	}
	boot := map[string]string{}
	down := false
	recreated := false
	if unit.PodStopped {
		pod.Kill(u.podDir())
		down = true
	} else {
		started, err := pod.Ensure(ctx, pod.Spec{Dir: u.podDir(), Containers: u.containers, Pebble: u.cfg.Pebble})
		if err != nil {
			u.log.Warn("pod not running", "err", err)
			down = true
		}
		for _, c := range started {
			if unit.Local.Installed && unit.Local.Boot[c] != "" {
				recreated = true
				u.logf("WARNING", "pod restarted: container %q was down", c)
			}
		}
		for c := range u.containers {
			id, err := pod.BootID(u.podDir(), c)
			if err != nil {
				down = true
				continue
			}
			boot[c] = id
		}
	}
	u.mu.Lock()
	u.boot = boot
	u.mu.Unlock()
	if (!unit.PodDown.IsZero()) == down && !recreated {
		return
	}
	_ = u.store.Update(func(t *st.Tx) error {
		unit, err := t.Unit(u.model, u.name)
		if err != nil {
			return nil
		}
		if down && unit.PodDown.IsZero() {
			unit.PodDown = time.Now().UTC()
		} else if !down {
			unit.PodDown = time.Time{}
		}
		if recreated {
			unit.Local.PodRecreated = true
		}
		if unit.PodStopped {
			unit.Agent = st.Status{Status: "lost", Message: fmt.Sprintf("agent lost, see 'juju show-status-log %s'", unit.Name), Since: time.Now().UTC()}
		} else if unit.Agent.Status == "lost" {
			unit.Agent = st.Status{Status: "idle", Since: time.Now().UTC()}
		}
		t.PutUnit(unit)
		return nil
	})
}

// autoRetry reports whether the model retries failed hooks by itself (Juju's model config
// automatically-retry-hooks, true unless set to false).
func autoRetry(m *st.Model) bool {
	v, err := strconv.ParseBool(m.Config["automatically-retry-hooks"])
	return err != nil || v
}

// retryBackoff is the wait before the n-th automatic retry of a failed hook: 5 s doubling up
// to 5 min, as Juju's uniter does.
func retryBackoff(n int) time.Duration {
	d := 5 * time.Second
	for i := 0; i < n && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

// step does one thing: a pending commit, an action, a hook error's resolution, or what
// the resolvers decide.
func (u *Uniter) step(ctx context.Context) (done, worked bool, err error) {
	if u.pending != nil {
		done, busy, err := u.retryCommit()
		if busy && err == nil && u.pending != nil {
			return false, false, nil // waiting out the backoff
		}
		return done, busy && u.pending == nil, err
	}
	var v *view
	err = u.store.View(func(t *st.Tx) error {
		var err error
		v, err = u.loadView(t)
		if err != nil {
			return err
		}
		v.actions = t.PendingActions(u.model, u.name)
		return nil
	})
	if err != nil {
		var gone bool
		_ = u.store.View(func(t *st.Tx) error {
			_, e := t.Unit(u.model, u.name)
			gone = e != nil
			return nil
		})
		if gone {
			return true, false, nil
		}
		return false, false, err
	}
	u.mu.Lock()
	v.boot = u.boot
	u.mu.Unlock()
	v.now = time.Now()
	if v.unit.PodStopped && v.unit.Life == st.Alive {
		return false, false, nil // the pod (and with it the charm container) is down
	}
	if v.unit.Error != nil {
		// As Juju: leadership is resigned and actions run while a hook error waits.
		if o := (leadershipResolver{}).nextOp(v); o != nil && o.local != nil {
			return u.runOp(ctx, o)
		}
		if o := (actionsResolver{}).nextOp(v); o != nil {
			return u.runOp(ctx, o)
		}
		return u.resolveError(ctx, v)
	}
	o := nextOp(v)
	if o == nil {
		return false, false, nil
	}
	return u.runOp(ctx, o)
}

// runOp carries out what the resolvers decided.
func (u *Uniter) runOp(ctx context.Context, o *op) (done, worked bool, err error) {
	switch {
	case o.hook != nil:
		removed, err := u.runHook(ctx, o.hook)
		return removed, true, err
	case o.action != nil:
		return false, true, u.runAction(ctx, o.action)
	}
	removed := false
	err = u.store.Update(func(t *st.Tx) error {
		unit, err := t.Unit(u.model, u.name)
		if err != nil {
			return err
		}
		o.local(unit)
		removed = unit.Local.Removed
		t.PutUnit(unit)
		return nil
	})
	if err != nil {
		return false, true, fmt.Errorf("%s: %w", o.what, err)
	}
	u.log.Debug("local operation", "op", o.what)
	if removed {
		return true, true, u.finishRemoval()
	}
	return false, true, nil
}

// resolveError handles the failed hook: re-run (resolve, or automatically after the
// backoff), or skip (resolve --no-retry).
func (u *Uniter) resolveError(ctx context.Context, v *view) (done, worked bool, err error) {
	h := v.unit.Error
	switch v.unit.Resolve {
	case st.ResolveRetry:
		_, err := u.runHook(ctx, h)
		return false, true, err
	case st.ResolveNoRetry:
		err := u.store.Update(func(t *st.Tx) error {
			unit, err := t.Unit(u.model, u.name)
			if err != nil {
				return err
			}
			app, err := t.App(unit.Model, unit.App)
			if err != nil {
				return err
			}
			advance(t, unit, app, h, time.Now().UTC())
			u.clearError(unit)
			t.PutUnit(unit)
			return nil
		})
		return false, true, err
	}
	if autoRetry(v.model) && time.Since(v.unit.ErrorAt) >= retryBackoff(v.unit.ErrorRetries) {
		_, err := u.runHook(ctx, h)
		return false, true, err
	}
	return false, false, nil
}

func (u *Uniter) clearError(unit *st.Unit) {
	unit.Error = nil
	unit.Resolve = st.ResolveNone
	unit.ErrorAt, unit.ErrorRetries = time.Time{}, 0
	if unit.PrevWorkload != nil {
		unit.Workload = *unit.PrevWorkload
		unit.PrevWorkload = nil
	}
	unit.Agent = st.Status{Status: "idle", Since: time.Now().UTC()}
}

// finishRemoval deletes a removed unit's pod and files, then its record: in that order, so
// that once a unit is gone from the store (what destroy-model and remove-unit wait for)
// nothing of it is left on disk. A crash in between is finished by the next agent start.
func (u *Uniter) finishRemoval() error {
	pod.Stop(u.podDir())
	if err := u.keepStorage(); err != nil {
		return fmt.Errorf("keeping storage: %w", err)
	}
	if err := os.RemoveAll(u.dir); err != nil {
		return fmt.Errorf("removing %s: %w", u.dir, err)
	}
	return u.store.Update(func(t *st.Tx) error {
		unit, err := t.Unit(u.model, u.name)
		if err != nil {
			return nil // already gone
		}
		t.DeleteUnit(unit)
		return nil
	})
}

// runHook runs one hook; it reports whether the unit was removed.
func (u *Uniter) runHook(ctx context.Context, h *st.Hook) (bool, error) {
	err := u.store.Update(func(t *st.Tx) error {
		unit, err := t.Unit(u.model, u.name)
		if err != nil {
			return err
		}
		unit.InProgress = h
		if h.Kind == hooks.Install && !unit.WorkloadSetByCharm {
			unit.Workload = st.Status{Status: "maintenance", Message: "installing charm software", Since: time.Now().UTC()}
		}
		unit.Agent = st.Status{Status: "executing", Message: fmt.Sprintf("running %s hook", h.Name), Since: time.Now().UTC()}
		t.PutUnit(unit)
		return nil
	})
	if err != nil {
		return false, err
	}
	if h.Kind == hooks.UpgradeCharm {
		if err := u.refreshCharm(); err != nil {
			return false, err
		}
	}
	hc := u.newContext(h, nil)
	if h.Kind.IsRelation() && !u.relationExists(h.RelID) {
		// A hook of a relation deleted meanwhile (one queued before a restart, or in
		// error): as Juju's relation state tracker, skip it and commit it as run.
		u.logf("WARNING", "preparing hook %s for %s, relation %d has been removed", h.Name, u.name, h.RelID)
		commit := func() (bool, error) { return u.commitHook(h, hc) }
		if _, err := commit(); err != nil {
			return false, u.deferCommit("hook "+h.Name, commit, err)
		}
		return false, nil
	}
	code, _, _, runErr := u.execute(ctx, hc)
	if ctx.Err() != nil {
		// Controller shutting down: leave the hook in progress so it is re-run.
		return false, ctx.Err()
	}
	if code == 0 && runErr == nil {
		commit := func() (bool, error) { return u.commitHook(h, hc) }
		removed, err := commit()
		if err != nil {
			return false, u.deferCommit("hook "+h.Name, commit, err)
		}
		if removed {
			return true, u.finishRemoval()
		}
		return false, nil
	}
	if runErr != nil {
		u.logf("ERROR", "hook %q: %v", h.Name, runErr)
	}
	u.logf("ERROR", "hook %q (via hook dispatching script: dispatch) failed: exit status %d", h.Name, code)
	commit := func() (bool, error) { return false, u.commitHookError(h) }
	if err := u.commitHookError(h); err != nil {
		return false, u.deferCommit("the failure of hook "+h.Name, commit, err)
	}
	return false, nil
}

// commitHook commits a hook that succeeded: its buffered changes and what it advances;
// it reports whether the unit was removed.
func (u *Uniter) commitHook(h *st.Hook, hc *hookCtx) (bool, error) {
	removed := false
	err := u.store.Update(func(t *st.Tx) error {
		if u.commitFault != nil {
			if err := u.commitFault(); err != nil {
				return err
			}
		}
		unit, err := t.Unit(u.model, u.name)
		if err != nil {
			return err
		}
		app, err := t.App(unit.Model, unit.App)
		if err != nil {
			return err
		}
		if err := hc.commit(t, unit); err != nil {
			return err
		}
		advance(t, unit, app, h, time.Now().UTC())
		unit.InProgress = nil
		if unit.Error != nil {
			u.clearError(unit)
		}
		unit.Agent = st.Status{Status: "idle", Since: time.Now().UTC()}
		if h.Kind == hooks.Start && !unit.WorkloadSetByCharm {
			unit.Workload = st.Status{Status: "unknown", Since: time.Now().UTC()}
		}
		t.Log(u.model, u.entity(), "INFO", fmt.Sprintf("juju.worker.uniter.operation ran %q hook (via hook dispatching script: dispatch)", h.Name))
		if h.Kind == hooks.Remove {
			unit.Local.Removed = true
			removed = true
		}
		t.PutUnit(unit)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("committing hook %s: %w", h.Name, err)
	}
	return removed, nil
}

// commitHookError records that hook h failed: the unit waits in error for a resolution.
func (u *Uniter) commitHookError(h *st.Hook) error {
	return u.store.Update(func(t *st.Tx) error {
		if u.commitFault != nil {
			if err := u.commitFault(); err != nil {
				return err
			}
		}
		unit, err := t.Unit(u.model, u.name)
		if err != nil {
			return err
		}
		unit.InProgress = nil
		if unit.Error == nil {
			prev := unit.Workload
			unit.PrevWorkload = &prev
			unit.ErrorRetries = 0
		} else {
			unit.ErrorRetries++
		}
		unit.ErrorAt = time.Now().UTC()
		unit.Error = h
		unit.Resolve = st.ResolveNone
		msg := fmt.Sprintf("hook failed: %q", h.Name)
		unit.Workload = st.Status{Status: "error", Message: msg, Since: time.Now().UTC()}
		unit.Agent = st.Status{Status: "error", Message: msg, Since: time.Now().UTC()}
		t.PutUnit(unit)
		return nil
	})
}

// runAction runs one queued action.
func (u *Uniter) runAction(ctx context.Context, a *st.Action) error {
	err := u.store.Update(func(t *st.Tx) error {
		act, err := t.Action(a.ID)
		if err != nil {
			return err
		}
		act.Status = "running"
		act.Started = time.Now().UTC()
		t.PutAction(act)
		a = act
		return nil
	})
	if err != nil {
		return err
	}
	hc := u.newContext(nil, a)
	code, stdout, stderr, runErr := u.execute(ctx, hc)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	commit := func() (bool, error) { return false, u.commitAction(a, hc, code, stdout, stderr, runErr) }
	if _, err := commit(); err != nil {
		return u.deferCommit(fmt.Sprintf("action %d", a.ID), commit, err)
	}
	return nil
}

// commitAction records an action's outcome and, when it succeeded, its buffered changes.
func (u *Uniter) commitAction(a *st.Action, hc *hookCtx, code int, stdout, stderr string, runErr error) error {
	return u.store.Update(func(t *st.Tx) error {
		if u.commitFault != nil {
			if err := u.commitFault(); err != nil {
				return err
			}
		}
		act, err := t.Action(a.ID)
		if err != nil {
			return err
		}
		unit, err := t.Unit(u.model, u.name)
		if err != nil {
			return err
		}
		hc.mu.Lock()
		defer hc.mu.Unlock()
		act.Results = hc.results
		if act.Results == nil {
			act.Results = map[string]any{}
		}
		act.Results["return-code"] = code
		if stdout != "" {
			act.Results["stdout"] = stdout
		}
		if stderr != "" {
			act.Results["stderr"] = stderr
		}
		act.Log = append(act.Log, hc.actionLog...)
		act.Completed = time.Now().UTC()
		switch {
		case runErr != nil:
			act.Status, act.Message = "failed", runErr.Error()
		case hc.failed:
			act.Status, act.Message = "failed", hc.failMsg
		case code != 0:
			act.Status, act.Message = "failed", fmt.Sprintf("exit status %d", code)
		default:
			act.Status = "completed"
		}
		if code == 0 && runErr == nil {
			hc.mu.Unlock()
			err := hc.commit(t, unit)
			hc.mu.Lock()
			if err != nil {
				return err
			}
			t.PutUnit(unit)
		}
		t.PutAction(act)
		return nil
	})
}

// relationExists reports whether relation id is still in the store.
func (u *Uniter) relationExists(id int) bool {
	exists := true
	_ = u.store.View(func(t *st.Tx) error {
		_, err := t.Relation(id)
		exists = err == nil
		return nil
	})
	return exists
}

// failInterruptedActions fails the actions a previous agent left running (the controller
// was killed): as Juju's uniter, which never runs an interrupted action again, since
// running an arbitrary command twice may be hazardous.
func (u *Uniter) failInterruptedActions() error {
	err := u.store.Update(func(t *st.Tx) error {
		for _, a := range t.PendingActions(u.model, u.name) {
			if a.Status != "running" {
				continue
			}
			a.Status, a.Message, a.Completed = "failed", "action terminated", time.Now().UTC()
			t.PutAction(a)
			t.Log(u.model, u.entity(), "WARNING", fmt.Sprintf("action %d (%s) was interrupted: failed", a.ID, a.Name))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("failing interrupted actions: %w", err)
	}
	return nil
}

// refreshCharm replaces the unit's charm copy with the application's current charm.
func (u *Uniter) refreshCharm() error {
	var app *st.App
	if err := u.store.View(func(t *st.Tx) error {
		unit, err := t.Unit(u.model, u.name)
		if err != nil {
			return err
		}
		app, err = t.App(unit.Model, unit.App)
		return err
	}); err != nil {
		return err
	}
	tmp := u.charmDir() + ".new"
	_ = os.RemoveAll(tmp)
	if err := CopyTree(app.CharmDir, tmp); err != nil {
		return fmt.Errorf("copying refreshed charm: %w", err)
	}
	old := u.charmDir() + ".old"
	_ = os.RemoveAll(old)
	if err := os.Rename(u.charmDir(), old); err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := os.Rename(tmp, u.charmDir()); err != nil {
		return err
	}
	_ = os.RemoveAll(old)
	ch, err := u.store.Charm(app.CharmDir)
	if err != nil {
		return err
	}
	containers := map[string][]string{}
	for c, spec := range ch.Meta().Containers {
		var mounts []string
		for _, m := range spec.Mounts {
			mounts = append(mounts, m.Location)
		}
		containers[c] = mounts
	}
	u.containers = containers
	return nil
}

// linkTools makes every hook tool in dir a symlink to target, replacing links to anything
// else (a unit set up before jujuc was installed, or by another jujulet binary).
func linkTools(dir, target string) error {
	for _, name := range hooktools.ToolNames() {
		p := filepath.Join(dir, name)
		if cur, err := os.Readlink(p); err == nil && cur == target {
			continue
		}
		_ = os.Remove(p)
		if err := os.Symlink(target, p); err != nil {
			return fmt.Errorf("linking tool %s: %w", name, err)
		}
	}
	return nil
}
