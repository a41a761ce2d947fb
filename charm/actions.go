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

	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// actionFail marks the action failed with a message; the hook itself succeeds.
type actionFail struct{ msg string }

func (e actionFail) Error() string { return e.msg }

func failf(format string, args ...any) error { return actionFail{fmt.Sprintf(format, args...)} }

func (c *Charm) runAction(ctx context.Context) error {
	st, err := c.readState(ctx)
	if err != nil {
		return err
	}
	params, err := c.Tools.ActionGet(ctx)
	if err != nil {
		return fmt.Errorf("action-get: %w", err)
	}
	var results map[string]string
	switch name := c.Env.ActionName; name {
	case "get-primary":
		results, err = c.actionGetPrimary(ctx, st)
	case "get-password":
		results, err = c.actionGetPassword(ctx, st, params)
	case "set-password":
		results, err = c.actionSetPassword(ctx, st, params)
	case "promote-to-primary":
		results, err = c.actionPromote(ctx, st, params)
	case "create-replication":
		results, err = c.extension().createReplication(ctx, c, st, params)
	default:
		err = failf("action %q is not implemented", name)
	}
	if af, ok := err.(actionFail); ok {
		c.logf(ctx, slog.LevelInfo, "action %s failed: %s", c.Env.ActionName, af.msg)
		return c.Tools.ActionFail(ctx, af.msg)
	}
	if err != nil {
		// A real error: report it in the action and fail the run.
		_ = c.Tools.ActionFail(ctx, err.Error())
		return err
	}
	if err := c.flush(ctx, st); err != nil {
		return err
	}
	if len(results) > 0 {
		if err := c.Tools.ActionSet(ctx, results); err != nil {
			return fmt.Errorf("action-set: %w", err)
		}
	}
	return nil
}

// validPassword reports whether pw can be stored and used: 1-100 characters without NUL or
// line breaks (a line break would inject entries into the libpq passfile).
func validPassword(pw string) bool {
	return pw != "" && len(pw) <= 100 && !strings.ContainsAny(pw, "\x00\n\r")
}

func paramString(params map[string]any, key, def string) (string, error) {
	v, ok := params[key]
	if !ok || v == nil {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", failf("%s must be a string", key)
	}
	return s, nil
}

func paramBool(params map[string]any, key string) (bool, error) {
	v, ok := params[key]
	if !ok || v == nil {
		return false, nil
	}
	switch t := v.(type) {
	case bool:
		return t, nil
	case string:
		b, err := strconv.ParseBool(t)
		if err != nil {
			return false, failf("%s must be true or false", key)
		}
		return b, nil
	}
	return false, failf("%s must be true or false", key)
}

func (c *Charm) requireInitialised(st *State) error {
	if st.PeerRelID == "" || st.Primary() == "" || st.AppData["secret-id"] == "" || st.AppData["system-id"] == "" {
		return failf("the cluster is not initialised yet: wait for a unit to be active (Primary)")
	}
	return nil
}

func (c *Charm) actionGetPrimary(ctx context.Context, st *State) (map[string]string, error) {
	p := st.Primary()
	if p == "" {
		return nil, failf("the cluster is not initialised yet: no primary")
	}
	res := map[string]string{"primary": p}
	raw := st.PeerData[p][keySyncStandbys]
	if p == st.Unit {
		raw = st.MyData[keySyncStandbys]
	}
	if rec, err := parseSyncRecord(raw); err == nil && rec != nil {
		// What failover may promote: the synchronous standbys the primary published.
		res["sync-standbys"] = strings.Join(rec.Standbys, ",")
	}
	return res, nil
}

func (c *Charm) validUser(params map[string]any) (string, error) {
	user, err := paramString(params, "username", "operator")
	if err != nil {
		return "", err
	}
	if !IsSystemUser(user) {
		return "", failf("%q is not a system user: use one of %s", user, strings.Join(SystemUsers, ", "))
	}
	return user, nil
}

func (c *Charm) actionGetPassword(ctx context.Context, st *State, params map[string]any) (map[string]string, error) {
	user, err := c.validUser(params)
	if err != nil {
		return nil, err
	}
	if st.PeerRelID == "" || st.AppData["secret-id"] == "" {
		return nil, failf("the cluster is not initialised yet: no passwords")
	}
	if err := c.loadPasswords(ctx, st); err != nil {
		return nil, err
	}
	return map[string]string{"password": st.Passwords[user]}, nil
}

func (c *Charm) actionSetPassword(ctx context.Context, st *State, params map[string]any) (map[string]string, error) {
	if !st.Leader {
		return nil, failf("set-password must run on the leader (juju run %s/leader set-password)", st.App)
	}
	user, err := c.validUser(params)
	if err != nil {
		return nil, err
	}
	pw, err := paramString(params, "password", "")
	if err != nil {
		return nil, err
	}
	if pw == "" {
		if pw, err = GeneratePassword(); err != nil {
			return nil, err
		}
	} else if !validPassword(pw) {
		return nil, failf("the password must be 1-100 characters without NUL or line breaks")
	}
	if err := c.requireInitialised(st); err != nil {
		return nil, err
	}
	if why := refuseSetPassword(st); why != "" {
		return nil, failf("%s", why)
	}
	if err := c.loadPasswords(ctx, st); err != nil {
		return nil, err
	}
	w, err := c.openWorkload(ctx, st)
	if err != nil {
		return nil, failf("the workload is not ready: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	db, err := w.Connect(cctx, st.PrimaryAddress(), "operator", st.Passwords["operator"])
	if err != nil {
		return nil, failf("cannot reach the primary %s to change the password: %v", st.Primary(), err)
	}
	defer db.Close(ctx)
	// The change must reach a synchronous standby (a failover must not bring the old password
	// back): with none streaming the commit would wait for one indefinitely.
	if rs, err := db.Replication(cctx); err != nil {
		return nil, err
	} else if rs.SyncStandbyNames != "" && !slices.ContainsFunc(rs.Standbys, func(r postgres.Replica) bool {
		return r.State == "streaming" && (r.SyncState == "sync" || r.SyncState == "quorum")
	}) {
		return nil, failf("commits on the primary %s wait for a synchronous standby and none streams (see its status): try again once a replica streams", st.Primary())
	}
	if err := db.SetPassword(ctx, user, pw); err != nil {
		return nil, err
	}
	st.Passwords[user] = pw
	if err := c.storePasswords(ctx, st); err != nil {
		return nil, err
	}
	if err := updateSharedSecret(ctx, c, st); err != nil {
		return nil, err
	}
	if err := w.WritePassfile(ctx, c.passEntries(st)); err != nil {
		return nil, err
	}
	st.SetMine("roles", passwordsFingerprint(st.Passwords))
	c.logf(ctx, slog.LevelInfo, "password of %s rotated", user)
	return map[string]string{"message": "password of " + user + " updated"}, nil
}

// refuseSetPassword: the users of a cluster that is not writable on its own are a copy of the
// primary cluster's (cross-regional replication), changed there only.
func refuseSetPassword(st *State) string {
	switch m := modeOf(st); m {
	case modeStandby, modeDemoting, modeDemoted, modePromoting:
		return "this is a standby cluster of cross-regional replication (" + string(m) + "): its users are a copy of the primary cluster's. " +
			"Run set-password on the primary cluster's leader (juju run <app>/leader set-password in the other model); " +
			"this cluster takes the new password from the credentials the primary cluster shares"
	case modeStandalone:
		return "this standalone cluster is read-only: run promote-to-primary scope=cluster on its leader first"
	}
	return ""
}

func (c *Charm) actionPromote(ctx context.Context, st *State, params map[string]any) (map[string]string, error) {
	scope, err := paramString(params, "scope", "")
	if err != nil {
		return nil, err
	}
	force, err := paramBool(params, "force")
	if err != nil {
		return nil, err
	}
	switch scope {
	case "cluster":
		return nil, c.extension().promoteCluster(ctx, c, st, force)
	case "unit":
	default:
		return nil, failf("scope must be \"unit\" or \"cluster\", got %q", scope)
	}
	if why := c.extension().refuseUnitSwitchover(st); why != "" {
		return nil, failf("%s", why)
	}
	if err := c.requireInitialised(st); err != nil {
		return nil, err
	}
	target, err := paramString(params, "unit", st.Unit)
	if err != nil {
		return nil, err
	}
	if target == "" {
		target = st.Unit
	}
	if !st.HasPeer(target) {
		return nil, failf("%q is not a unit of this cluster", target)
	}
	if target == st.Primary() {
		return nil, failf("%s is already the primary", target)
	}
	if sw := st.Switchover(); sw != nil {
		return nil, failf("a switchover from %s to %s (id %s) is already in progress", sw.From, sw.To, sw.ID)
	}
	if err := c.loadPasswords(ctx, st); err != nil {
		return nil, err
	}
	w, err := c.openWorkload(ctx, st)
	if err != nil {
		return nil, failf("the workload is not ready: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	db, err := w.Connect(cctx, st.AddressOf(target), "operator", st.Passwords["operator"])
	if err != nil {
		return nil, failf("%s does not answer: %v", target, err)
	}
	pos, err := db.Positions(cctx)
	db.Close(ctx)
	if err != nil || !pos.InRecovery {
		return nil, failf("%s is not a streaming replica", target)
	}
	id := c.Env.ActionUUID
	if id == "" {
		id = strconv.FormatInt(c.Now().UnixNano(), 10)
	}
	from := st.Primary()
	if !c.primaryAnswers(ctx, st, w, from) {
		return c.promoteInPlaceOfLost(ctx, st, w, id, target, force)
	}
	if force {
		return nil, failf("the primary %s answers: run promote-to-primary scope=unit without force, a planned switchover that loses nothing", from)
	}
	if st.Leader {
		c.startSwitchover(st, id, target)
		// The old primary's part runs here when this unit is it; the target's part needs the
		// old primary's token and runs in the hook that delivers it.
		if from == st.Unit {
			if err := c.switchoverStep(ctx, st, w); err != nil {
				if msg, ok := asWaiting(err); ok {
					return nil, failf("switchover: %s", msg)
				}
				return nil, err
			}
		}
	} else {
		b, _ := json.Marshal(map[string]string{"id": id, "to": target})
		st.SetMine("switchover-request", string(b))
	}
	return map[string]string{
		"switchover-id": id,
		"message":       fmt.Sprintf("switchover from %s to %s started: %s shuts down cleanly, %s promotes once it has replayed everything; watch the status", from, target, from, target),
	}, nil
}

// promoteInPlaceOfLost is promote-to-primary scope=unit while the primary does not answer: a
// failover to target, which without force must be a unit failover may trust (a synchronous
// standby of the lost primary). The leader records it at once; another unit asks the leader,
// which re-checks it in its next failover.
func (c *Charm) promoteInPlaceOfLost(ctx context.Context, st *State, w Workload, id, target string, force bool) (map[string]string, error) {
	from := st.Primary()
	if why := c.checkFailoverTarget(ctx, st, w, failoverCandidates(st, from), target, force); why != "" {
		return nil, failf("the primary %s does not answer and %s", from, why)
	}
	note := ""
	if force {
		note = " (forced: writes the primary acknowledged that " + target + " lacks are lost)"
	}
	if st.Leader {
		c.logf(ctx, slog.LevelWarn, "promote-to-primary: %s does not answer, promoting %s%s", from, target, note)
		st.SetApp(keyLastFailoverRequest, id)
		c.setPrimary(st, target)
		st.SetApp(keyPinnedPrimary, target) // an operator's choice: no hand-off from it
		return map[string]string{"message": fmt.Sprintf("the primary %s does not answer: %s is the primary now%s", from, target, note)}, nil
	}
	b, _ := json.Marshal(failoverRequest{ID: id, To: target, From: from, Force: force, Since: c.Now().Unix()})
	st.SetMine(keyFailoverRequest, string(b))
	return map[string]string{"message": fmt.Sprintf("the primary %s does not answer: asked the leader to promote %s%s", from, target, note)}, nil
}
