package charm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// A standby that received WAL its upstream never had cannot follow the upstream's timeline:
// PostgreSQL refuses the new timeline ("forked off ... before current recovery point") and
// the standby streams nothing, while both servers answer. Two kinds of standby get there: a
// standby cluster's unit whose primary cluster failed over to a replica behind it (or that
// cascades from a standby leader that was rewound; divergedStandbyStep checks it in every
// hook), and a replica of its own cluster left on a timeline the cluster abandoned (runReplica
// checks it when the server is observed streaming nothing; the watcher's wake-up for such a
// standby brings the hook, docs/HA.md).
//
// Timeline ids are not enough to tell (a replica promoted from an old timeline may pick an id
// this unit already knows from another history): the two histories are compared entry by
// entry, as pg_rewind does.

// keyRewound (unit data): the timeline and fork position this unit was last rewound onto.
const keyRewound = "rewound"

// rewindIfDiverged compares this unit's history with its upstream's (role) and, when this
// unit holds WAL past the point where they part, stops its server and rewinds it onto the
// upstream (re-seeding it when pg_rewind fails). It reports whether it stopped the server;
// the caller starts it again as a standby of the upstream. Anything it cannot read now (a
// server shutting down, an upstream that does not answer within timeout) leaves the server as
// it is, for a later hook to compare again.
func (c *Charm) rewindIfDiverged(ctx context.Context, st *State, w Workload, role Role, timeout time.Duration) (bool, error) {
	if running, err := w.Running(ctx); err != nil || !running {
		return false, err
	}
	db, err := c.connectSelf(ctx, st, w)
	if err != nil {
		return false, nil
	}
	defer db.Close(ctx)
	pos, err := db.Positions(ctx)
	if err != nil || !pos.InRecovery {
		return false, nil
	}
	held, err := db.WALTimelines(ctx)
	if err != nil {
		return false, nil // cannot tell now: a later hook compares again
	}
	myTLI, myHist, err := latestHistory(ctx, db, pos.Timeline, held)
	if err != nil {
		return false, nil
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	up, err := w.Connect(cctx, role.UpstreamAddr, role.upstreamLogin(st))
	if err != nil {
		return false, nil
	}
	defer up.Close(ctx)
	upos, err := up.Positions(cctx)
	if err != nil {
		return false, nil
	}
	upTLI, upHist, err := latestHistory(cctx, up, upos.Timeline, nil)
	if err != nil {
		return false, nil // cannot tell now (the upstream may be shutting down): a later hook compares again
	}
	fork, forked := forkPoint(myTLI, myHist, upTLI, upHist)
	mine := max(pos.Replayed, pos.Received)
	if !forked || mine <= fork {
		return false, nil // it follows the upstream's timeline by itself
	}
	// The upstream must have checkpointed on its timeline for pg_rewind to see the fork. It
	// does so before this unit's server stops: an upstream that cannot (one shutting down
	// for a switchover back) leaves this unit running, to compare again in a later hook.
	if !upos.InRecovery {
		if err := up.Checkpoint(cctx); err != nil {
			c.logf(ctx, slog.LevelWarn, "diverged from %s, but its checkpoint failed (rewinding later): %v", role.UpstreamUnit, err)
			return false, nil
		}
	}
	c.logf(ctx, slog.LevelWarn, "diverged from %s: this unit has WAL up to %s (timeline %d) but its upstream's history (timeline %d) left it at %s: rewinding",
		role.UpstreamUnit, mine, myTLI, upTLI, fork)
	db.Close(ctx)
	if err := c.status(ctx, "maintenance", "rewinding (pg_rewind): diverged from "+role.UpstreamUnit); err != nil {
		return false, err
	}
	if _, err := w.Stop(ctx); err != nil {
		return false, err
	}
	rctx, cancel := cloneContext(ctx, st)
	defer cancel()
	remote := c.isRemoteHost(st, role.UpstreamAddr)
	out, err := w.Rewind(rctx, postgres.Upstream{Host: role.UpstreamAddr, Port: role.UpstreamPort, User: "rewind", Remote: remote})
	upstream := postgres.Upstream{Host: role.UpstreamAddr, Port: role.UpstreamPort, User: "replication", Slot: role.Slot, AppName: role.Slot, Remote: remote}
	if err == nil {
		c.logf(ctx, slog.LevelInfo, "pg_rewind onto %s: %s", role.UpstreamUnit, strings.TrimSpace(out))
	} else {
		c.logf(ctx, slog.LevelWarn, "pg_rewind onto %s failed, re-seeding (old data kept aside): %v", role.UpstreamUnit, err)
		if err := c.seed(ctx, st, w, role, upstream); err != nil {
			return true, err
		}
	}
	// The units that stream from this one cannot follow its new history either: the key
	// brings them a hook, whose reconcile compares theirs with it (they stream nothing
	// once it restarts, so they look again until it answers).
	st.SetMine(keyRewound, fmt.Sprintf("%d/%s", upTLI, fork))
	// pg_rewind copies the upstream's files, which lack standby.signal, and leaves a data
	// directory that still needs recovery: it becomes the upstream's standby again at once.
	// Otherwise the next start takes it for a returning primary and rewinds it once more,
	// and that pg_rewind first runs crash recovery as a primary, writing WAL the upstream
	// never had.
	_, err = w.FollowPrimary(ctx, c.settings(ctx, st, w), upstream)
	return true, err
}

// latestHistory returns the latest timeline a server is on (its history files, from tli up)
// and that timeline's history. Only a history file the server does not have ends the search
// (postgres.ErrNoHistory): any other failure (a server shutting down, a broken connection) is
// an error, since a history cut short would read as a fork that is not there.
//
// A standby also holds the history files of timelines it fetched from its upstream but could
// not follow: with held (the timelines it holds WAL of, postgres.WALTimelines), a later
// timeline counts only if it holds WAL of it. A nil held takes every history file (an upstream
// is on its latest timeline).
func latestHistory(ctx context.Context, db DB, tli int, held map[int]bool) (int, []postgres.HistoryEntry, error) {
	if tli < 1 {
		tli = 1
	}
	hist, err := db.TimelineHistory(ctx, tli)
	if err != nil {
		return 0, nil, fmt.Errorf("timeline %d history: %w", tli, err)
	}
	for next, last := tli+1, tli+64; next < last; next++ {
		h, err := db.TimelineHistory(ctx, next)
		if errors.Is(err, postgres.ErrNoHistory) {
			break
		}
		if err != nil {
			return 0, nil, fmt.Errorf("timeline %d history: %w", next, err)
		}
		if len(h) == 0 {
			break
		}
		if held == nil || held[next] {
			tli, hist = next, h
		}
	}
	return tli, hist, nil
}

// forkPoint compares two timeline histories (each: the server's current timeline and the
// history entries of the timelines before it) and returns the WAL position where they part;
// forked is false when one history continues the other beyond every position (the server on
// history a can follow b up to b's end).
func forkPoint(aTLI int, a []postgres.HistoryEntry, bTLI int, b []postgres.HistoryEntry) (postgres.LSN, bool) {
	const end = postgres.LSN(1<<64 - 1)
	full := func(tli int, h []postgres.HistoryEntry) []postgres.HistoryEntry {
		return append(append([]postgres.HistoryEntry(nil), h...), postgres.HistoryEntry{TLI: tli, SwitchLSN: end})
	}
	fa, fb := full(aTLI, a), full(bTLI, b)
	for i := 0; i < len(fa) && i < len(fb); i++ {
		ea, eb := fa[i], fb[i]
		if ea.TLI != eb.TLI {
			if i == 0 {
				return 0, true
			}
			return fa[i-1].SwitchLSN, true
		}
		if ea.SwitchLSN != eb.SwitchLSN {
			return min(ea.SwitchLSN, eb.SwitchLSN), true
		}
	}
	return 0, false
}
