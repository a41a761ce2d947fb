package charm

// Synchronous replication inside a cluster (docs/SYNC.md). The primary keeps up to
// SyncStandbysWanted streaming replicas in synchronous_standby_names and publishes, in its
// peer unit bucket, the set that failover may trust:
//
//	sync-standbys  JSON SyncRecord: units that have every acknowledged commit
//
// Invariant: every unit in the published (committed) set has every acknowledged commit. Relation
// data commits only when the hook ends, so:
//
//   - a standby is ADDED to synchronous_standby_names first; it is published only once the
//     server runs with the new value, pg_stat_replication reports it synchronous, and its flush
//     position reached the primary's flush position read after that (every commit acknowledged
//     before the change lies before it, every later one waits for the standby);
//   - a standby is REMOVED from the published set first; synchronous_standby_names drops it only
//     in a later hook, which reads the set back from the peer data and so knows the removal was
//     committed. Until then commits still wait for it (they may block if it is gone).
//
// Cross-cluster replication stays asynchronous: only peers' names are ever listed, so a standby
// cluster's leader never holds commits back. A standby cluster has no sync standbys of its own:
// its units are standbys, and PostgreSQL ignores synchronous_standby_names on a standby
// (cascading replication is asynchronous).

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// Peer keys of synchronous replication.
const (
	// keySyncStandbys (the primary's unit bucket): JSON SyncRecord.
	keySyncStandbys = "sync-standbys"
	// keyFailoverRequest (a unit bucket): JSON failoverRequest from promote-to-primary
	// scope=unit while the primary is down.
	keyFailoverRequest = "failover-request"
	// keyLastFailoverRequest (app bucket): id of the last failover request the leader handled.
	keyLastFailoverRequest = "last-failover-request"
)

// wakeSyncApply names the timer that brings the primary's next sync step.
const wakeSyncApply = "sync-apply"

// SyncRecord is what a primary publishes about its synchronous replication. Failover reads
// the lost primary's record (see failoverCandidates).
type SyncRecord struct {
	// Standbys are units that have every commit the primary acknowledged.
	Standbys []string `json:"standbys"`
	// Strict, with no Standbys: every acknowledged commit is on at least one replica that had
	// run in the cluster (ANY 1 over them), not known which.
	Strict bool `json:"strict,omitempty"`
	// LSN, with no Standbys and not Strict: the primary's flush position when it published
	// (commits are acknowledged alone; failover accepts replicas close enough to it).
	LSN string `json:"lsn,omitempty"`
}

func (r SyncRecord) encode() string {
	if r.Standbys == nil {
		r.Standbys = []string{}
	}
	b, _ := json.Marshal(r)
	return string(b)
}

// parseSyncRecord reads a published record; "" is no record (nil).
func parseSyncRecord(raw string) (*SyncRecord, error) {
	if raw == "" {
		return nil, nil
	}
	var r SyncRecord
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return nil, fmt.Errorf("sync-standbys %q: %w", raw, err)
	}
	if r.LSN != "" {
		if _, err := postgres.ParseLSN(r.LSN); err != nil {
			return nil, fmt.Errorf("sync-standbys %q: %w", raw, err)
		}
	}
	return &r, nil
}

// ranUnits are the units, except `except`, that have run PostgreSQL in this cluster (their
// peer bucket has a version): the replicas that count for strict mode. A unit still being
// seeded does not count, so adding a unit never holds writes back while it copies the data.
func ranUnits(st *State, except string) []string {
	var out []string
	if st.Unit != except && st.MyData["version"] != "" {
		out = append(out, st.Unit)
	}
	for _, u := range st.Peers {
		if u != except && st.PeerData[u]["version"] != "" {
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out
}

// syncPlan is a primary's decision for one hook.
type syncPlan struct {
	committed *SyncRecord                 // the record as the hook started (what failover would read now)
	known     bool                        // pg_stat_replication was read
	live      string                      // synchronous_standby_names the server runs with (known only)
	healthy   []string                    // peers streaming from this server
	wanted    int                         // synchronous standbys wanted
	keep      []string                    // published and still wanted
	add       []string                    // wanted, not published: applied now, published once confirmed
	drop      []string                    // published, no longer wanted: unpublished now, applied later
	apply     []string                    // units in synchronous_standby_names: published ∪ wanted
	anyOf     []string                    // no standby applied, strict: a commit waits for one of these
	strict    bool                        // synchronous_mode_strict in effect (the cluster has replicas)
	names     string                      // rendered synchronous_standby_names
	standbys  map[string]postgres.Replica // pg_stat_replication rows of the healthy peers
	badRecord error                       // the committed record could not be read
}

// planSync decides the synchronous standbys from rs, this server's replication state
// (known=false when it could not be read, e.g. before start: nothing is then dropped or
// added).
func planSync(st *State, rs postgres.ReplicationState, known bool) syncPlan {
	p := syncPlan{known: known, live: rs.SyncStandbyNames, standbys: map[string]postgres.Replica{}}
	p.committed, p.badRecord = parseSyncRecord(st.MyData[keySyncStandbys])
	var published []string
	if p.committed != nil {
		published = p.committed.Standbys
	}
	ran := ranUnits(st, st.Unit)
	p.strict = st.Config.SyncStrict && len(ran) > 0
	p.wanted = st.Config.SyncStandbysWanted(len(st.Peers))
	if !known {
		p.keep = slices.Clone(published)
	} else {
		for _, r := range rs.Standbys {
			for _, u := range st.Peers {
				// A reconnecting standby may show twice for a moment: count it once.
				if r.AppName == postgres.SlotName(u) && r.State == "streaming" && !slices.Contains(p.healthy, u) {
					p.healthy = append(p.healthy, u)
					p.standbys[u] = r
				}
			}
		}
		// Published standbys first (a stable set), then the most advanced, then by name.
		cands := slices.Clone(p.healthy)
		sort.SliceStable(cands, func(i, j int) bool {
			a, b := cands[i], cands[j]
			pa, pb := slices.Contains(published, a), slices.Contains(published, b)
			if pa != pb {
				return pa
			}
			if fa, fb := p.standbys[a].FlushLSN, p.standbys[b].FlushLSN; fa != fb {
				return fa > fb
			}
			return a < b
		})
		want := cands[:min(p.wanted, len(cands))]
		for _, u := range published {
			if slices.Contains(want, u) {
				p.keep = append(p.keep, u)
			} else {
				p.drop = append(p.drop, u)
			}
		}
		for _, u := range want {
			if !slices.Contains(published, u) {
				p.add = append(p.add, u)
			}
		}
	}
	p.apply = union(published, p.add)
	committedStrict := p.committed != nil && p.committed.Strict && len(published) == 0
	if len(p.apply) == 0 && (p.strict || committedStrict) {
		// The published record (or the config) promises that a replica has every commit:
		// ANY 1 over the replicas that ran; never '*', which a standby cluster's leader or a
		// pg_basebackup stream would satisfy. No such replica left: nothing to wait for.
		p.anyOf = ran
	}
	p.names = renderSyncNames(p.apply, p.anyOf)
	sort.Strings(p.healthy)
	return p
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, u := range b {
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out
}

func slotNames(units []string) []string {
	out := make([]string, len(units))
	for i, u := range units {
		out[i] = postgres.SlotName(u)
	}
	sort.Strings(out)
	return out
}

// renderSyncNames: every unit of apply confirms each commit; with none, one of anyOf does;
// with neither, replication is asynchronous.
func renderSyncNames(apply, anyOf []string) string {
	if len(apply) > 0 {
		return postgres.SyncStandbyNames(slotNames(apply), false)
	}
	return postgres.SyncStandbyNames(slotNames(anyOf), true)
}

// replicaSyncNames is what a replica renders: ignored while it is a standby, it holds the
// first commits after a promotion (before its first sync step) to strict mode.
func replicaSyncNames(st *State) string {
	ran := ranUnits(st, st.Unit)
	if !st.Config.SyncStrict || len(ran) == 0 {
		return ""
	}
	return renderSyncNames(nil, ran)
}

// readSyncPlan reads pg_stat_replication on this unit's running server (db may be nil) and
// plans; a server that does not answer or is still a standby gives a plan that keeps the
// published set as it is.
func (c *Charm) readSyncPlan(ctx context.Context, st *State, db DB) syncPlan {
	if db == nil {
		return planSync(st, postgres.ReplicationState{}, false)
	}
	if pos, err := db.Positions(ctx); err != nil || pos.InRecovery {
		return planSync(st, postgres.ReplicationState{}, false)
	}
	rs, err := db.Replication(ctx)
	if err != nil {
		c.logf(ctx, slog.LevelWarn, "pg_stat_replication: %v", err)
		return planSync(st, postgres.ReplicationState{}, false)
	}
	return planSync(st, rs, true)
}

// confirmAdded waits (up to SyncConfirmWait) until the added standbys may be published: the
// server runs with names, pg_stat_replication reports them synchronous, and their flush
// position reached the primary's flush position read after both. It returns those confirmed.
func (c *Charm) confirmAdded(ctx context.Context, db DB, names string, added []string) ([]string, error) {
	if len(added) == 0 {
		return nil, nil
	}
	deadline := time.Now().Add(c.SyncConfirmWait)
	var target postgres.LSN
	haveTarget := false
	for {
		rs, err := db.Replication(ctx)
		if err != nil {
			return nil, err
		}
		var confirmed []string
		if rs.SyncStandbyNames == names {
			sync := true
			for _, u := range added {
				r, ok := findStandby(rs, u)
				if !ok || (r.SyncState != "sync" && r.SyncState != "quorum") {
					sync = false
				} else if haveTarget && r.FlushLSN >= target {
					confirmed = append(confirmed, u)
				}
			}
			if !haveTarget && sync {
				target, haveTarget = rs.FlushLSN, true
				continue // the standbys' positions were read after the target: read them again
			}
		}
		if len(confirmed) == len(added) || !time.Now().Before(deadline) {
			return confirmed, nil
		}
		select {
		case <-ctx.Done():
			return confirmed, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func findStandby(rs postgres.ReplicationState, unit string) (postgres.Replica, bool) {
	for _, r := range rs.Standbys {
		if r.AppName == postgres.SlotName(unit) {
			return r, true
		}
	}
	return postgres.Replica{}, false
}

// publishSync is the primary's sync step after its server runs with p.names: it confirms the
// additions, publishes the record, asks for the hook that applies removals, and returns the
// unit status that tells how commits are protected.
func (c *Charm) publishSync(ctx context.Context, st *State, db DB, p syncPlan) (level, msg string, err error) {
	if p.badRecord != nil {
		// Failover refuses to act on it; the new record holds only what this hook confirms.
		c.logf(ctx, slog.LevelWarn, "replacing an unreadable synchronous standby record: %v", p.badRecord)
	}
	confirmed, err := c.confirmAdded(ctx, db, p.names, p.add)
	if err != nil {
		return "", "", err
	}
	rec := SyncRecord{Standbys: union(p.keep, confirmed), Strict: p.strict}
	if len(rec.Standbys) == 0 && !rec.Strict {
		rs, err := db.Replication(ctx)
		if err != nil {
			return "", "", err
		}
		rec.LSN = rs.FlushLSN.String()
	}
	if old := st.MyData[keySyncStandbys]; old != rec.encode() {
		c.logf(ctx, slog.LevelInfo, "synchronous standbys published: %s (was %s); synchronous_standby_names = %q", rec.encode(), old, p.names)
	}
	st.SetMine(keySyncStandbys, rec.encode())

	// Still to apply in a later hook: removals, and strict mode turned off (ANY 1 kept until
	// the non-strict record is committed); still to confirm: standbys catching up.
	pending := len(p.drop) > 0 || (len(p.anyOf) > 0 && !p.strict) || len(confirmed) < len(p.add)
	switch {
	case pending:
		// Removals reach synchronous_standby_names only after this hook committed them; a
		// standby still catching up is checked again.
		st.WakeAt(wakeSyncApply, c.Now())
	case len(ranUnits(st, st.Unit)) > 0:
		// A synchronous standby that dies sends no event: look again in a while.
		st.WakeAt(wakeSyncApply, c.Now().Add(c.SyncCheckInterval))
	}
	level, msg = syncStatus(p, rec)
	return level, msg, nil
}

// syncStatus is the primary's unit status: "Primary" when every wanted standby is
// synchronous, a note when fewer are, waiting when commits wait for a standby that is not
// there.
func syncStatus(p syncPlan, rec SyncRecord) (level, msg string) {
	var missing []string
	for _, u := range p.apply {
		if !slices.Contains(p.healthy, u) {
			missing = append(missing, u)
		}
	}
	if p.known && len(missing) > 0 {
		return "waiting", fmt.Sprintf("Primary: commits wait for synchronous standby %s, which does not stream (being dropped)", strings.Join(missing, ", "))
	}
	if p.known && len(p.apply) == 0 && len(p.anyOf) > 0 {
		return "waiting", fmt.Sprintf("Primary: commits wait for a synchronous standby (synchronous_mode_strict): none of %s streams", strings.Join(p.anyOf, ", "))
	}
	if len(rec.Standbys) < p.wanted {
		var catching []string
		for _, u := range p.add {
			if !slices.Contains(rec.Standbys, u) {
				catching = append(catching, u)
			}
		}
		note := fmt.Sprintf("Primary (%d of %d synchronous standbys", len(rec.Standbys), p.wanted)
		if len(catching) > 0 {
			note += "; catching up: " + strings.Join(catching, ", ")
		}
		if len(rec.Standbys) == 0 && !rec.Strict {
			note += "; commits are asynchronous"
		}
		return "active", note + ")"
	}
	return "active", "Primary"
}
