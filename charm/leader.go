package charm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

func passwordsFingerprint(pw map[string]string) string {
	h := sha256.New()
	for _, u := range SystemUsers {
		h.Write([]byte(u + "\x00" + pw[u] + "\x00"))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func (c *Charm) setPrimary(st *State, unit string) {
	if st.Primary() != unit {
		c.logf(context.Background(), slog.LevelInfo, "recording %s as the primary (was %q)", unit, st.Primary())
	}
	st.SetApp("primary", unit)
	st.SetApp("primary-address", st.AddressOf(unit))
}

// leaderDuties: choose the first primary, run the switchover bookkeeping, fail over from a
// primary that left or stays down.
func (c *Charm) leaderDuties(ctx context.Context, st *State, w Workload) error {
	primary := st.Primary()
	if primary == "" {
		// A new cluster: the leader initialises it.
		c.setPrimary(st, st.Unit)
		return nil
	}
	if a := st.AddressOf(primary); a != "" && a != st.AppData["primary-address"] {
		st.SetApp("primary-address", a)
	}
	c.leaderSwitchover(ctx, st)
	// A switchover this hook completed recorded its target: the old primary, shut down on
	// purpose, is not judged any more (chaos finding F1).
	primary = st.Primary()
	if st.Switchover() != nil {
		st.setPrimaryDown("", time.Time{})
		return nil // the old primary is down on purpose
	}
	if c.extension().holdFailover(st) != "" {
		st.setPrimaryDown("", time.Time{})
		if primary != st.Unit {
			c.confirmRestart(ctx, st, w, primary, false) // no failover now: nothing to exclude
		}
		return nil // down on purpose for cross-regional replication
	}
	if primary == st.Unit {
		st.setPrimaryDown("", time.Time{})
		c.handOff(ctx, st, w)
		return nil
	}
	st.SetLocal(localHandoffBackoff, "")
	if !st.HasPeer(primary) {
		// The leaving primary stops itself in its own departed hook; do not promote while it
		// still accepts connections (never two writable primaries).
		if !c.primaryAnswers(ctx, st, w, primary) {
			c.logf(ctx, slog.LevelWarn, "primary %s left the cluster: failing over", primary)
			st.setPrimaryDown("", time.Time{})
			return c.failover(ctx, st, w, primary)
		}
		st.WakeAt(timerFailoverConfirm, c.Now().Add(pollAgain))
		return waiting("waiting for the departing primary %s to stop", primary)
	}
	if c.primaryAnswers(ctx, st, w, primary) {
		if !st.primaryDownSince(primary).IsZero() {
			c.logf(ctx, slog.LevelInfo, "primary %s answers again: no failover", primary)
		}
		st.setPrimaryDown("", time.Time{})
		c.confirmRestart(ctx, st, w, primary, true)
		return nil
	}
	return c.confirmPrimaryDown(ctx, st, w, primary)
}

func (c *Charm) primaryAnswers(ctx context.Context, st *State, w Workload, primary string) bool {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	db, err := c.connect(cctx, st, w, primaryAddress(st, primary), selfLogin(st))
	if err != nil {
		return false
	}
	defer db.Close(ctx)
	_, err = db.Positions(cctx)
	return err == nil
}

// primaryAddress is the address the leader probes primary at: its unit's, or the one
// recorded with it.
func primaryAddress(st *State, primary string) string {
	if a := st.AddressOf(primary); a != "" {
		return a
	}
	return st.AppData["primary-address"]
}

// failover promotes, in place of the primary old (down, or gone), a unit that has every write
// old acknowledged as far as its published record tells (failoverCandidates), or the unit a
// promote-to-primary request names. When none may be promoted it waits, saying why. The pin
// of an operator's choice (keyPinnedPrimary) follows: a request's target is pinned, the
// charm's own choice clears it, and a failover that did not happen leaves it.
func (c *Charm) failover(ctx context.Context, st *State, w Workload, old string) error {
	rule := failoverCandidates(st, old)
	if req := c.failoverRequest(st, old); req != nil {
		if why := c.checkFailoverTarget(ctx, st, w, rule, req.To, req.Force); why != "" {
			c.logf(ctx, slog.LevelWarn, "ignoring the request %s to promote %s: %s", req.ID, req.To, why)
		} else {
			c.logf(ctx, slog.LevelWarn, "primary %s is down: promoting %s as requested (request %s, force=%v)", old, req.To, req.ID, req.Force)
			st.SetApp(keyLastFailoverRequest, req.ID)
			c.setPrimary(st, req.To)
			st.SetApp(keyPinnedPrimary, req.To) // an operator's choice: no hand-off from it
			return nil
		}
	}
	next, _, why := c.evalFailover(ctx, st, w, rule)
	if next == "" {
		return waiting("primary %s is down and %s: not failing over, acknowledged writes could be lost; "+
			"promote-to-primary scope=unit unit=<replica> force=true promotes one anyway", old, why)
	}
	c.logf(ctx, slog.LevelWarn, "failing over from %s to %s (%s)", old, next, rule.basis)
	c.setPrimary(st, next)
	st.SetApp(keyPinnedPrimary, "") // the charm's choice pins nothing
	return nil
}

// mostAdvancedReplica returns the reachable standby (this unit included) with the highest
// received (then replayed) LSN, excluding unit `except`; ties go to the lowest unit name.
func (c *Charm) mostAdvancedReplica(ctx context.Context, st *State, w Workload, except string) string {
	var units []string
	for _, u := range append([]string{st.Unit}, st.Peers...) {
		if u != except {
			units = append(units, u)
		}
	}
	sort.Strings(units)
	best, _, _ := c.evalFailover(ctx, st, w, failoverRule{candidates: units})
	return best
}

// leaderSwitchover turns a unit's request into the app record, completes a switchover whose
// target promoted, and rolls back one that did not finish in time.
//
// A rollback and the target's promotion exclude each other: the target promotes only before
// switchoverPromoteBy (well before the rollback bound) and only while the old primary does
// not answer writable; after a rollback the old primary starts only while the target does not
// answer writable (runPrimary).
func (c *Charm) leaderSwitchover(ctx context.Context, st *State) {
	sw := st.Switchover()
	if sw == nil {
		for _, u := range st.Peers {
			var req struct{ ID, To string }
			if raw := st.PeerData[u]["switchover-request"]; raw != "" && json.Unmarshal([]byte(raw), &req) == nil &&
				req.ID != "" && !switchoverEnded(st, req.ID) && st.HasPeer(req.To) && req.To != st.Primary() {
				if why := c.extension().refuseUnitSwitchover(st); why != "" {
					// Asked before a cross-cluster switchover started: it would overlap it.
					c.logf(ctx, slog.LevelWarn, "ignoring %s's switchover request %s: %s", u, req.ID, why)
					endSwitchover(st, req.ID)
					return
				}
				c.startSwitchover(st, req.ID, req.To)
				return
			}
		}
		return
	}
	promoted := st.PeerData[sw.To]["promoted"]
	if sw.To == st.Unit {
		promoted = st.MyData["promoted"]
	}
	if promoted == sw.ID {
		c.completeSwitchover(st, sw)
		return
	}
	rollbackAt := time.Unix(sw.Since, 0).Add(c.SwitchoverTimeout)
	if c.Now().After(rollbackAt) || !st.HasPeer(sw.To) {
		c.logf(ctx, slog.LevelWarn, "switchover %s to %s did not complete: rolling back to %s", sw.ID, sw.To, sw.From)
		st.SetApp("switchover", "")
		endSwitchover(st, sw.ID)
		st.SetLocal(localHandoffAfter, strconv.FormatInt(c.Now().Add(HandoffBackoff).Unix(), 10))
		st.WakeAt(timerSwitchoverRollback, time.Time{})
		return
	}
	// Since has a resolution of a second: wake up just after the bound.
	st.WakeAt(timerSwitchoverRollback, rollbackAt.Add(time.Second))
}

// endedSwitchoversKey lists, in the app data, the IDs of the switchovers the leader ended
// (completed, rolled back or refused), newest last. A unit's request stays in its data after
// it is handled: with only the last ID remembered, two units' old requests took turns for
// ever, each starting again once the other had ended.
const endedSwitchoversKey = "ended-switchovers"

// endedSwitchoversKept bounds the list: requests are rarer than that many switchovers.
const endedSwitchoversKept = 32

// switchoverEnded reports whether the leader has ended switchover id.
func switchoverEnded(st *State, id string) bool {
	if id == st.AppData["last-switchover"] {
		return true
	}
	var ended []string
	_ = json.Unmarshal([]byte(st.AppData[endedSwitchoversKey]), &ended)
	return slices.Contains(ended, id)
}

// endSwitchover records that the leader ended switchover id.
func endSwitchover(st *State, id string) {
	st.SetApp("last-switchover", id)
	var ended []string
	_ = json.Unmarshal([]byte(st.AppData[endedSwitchoversKey]), &ended)
	ended = append(slices.DeleteFunc(ended, func(e string) bool { return e == id }), id)
	if len(ended) > endedSwitchoversKept {
		ended = ended[len(ended)-endedSwitchoversKept:]
	}
	b, _ := json.Marshal(ended)
	st.SetApp(endedSwitchoversKey, string(b))
}

// completeSwitchover records the target of sw as the primary.
func (c *Charm) completeSwitchover(st *State, sw *Switchover) {
	c.setPrimary(st, sw.To)
	st.SetApp("switchover", "")
	endSwitchover(st, sw.ID)
	// An operator's choice of primary is kept; the charm's own hand-off pins nothing.
	pinned := sw.To
	if isHandoff(sw.ID) {
		pinned = ""
	}
	st.SetApp(keyPinnedPrimary, pinned)
	st.WakeAt(timerSwitchoverRollback, time.Time{})
}

// switchoverPromoteBy is when the target of sw stops trying to promote: two thirds of
// SwitchoverTimeout, so that the leader's rollback, at SwitchoverTimeout, never overlaps a
// promotion (the margin covers the units' clock skew and the promotion itself).
func (c *Charm) switchoverPromoteBy(sw *Switchover) time.Time {
	return time.Unix(sw.Since, 0).Add(c.SwitchoverTimeout * 2 / 3)
}

func (c *Charm) startSwitchover(st *State, id, to string) {
	sw := Switchover{ID: id, From: st.Primary(), To: to, Since: c.Now().Unix()}
	b, _ := json.Marshal(sw)
	st.SetApp("switchover", string(b))
	st.WakeAt(timerSwitchoverRollback, time.Unix(sw.Since, 0).Add(c.SwitchoverTimeout+time.Second))
}

// switchoverStep is each unit's part of a planned switchover: the old primary shuts down
// cleanly and publishes its checkpoint; the target promotes only once it replayed past it.
func (c *Charm) switchoverStep(ctx context.Context, st *State, w Workload) error {
	sw := st.Switchover()
	if sw == nil {
		return nil
	}
	switch st.Unit {
	case sw.From:
		if st.Primary() != st.Unit {
			return nil
		}
		var d Demotion
		if json.Unmarshal([]byte(st.MyData["demoted"]), &d) == nil && d.ID == sw.ID {
			return nil
		}
		if err := c.status(ctx, "maintenance", "switchover to "+sw.To+": fast shutdown"); err != nil {
			return err
		}
		cd, err := w.Stop(ctx)
		if err != nil {
			return err
		}
		if !cd.CleanShutdown() {
			return waiting("switchover: shutdown was not clean (%s)", cd.State)
		}
		b, _ := json.Marshal(Demotion{ID: sw.ID, To: sw.To, SystemID: cd.SystemID, Timeline: cd.TimelineID, CheckpointLSN: cd.CheckpointLSN.String()})
		st.SetMine("demoted", string(b))
		c.logf(ctx, slog.LevelInfo, "switchover %s: shut down cleanly at %s, handing over to %s", sw.ID, cd.CheckpointLSN, sw.To)
	case sw.To:
		if st.MyData["promoted"] == sw.ID {
			return nil
		}
		var d Demotion
		fromData := st.PeerData[sw.From]
		if err := json.Unmarshal([]byte(fromData["demoted"]), &d); err != nil || d.ID != sw.ID {
			return waiting("switchover: waiting for %s to shut down cleanly", sw.From)
		}
		ckpt, err := postgres.ParseLSN(d.CheckpointLSN)
		if err != nil {
			return waiting("switchover: bad checkpoint in %s's token: %v", sw.From, err)
		}
		db, err := c.connectSelf(ctx, st, w)
		if err != nil {
			return waiting("switchover: this unit's server does not answer: %v", err)
		}
		defer db.Close(ctx)
		deadline := time.Now().Add(c.SwitchoverReplayWait)
		for {
			pos, err := db.Positions(ctx)
			if err != nil {
				return err
			}
			if !pos.InRecovery {
				break // already promoted (a re-run)
			}
			if pos.Replayed > ckpt {
				if c.Now().After(c.switchoverPromoteBy(sw)) {
					return waiting("switchover %s: not promoted in time, the leader rolls it back to %s", sw.ID, sw.From)
				}
				if c.writable(ctx, st, w, sw.From) {
					return waiting("switchover %s: %s answers writable again: not promoting", sw.ID, sw.From)
				}
				if err := c.status(ctx, "maintenance", "switchover: promoting"); err != nil {
					return err
				}
				if err := db.Promote(ctx); err != nil {
					return err
				}
				break
			}
			if time.Now().After(deadline) {
				st.WakeAt(timerSwitchoverReplay, c.Now().Add(pollAgain))
				return waiting("switchover: replayed %s, waiting to pass %s's shutdown checkpoint %s", pos.Replayed, sw.From, ckpt)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
		st.SetMine("promoted", sw.ID)
		c.logf(ctx, slog.LevelInfo, "switchover %s: promoted after replaying past %s", sw.ID, ckpt)
		if st.Leader {
			c.leaderSwitchover(ctx, st)
		}
	}
	return nil
}
