package charm

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/pgwatch"
)

// Timers. A hook asks to be woken up with st.WakeAt; the deadlines are written once, at the
// end of the hook, to the timers file in the workload container, where the watcher service
// (internal/pgwatch) raises the custom notice pgwatch.NoticeKey when one passes: Juju then
// runs postgresql-pebble-custom-notice, whose reconcile does the timed work. No bound of the
// charm depends on update-status (docs/HA.md lists the timers).
const (
	// timerRetry: a reconcile that ended waiting runs again after a backoff.
	timerRetry = "retry"
	// timerFailoverConfirm: the leader re-probes a primary that stopped answering, and fails
	// over once its probes have failed for FailoverAfter.
	timerFailoverConfirm = "failover-confirm"
	// timerSwitchoverRollback: the leader rolls back an in-cluster switchover whose target
	// has not promoted within SwitchoverTimeout.
	timerSwitchoverRollback = "switchover-rollback"
	// timerSwitchoverReplay: a switchover target that has not replayed past the old
	// primary's shutdown checkpoint looks again.
	timerSwitchoverReplay = "switchover-replay"
	// timerHandoffRetry: the leader, primary of two units or more, looks again for a replica
	// to hand the primary to.
	timerHandoffRetry = "handoff-retry"
	// timerDRRollback: a demoting or demoted primary cluster whose peer has not taken over
	// rolls back after RollbackAfter; a demoted one first withdraws its token and rolls back
	// after the peer's promotion bound.
	timerDRRollback = "dr-rollback"
	// timerDRAbandon: a standby cluster abandons its switchover request after twice
	// RollbackAfter without the other cluster's hand-over, or its promotion after its head's
	// promotion bound.
	timerDRAbandon = "dr-abandon"
	// timerDRPromote: the standby leader that waits to replay past the other cluster's
	// shutdown checkpoint looks again.
	timerDRPromote = "dr-promote"
	// timerNotStreaming: a standby that streams nothing looks again (diverged.go). The
	// watcher raises the same wake-up, but it cannot log in to a standby cluster's servers,
	// whose roles are the other cluster's.
	timerNotStreaming = pgwatch.StallTimer
)

// Retry backoff of a reconcile that ended waiting: RetryMin doubling up to RetryMax.
const (
	RetryMin = 2 * time.Second
	RetryMax = 30 * time.Second
	// pollAgain is how soon a step that waits for something fast (a replay, a stop) looks
	// again.
	pollAgain = time.Second
)

// Keys of the unit's charm state (state-get/state-set): local to the unit, never shared.
const (
	localRetryBackoff   = "retry-backoff"   // current backoff of the waiting retry
	localPrimaryDown    = "primary-down"    // leader: "unit@unix-ms" when it first saw the primary down
	localHandoffAfter   = "handoff-after"   // leader: unix seconds before which no hand-off starts
	localHandoffBackoff = "handoff-backoff" // leader: current backoff of handoff-retry
	// localNotStreamingBackoff: current backoff of a stalled standby's not-streaming timer.
	localNotStreamingBackoff = "not-streaming-backoff"
	localPromotedAt          = "promoted-at" // the replay position at which this unit last promoted
)

// WakeAt asks for a hook at `at` under name (lower-case letters, digits and dashes, see
// pgwatch.ValidName: other names are dropped with a warning when the hook ends): the earliest
// request of a name in one hook wins, and it replaces the deadline an earlier hook set. A
// zero `at` cancels the timer. Deadlines are written at the end of the hook.
func (s *State) WakeAt(name string, at time.Time) {
	if s.wakes == nil {
		s.wakes = map[string]time.Time{}
	}
	if prev, ok := s.wakes[name]; ok && !prev.IsZero() && (at.IsZero() || prev.Before(at)) {
		return
	}
	s.wakes[name] = at
}

// loadTimers reads the timers file and drops the deadlines that have passed: this hook is
// their wake-up (its reconcile schedules them again when still needed).
func (c *Charm) loadTimers(ctx context.Context, st *State, w Workload) {
	t, err := w.ReadTimers(ctx)
	if err != nil {
		// A damaged file is replaced by this hook's timers.
		c.logf(ctx, slog.LevelWarn, "timers file unreadable, rewriting it: %v", err)
		t, st.timersDamaged = nil, true
	}
	if t == nil {
		t = pgwatch.Timers{}
	}
	st.timersOnDisk = maps.Clone(t)
	now := c.Now()
	for name, at := range t {
		if !at.After(now) {
			delete(t, name)
		}
	}
	st.timers, st.timersLoaded = t, true
}

// flushTimers merges this hook's WakeAt requests into the timers and writes the file when it
// changed. A hook that did not open the workload opens it now, only if it has requests.
//
// A hook whose pod went away after it loaded the timers has no workload any more (Reconcile
// drops it): it opens the workload again, once, and writes nothing when that fails.
func (c *Charm) flushTimers(ctx context.Context, st *State) error {
	if st.workload == nil {
		st.timersLoaded = false
	}
	if !st.timersLoaded {
		if !slices.ContainsFunc(slices.Collect(maps.Values(st.wakes)), func(at time.Time) bool { return !at.IsZero() }) {
			return nil // only cancellations: a stale timer costs one idle reconcile
		}
		w := st.workload
		if w == nil {
			var err error
			if w, err = c.OpenWorkload(ctx, st.Address); err != nil {
				c.logf(ctx, slog.LevelInfo, "timers %v not written: %v", st.wakes, err)
				return nil
			}
			st.workload = w
		}
		c.loadTimers(ctx, st, w)
	}
	for name, at := range st.wakes {
		if !pgwatch.ValidName(name) {
			c.logf(ctx, slog.LevelWarn, "timer %q dropped: invalid name", name)
			continue
		}
		if at.IsZero() {
			delete(st.timers, name)
		} else {
			st.timers[name] = at
		}
	}
	st.wakes = nil
	if st.timers.Equal(st.timersOnDisk) && !st.timersDamaged {
		return nil
	}
	if err := st.workload.WriteTimers(ctx, st.timers); err != nil {
		if isNotReady(err) {
			// The pod went away: pebble-ready comes when it is back, and reconciles.
			c.logf(ctx, slog.LevelInfo, "timers not written, the container is gone: %v", err)
			return nil
		}
		return fmt.Errorf("write timers: %w", err)
	}
	st.timersOnDisk, st.timersDamaged = maps.Clone(st.timers), false
	return nil
}

// scheduleRetry keeps a reconcile that ended waiting going without other hooks: it wakes
// up after the current backoff, which doubles up to RetryMax; any other outcome resets it.
func (c *Charm) scheduleRetry(st *State, waitingNow bool) {
	c.backOff(st, waitingNow, timerRetry, localRetryBackoff, RetryMax)
}

// backOff, when on, wakes the unit up by timer after the backoff kept in the charm state
// under key, which doubles from RetryMin up to ceiling; when off, it cancels the timer and
// resets the backoff.
func (c *Charm) backOff(st *State, on bool, timer, key string, ceiling time.Duration) {
	if !on {
		st.WakeAt(timer, time.Time{})
		st.SetLocal(key, "")
		return
	}
	d, err := time.ParseDuration(st.Local[key])
	if err != nil || d < RetryMin {
		d = RetryMin
	}
	st.WakeAt(timer, c.Now().Add(d))
	st.SetLocal(key, min(2*d, ceiling).String())
}

// primaryDownSince is when the leader first saw primary down ("zero": not recorded).
func (s *State) primaryDownSince(primary string) time.Time {
	rec := s.Local[localPrimaryDown]
	i := strings.LastIndex(rec, "@")
	if i < 0 || rec[:i] != primary {
		return time.Time{}
	}
	n, err := strconv.ParseInt(rec[i+1:], 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(n)
}

func (s *State) setPrimaryDown(primary string, since time.Time) {
	if primary == "" {
		s.SetLocal(localPrimaryDown, "")
		return
	}
	s.SetLocal(localPrimaryDown, primary+"@"+strconv.FormatInt(since.UnixMilli(), 10))
}
