package charm

// The leader's cross-cluster state machine (docs/PROTOCOL.md). Which cluster is primary is
// decided by the epochs (drprotocol.PrimarySide); within that answer the recorded mode
// (dr-mode) moves along these transitions, one method each:
//
//	no relation   primary, none, demoting  → none            (leaderDetached)
//	              standby, demoted, promoting → standalone
//	neither side  primary, none, demoting  → none            (onNeither)
//	              standby, demoted, promoting → standalone      the other cluster withdrew its claim
//	local side    demoting  → demoted       the head's clean-shutdown token is there (publishToken)
//	              demoting  → primary       no clean shutdown within RollbackAfter (rollback)
//	              demoted   → demoted       the other cluster did not take over within
//	                                        RollbackAfter and is not writable: the token is
//	                                        withdrawn (withdrawToken)
//	              demoted   → primary       the other cluster abandoned its request, or
//	                                        promoteWithin after the withdrawal it is still not
//	                                        writable (rollbackDemoted)
//	              standby, standalone → standalone  the other cluster's claim fell below ours
//	              none, primary → primary   (stayPrimary)
//	              primary   → demoting      the other cluster asks with a higher epoch, and no
//	                                        in-cluster switchover is in flight (startDemoting)
//	remote side   none, standalone → standby  the other cluster is primary (becomeStandby)
//	              primary   → standby       fenced by a higher epoch (follow)
//	              demoting, demoted → standby the other cluster took over (follow)
//	              standby   → promoting     our request's token is published (adoptToken)
//	              standby   → standby       our request is abandoned (abandonRequest)
//	              promoting → primary       the head promoted (completePromotion)
//	              promoting → standby       the other cluster is primary again at or above our
//	                                        request's epoch or withdrew its token, or the head
//	                                        did not promote within promoteWithin; only once the
//	                                        head cannot promote any more (abandonPromotion)

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/drprotocol"
)

// drStep is one run of the leader's state machine: what it read and what it decides.
type drStep struct {
	ctx  context.Context
	a    *asyncRepl
	c    *Charm
	st   *State
	w    Workload
	v    *drView
	now  time.Time
	L, R drprotocol.AppData // L: this cluster's bucket as it will be published; R: the other's
	mode drMode             // this cluster's mode, as decided so far
	sw   *drSwitch          // the cross-cluster switchover this cluster takes part in
}

// leaderStep is the leader's state machine: it reads both app buckets and the head's results,
// decides this cluster's mode and publishes.
func (a *asyncRepl) leaderStep(ctx context.Context, c *Charm, st *State, w Workload, v *drView) error {
	if v.relID == "" {
		a.leaderDetached(ctx, c, st)
		return nil
	}
	s := &drStep{ctx: ctx, a: a, c: c, st: st, w: w, v: v, now: c.Now(), L: v.local, R: v.remote,
		mode: modeOf(st), sw: parseSwitch(st.AppData[keySwitch])}
	s.L.PrimaryEndpoint = endpointOf(st.PrimaryAddress())
	s.L.SystemID = st.AppData["system-id"]
	var err error
	switch drprotocol.PrimarySide(s.L, s.R, v.offers) {
	case drprotocol.Neither:
		s.onNeither(false)
	case drprotocol.Local:
		err = s.onLocal()
	case drprotocol.Remote:
		err = s.onRemote()
	}
	if err != nil {
		return err
	}
	return s.commit()
}

// leaderDetached: the relation is gone (or going).
func (a *asyncRepl) leaderDetached(ctx context.Context, c *Charm, st *State) {
	switch mode := modeOf(st); mode {
	case modeNone, modePrimary:
		setMode(st, modeNone)
	case modeDemoting:
		// No token was published: the other cluster cannot have promoted. Stay primary.
		c.logf(ctx, slog.LevelWarn, "replication relation removed during a switchover, before the handover: this cluster stays primary")
		setMode(st, modeNone)
	case modeStandalone:
	default:
		c.logf(ctx, slog.LevelWarn, "replication relation removed while %s: standalone read-only cluster until promoted", mode)
		setMode(st, modeStandalone)
		for _, k := range []string{keySeed, keySwitch, keyToken} {
			st.SetApp(k, "")
		}
	}
}

func (s *drStep) logf(level slog.Level, format string, args ...any) {
	s.c.logf(s.ctx, level, format, args...)
}

// expired reports whether the switchover's last step is more than d ago.
func (s *drStep) expired(d time.Duration) bool {
	return s.sw != nil && s.now.Sub(time.Unix(s.sw.Since, 0)) > d
}

// onNeither: nobody claims to be primary. A cluster that followed the other one stays
// read-only (standalone) until promoted here: the other model is not trusted to make this
// cluster writable by withdrawing its claim. below says the other cluster's claim fell below
// this cluster's (a standby's) own, rather than to nothing.
func (s *drStep) onNeither(below bool) {
	switch s.mode {
	case modeNone, modePrimary, modeDemoting:
		s.mode = modeNone
	case modeStandalone:
	default:
		what := "withdrew its claim (epoch 0)"
		if below {
			what = fmt.Sprintf("claims epoch %d, below this standby cluster's %d", s.R.Epoch, s.L.Epoch)
		}
		s.logf(slog.LevelWarn, "the other cluster %s while this cluster is %s: standalone read-only cluster until promote-to-primary", what, s.mode)
		s.mode, s.sw = modeStandalone, nil
		s.L.Switchover, s.L.Demotion = nil, nil
		s.st.SetApp(keyToken, "")
	}
	s.L.Role = drprotocol.RoleNone
}

// onLocal: this cluster's claim is the higher one.
func (s *drStep) onLocal() error {
	switch s.mode {
	case modeDemoting:
		if tok := s.a.headToken(s.st, s.sw); tok != nil {
			s.publishToken(tok)
		} else if s.expired(s.a.RollbackAfter) {
			// No token was published: the other cluster cannot promote without force.
			s.logf(slog.LevelWarn, "switchover %s: no clean shutdown within %s: rolling back", s.sw.ID, s.a.RollbackAfter)
			return s.rollback()
		}
	case modeDemoted:
		return s.rollbackDemoted()
	case modePromoting:
		// Completed on the remote side (completePromotion).
	case modeStandby, modeStandalone:
		s.onNeither(true)
	default:
		return s.stayPrimary()
	}
	return nil
}

// rollbackDemoted: a demoted cluster (its token published) becomes primary again only when
// the other cluster cannot promote on that token any more. Either it withdrew its request
// (its head gave up, or never started), or, in two steps: past RollbackAfter this cluster
// withdraws the token (withdrawToken), and promoteWithin after that it rolls back. The other
// cluster's head promotes only within promoteWithin of its leader taking the token, and only
// while this cluster's primary does not answer writable; so once the token is withdrawn, no
// promotion on it can start after that bound. A head found writable stops the rollback: it
// promoted, and this cluster follows its claim (docs/PROTOCOL.md, "Rollback").
func (s *drStep) rollbackDemoted() error {
	rs := s.R.Switchover
	abandoned := s.R.Role != drprotocol.RolePrimary && (rs == nil || s.sw == nil || rs.ID != s.sw.ID)
	switch {
	case s.sw == nil:
		s.logf(slog.LevelWarn, "switchover: demoted without a switchover record: rolling back, this cluster stays primary")
		return s.rollback()
	case abandoned:
		s.logf(slog.LevelWarn, "switchover %s: the other cluster abandoned it: rolling back, this cluster stays primary", s.sw.ID)
		return s.rollback()
	case !s.sw.Withdrawn && !s.expired(s.a.RollbackAfter):
		return nil
	case s.sw.Withdrawn && !s.expired(s.a.withdrawnFor()):
		s.L.Role, s.L.Demotion = drprotocol.RoleDemoting, nil
		return nil
	}
	writable, answered, err := s.a.probeWritable(s.ctx, s.st, s.w, s.R.PrimaryEndpoint)
	if writable {
		s.logf(slog.LevelWarn, "switchover %s: the other cluster's standby leader is writable: it promoted, not rolling back", s.sw.ID)
		s.st.WakeAt(timerDRRollback, time.Time{})
		return waiting("switchover %s: the other cluster promoted (%s answers writable) but has not claimed primary yet", s.sw.ID, s.R.PrimaryEndpoint)
	}
	if !s.sw.Withdrawn {
		s.withdrawToken(answered, err)
		return nil
	}
	s.logf(slog.LevelWarn, "switchover %s: the other cluster did not take over: rolling back, this cluster stays primary", s.sw.ID)
	return s.rollback()
}

// publishToken: demoting → demoted, the head shut down cleanly.
func (s *drStep) publishToken(tok *headToken) {
	s.L.Role, s.L.Demotion = drprotocol.RoleDemoted, &tok.Demotion
	s.mode, s.sw.Since = modeDemoted, s.now.Unix()
	s.logf(slog.LevelInfo, "switchover %s: shut down cleanly at %s (timeline %d), token published", s.sw.ID, tok.CheckpointLSN, tok.Timeline)
}

// withdrawToken: demoted, token published → demoted, token withdrawn (role demoting).
func (s *drStep) withdrawToken(answered bool, err error) {
	why := "it answers read-only"
	if !answered {
		why = fmt.Sprintf("its standby leader %s does not answer: %v", s.R.PrimaryEndpoint, err)
	}
	s.logf(slog.LevelWarn, "switchover %s: the other cluster did not take over within %s (%s): token withdrawn, rolling back in %s unless it claims primary",
		s.sw.ID, s.a.RollbackAfter, why, s.a.withdrawnFor())
	s.L.Role, s.L.Demotion = drprotocol.RoleDemoting, nil
	s.sw.Withdrawn, s.sw.Since = true, s.now.Unix()
}

// rollback: demoting or demoted → primary with an epoch above every claim.
func (s *drStep) rollback() error {
	e, err := drprotocol.NextEpoch(s.L, s.R)
	if err != nil {
		return waiting("cannot roll back the switchover: %v", err)
	}
	s.L.Epoch, s.L.Role, s.L.Demotion = e, drprotocol.RolePrimary, nil
	s.mode, s.sw = modePrimary, nil
	return nil
}

// stayPrimary: this cluster is primary; it starts demoting when the other cluster asks.
func (s *drStep) stayPrimary() error {
	if err := s.a.syncSharedCredentials(s.ctx, s.c, s.st, s.v, &s.L); err != nil {
		return err
	}
	s.mode, s.L.Role, s.L.Demotion = modePrimary, drprotocol.RolePrimary, nil
	s.st.SetApp(keySeed, "")
	s.st.SetApp(keyToken, "")
	rs := s.R.Switchover
	if rs == nil || rs.Epoch <= s.L.Epoch || s.R.Role != drprotocol.RoleStandby {
		return nil
	}
	switch {
	case s.st.Switchover() != nil:
		// Its completion or rollback runs this step again (leaderDuties runs first).
		s.logf(slog.LevelInfo, "the other cluster asks to become primary (request %s): waiting for the in-cluster switchover %s to finish", rs.ID, s.st.Switchover().ID)
	case rs.Epoch >= drprotocol.MaxEpoch:
		// A rollback could claim nothing above it.
		s.logf(slog.LevelWarn, "ignoring the other cluster's request %s: its epoch %d leaves no epoch to roll back to", rs.ID, rs.Epoch)
	default:
		s.startDemoting(rs)
	}
	return nil
}

// startDemoting: primary → demoting for the other cluster's request.
func (s *drStep) startDemoting(rs *drprotocol.Switchover) {
	s.logf(slog.LevelInfo, "the other cluster asks to become primary (request %s, epoch %d): demoting", rs.ID, rs.Epoch)
	s.mode, s.L.Role = modeDemoting, drprotocol.RoleDemoting
	s.sw = &drSwitch{ID: rs.ID, Epoch: rs.Epoch, Since: s.now.Unix()}
}

// onRemote: the other cluster's claim is the higher one.
func (s *drStep) onRemote() error {
	switch s.mode {
	case modeNone, modeStandalone:
		if s.R.Role == drprotocol.RolePrimary {
			return s.becomeStandby()
		}
	case modePrimary:
		s.logf(slog.LevelWarn, "the other cluster claims epoch %d > ours (%d): fencing this cluster and following it", s.R.Epoch, s.L.Epoch)
		s.follow()
	case modeDemoting, modeDemoted:
		if s.R.Role == drprotocol.RolePrimary {
			s.logf(slog.LevelInfo, "the other cluster took over (epoch %d): following it", s.R.Epoch)
			s.follow()
		}
	case modeStandby:
		return s.standby()
	case modePromoting:
		return s.promoting()
	}
	return nil
}

// becomeStandby: none or standalone → standby of the other cluster, re-seeded from it.
func (s *drStep) becomeStandby() error {
	if err := s.a.copyCredentials(s.ctx, s.c, s.st, s.R); err != nil {
		return err
	}
	s.logf(slog.LevelInfo, "the other cluster is primary (epoch %d, system %s): re-seeding this cluster as its standby", s.R.Epoch, s.R.SystemID)
	s.mode, s.L.Role = modeStandby, drprotocol.RoleStandby
	s.st.SetApp(keySeed, fmt.Sprintf("%s/%d/%s", s.v.relID, s.R.Epoch, s.R.SystemID))
	s.st.SetApp(keyUpstream, s.R.PrimaryEndpoint)
	s.st.SetApp("system-id", s.R.SystemID)
	s.L.SystemID = s.R.SystemID
	s.sw = nil
	return nil
}

// follow: primary, demoting or demoted → standby of the other cluster, without re-seeding.
func (s *drStep) follow() {
	s.mode, s.L.Role, s.L.Demotion = modeStandby, drprotocol.RoleStandby, nil
	s.st.SetApp(keyUpstream, s.R.PrimaryEndpoint)
	s.sw = nil
}

// standby: follows the other cluster; moves on with this cluster's own request, if any.
func (s *drStep) standby() error {
	s.L.Role = drprotocol.RoleStandby
	if s.R.Role == drprotocol.RolePrimary && s.R.PrimaryEndpoint != "" {
		s.st.SetApp(keyUpstream, s.R.PrimaryEndpoint)
	}
	if s.R.SecretID != "" && s.R.Role == drprotocol.RolePrimary {
		if err := s.a.copyCredentials(s.ctx, s.c, s.st, s.R); err != nil {
			return err
		}
	}
	ls := s.L.Switchover
	if ls == nil {
		return nil
	}
	if s.sw == nil || s.sw.ID != ls.ID {
		s.sw = &drSwitch{ID: ls.ID, Epoch: ls.Epoch, Since: s.now.Unix()}
	}
	switch {
	case s.R.Role == drprotocol.RoleDemoted && s.R.Demotion != nil && s.R.Demotion.Epoch == ls.Epoch:
		s.adoptToken(ls)
	case s.R.Epoch >= ls.Epoch, s.expired(2 * s.a.RollbackAfter):
		s.abandonRequest(ls)
	}
	return nil
}

// adoptToken: standby → promoting, gated on the other cluster's demotion token.
func (s *drStep) adoptToken(ls *drprotocol.Switchover) {
	b, _ := json.Marshal(s.R.Demotion) // plain struct: cannot fail
	s.st.SetApp(keyToken, string(b))
	s.mode, s.sw.Since = modePromoting, s.now.Unix()
	s.logf(slog.LevelInfo, "switchover %s: the other cluster shut down at %s: promoting once replayed past it", ls.ID, s.R.Demotion.CheckpointLSN)
}

// abandonRequest: the other cluster did not hand over; this cluster stays a standby.
func (s *drStep) abandonRequest(ls *drprotocol.Switchover) {
	s.logf(slog.LevelWarn, "switchover %s abandoned: the other cluster did not hand over", ls.ID)
	s.L.Switchover, s.sw = nil, nil
}

// promoting: waits for the head's promotion. It gives up when the other cluster is primary
// again at or above the request's epoch (it rolled back: a head that promoted lost), when it
// withdrew its token, or when promoteWithin passed; but only once the head cannot promote any
// more: this unit is the head (its hooks run one at a time, and the next ones see the
// standby mode), or promoteWithin passed (the head never promotes later) and it answers
// read-only. The other cluster reads the withdrawn request as leave to roll back at once.
func (s *drStep) promoting() error {
	if s.sw == nil {
		s.abandonPromotion("no switchover record")
		return nil
	}
	if s.st.Primary() != "" && s.a.promotedBy(s.st) == s.sw.ID && !s.rolledBack() {
		return s.completePromotion()
	}
	why := ""
	switch {
	case s.rolledBack():
		why = fmt.Sprintf("the other cluster is primary again (epoch %d)", s.R.Epoch)
	case !s.sw.Force && (s.R.Demotion == nil || s.R.Demotion.Epoch != s.sw.Epoch):
		why = "the other cluster withdrew its demotion token"
	case s.expired(s.a.promoteWithin()):
		why = fmt.Sprintf("the standby leader did not promote within %s", s.a.promoteWithin())
	default:
		return nil
	}
	if s.st.Primary() != s.st.Unit {
		if !s.expired(s.a.promoteWithin()) {
			return nil // the abandon timer brings this back
		}
		if writable, _, _ := s.a.probeWritable(s.ctx, s.st, s.w, endpointOf(s.st.PrimaryAddress())); writable && !s.rolledBack() {
			return nil // promoted at the last moment: it records it in its next hook
		}
	}
	s.abandonPromotion(why)
	return nil
}

// rolledBack: the other cluster claims primary again at or above a planned request's epoch.
func (s *drStep) rolledBack() bool {
	return s.sw != nil && !s.sw.Force && s.R.Role == drprotocol.RolePrimary && s.R.Epoch >= s.sw.Epoch
}

// abandonPromotion: promoting → standby; the request is withdrawn, which tells the other
// cluster that it may roll back at once.
func (s *drStep) abandonPromotion(why string) {
	id := ""
	if s.sw != nil {
		id = s.sw.ID
	}
	s.logf(slog.LevelWarn, "switchover %s abandoned: %s", id, why)
	s.mode, s.L.Switchover, s.sw = modeStandby, nil, nil
	s.st.SetApp(keyToken, "")
}

// completePromotion: promoting → primary, the head promoted. A planned switchover claims its
// request's epoch and never more: a rollback of the other cluster claims above it and wins
// (promoting above it here would throw away what the other cluster accepted after it rolled
// back). A forced one claims above everything.
func (s *drStep) completePromotion() error {
	e := s.sw.Epoch
	if s.sw.Force && e <= s.R.Epoch {
		var err error
		if e, err = drprotocol.NextEpoch(s.L, s.R); err != nil {
			return waiting("switchover %s: %v", s.sw.ID, err)
		}
	}
	s.logf(slog.LevelInfo, "switchover %s: promoted, this cluster is primary with epoch %d", s.sw.ID, e)
	s.L.Epoch, s.L.Role, s.L.Switchover, s.L.Demotion = e, drprotocol.RolePrimary, nil, nil
	s.mode, s.sw = modePrimary, nil
	s.st.SetApp(keyToken, "")
	s.st.SetApp(keySeed, "")
	return nil
}

// commit records the decided mode in the peer data, asks for the wake-ups it needs and
// publishes this cluster's bucket.
func (s *drStep) commit() error {
	s.L.Slot = ""
	if h := s.st.Primary(); h != "" && (s.mode == modeStandby || s.mode == modePromoting) {
		s.L.Slot = drSlot(h)
	}
	s.a.scheduleBounds(s.st, s.mode, s.sw, s.L.Switchover != nil)
	setMode(s.st, s.mode)
	if s.mode != modeNone {
		s.st.SetApp(keyEpoch, strconv.FormatInt(s.L.Epoch, 10))
	}
	s.st.SetApp(keySwitch, s.sw.encode())
	return s.a.publish(s.ctx, s.c, s.v, s.L)
}
