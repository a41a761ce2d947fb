package charm

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/pgwatch"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// Workload events (docs/HA.md). Juju runs these hooks from the workload Pebble's notices:
//
//	postgresql-pebble-check-failed / -recovered  a check of the postgresql layer changed
//	                                              (postgres.CheckName, postgres.UpstreamCheck)
//	postgresql-pebble-custom-notice               the watcher's wake-up (pgwatch.NoticeKey)
//
// Each runs the normal reconcile. A replica that loses its upstream (the primary) also says so
// in its peer unit bucket, so that the leader gets a relation-changed hook and probes the
// primary itself; only the leader decides, and a unit never promotes itself.

// keyUpstreamDown (peer unit bucket): JSON upstreamDown while this unit's upstream check
// fails against the recorded primary.
const keyUpstreamDown = "upstream-down"

// keyPinnedPrimary (peer app bucket): the unit an operator's promote-to-primary scope=unit
// made primary; the leader does not hand the primary off it (see handOff).
const keyPinnedPrimary = "pinned-primary"

// keyRestarted (peer unit bucket): set by a recorded primary that found its server stopped
// and started it read-only (runPrimary), to the unix milliseconds of that start; the leader
// answers with keyRestartConfirmed (peer app bucket) = "unit@value" in a hook where that unit
// is still the primary and answers, and only then does it promote. A failover needs the
// primary not to answer for FailoverAfter, so the two exclude each other.
const (
	keyRestarted        = "restarted"
	keyRestartConfirmed = "restart-confirmed"
)

// confirmRestart is the leader's answer to a primary that restarted read-only: it is still
// the recorded primary and answers (answers, when the caller probed it already).
func (c *Charm) confirmRestart(ctx context.Context, st *State, w Workload, primary string, answers bool) {
	nonce := st.PeerData[primary][keyRestarted]
	if nonce == "" || st.AppData[keyRestartConfirmed] == primary+"@"+nonce {
		return
	}
	if !answers && !c.primaryAnswers(ctx, st, w, primary) {
		return
	}
	c.logf(ctx, slog.LevelInfo, "primary %s restarted read-only and answers: confirming it stays the primary", primary)
	st.SetApp(keyRestartConfirmed, primary+"@"+nonce)
}

// upstreamDown is a replica's report that its upstream check fails.
type upstreamDown struct {
	Primary string `json:"primary"`
	Since   int64  `json:"since"` // unix milliseconds
}

// hookUpdateStatus is Juju's periodic hook (steady.go).
const hookUpdateStatus = "update-status"

// Hook names of the workload events of the postgresql container.
var (
	hookCheckFailed    = postgres.Container + "-pebble-check-failed"
	hookCheckRecovered = postgres.Container + "-pebble-check-recovered"
	hookCustomNotice   = postgres.Container + "-pebble-custom-notice"
)

// isOurNotice reports whether a custom-notice hook is the watcher's wake-up; anything else
// is logged and ignored (another process in the container may raise notices too).
func (c *Charm) isOurNotice(ctx context.Context) bool {
	e := c.Env
	if e.NoticeType == "custom" && e.NoticeKey == pgwatch.NoticeKey {
		return true
	}
	c.logf(ctx, slog.LevelInfo, "ignoring Pebble notice %q of type %q, key %q (workload %q)", e.NoticeID, e.NoticeType, e.NoticeKey, e.WorkloadName)
	return false
}

// upstreamCheckEvent reports whether this hook is the upstream check failing or recovering.
func (c *Charm) upstreamCheckEvent() (failed, recovered bool) {
	if c.Env.PebbleCheckName != postgres.UpstreamCheck {
		return false, false
	}
	return c.Env.HookName == hookCheckFailed, c.Env.HookName == hookCheckRecovered
}

// myUpstreamDown is this unit's own report (ok false when none).
func (s *State) myUpstreamDown() (upstreamDown, bool) {
	var r upstreamDown
	raw := s.MyData[keyUpstreamDown]
	if raw == "" || json.Unmarshal([]byte(raw), &r) != nil || r.Primary == "" {
		return upstreamDown{}, false
	}
	return r, true
}

// reportUpstream keeps this unit's upstream-down report: set when its upstream check fails
// while it follows the recorded primary, cleared when the check recovers, when another unit
// is recorded primary, when this unit no longer follows it, or while it shuts down for a
// switchover.
func (c *Charm) reportUpstream(ctx context.Context, st *State, role Role) {
	primary := st.Primary()
	rep, has := st.myUpstreamDown()
	following := role.Kind == RoleReplica && primary != "" && primary != st.Unit && role.UpstreamUnit == primary
	failed, recovered := c.upstreamCheckEvent()
	// A primary that shuts down for a switchover is down on purpose: reported, it would
	// start the leader's failover countdown early (chaos finding F1).
	planned := false
	if sw := st.Switchover(); sw != nil && sw.From == primary {
		planned = true
	}
	switch {
	case !following || recovered || planned || (has && rep.Primary != primary):
		if has {
			st.SetMine(keyUpstreamDown, "")
		}
	case failed && !has:
		b, _ := json.Marshal(upstreamDown{Primary: primary, Since: c.Now().UnixMilli()}) // plain struct
		st.SetMine(keyUpstreamDown, string(b))
		c.logf(ctx, slog.LevelWarn, "lost the connection to the primary %s (check %s failed): reported to the leader", primary, postgres.UpstreamCheck)
	}
}

// confirmPrimaryDown is the leader's failover decision for a primary that did not answer its
// probe: it fails over only once its own observations span FailoverAfter. The first one is
// recorded in the leader's charm state (or taken from its own upstream-down report, when its
// upstream check saw it first); a timer re-probes at the end of the window, and any answer
// in between clears the record, so a flapping primary causes no failover. The record is
// cleared by the failover itself, not by a failover that found nobody it may promote.
func (c *Charm) confirmPrimaryDown(ctx context.Context, st *State, w Workload, primary string) error {
	now := c.Now()
	since := st.primaryDownSince(primary)
	if since.IsZero() || since.After(now) {
		since = now
		if rep, ok := st.myUpstreamDown(); ok && rep.Primary == primary && rep.Since < now.UnixMilli() {
			since = time.UnixMilli(rep.Since)
		}
		st.setPrimaryDown(primary, since)
	}
	if at := since.Add(c.FailoverAfter); at.After(now) {
		c.logf(ctx, slog.LevelWarn, "primary %s does not answer (since %s): failing over at %s unless it answers again",
			primary, since.UTC().Format(time.RFC3339Nano), at.UTC().Format(time.RFC3339Nano))
		st.WakeAt(timerFailoverConfirm, at)
		return nil
	}
	c.logf(ctx, slog.LevelWarn, "primary %s has not answered for %s: failing over", primary, now.Sub(since).Round(time.Millisecond))
	if err := c.failover(ctx, st, w, primary); err != nil {
		// Nobody may be promoted yet (docs/SYNC.md): the loss stays confirmed, so every later
		// hook (the retry timer's, an operator's failover request) decides again at once.
		return err
	}
	st.setPrimaryDown("", time.Time{})
	return nil
}

// Hand-off of the primary off the leader.
const (
	// handoffMaxLag is how far (WAL bytes) a hand-off target may be behind the primary.
	handoffMaxLag = 16 << 20
	// HandoffBackoff: after a switchover rolled back, no hand-off starts for this long (a
	// hand-off stops the primary until its target promotes).
	HandoffBackoff = 10 * time.Minute
	handoffPrefix  = "handoff-"
)

// handOff keeps the primary off the leader: when the leader is the primary of a cluster of
// two or more units, it starts a planned switchover (clean shutdown and LSN gate: nothing is
// lost) to a replica that streams from it right now and is nearly caught up, a published
// synchronous standby first. Then the loss of the primary, the common one, leaves a live
// leader that acts within seconds; only the loss of a leader that is primary waits for the
// leadership lease.
//
// It does nothing while anything else is in flight (a switchover, a cross-cluster transition
// or a standby cluster: extension.refuseUnitSwitchover), after a switchover rolled back
// (HandoffBackoff), or when an operator made this unit primary (keyPinnedPrimary).
//
// When a hand-off is due but no replica qualifies yet (one that returns after an outage gives
// the leader no hook once it streams), it looks again by the timer handoff-retry, backing off
// from RetryMin to handoffRetryMax.
func (c *Charm) handOff(ctx context.Context, st *State, w Workload) {
	due := c.handOffDue(st)
	if due && c.startHandOff(ctx, st, w) {
		due = false
	}
	c.backOff(st, due, timerHandoffRetry, localHandoffBackoff, handoffRetryMax)
}

// handoffRetryMax caps the backoff of handoff-retry.
const handoffRetryMax = time.Minute

// handOffDue reports whether the leader (the primary) should hand the primary off now.
func (c *Charm) handOffDue(st *State) bool {
	if len(st.Peers) == 0 || st.AppData["system-id"] == "" || st.Switchover() != nil || st.AppData[keyPinnedPrimary] == st.Unit {
		return false
	}
	if c.extension().refuseUnitSwitchover(st) != "" {
		return false
	}
	if after, err := strconv.ParseInt(st.Local[localHandoffAfter], 10, 64); err == nil && c.Now().Unix() < after {
		return false
	}
	return true
}

// startHandOff starts the switchover to the best qualifying replica; false when none does.
func (c *Charm) startHandOff(ctx context.Context, st *State, w Workload) bool {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	db, err := w.Connect(cctx, st.Address, selfLogin(st))
	if err != nil {
		return false // not serving yet: runPrimary deals with it
	}
	pos, err := db.Positions(cctx)
	var slots []postgres.Slot
	var rs postgres.ReplicationState
	if err == nil && !pos.InRecovery {
		slots, err = db.ListSlots(cctx)
	}
	if err == nil && !pos.InRecovery {
		rs, err = db.Replication(cctx)
	}
	db.Close(ctx)
	if err != nil || pos.InRecovery {
		return false
	}
	streaming := map[string]bool{}
	for _, s := range slots {
		streaming[s.Name] = s.Active
	}
	// A replica qualifies only once it streams this primary's timeline: right after this unit
	// was promoted, a replica still on the old timeline (it followed the old primary, then
	// this unit while it was a standby) would wait for a shutdown checkpoint it never
	// receives, and the hand-off would be rolled back.
	flushed := map[string]postgres.LSN{}
	for _, r := range rs.Standbys {
		if r.State == "streaming" {
			flushed[r.AppName] = r.FlushLSN
		}
	}
	promotedAt, _ := postgres.ParseLSN(st.Local[localPromotedAt])
	// A synchronous standby this primary published has every acknowledged commit: it passes
	// the shutdown checkpoint first, and it is the unit failover would trust (docs/SYNC.md).
	var syncSet []string
	if rec, err := parseSyncRecord(st.MyData[keySyncStandbys]); err == nil && rec != nil {
		syncSet = rec.Standbys
	}
	best, bestSync, bestLSN := "", false, postgres.LSN(0)
	for _, u := range st.Peers {
		if !streaming[postgres.SlotName(u)] || st.PeerData[u][keyUpstreamDown] != "" || st.AddressOf(u) == "" {
			continue
		}
		if f, ok := flushed[postgres.SlotName(u)]; !ok || (promotedAt != 0 && f <= promotedAt) {
			continue
		}
		db, err := w.Connect(cctx, st.AddressOf(u), selfLogin(st))
		if err != nil {
			continue
		}
		p, err := db.Positions(cctx)
		db.Close(ctx)
		if err != nil || !p.InRecovery || p.Received+handoffMaxLag < pos.Current {
			continue
		}
		isSync := slices.Contains(syncSet, u)
		if best == "" || (isSync && !bestSync) || (isSync == bestSync && p.Received > bestLSN) {
			best, bestSync, bestLSN = u, isSync, p.Received
		}
	}
	if best == "" {
		return false
	}
	id := fmt.Sprintf("%s%d", handoffPrefix, c.Now().UnixNano())
	c.logf(ctx, slog.LevelInfo, "the leader is the primary: handing the primary over to %s (synchronous standby: %v; planned switchover %s), so that losing the primary leaves a live leader", best, bestSync, id)
	c.startSwitchover(st, id, best)
	return true
}

func isHandoff(switchoverID string) bool { return strings.HasPrefix(switchoverID, handoffPrefix) }
