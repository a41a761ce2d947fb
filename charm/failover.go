package charm

// Which unit may replace a lost primary (docs/SYNC.md, "Failover"): the leader's failover in
// leader.go asks failoverCandidates and evalFailover; promote-to-primary scope=unit asks
// checkFailoverTarget.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// failoverRule is which units may replace a lost primary, from the record it published.
type failoverRule struct {
	candidates []string // units that may be promoted (sorted)
	// mustAnswer (strict, no named standby): every acknowledged write is on one of these
	// replicas, not known which, so all must answer and only the most advanced is eligible.
	mustAnswer []string
	minLSN     postgres.LSN // asynchronous: eligible from this received position
	basis      string       // what the rule rests on, for logs and messages
	refuse     string       // no automatic failover at all, and why
	// everyAcked: each candidate has every acknowledged write (named synchronous standbys),
	// so any of them may take over, not only the most advanced.
	everyAcked bool
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
		return failoverRule{candidates: cands, everyAcked: true, basis: "synchronous standbys of " + old + ": " + strings.Join(rec.Standbys, ", ")}
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
	db, err := w.Connect(cctx, addr, selfLogin(st))
	if err != nil {
		return postgres.Positions{}, false
	}
	defer db.Close(ctx)
	pos, err := db.Positions(cctx)
	return pos, err == nil
}

// evalFailover probes the rule's units and returns the one to promote (the most advanced
// eligible standby; of synchronous standbys, the leader only when no other is eligible; ties
// to the lowest name), every eligible one, or why there is none.
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
		if !ok {
			continue
		}
		if !pos.InRecovery {
			// Another unit is a primary already (a switchover's target, a restarted
			// primary): promoting one more would make two.
			return "", nil, u + " answers writable"
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
	if rule.everyAcked && best == st.Unit && st.Leader && len(eligible) > 1 {
		// Every eligible unit has every acknowledged write: the most advanced replica other
		// than the leader takes over, since the leader would hand the primary off at once
		// (handOff), a second outage for the clients. The leader's WAL beyond it was never
		// acknowledged; the leader rewinds to follow.
		best = eligible[1]
	}
	sort.Strings(eligible)
	return best, eligible, ""
}

func orNone(units []string) string {
	if len(units) == 0 {
		return "the units that may be promoted"
	}
	return strings.Join(units, ", ")
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
