package charm

// Cross-regional asynchronous replication (docs/PROTOCOL.md): two clusters in two models
// related through replication-offer / replication (interface postgresql_async).
//
// Relation data (the other model is untrusted: parsed strictly by internal/drprotocol):
//
//	app bucket (leader):  epoch, role, primary-endpoint, system-id, secret-id, switchover,
//	                      demotion, slot — see drprotocol
//	unit bucket:          unit-address
//
// Each cluster's leader mirrors its decisions into the peer app bucket, which every unit of
// the cluster can read (a non-leader may not read its own app bucket of a non-peer relation):
//
//	dr-mode      "" (not replicating) | primary | standby | demoting | demoted | promoting |
//	             standalone (a former standby whose relation was removed: read-only)
//	dr-epoch     this cluster's epoch in the relation (decimal)
//	dr-upstream  host:port of the other cluster's primary (standby, promoting, standalone)
//	dr-seed      seed generation: units whose dr-seeded differs re-seed with pg_basebackup
//	dr-switch    JSON drSwitch: the cross-cluster switchover this cluster takes part in
//	dr-token     JSON drprotocol.Demotion: the other cluster's token this cluster gates on
//
// Peer unit buckets: dr-seeded (generation this unit was seeded for), dr-demoted (JSON
// headToken: this unit's clean-shutdown token), dr-promoted (switchover id it promoted for),
// dr-lost (the standby leader's slot on the primary cluster lost WAL: re-seed).
//
// The unit the peer data names primary is the cluster's "head": the writable primary of a
// primary cluster, the standby leader of a standby cluster (it streams from the other
// cluster's primary; the other units cascade from it).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/drprotocol"
	"github.com/jujulet/postgresql-k8s/internal/hookenv"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// Endpoints of cross-regional replication (metadata.yaml).
const (
	OfferEndpoint       = "replication-offer"
	ReplicationEndpoint = "replication"
	// ReplicationSecretLabel labels the secret with the credentials shared with the other
	// cluster (granted to the relation).
	ReplicationSecretLabel = "postgresql-k8s-replication"
	// StandaloneMessage is the blocked status of a former standby cluster after
	// remove-relation, until promote-to-primary scope=cluster.
	StandaloneMessage = "Standalone read-only cluster"
)

// Peer keys of cross-regional replication.
const (
	keyMode     = "dr-mode"
	keyEpoch    = "dr-epoch"
	keyUpstream = "dr-upstream"
	keySeed     = "dr-seed"
	keySwitch   = "dr-switch"
	keyToken    = "dr-token"
	keySeeded   = "dr-seeded"
	keyDemoted  = "dr-demoted"
	keyPromoted = "dr-promoted"
)

// drMode is a cluster's mode in cross-regional replication (peer app key dr-mode): the
// leader's state machine (asyncrepl_leader.go) moves between them.
type drMode string

// Cluster modes (dr-mode).
const (
	modeNone       drMode = ""
	modePrimary    drMode = "primary"
	modeStandby    drMode = "standby"
	modeDemoting   drMode = "demoting"
	modeDemoted    drMode = "demoted"
	modePromoting  drMode = "promoting"
	modeStandalone drMode = "standalone"
)

// modeOf is the mode the cluster's leader recorded.
func modeOf(st *State) drMode { return drMode(st.AppData[keyMode]) }

// drSwitch is a cross-cluster switchover this cluster takes part in.
type drSwitch struct {
	ID    string `json:"id"`
	Epoch int64  `json:"epoch"`
	Since int64  `json:"since"` // unix seconds of the last step
	Force bool   `json:"force,omitempty"`
	// Withdrawn: a demoted cluster withdrew its token (since Since) and rolls back after
	// the other cluster's promotion bound.
	Withdrawn bool `json:"withdrawn,omitempty"`
}

// headToken is the head's clean-shutdown token for switchover ID.
type headToken struct {
	ID string `json:"id"`
	drprotocol.Demotion
}

// asyncRepl holds the cross-regional replication handlers of one hook execution.
type asyncRepl struct {
	// RollbackAfter: a demoted primary cluster whose peer has not become primary by then
	// restarts as primary with a higher epoch.
	RollbackAfter time.Duration
	// RemoteTimeout bounds the connection to the other cluster's primary.
	RemoteTimeout time.Duration
	view          *drView
	// ownCA is this cluster's trust bundle (tls.go), published as ca-certificate.
	ownCA string
	// headNote, when set, is the standby leader's status (at headLevel) instead of
	// "Standby": why it does not stream (checkUpstream).
	headNote, headLevel string
}

// drView is the replication relation as this hook sees it.
type drView struct {
	relID       string // "" when there is no (unbroken) relation
	offers      bool   // this side is replication-offer
	remoteApp   string
	remoteAddrs []string // valid unit-address values of the remote units
	local       drprotocol.AppData
	localRaw    map[string]string // own app bucket (leader only)
	remote      drprotocol.AppData
	remoteRaw   map[string]string // the remote app bucket as published
	remoteErr   error             // the remote app bucket is malformed
	// sharedURI is the shared-credentials secret found to hold sharedContent in this hook
	// (syncSharedCredentials).
	sharedURI     string
	sharedContent map[string]string
}

// DefaultDRRollbackAfter is how long a primary cluster that handed over (published its
// demotion token) waits for the other cluster to take over before it rolls back.
const DefaultDRRollbackAfter = 60 * time.Second

// EnableAsyncReplication installs cross-regional replication in c.
func EnableAsyncReplication(c *Charm) {
	a := &asyncRepl{RollbackAfter: DefaultDRRollbackAfter, RemoteTimeout: 3 * time.Second}
	c.ext = a
}

var _ extension = (*asyncRepl)(nil)

func (a *asyncRepl) prefetchEndpoints() []string {
	return []string{OfferEndpoint, ReplicationEndpoint}
}

// refuseUnitSwitchover: inside a standby cluster (or during a cross-cluster switchover) an
// in-cluster promotion would make a second writable cluster.
func (a *asyncRepl) refuseUnitSwitchover(st *State) string {
	switch m := modeOf(st); m {
	case modeStandby, modePromoting, modeStandalone:
		return "this cluster is a " + string(m) + " cluster of cross-regional replication: promoting one of its units would make it writable; " +
			"use promote-to-primary scope=cluster on its leader"
	case modeDemoting, modeDemoted:
		return "a switchover to the other cluster is in progress (" + string(m) + "): try again when it is done"
	}
	return ""
}

// load reads the replication relation: readState read it ahead (readahead.go), so in a
// steady hook this costs no tool call; what was not read ahead is read in at most two rounds,
// the units and remote application, then their buckets.
func (a *asyncRepl) load(ctx context.Context, c *Charm, st *State) (*drView, error) {
	v := &drView{}
	if st.tls != nil {
		a.ownCA = string(st.tls.trust)
	}
	for _, ep := range []string{OfferEndpoint, ReplicationEndpoint} {
		ids, err := c.RelationIDs(ctx, st, ep)
		if err != nil {
			return nil, fmt.Errorf("relation-ids %s: %w", ep, err)
		}
		for _, id := range ids {
			if c.relationBroken(ep, id) {
				continue // going away: as if it were gone
			}
			if v.relID == "" {
				v.relID, v.offers = id, ep == OfferEndpoint
			}
		}
	}
	if v.relID == "" {
		return v, nil
	}
	var units []string
	err := parallel(
		func() (err error) {
			if v.remoteApp, err = c.relationRemoteApp(ctx, st, v.relID); err != nil {
				return fmt.Errorf("relation-list --app %s: %w", v.relID, err)
			}
			return nil
		},
		func() (err error) {
			if units, err = c.relationList(ctx, st, v.relID); err != nil {
				return fmt.Errorf("relation-list %s: %w", v.relID, err)
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	units = slices.DeleteFunc(units, func(u string) bool { return u == c.Env.DepartingUnit })
	// One round for every bucket: the remote units', the remote app's, the leader's own app's.
	refs := make([]bucketRef, 0, len(units)+2)
	for _, u := range units {
		refs = append(refs, bucketRef{owner: u})
	}
	if v.remoteApp != "" {
		refs = append(refs, bucketRef{owner: v.remoteApp, app: true})
	}
	if st.Leader {
		refs = append(refs, bucketRef{owner: st.App, app: true})
	}
	buckets, err := c.relationGetAll(ctx, st, v.relID, refs)
	if err != nil {
		return nil, err
	}
	for i, u := range units {
		raw := buckets[i][drprotocol.KeyUnitAddress]
		if raw == "" {
			continue
		}
		if ip, err := drprotocol.ParseAddress(raw); err != nil {
			c.logf(ctx, slog.LevelWarn, "ignoring %s's unit-address: %v", u, err)
		} else {
			v.remoteAddrs = append(v.remoteAddrs, ip.String())
		}
	}
	if v.remoteApp != "" {
		v.remoteRaw = buckets[len(units)]
		v.remote, v.remoteErr = drprotocol.ParseAppData(v.remoteRaw)
	}
	if st.Leader {
		raw := buckets[len(buckets)-1]
		v.localRaw = raw
		if v.local, err = drprotocol.ParseAppData(raw); err != nil {
			// Our own bucket: only our leaders write it. Start over rather than block.
			c.logf(ctx, slog.LevelWarn, "own replication data unreadable, republishing: %v", err)
			v.local = drprotocol.AppData{}
		}
	}
	if v.remoteErr != nil {
		return v, &remoteDataError{err: v.remoteErr}
	}
	return v, nil
}

// remoteDataError: the other cluster's app bucket cannot be parsed. load returns it with a
// complete view: only the cross-cluster role freezes, the local cluster keeps managing itself.
type remoteDataError struct{ err error }

func (e *remoteDataError) Error() string {
	return "replication paused, the other cluster's data is invalid: " + e.err.Error()
}

func (e *remoteDataError) Unwrap() error { return e.err }

// loadView is load for the callers that go on with a view whose remote data is invalid
// (v.remoteErr says so): only other errors are returned.
func (a *asyncRepl) loadView(ctx context.Context, c *Charm, st *State) (*drView, error) {
	v, err := a.load(ctx, c, st)
	if bad := (*remoteDataError)(nil); errors.As(err, &bad) {
		return v, nil
	}
	return v, err
}

// publish writes the changed keys of the leader's app bucket.
func (a *asyncRepl) publish(ctx context.Context, c *Charm, v *drView, d drprotocol.AppData) error {
	if a.ownCA != "" {
		d.CACertificate = a.ownCA // the other cluster verifies this one's servers with it
	}
	changes := map[string]string{}
	for k, val := range d.Encode() {
		if v.localRaw[k] != val {
			changes[k] = val
		}
	}
	if len(changes) == 0 {
		return nil
	}
	if err := c.Tools.RelationSet(ctx, v.relID, true, changes); err != nil {
		return fmt.Errorf("relation-set --app %s: %w", v.relID, err)
	}
	if v.localRaw == nil {
		v.localRaw = map[string]string{}
	}
	for k, val := range changes {
		if val == "" {
			delete(v.localRaw, k)
		} else {
			v.localRaw[k] = val
		}
	}
	v.local = d
	return nil
}

func parseSwitch(raw string) *drSwitch {
	if raw == "" {
		return nil
	}
	var s drSwitch
	if json.Unmarshal([]byte(raw), &s) != nil || s.ID == "" {
		return nil
	}
	return &s
}

func (s *drSwitch) encode() string {
	if s == nil {
		return ""
	}
	b, _ := json.Marshal(s) // plain struct: cannot fail
	return string(b)
}

func endpointOf(addr string) string {
	if addr == "" {
		return ""
	}
	return net.JoinHostPort(addr, strconv.Itoa(PGPort))
}

// setMode records the cluster's mode and the keys that go with it. A cluster that follows the
// other one forgets an operator's choice of its primary (keyPinnedPrimary): that primary is
// gone, and when this cluster is promoted again its head, the leader, must hand the primary
// off as usual (chaos seed 445686729: a unit pinned before a demotion, leader by the next
// promotion, stayed a leader-primary for good).
func setMode(st *State, mode drMode) {
	st.SetApp(keyMode, string(mode))
	if mode == modeStandby {
		st.SetApp(keyPinnedPrimary, "")
	}
	if mode == modeNone {
		for _, k := range []string{keyEpoch, keyUpstream, keySeed, keySwitch, keyToken} {
			st.SetApp(k, "")
		}
	}
}

// replicationLink is what step read of the replication relation in this hook.
func (a *asyncRepl) replicationLink() *replicationLink {
	if a.view == nil || a.view.relID == "" {
		return nil
	}
	return &replicationLink{relID: a.view.relID, mine: a.view.localRaw, remote: a.view.remoteRaw, remoteAddrs: a.view.remoteAddrs}
}

// step is the extension's step: the per-hook work of every unit.
func (a *asyncRepl) step(ctx context.Context, c *Charm, st *State, w Workload) error {
	v, err := a.load(ctx, c, st)
	var bad *remoteDataError
	if err != nil && !errors.As(err, &bad) {
		return err
	}
	a.view = v
	defer func() {
		if v.sharedURI == "" {
			st.SetLocal(localDRShared, "") // not the primary cluster's leader: nothing to read ahead
		}
	}()
	if v.relID != "" {
		own, err := c.relationGet(ctx, st, v.relID, st.Unit, false)
		if err != nil {
			return fmt.Errorf("relation-get %s: %w", v.relID, err)
		}
		if own[drprotocol.KeyUnitAddress] != st.Address {
			if err := c.Tools.RelationSet(ctx, v.relID, false, map[string]string{drprotocol.KeyUnitAddress: st.Address}); err != nil {
				return fmt.Errorf("relation-set %s: %w", v.relID, err)
			}
		}
		if bad != nil {
			// The cross-cluster role stays as recorded (roleRule): the other model published
			// something we cannot trust. The local cluster's own HA goes on.
			c.logf(ctx, slog.LevelWarn, "%v", bad)
			return nil
		}
	}
	if st.Leader {
		if err := a.leaderStep(ctx, c, st, w, v); err != nil {
			return err
		}
	}
	if err := a.headStep(ctx, c, st, w); err != nil {
		return err
	}
	if st.Leader {
		// Pick up what the head just did (the leader is usually the head).
		if err := a.leaderStep(ctx, c, st, w, v); err != nil {
			return err
		}
	}
	if err := a.seedStep(ctx, c, st, w); err != nil {
		return err
	}
	if err := a.standbyHeadStep(ctx, c, st, w); err != nil {
		return err
	}
	if err := a.divergedStandbyStep(ctx, c, st, w); err != nil {
		return err
	}
	return a.primaryHeadSlots(ctx, c, st, w)
}

// divergedStandbyStep: a unit of a standby cluster that received WAL its upstream never had
// (the primary cluster failed over to a replica that was behind this one; or this unit
// cascades from a standby leader that was rewound) cannot follow the upstream's timeline. It
// is stopped and rewound (runReplica restarts it), instead of streaming nothing forever
// (diverged.go).
func (a *asyncRepl) divergedStandbyStep(ctx context.Context, c *Charm, st *State, w Workload) error {
	if modeOf(st) != modeStandby {
		return nil
	}
	if gen := st.AppData[keySeed]; gen != "" && st.MyData[keySeeded] != gen {
		return nil
	}
	role, ok := a.roleRule(ctx, c, st)
	if !ok || role.Kind != RoleReplica {
		return nil
	}
	_, err := c.rewindIfDiverged(ctx, st, w, role, a.RemoteTimeout)
	return err
}

// StaleSlotLag is how far (WAL bytes) an inactive cross-cluster slot other than the one the
// standby cluster names may fall behind before the primary drops it (a standby leader that
// moved to another unit, or left).
const StaleSlotLag = 16 << 20

// primaryHeadSlots drops, on the primary cluster's primary, the inactive cross-cluster slots
// the standby cluster no longer streams through, once they hold back more than StaleSlotLag.
func (a *asyncRepl) primaryHeadSlots(ctx context.Context, c *Charm, st *State, w Workload) error {
	v := a.view
	if v == nil {
		return nil
	}
	if v.relID == "" {
		return a.detachSlots(ctx, c, st, w)
	}
	if st.Primary() == st.Unit && modeOf(st) == modePrimary {
		st.SetLocal(localDRServed, "1")
	}
	if st.Primary() != st.Unit || modeOf(st) != modePrimary ||
		v.remote.Role != drprotocol.RoleStandby || v.remote.Slot == "" {
		return nil
	}
	if running, err := w.Running(ctx); err != nil || !running {
		return err
	}
	db, err := c.connectSelf(ctx, st, w)
	if err != nil {
		return nil // runPrimary reports it
	}
	defer db.Close(ctx)
	pos, err := db.Positions(ctx)
	if err != nil || pos.InRecovery {
		return nil
	}
	slots, err := db.ListSlots(ctx)
	if err != nil {
		return nil
	}
	for _, sl := range slots {
		if !strings.HasPrefix(sl.Name, drSlotPrefix) || sl.Active || sl.Name == v.remote.Slot || pos.Current < sl.RestartLSN ||
			pos.Current-sl.RestartLSN <= StaleSlotLag {
			continue
		}
		if err := db.DropSlot(ctx, sl.Name); err != nil {
			c.logf(ctx, slog.LevelWarn, "could not drop the stale cross-cluster slot %s: %v", sl.Name, err)
			continue
		}
		c.logf(ctx, slog.LevelInfo, "dropped the stale cross-cluster slot %s (%d MiB behind; the standby cluster streams through %s)",
			sl.Name, (pos.Current-sl.RestartLSN)>>20, v.remote.Slot)
	}
	return nil
}

// localDRServed (unit-local state) is set while this unit serves the other cluster as the
// primary cluster's primary, until its cross-cluster slots are gone after a detach.
const localDRServed = "dr-served"

// timerDRDetach: a unit that could not yet end the detached cluster's streams tries again.
const timerDRDetach = "dr-detach"

// detachSlots: once the relation is gone, the unit that served the other cluster ends the
// walsenders streaming to it and drops their slots (nothing would consume them again; they
// would hold WAL back up to max_slot_wal_keep_size). The other cluster's pg_hba.conf rules go
// first, so that a standby cut off cannot reconnect.
func (a *asyncRepl) detachSlots(ctx context.Context, c *Charm, st *State, w Workload) error {
	if st.Local[localDRServed] == "" {
		return nil
	}
	again := func(format string, args ...any) error {
		c.logf(ctx, slog.LevelInfo, "replication relation removed: "+format+"; trying again", args...)
		st.WakeAt(timerDRDetach, c.Now().Add(pollAgain))
		return nil
	}
	if running, err := w.Running(ctx); err != nil || !running {
		if err != nil {
			return err
		}
		return again("the server is down, its cross-cluster slots are dropped once it runs")
	}
	if changed, err := w.WriteHBA(ctx, c.hbaRules(st)); err != nil {
		return err
	} else if changed {
		if err := w.Reload(ctx); err != nil {
			return err
		}
	}
	db, err := c.connectSelf(ctx, st, w)
	if err != nil {
		return again("cannot connect to drop the cross-cluster slots: %v", err)
	}
	defer db.Close(ctx)
	if left, err := dropDRSlots(ctx, c, db); err != nil {
		return again("%v", err)
	} else if len(left) > 0 {
		return again("the slots %v are still in use", left)
	}
	st.SetLocal(localDRServed, "")
	return nil
}

// dropDRSlots terminates the walsenders of the cross-cluster (dr_) slots and drops them once
// inactive, polling for a few seconds; it returns the slots still in use.
func dropDRSlots(ctx context.Context, c *Charm, db DB) ([]string, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := db.TerminateSlotSenders(ctx, drSlotPrefix); err != nil {
			return nil, err
		}
		slots, err := db.ListSlots(ctx)
		if err != nil {
			return nil, err
		}
		var left []string
		for _, sl := range slots {
			if !strings.HasPrefix(sl.Name, drSlotPrefix) {
				continue
			}
			if sl.Active {
				left = append(left, sl.Name)
				continue
			}
			if err := db.DropSlot(ctx, sl.Name); err != nil {
				return nil, err
			}
			c.logf(ctx, slog.LevelInfo, "replication relation removed: dropped the cross-cluster slot %s", sl.Name)
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left, nil
		}
		select {
		case <-ctx.Done():
			return left, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// keyLost (peer unit bucket): the standby leader's slot on the primary cluster lost WAL it
// needs; the value is "lost:" and the seed generation it was seeded for. The leader answers
// with a new seed generation, so that the whole cluster is seeded again.
const keyLost = "dr-lost"

// timerDRUpstream: a standby leader that could not make sure of its slot on the primary
// cluster looks again; localDRUpstreamBackoff (unit-local state) is that timer's backoff.
const (
	timerDRUpstream        = "dr-upstream-check"
	localDRUpstreamBackoff = "dr-upstream-backoff"
)

// timerDRReseed: the leader of a standby cluster whose head lost its slot starts the re-seed.
const timerDRReseed = "dr-reseed"

func lostToken(gen string) string { return "lost:" + gen }

// checkUpstream is the standby leader's look at its slot on the primary cluster's primary. A
// slot that lost WAL (max_slot_wal_keep_size) leaves a standby that streams nothing and would
// still show "Standby": it asks for a re-seed and says so. A slot that is gone is created
// again. Credentials that no longer work are said in the status (a.headNote).
//
// When it cannot tell that its slot is there (the primary cluster's primary does not answer,
// is not writable yet, or refuses the slot), the head does not stream: its status says so
// instead of "Standby", and it looks again by timer (dr-upstream-check, backing off), since
// nothing else need bring it back: a standby leader chosen while the primary cluster was
// down for a switchover has no slot there, and the other cluster's restart after its
// rollback changes no relation data.
func (a *asyncRepl) checkUpstream(ctx context.Context, c *Charm, st *State, w Workload) {
	role := a.headRole(st, st.AppData[keyUpstream], false)
	if role.Kind != RoleReplica {
		return
	}
	retry := false
	defer func() { c.backOff(st, retry, timerDRUpstream, localDRUpstreamBackoff, RetryMax) }()
	notStreaming := func(format string, args ...any) {
		retry = true
		a.headLevel = "waiting"
		a.headNote = "Standby, not streaming: " + fmt.Sprintf(format, args...)
	}
	cctx, cancel := context.WithTimeout(ctx, a.RemoteTimeout)
	defer cancel()
	db, err := w.Connect(cctx, role.UpstreamAddr, role.upstreamLogin(st))
	if err != nil {
		if authFailed(err) {
			a.headLevel = "blocked"
			a.headNote = fmt.Sprintf("cannot authenticate to the primary cluster at %s: the shared credentials are not in step "+
				"(set-password runs on the primary cluster's leader, this cluster copies them from the secret it shares): %v", role.UpstreamAddr, err)
			return // the copied secret's change runs a hook
		}
		notStreaming("the primary cluster's primary %s does not answer: %v", role.UpstreamAddr, err)
		return
	}
	defer db.Close(ctx)
	slots, err := db.ListSlots(cctx)
	if err != nil {
		notStreaming("cannot list the slots on the primary cluster's primary %s: %v", role.UpstreamAddr, err)
		return
	}
	idx := slices.IndexFunc(slots, func(s postgres.Slot) bool { return s.Name == role.Slot })
	switch {
	case idx < 0:
		if pos, err := db.Positions(cctx); err != nil || pos.InRecovery {
			// Not (or not yet) the primary cluster's writable primary: a rolled-back one
			// restarting, or a new one this cluster follows soon.
			notStreaming("%s is not writable (yet), so this standby leader's slot %s cannot be created there", role.UpstreamAddr, role.Slot)
			return
		}
		if err := db.CreateSlot(cctx, role.Slot); err != nil {
			c.logf(ctx, slog.LevelWarn, "could not create the slot %s on the primary cluster: %v", role.Slot, err)
			notStreaming("could not create the slot %s on %s: %v", role.Slot, role.UpstreamAddr, err)
			return
		}
		c.logf(ctx, slog.LevelInfo, "created the slot %s on the primary cluster (it was gone)", role.Slot)
	case slots[idx].WALStatus == postgres.SlotLost:
		tok := lostToken(st.AppData[keySeed])
		if st.MyData[keyLost] != tok {
			c.logf(ctx, slog.LevelWarn, "the primary cluster removed WAL this standby still needs (slot %s lost, max_slot_wal_keep_size): asking for a re-seed", role.Slot)
		}
		st.SetMine(keyLost, tok)
		st.WakeAt(timerDRReseed, c.Now().Add(pollAgain))
		a.headLevel = "maintenance"
		a.headNote = fmt.Sprintf("fell behind the primary cluster: its slot %s lost the WAL this standby needs; re-seeding", role.Slot)
	default:
		st.SetMine(keyLost, "")
	}
}

// reseedLost is the leader's answer to a standby leader whose slot lost WAL: a new seed
// generation, after which every unit is seeded again (seedStep).
func (a *asyncRepl) reseedLost(ctx context.Context, c *Charm, st *State) {
	head := st.Primary()
	if !st.Leader || head == "" || modeOf(st) != modeStandby {
		return
	}
	lost := st.MyData[keyLost]
	if head != st.Unit {
		lost = st.PeerData[head][keyLost]
	}
	if lost == "" || lost != lostToken(st.AppData[keySeed]) {
		return
	}
	gen := fmt.Sprintf("reseed/%d", c.Now().UnixNano())
	c.logf(ctx, slog.LevelWarn, "the standby leader %s fell behind what the primary cluster keeps: re-seeding the cluster (generation %s)", head, gen)
	st.SetApp(keySeed, gen)
}

// authFailed reports whether err is PostgreSQL's password authentication failure.
func authFailed(err error) bool {
	m := err.Error()
	return strings.Contains(m, "28P01") || strings.Contains(m, "password authentication failed")
}

// standbyHeadStep: the head of a standby (or standalone) cluster drops the inactive slots it
// served the other cluster from while it was primary (they would hold WAL back for as long as
// it is a standby; the other cluster recreates its slot when it follows this one again).
func (a *asyncRepl) standbyHeadStep(ctx context.Context, c *Charm, st *State, w Workload) error {
	mode := modeOf(st)
	if st.Primary() != st.Unit || (mode != modeStandby && mode != modeStandalone) {
		return nil
	}
	if gen := st.AppData[keySeed]; gen != "" && st.MyData[keySeeded] != gen {
		return nil
	}
	init, err := w.IsInitialised(ctx)
	if err != nil || !init {
		return err
	}
	if running, err := w.Running(ctx); err != nil || !running {
		return err // runReplica (runReadOnly when standalone) starts it
	}
	if mode == modeStandby {
		a.checkUpstream(ctx, c, st, w)
	}
	db, err := c.connectSelf(ctx, st, w)
	if err != nil {
		return nil // runReplica reports it
	}
	defer db.Close(ctx)
	if pos, err := db.Positions(ctx); err != nil || !pos.InRecovery {
		return nil
	}
	slots, err := db.ListSlots(ctx)
	if err != nil {
		return nil
	}
	for _, sl := range slots {
		if strings.HasPrefix(sl.Name, drSlotPrefix) && !sl.Active {
			if err := db.DropSlot(ctx, sl.Name); err != nil {
				c.logf(ctx, slog.LevelWarn, "could not drop the old cross-cluster slot %s: %v", sl.Name, err)
				continue
			}
			c.logf(ctx, slog.LevelInfo, "dropped the cross-cluster slot %s: this cluster is a standby now", sl.Name)
		}
	}
	return nil
}

// promoteWithin is how long a promoting standby leader may take to promote after its leader
// took the other cluster's token: it never promotes later, so that the other cluster, which
// withdraws the token before it rolls back, knows when no promotion on it can start any more.
func (a *asyncRepl) promoteWithin() time.Duration { return a.RollbackAfter }

// withdrawnFor is how long a demoted cluster keeps its token withdrawn before it rolls back:
// the other cluster's promotion bound, and a margin for the relation's latency.
func (a *asyncRepl) withdrawnFor() time.Duration { return a.promoteWithin() + a.promoteWithin()/6 }

// scheduleBounds asks for a wake-up at the bounds of the cross-cluster switchover the leader
// just decided on, so that they fire on time without other hooks: the rollback of a demoting
// or demoted primary cluster after RollbackAfter, the abandon of a standby cluster's request
// after twice that, and of a promotion after promoteWithin. Since has a resolution of a
// second: wake up just after.
func (a *asyncRepl) scheduleBounds(st *State, mode drMode, sw *drSwitch, requested bool) {
	rollback, abandon := time.Time{}, time.Time{}
	if sw != nil {
		since := time.Unix(sw.Since, 0).Add(time.Second)
		switch {
		case mode == modeDemoted && sw.Withdrawn:
			rollback = since.Add(a.withdrawnFor())
		case mode == modeDemoting || mode == modeDemoted:
			rollback = since.Add(a.RollbackAfter)
		case mode == modeStandby && requested:
			abandon = since.Add(2 * a.RollbackAfter)
		case mode == modePromoting:
			abandon = since.Add(a.promoteWithin())
		}
	}
	st.WakeAt(timerDRRollback, rollback)
	st.WakeAt(timerDRAbandon, abandon)
}

// headToken returns the head's clean-shutdown token for sw (nil when not there yet).
func (a *asyncRepl) headToken(st *State, sw *drSwitch) *headToken {
	if sw == nil {
		return nil
	}
	raw := st.MyData[keyDemoted]
	if h := st.Primary(); h != st.Unit {
		raw = st.PeerData[h][keyDemoted]
	}
	var t headToken
	if raw == "" || json.Unmarshal([]byte(raw), &t) != nil || t.ID != sw.ID {
		return nil
	}
	return &t
}

func (a *asyncRepl) promotedBy(st *State) string {
	if h := st.Primary(); h != st.Unit {
		return st.PeerData[h][keyPromoted]
	}
	return st.MyData[keyPromoted]
}

// copyCredentials reads the other cluster's replication secret by its full URI and keeps a
// copy of the SharedUsers' passwords in this cluster's passwords secret: the standby's data
// is a copy of the primary's, so streaming and pg_rewind need the primary cluster's. Its own
// operator and monitoring passwords stay as they are (the charm logs in to its own servers
// as charm_admin, by certificate); it sets them in the database when it becomes primary.
func (a *asyncRepl) copyCredentials(ctx context.Context, c *Charm, st *State, R drprotocol.AppData) error {
	if R.SecretID == "" {
		return waiting("waiting for the other cluster to share its replication credentials")
	}
	if v := a.view; v != nil && v.relID != "" {
		// Only a secret of the other cluster's model: a URI naming this model (or a third)
		// would make this cluster read a secret the other side does not own.
		remote, err := c.Tools.RelationModelUUID(ctx, v.relID)
		if err != nil {
			return fmt.Errorf("relation-model-get %s: %w", v.relID, err)
		}
		if m := secretModel(c, R.SecretID); m != remote {
			return waiting("refusing the other cluster's secret-id %s: it names model %s, not the other cluster's model %s", R.SecretID, m, remote)
		}
	}
	content, err := c.Tools.SecretGet(ctx, hookenv.SecretGetArgs{URI: R.SecretID, Refresh: true})
	if err != nil {
		return waiting("cannot read the other cluster's replication secret %s: %v", R.SecretID, err)
	}
	caChanged, err := takeRemoteCA(st, R.SecretID, content)
	if err != nil {
		return err
	}
	pw := maps.Clone(st.Passwords) // operator and monitoring stay this cluster's own
	pending := map[string]string{}
	maps.Copy(pending, st.Pending)
	for _, u := range SharedUsers {
		delete(pending, u)
		p := content[passwordKey(u)]
		if p == "" {
			return waiting("the other cluster's replication secret %s lacks %s", R.SecretID, passwordKey(u))
		}
		// Untrusted: the values go into the passfile, where a line break adds entries.
		if !validPassword(p) {
			return waiting("the other cluster's replication secret %s has an invalid %s", R.SecretID, passwordKey(u))
		}
		pw[u] = p
		if p := content[pendingKey(u)]; p != "" {
			if !validPassword(p) {
				return waiting("the other cluster's replication secret %s has an invalid %s", R.SecretID, pendingKey(u))
			}
			pending[u] = p
		}
	}
	changed := !maps.Equal(pw, st.Passwords) || !maps.Equal(pending, st.Pending) // nil and empty alike
	if !changed && !caChanged {
		return nil
	}
	if changed {
		// This cluster's database changes with the primary cluster's (replay), never here:
		// the copy, pending changes included, only tells this cluster's units what to log in
		// with.
		st.Passwords, st.Pending = pw, pending
		c.logf(ctx, slog.LevelInfo, "took over the other cluster's credentials from %s", R.SecretID)
	}
	if caChanged {
		c.logf(ctx, slog.LevelInfo, "took the other cluster's CA certificate from %s", R.SecretID)
	}
	return c.storePasswords(ctx, st)
}

// secretModel is the model a secret URI names (this model for the short secret:<id> form).
func secretModel(c *Charm, uri string) string {
	rest, ok := strings.CutPrefix(uri, "secret://")
	if !ok {
		return c.Env.ModelUUID
	}
	m, _, _ := strings.Cut(rest, "/")
	return m
}

// localDRShared (unit-local state) is the URI of the shared-credentials secret the leader
// found or made in step with its passwords in the last hook: the next hook reads it ahead
// (prefetchSecrets), so that a steady hook checks it without a round of its own.
const localDRShared = "dr-shared-secret"

func (a *asyncRepl) prefetchSecrets(local map[string]string) []string {
	if uri := local[localDRShared]; uri != "" {
		return []string{uri}
	}
	return nil
}

// syncSharedCredentials keeps the credentials of a primary cluster shared with the standby
// cluster, whichever side became primary (create-replication or a switchover): the secret it
// owns is created, granted and published in L.SecretID when L names none of its own, and
// follows its passwords (set-password) after that. It reads the secret at most once a hook
// (step runs leaderStep twice), usually ahead (prefetchSecrets).
func (a *asyncRepl) syncSharedCredentials(ctx context.Context, c *Charm, st *State, v *drView, L *drprotocol.AppData) error {
	want := sharedContent(st)
	if v.sharedURI != "" && v.sharedURI == L.SecretID && equalMaps(v.sharedContent, want) {
		return nil // in step already in this hook
	}
	var cur map[string]string // the content of L.SecretID, when read
	if L.SecretID != "" {
		// The steady case: the secret L publishes already holds the passwords. Only this
		// cluster's leader publishes L.SecretID, and only a secret this cluster owns; when it
		// differs, the lookup below finds out which secret is ours.
		content, ok := st.takeSecret(L.SecretID)
		if !ok {
			var err error
			content, err = c.Tools.SecretGet(ctx, hookenv.SecretGetArgs{URI: L.SecretID})
			ok = err == nil
		}
		if ok && equalMaps(content, want) {
			v.sharedSynced(st, L.SecretID, want)
			return nil
		}
		if ok {
			cur = content
		}
	}
	own, err := ownSecretURI(ctx, c)
	if err != nil {
		c.logf(ctx, slog.LevelWarn, "could not look up the shared credentials: %v", err)
		return nil
	}
	if own == "" || !sameSecret(own, L.SecretID) {
		uri, err := a.shareCredentials(ctx, c, st, v)
		if err != nil {
			c.logf(ctx, slog.LevelWarn, "could not share the credentials with the other cluster: %v", err)
			return nil
		}
		L.SecretID = uri
		v.sharedSynced(st, uri, want)
		c.logf(ctx, slog.LevelInfo, "sharing this primary cluster's credentials with the other cluster in %s", uri)
		return nil
	}
	if cur == nil {
		if cur, err = c.Tools.SecretGet(ctx, hookenv.SecretGetArgs{URI: own}); err != nil {
			return nil
		}
	}
	if !equalMaps(cur, want) {
		if err := c.Tools.SecretSet(ctx, own, want); err != nil {
			c.logf(ctx, slog.LevelWarn, "could not update the shared credentials %s: %v", own, err)
			return nil
		}
		c.logf(ctx, slog.LevelInfo, "shared credentials updated after a password change")
	}
	v.sharedSynced(st, L.SecretID, want)
	return nil
}

// sharedSynced records that secret uri (as L.SecretID names it) holds content in this hook,
// and that the next hook reads it ahead.
func (v *drView) sharedSynced(st *State, uri string, content map[string]string) {
	v.sharedURI, v.sharedContent = uri, content
	st.SetLocal(localDRShared, uri)
}

// headStep is the head unit's part of a switchover: the clean shutdown of a demoting primary,
// the gated promotion of a standby leader.
func (a *asyncRepl) headStep(ctx context.Context, c *Charm, st *State, w Workload) error {
	if st.Primary() != st.Unit {
		return nil
	}
	if mode, _ := a.effectiveMode(st); mode == modePrimary {
		return a.guardRestart(ctx, st, w)
	}
	sw := parseSwitch(st.AppData[keySwitch])
	if sw == nil {
		return nil
	}
	switch modeOf(st) {
	case modeDemoting:
		if a.headToken(st, sw) != nil {
			return nil
		}
		if err := c.status(ctx, "maintenance", "switchover to the other cluster: fast shutdown"); err != nil {
			return err
		}
		cd, err := w.Stop(ctx)
		if err != nil {
			return err
		}
		if !cd.CleanShutdown() {
			return waiting("switchover %s: the shutdown was not clean (%s)", sw.ID, cd.State)
		}
		tok := headToken{ID: sw.ID, Demotion: drprotocol.Demotion{Epoch: sw.Epoch, SystemID: cd.SystemID,
			Timeline: cd.TimelineID, CheckpointLSN: cd.CheckpointLSN.String()}}
		b, _ := json.Marshal(tok)
		st.SetMine(keyDemoted, string(b))
		c.logf(ctx, slog.LevelInfo, "switchover %s: fast shutdown done, checkpoint %s timeline %d", sw.ID, cd.CheckpointLSN, cd.TimelineID)
	case modePromoting:
		if st.MyData[keyPromoted] == sw.ID {
			return nil
		}
		_, err := a.promoteHead(ctx, c, st, w, sw)
		return err
	}
	return nil
}

// guardRestart is the cross-cluster twin of runPrimary's guard: a head that shut down for a
// switchover to the other cluster (dr-demoted), in a cluster that is primary again (it rolled
// back), starts writable only while the other cluster's head does not answer writable; a
// head that promoted late is fenced by its claim, which this cluster then follows.
func (a *asyncRepl) guardRestart(ctx context.Context, st *State, w Workload) error {
	v := a.view
	if st.MyData[keyDemoted] == "" || v == nil || v.relID == "" || v.remote.PrimaryEndpoint == "" {
		return nil
	}
	if running, err := w.Running(ctx); err != nil || running {
		return err
	}
	if writable, _, _ := a.probeWritable(ctx, st, w, v.remote.PrimaryEndpoint); writable {
		return waiting("the switchover to the other cluster was rolled back, but its standby leader %s answers writable: not starting", v.remote.PrimaryEndpoint)
	}
	return nil
}

// promoteHead promotes this unit (the standby leader): at once when forced, otherwise only
// after it has replayed the other cluster's shutdown checkpoint (gateToken). Either way only
// within promoteWithin of the leader's decision (sw.Since; 0: no bound), so that its leader
// can tell the other cluster when it gave up. It returns the positions it saw before
// promoting.
func (a *asyncRepl) promoteHead(ctx context.Context, c *Charm, st *State, w Workload, sw *drSwitch) (postgres.Positions, error) {
	var tok drprotocol.Demotion
	var ckpt postgres.LSN
	if !sw.Force {
		if err := json.Unmarshal([]byte(st.AppData[keyToken]), &tok); err != nil {
			return postgres.Positions{}, waiting("switchover %s: no demotion token yet", sw.ID)
		}
		if sid := st.AppData["system-id"]; sid != "" && tok.SystemID != sid {
			return postgres.Positions{}, waiting("switchover %s: the other cluster's system %s is not ours (%s): not promoting", sw.ID, tok.SystemID, sid)
		}
		var err error
		if ckpt, err = postgres.ParseLSN(tok.CheckpointLSN); err != nil {
			return postgres.Positions{}, waiting("switchover %s: bad checkpoint in the token: %v", sw.ID, err)
		}
	}
	db, err := c.connectSelf(ctx, st, w)
	if err != nil {
		return postgres.Positions{}, waiting("switchover %s: this unit's server does not answer: %v", sw.ID, err)
	}
	defer db.Close(ctx)
	deadline := time.Now().Add(c.SwitchoverReplayWait)
	var seen postgres.Positions
	for {
		pos, err := db.Positions(ctx)
		if err != nil {
			return seen, err
		}
		if !pos.InRecovery {
			break // already promoted (a re-run)
		}
		seen = pos
		if sw.Force || pos.Replayed > ckpt {
			if by := time.Unix(sw.Since, 0).Add(a.promoteWithin()); sw.Since != 0 && c.Now().After(by) {
				return seen, waiting("switchover %s: not promoted within %s: given up, the other cluster may take its writes back", sw.ID, a.promoteWithin())
			}
			if !sw.Force {
				if err := a.gateToken(ctx, st, w, db, sw, tok, ckpt); err != nil {
					return seen, err
				}
			}
			if err := c.status(ctx, "maintenance", "promoting to primary cluster"); err != nil {
				return seen, err
			}
			if err := db.Promote(ctx); err != nil {
				return seen, err
			}
			break
		}
		if time.Now().After(deadline) {
			st.WakeAt(timerDRPromote, c.Now().Add(pollAgain))
			return seen, waiting("switchover %s: replayed %s, waiting to pass the other cluster's shutdown checkpoint %s", sw.ID, pos.Replayed, ckpt)
		}
		select {
		case <-ctx.Done():
			return seen, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	// pg_rewind against this server is only right once it has checkpointed on its new timeline.
	if err := db.Checkpoint(ctx); err != nil {
		return seen, err
	}
	st.SetMine(keyPromoted, sw.ID)
	c.logf(ctx, slog.LevelInfo, "switchover %s: promoted (force=%v) after replaying %s", sw.ID, sw.Force, seen.Replayed)
	return seen, nil
}

// gateToken is the last check before a planned promotion: this unit replayed exactly up to
// the other cluster's shutdown checkpoint, and that cluster did not come back writable. A
// primary cluster that rolled back restarts writable on the same timeline and writes past its
// shutdown checkpoint: promoting on that WAL would make two writable clusters, and the writes
// of whichever loses would be rewound away.
func (a *asyncRepl) gateToken(ctx context.Context, st *State, w Workload, db DB, sw *drSwitch, tok drprotocol.Demotion, ckpt postgres.LSN) error {
	if writable, _, _ := a.probeWritable(ctx, st, w, st.AppData[keyUpstream]); writable {
		return waiting("switchover %s: the other cluster's primary %s answers writable again (it rolled back): not promoting", sw.ID, st.AppData[keyUpstream])
	}
	// On a standby CHECKPOINT is a restartpoint: the control file then names the last
	// checkpoint record it replayed, and that record's timeline.
	if err := db.Checkpoint(ctx); err != nil {
		return fmt.Errorf("restartpoint before promoting: %w", err)
	}
	cd, err := w.ControlData(ctx)
	if err != nil {
		return fmt.Errorf("control data before promoting: %w", err)
	}
	if cd.TimelineID != tok.Timeline || cd.CheckpointLSN != ckpt {
		return waiting("switchover %s: the last checkpoint this unit replayed is %s on timeline %d, not the other cluster's shutdown checkpoint %s on timeline %d: not promoting",
			sw.ID, cd.CheckpointLSN, cd.TimelineID, ckpt, tok.Timeline)
	}
	return nil
}

// probeWritable asks the server at endpoint (host:port) whether it is writable: answered
// says whether it answered at all.
func (a *asyncRepl) probeWritable(ctx context.Context, st *State, w Workload, endpoint string) (writable, answered bool, err error) {
	host, _, err := net.SplitHostPort(endpoint)
	if err != nil {
		return false, false, fmt.Errorf("no endpoint (%q)", endpoint)
	}
	cctx, cancel := context.WithTimeout(ctx, a.RemoteTimeout)
	defer cancel()
	db, err := w.Connect(cctx, host, remoteLogin(st))
	if err != nil {
		return false, false, err
	}
	defer db.Close(ctx)
	pos, err := db.Positions(cctx)
	if err != nil {
		return false, false, err
	}
	return !pos.InRecovery, true, nil
}

// seedStep re-seeds a unit of a new standby cluster: the head from the primary cluster's
// primary, the others from the head, each with its old data moved aside.
func (a *asyncRepl) seedStep(ctx context.Context, c *Charm, st *State, w Workload) error {
	a.reseedLost(ctx, c, st)
	gen := st.AppData[keySeed]
	if modeOf(st) != modeStandby || gen == "" || st.MyData[keySeeded] == gen {
		return nil
	}
	head := st.Primary()
	if head == "" {
		return waiting("waiting for the leader to choose a standby leader")
	}
	var role Role
	if head == st.Unit {
		role = a.headRole(st, st.AppData[keyUpstream], false)
	} else {
		if st.PeerData[head][keySeeded] != gen {
			if running, err := w.Running(ctx); err != nil {
				return err
			} else if running {
				if _, err := w.Stop(ctx); err != nil {
					return err
				}
			}
			return waiting("waiting for the standby leader %s to be seeded from the primary cluster", head)
		}
		role = a.cascadeRole(st, head, false)
	}
	if role.Kind != RoleReplica {
		return waiting("%s", role.Status)
	}
	if running, err := w.Running(ctx); err != nil {
		return err
	} else if running {
		if err := c.status(ctx, "maintenance", "stopping to re-seed as a standby of the other cluster"); err != nil {
			return err
		}
		if _, err := w.Stop(ctx); err != nil {
			return err
		}
	}
	slot := role.Slot
	if slot == "" {
		slot = postgres.SlotName(st.Unit)
	}
	up := postgres.Upstream{Host: role.UpstreamAddr, Port: role.UpstreamPort, User: "replication", Slot: slot, AppName: slot,
		Remote: c.isRemoteHost(st, role.UpstreamAddr)}
	if err := w.WritePassfile(ctx, c.passEntries(st)); err != nil {
		return err
	}
	if err := c.seed(ctx, st, w, role, up); err != nil {
		return err
	}
	if _, err := w.FollowPrimary(ctx, c.settings(ctx, st, w), up); err != nil {
		return err
	}
	st.SetMine(keySeeded, gen)
	c.logf(ctx, slog.LevelInfo, "seeded from %s (old data kept aside)", role.UpstreamUnit)
	return nil
}

// drSlot is the slot a unit streams through from another cluster's server (prefixed so that
// it never collides with the upstream cluster's own slots, even for equal application names).
func drSlot(unit string) string { return postgres.SlotName(drSlotPrefix + unit) }

// drSlotPrefix starts the name of every slot another cluster streams through.
const drSlotPrefix = "dr_"

func (a *asyncRepl) headRole(st *State, upstream string, standalone bool) Role {
	if standalone {
		// Detached: it must not keep streaming from the cluster it was a standby of.
		return Role{Kind: RoleReadOnly, Status: StandaloneMessage, StatusLevel: "blocked"}
	}
	host, port, err := net.SplitHostPort(upstream)
	p, perr := strconv.Atoi(port)
	if err != nil || perr != nil {
		return Role{Kind: RoleWait, Status: "waiting for the primary cluster's endpoint"}
	}
	return Role{Kind: RoleReplica, UpstreamUnit: "the primary cluster (" + upstream + ")", UpstreamAddr: host, UpstreamPort: p,
		Slot: drSlot(st.Unit), UpstreamRemote: true, Status: "Standby"}
}

func (a *asyncRepl) cascadeRole(st *State, head string, standalone bool) Role {
	addr := st.AddressOf(head)
	if addr == "" {
		addr = st.AppData["primary-address"]
	}
	if addr == "" {
		return Role{Kind: RoleWait, Status: "waiting for the address of the standby leader " + head}
	}
	return Role{Kind: RoleReplica, UpstreamUnit: "standby leader " + head, UpstreamAddr: addr, UpstreamPort: PGPort,
		Slot: postgres.SlotName(st.Unit), Status: "Replica"}
}

// effectiveMode is the mode the peer data records, except that a cluster recorded primary
// which sees the other cluster claim a higher epoch as primary fences itself at once, on
// every unit, without waiting for its leader.
func (a *asyncRepl) effectiveMode(st *State) (mode drMode, upstream string) {
	mode, upstream = modeOf(st), st.AppData[keyUpstream]
	v := a.view
	if mode != modePrimary || v == nil || v.relID == "" || v.remoteErr != nil {
		return mode, upstream
	}
	local, err := drprotocol.ParseEpoch(st.AppData[keyEpoch])
	if err != nil || v.remote.Role != drprotocol.RolePrimary || v.remote.PrimaryEndpoint == "" {
		return mode, upstream
	}
	// The same rule as the leader's, ties included: a tie lost is a claim lost.
	self := drprotocol.AppData{Epoch: local, Role: drprotocol.RolePrimary, SystemID: st.AppData["system-id"]}
	if drprotocol.PrimarySide(self, v.remote, v.offers) == drprotocol.Remote {
		return modeStandby, v.remote.PrimaryEndpoint
	}
	return mode, upstream
}

// roleRule is the extension's roleRule: the role of a unit of a cluster that replicates.
func (a *asyncRepl) roleRule(ctx context.Context, c *Charm, st *State) (Role, bool) {
	if v := a.view; v != nil && v.relID != "" && v.remoteErr != nil {
		return a.pausedRole(ctx, c, st, v.remoteErr), true
	}
	r, ok := a.recordedRole(ctx, c, st)
	if ok && r.Kind == RoleReplica && a.headNote != "" && st.Primary() == st.Unit {
		r.StatusLevel, r.Status = a.headLevel, a.headNote
	}
	return r, ok
}

// pausedRole: while the other cluster's data cannot be parsed, each unit keeps the role its
// cluster's recorded mode gives it (a restarted pod starts, an in-cluster failover
// completes), and a running unit's status says why the cross-cluster part is frozen.
func (a *asyncRepl) pausedRole(ctx context.Context, c *Charm, st *State, why error) Role {
	r, ok := a.recordedRole(ctx, c, st)
	if !ok {
		r = InClusterRole(st)
	}
	if r.Kind == RoleReplica {
		// A primary's status is its synchronous standbys' (runPrimary); the app status says it.
		r.StatusLevel, r.Status = "waiting", (&remoteDataError{err: why}).Error()
	}
	return r
}

// recordedRole is the role the cluster's recorded mode gives this unit (ok=false: the
// in-cluster rule decides).
func (a *asyncRepl) recordedRole(ctx context.Context, c *Charm, st *State) (Role, bool) {
	mode, upstream := a.effectiveMode(st)
	head := st.Primary()
	if head == "" {
		return Role{}, false
	}
	switch mode {
	case modeDemoting, modeDemoted:
		if head != st.Unit {
			break
		}
		if sw := parseSwitch(st.AppData[keySwitch]); sw != nil && sw.Withdrawn {
			return Role{Kind: RoleStopped, Status: "switchover to the other cluster: token withdrawn, rolling back unless it promoted"}, true
		}
		return Role{Kind: RoleStopped, Status: "switchover to the other cluster: stopped cleanly, waiting for it to promote"}, true
	case modePromoting:
		if sw := parseSwitch(st.AppData[keySwitch]); head == st.Unit && sw != nil && st.MyData[keyPromoted] == sw.ID {
			return Role{}, false // promoted: the in-cluster rule makes it the primary
		}
		fallthrough
	case modeStandby, modeStandalone:
		if head == st.Unit {
			return a.headRole(st, upstream, mode == modeStandalone), true
		}
		return a.cascadeRole(st, head, mode == modeStandalone), true
	}
	return Role{}, false
}

// holdFailover keeps the leader from failing over from a head that is down on purpose.
func (a *asyncRepl) holdFailover(st *State) string {
	switch m := modeOf(st); m {
	case modeDemoting, modeDemoted, modePromoting:
		return "cross-cluster switchover (" + string(m) + ")"
	case modeStandby:
		if gen := st.AppData[keySeed]; gen != "" {
			h := st.Primary()
			seeded := st.MyData[keySeeded]
			if h != st.Unit {
				seeded = st.PeerData[h][keySeeded]
			}
			if seeded != gen {
				return "standby leader " + h + " is being seeded"
			}
		}
	}
	return ""
}

// extraHBA admits the replication and rewind users from the related cluster's units only:
// streaming and pg_rewind, and the other cluster's charm, whose SQL here (positions, slots,
// timeline history) logs in as replication to the postgres database (remoteLogin).
func (a *asyncRepl) extraHBA(st *State) []postgres.HBARule {
	v := a.view
	if v == nil || v.relID == "" {
		return nil
	}
	addrs := slices.Clone(v.remoteAddrs)
	// On one host (jujulet) connections between loopback addresses leave from 127.0.0.1.
	if slices.ContainsFunc(addrs, func(a string) bool { return strings.HasPrefix(a, "127.") }) && !slices.Contains(addrs, "127.0.0.1") {
		addrs = append(addrs, "127.0.0.1")
	}
	var rules []postgres.HBARule
	for _, addr := range addrs {
		rules = append(rules, streamingHBA(addr)...)
		rules = append(rules, postgres.HBARule{Type: "hostssl", Database: "postgres", User: "replication", Address: hostCIDR(addr), Method: "scram-sha-256"})
	}
	return rules
}

// appStatus is the leader's application status.
func (a *asyncRepl) appStatus(st *State) (string, string) {
	if v := a.view; v != nil && v.relID != "" && v.remoteErr != nil {
		return "waiting", (&remoteDataError{err: v.remoteErr}).Error()
	}
	mode, _ := a.effectiveMode(st)
	switch mode {
	case modeStandby:
		return "active", "Standby"
	case modePromoting:
		return "maintenance", "Standby: promoting to primary cluster"
	case modeDemoting, modeDemoted:
		return "maintenance", "switching over to the other cluster"
	case modeStandalone:
		return "blocked", StandaloneMessage
	}
	return "active", "Primary"
}
