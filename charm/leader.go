package charm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
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
	if st.Switchover() != nil {
		return nil // the old primary is down on purpose
	}
	if c.HoldFailover != nil && c.HoldFailover(st) != "" {
		return nil // down on purpose for cross-regional replication
	}
	if primary == st.Unit {
		return nil
	}
	if !st.HasPeer(primary) {
		// The leaving primary stops itself in its own departed hook; do not promote while it
		// still accepts connections (never two writable primaries).
		if c.waitPrimaryGone(ctx, st, w, primary) {
			c.logf(ctx, slog.LevelWarn, "primary %s left the cluster: failing over", primary)
			return c.failover(ctx, st, w, primary)
		}
		return waiting("waiting for the departing primary %s to stop", primary)
	}
	if c.primaryAnswers(ctx, st, w, primary) {
		return nil
	}
	// Down: give it FailoverAfter to come back (a restarting pod) before promoting.
	deadline := time.Now().Add(c.FailoverAfter)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		if c.primaryAnswers(ctx, st, w, primary) {
			return nil
		}
	}
	c.logf(ctx, slog.LevelWarn, "primary %s has not answered for %s: failing over", primary, c.FailoverAfter)
	return c.failover(ctx, st, w, primary)
}

// waitPrimaryGone polls for up to FailoverAfter until the primary stops answering.
func (c *Charm) waitPrimaryGone(ctx context.Context, st *State, w Workload, primary string) bool {
	deadline := time.Now().Add(c.FailoverAfter)
	for {
		if !c.primaryAnswers(ctx, st, w, primary) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (c *Charm) primaryAnswers(ctx context.Context, st *State, w Workload, primary string) bool {
	addr := st.AddressOf(primary)
	if addr == "" {
		addr = st.AppData["primary-address"]
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	db, err := w.Connect(cctx, addr, "operator", st.Passwords["operator"])
	if err != nil {
		return false
	}
	defer db.Close(ctx)
	_, err = db.Positions(cctx)
	return err == nil
}

// failover promotes, in place of the primary old (down, or gone), a unit that has every write
// old acknowledged as far as its published record tells (failoverCandidates), or the unit a
// promote-to-primary request names. When none may be promoted it waits, saying why.
func (c *Charm) failover(ctx context.Context, st *State, w Workload, old string) error {
	rule := failoverCandidates(st, old)
	if req := c.failoverRequest(st, old); req != nil {
		if why := c.checkFailoverTarget(ctx, st, w, rule, req.To, req.Force); why != "" {
			c.logf(ctx, slog.LevelWarn, "ignoring the request %s to promote %s: %s", req.ID, req.To, why)
		} else {
			c.logf(ctx, slog.LevelWarn, "primary %s is down: promoting %s as requested (request %s, force=%v)", old, req.To, req.ID, req.Force)
			st.SetApp(keyLastFailoverRequest, req.ID)
			c.setPrimary(st, req.To)
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
	return nil
}

// failoverRule is which units may replace a lost primary, from the record it published.
type failoverRule struct {
	candidates []string // units that may be promoted (sorted)
	// mustAnswer (strict, no named standby): every acknowledged write is on one of these
	// replicas, not known which, so all must answer and only the most advanced is eligible.
	mustAnswer []string
	minLSN     postgres.LSN // asynchronous: eligible from this received position
	basis      string       // what the rule rests on, for logs and messages
	refuse     string       // no automatic failover at all, and why
}

// failoverCandidates reads the lost primary's published record (charm/sync.go):
//
//   - synchronous standbys named: those of them still in the cluster;
//   - strict with none named: any replica, the most advanced, once all that ran answer;
//   - asynchronous: replicas within durability_maximum_lag_on_failover of the published LSN;
//   - no record (a standby cluster's leader, a primary of an older charm) or a primary that
//     left the relation (its record is not readable any more; it stopped with a fast
//     shutdown, which sends all WAL to the streaming replicas): the most advanced replica.
func failoverCandidates(st *State, old string) failoverRule {
	var others []string
	for _, u := range append([]string{st.Unit}, st.Peers...) {
		if u != old {
			others = append(others, u)
		}
	}
	sort.Strings(others)
	if !st.HasPeer(old) {
		return failoverRule{candidates: others, basis: old + " left the cluster"}
	}
	raw := st.PeerData[old][keySyncStandbys]
	if old == st.Unit {
		raw = st.MyData[keySyncStandbys]
	}
	rec, err := parseSyncRecord(raw)
	switch {
	case err != nil:
		return failoverRule{refuse: "its synchronous standby record cannot be read (" + err.Error() + ")"}
	case rec == nil:
		return failoverRule{candidates: others, basis: old + " published no synchronous replication record"}
	case len(rec.Standbys) > 0:
		var cands []string
		for _, u := range rec.Standbys {
			if slices.Contains(others, u) {
				cands = append(cands, u)
			}
		}
		sort.Strings(cands)
		return failoverRule{candidates: cands, basis: "synchronous standbys of " + old + ": " + strings.Join(rec.Standbys, ", ")}
	case rec.Strict:
		return failoverRule{candidates: others, mustAnswer: ranUnits(st, old),
			basis: "strict mode, no synchronous standby named: the most advanced of all replicas"}
	default:
		lsn, _ := postgres.ParseLSN(rec.LSN) // validated by parseSyncRecord
		min := postgres.LSN(0)
		if lag := postgres.LSN(st.Config.MaxLagOnFailover); lsn > lag {
			min = lsn - lag
		}
		return failoverRule{candidates: others, minLSN: min,
			basis: fmt.Sprintf("asynchronous: within %d bytes of %s's last published position %s", st.Config.MaxLagOnFailover, old, rec.LSN)}
	}
}

// probe asks a unit's server for its WAL positions; ok is false when it does not answer.
func (c *Charm) probe(ctx context.Context, st *State, w Workload, unit string) (postgres.Positions, bool) {
	addr := st.AddressOf(unit)
	if addr == "" {
		return postgres.Positions{}, false
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	db, err := w.Connect(cctx, addr, "operator", st.Passwords["operator"])
	if err != nil {
		return postgres.Positions{}, false
	}
	defer db.Close(ctx)
	pos, err := db.Positions(cctx)
	return pos, err == nil
}

// evalFailover probes the rule's units and returns the one to promote (the most advanced
// eligible standby; ties to the lowest name), every eligible one, or why there is none.
func (c *Charm) evalFailover(ctx context.Context, st *State, w Workload, rule failoverRule) (best string, eligible []string, why string) {
	if rule.refuse != "" {
		return "", nil, rule.refuse
	}
	type standby struct {
		unit string
		lsn  postgres.LSN
	}
	var up []standby
	answers := map[string]bool{}
	for _, u := range union(rule.candidates, rule.mustAnswer) {
		pos, ok := c.probe(ctx, st, w, u)
		if !ok || !pos.InRecovery {
			continue
		}
		answers[u] = true
		if slices.Contains(rule.candidates, u) {
			up = append(up, standby{u, max(pos.Received, pos.Replayed)})
		}
	}
	for _, u := range rule.mustAnswer {
		if !answers[u] {
			return "", nil, u + " does not answer (strict mode with no synchronous standby named: only the most advanced of all replicas is sure to have every write)"
		}
	}
	sort.SliceStable(up, func(i, j int) bool { return up[i].lsn > up[j].lsn })
	for _, s := range up {
		if s.lsn >= rule.minLSN {
			eligible = append(eligible, s.unit) // most advanced first
		}
	}
	switch {
	case len(eligible) == 0 && len(up) > 0:
		return "", nil, fmt.Sprintf("no replica is close enough (%s)", rule.basis)
	case len(eligible) == 0:
		return "", nil, "none of " + orNone(rule.candidates) + " answers as a replica (" + rule.basis + ")"
	case len(rule.mustAnswer) > 0:
		eligible = eligible[:1] // only the most advanced has every write
	}
	best = eligible[0]
	sort.Strings(eligible)
	return best, eligible, ""
}

func orNone(units []string) string {
	if len(units) == 0 {
		return "the units that may be promoted"
	}
	return strings.Join(units, ", ")
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

// failoverRequest is promote-to-primary scope=unit run on a non-leader while the primary is
// down: the leader honours it in its next failover (from primary From only, within
// SwitchoverTimeout, once).
type failoverRequest struct {
	ID    string `json:"id"`
	To    string `json:"to"`
	From  string `json:"from"`
	Force bool   `json:"force,omitempty"`
	Since int64  `json:"since"` // unix seconds
}

// failoverRequest returns the newest valid request to replace old, if any.
func (c *Charm) failoverRequest(st *State, old string) *failoverRequest {
	var best *failoverRequest
	for _, u := range append([]string{st.Unit}, st.Peers...) {
		raw := st.PeerData[u][keyFailoverRequest]
		if u == st.Unit {
			raw = st.MyData[keyFailoverRequest]
		}
		var r failoverRequest
		if raw == "" || json.Unmarshal([]byte(raw), &r) != nil || r.ID == "" || r.From != old ||
			r.ID == st.AppData[keyLastFailoverRequest] || !st.HasPeer(r.To) || r.To == old ||
			c.Now().Sub(time.Unix(r.Since, 0)) > c.SwitchoverTimeout {
			continue
		}
		if best == nil || r.Since > best.Since {
			best = &r
		}
	}
	return best
}

// checkFailoverTarget says why target may not replace the lost primary ("" when it may): it
// must answer as a replica and, without force, be eligible under rule.
func (c *Charm) checkFailoverTarget(ctx context.Context, st *State, w Workload, rule failoverRule, target string, force bool) string {
	if pos, ok := c.probe(ctx, st, w, target); !ok || !pos.InRecovery {
		return target + " does not answer as a replica"
	}
	if force {
		return ""
	}
	_, eligible, why := c.evalFailover(ctx, st, w, rule)
	if slices.Contains(eligible, target) {
		return ""
	}
	if why == "" {
		why = "the eligible units are " + strings.Join(eligible, ", ")
	}
	return fmt.Sprintf("%s may lack writes the primary acknowledged (%s; %s): force=true promotes it anyway", target, rule.basis, why)
}

// leaderSwitchover turns a unit's request into the app record, completes a switchover whose
// target promoted, and rolls back one that did not finish in time.
func (c *Charm) leaderSwitchover(ctx context.Context, st *State) {
	sw := st.Switchover()
	if sw == nil {
		for _, u := range st.Peers {
			var req struct{ ID, To string }
			if raw := st.PeerData[u]["switchover-request"]; raw != "" && json.Unmarshal([]byte(raw), &req) == nil &&
				req.ID != "" && req.ID != st.AppData["last-switchover"] && st.HasPeer(req.To) && req.To != st.Primary() {
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
		c.setPrimary(st, sw.To)
		st.SetApp("switchover", "")
		st.SetApp("last-switchover", sw.ID)
		return
	}
	if c.Now().Sub(time.Unix(sw.Since, 0)) > c.SwitchoverTimeout || !st.HasPeer(sw.To) {
		c.logf(ctx, slog.LevelWarn, "switchover %s to %s did not complete: rolling back to %s", sw.ID, sw.To, sw.From)
		st.SetApp("switchover", "")
		st.SetApp("last-switchover", sw.ID)
	}
}

func (c *Charm) startSwitchover(st *State, id, to string) {
	sw := Switchover{ID: id, From: st.Primary(), To: to, Since: c.Now().Unix()}
	b, _ := json.Marshal(sw)
	st.SetApp("switchover", string(b))
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
				if err := c.status(ctx, "maintenance", "switchover: promoting"); err != nil {
					return err
				}
				if err := db.Promote(ctx); err != nil {
					return err
				}
				break
			}
			if time.Now().After(deadline) {
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
