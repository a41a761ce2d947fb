package charm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/drprotocol"
	"github.com/jujulet/postgresql-k8s/internal/hookenv"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// replicationName is what create-replication accepts as name: it is only logged and returned,
// never put in SQL or in a file, and still kept to a plain identifier.
var replicationName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`) })

// createReplication is the create-replication action (leader of the offering cluster).
func (a *asyncRepl) createReplication(ctx context.Context, c *Charm, st *State, params map[string]any) (map[string]string, error) {
	name, err := paramString(params, "name", "default")
	if err != nil {
		return nil, err
	}
	if !replicationName().MatchString(name) {
		return nil, failf("name must be 1-63 letters, digits, '.', '_' or '-' (starting with a letter or digit), got %q", name)
	}
	if !st.Leader {
		return nil, failf("create-replication must run on the leader (juju run %s/leader create-replication)", st.App)
	}
	v, err := a.loadView(ctx, c, st)
	if err != nil {
		return nil, err
	}
	a.view = v
	if v.relID == "" {
		return nil, failf("%v", drprotocol.ErrNoRelation)
	}
	if v.remoteErr != nil {
		return nil, failf("the other cluster's replication data is invalid: %v", v.remoteErr)
	}
	if v.remote.Empty() && v.remoteApp == "" {
		return nil, failf("%v", drprotocol.ErrRemoteNotReady)
	}
	if err := drprotocol.CheckCreate(v.local, v.remote, c.requireInitialised(st) == nil); err != nil {
		return nil, failf("%v", err)
	}
	if err := c.loadPasswords(ctx, st); err != nil {
		if msg, ok := asWaiting(err); ok {
			return nil, failf("%s", msg)
		}
		return nil, err
	}
	if modeOf(st) == modeStandalone {
		if err := a.checkOtherNotWritable(ctx, c, st, v); err != nil {
			return nil, err
		}
	}
	uri, err := a.shareCredentials(ctx, c, st, v)
	if err != nil {
		return nil, err
	}
	L := v.local
	if L.Epoch, err = drprotocol.NextEpoch(v.local, v.remote); err != nil {
		return nil, failf("%v", err)
	}
	L.Role = drprotocol.RolePrimary
	L.PrimaryEndpoint = endpointOf(st.PrimaryAddress())
	L.SystemID = st.AppData["system-id"]
	L.SecretID = uri
	L.Switchover, L.Demotion = nil, nil
	if err := a.publish(ctx, c, v, L); err != nil {
		return nil, err
	}
	setMode(st, modePrimary)
	st.SetApp(keyEpoch, strconv.FormatInt(L.Epoch, 10))
	for _, k := range []string{keyUpstream, keySeed, keySwitch, keyToken} {
		st.SetApp(k, "")
	}
	c.logf(ctx, slog.LevelInfo, "create-replication %q: this cluster is primary with epoch %d", name, L.Epoch)
	return map[string]string{
		"name":    name,
		"epoch":   strconv.FormatInt(L.Epoch, 10),
		"message": fmt.Sprintf("replication %q created: this cluster is the primary cluster (epoch %d); %s is re-seeded as its standby, watch its status", name, L.Epoch, v.remoteApp),
	}, nil
}

// checkOtherNotWritable refuses create-replication on a standalone read-only cluster while
// the other cluster may be writable: the claim would make this cluster writable at once, and
// the other one only stops taking writes when it sees the claim and re-seeds, so both would
// be writable for a while and what the other accepted in between would be lost. The cluster
// that holds the data to keep is the writable one: create-replication belongs there.
func (a *asyncRepl) checkOtherNotWritable(ctx context.Context, c *Charm, st *State, v *drView) error {
	// The remote application's name here is an alias (the offer's, or remote-<uuid>).
	other := "the other cluster"
	if v.remoteApp != "" {
		other += " (" + v.remoteApp + " in this model)"
	}
	there := fmt.Sprintf("run create-replication on the leader of %s instead (it keeps its data and this cluster is re-seeded from it); "+
		"to make this cluster's data the one kept, stop %s first, or promote this cluster on purpose with promote-to-primary scope=cluster", other, other)
	ep := v.remote.PrimaryEndpoint
	if ep == "" {
		return failf("this standalone cluster is read-only and %s has published no primary endpoint, so it cannot be told whether it is writable: %s", other, there)
	}
	w, err := c.openWorkload(ctx, st)
	if err != nil {
		return failf("the workload is not ready: %v", err)
	}
	writable, answered, err := a.probeWritable(ctx, st, w, ep)
	switch {
	case writable:
		return failf("this standalone cluster is read-only and %s is writable (%s): making this one primary would leave two writable clusters "+
			"until %s is re-seeded, and lose what it accepts meanwhile; %s", other, ep, other, there)
	case !answered:
		return failf("this standalone cluster is read-only and %s's primary %s does not answer (%v), so it cannot be told whether it is writable: %s",
			other, ep, err, there)
	}
	return nil
}

// shareCredentials creates (or updates) the secret with this cluster's credentials, grants
// it to the relation and returns its URI.
func (a *asyncRepl) shareCredentials(ctx context.Context, c *Charm, st *State, v *drView) (string, error) {
	content := sharedContent(st)
	uri, err := ownSecretURI(ctx, c)
	if err != nil {
		return "", err
	}
	if uri == "" {
		if uri, err = c.Tools.SecretAdd(ctx, hookenv.SecretAddArgs{Content: content, Label: ReplicationSecretLabel,
			Description: "credentials shared with the related PostgreSQL cluster (cross-regional replication)", Owner: "application"}); err != nil {
			return "", fmt.Errorf("secret-add: %w", err)
		}
	} else {
		cur, err := c.Tools.SecretGet(ctx, hookenv.SecretGetArgs{URI: uri})
		if err != nil || !equalMaps(cur, content) {
			if err := c.Tools.SecretSet(ctx, uri, content); err != nil {
				return "", fmt.Errorf("secret-set: %w", err)
			}
		}
	}
	if err := c.Tools.SecretGrant(ctx, uri, v.relID, ""); err != nil {
		return "", fmt.Errorf("secret-grant: %w", err)
	}
	return uri, nil
}

// updateSharedSecret brings the shared-credentials secret this cluster owns (if any) in step
// with its passwords, at once: set-password must reach the standby cluster without waiting
// for another hook here (the new revision raises secret-changed there).
func updateSharedSecret(ctx context.Context, c *Charm, st *State) error {
	uri, err := ownSecretURI(ctx, c)
	if err != nil || uri == "" {
		return err
	}
	want := sharedContent(st)
	if cur, err := c.Tools.SecretGet(ctx, hookenv.SecretGetArgs{URI: uri}); err == nil && equalMaps(cur, want) {
		return nil
	}
	if err := c.Tools.SecretSet(ctx, uri, want); err != nil {
		return fmt.Errorf("secret-set %s: %w", uri, err)
	}
	return nil
}

// sharedContent is what the shared secret holds: the passwords of SharedUsers only (the
// other model can read it; operator and monitoring stay in this cluster) and their pending
// changes (passwords.go), which the other cluster copies so that its units can log in
// whichever of the two the database holds; and this cluster's CA certificate.
func sharedContent(st *State) map[string]string {
	content := map[string]string{}
	for _, u := range SharedUsers {
		content[passwordKey(u)] = st.Passwords[u]
		if p := st.Pending[u]; p != "" {
			content[pendingKey(u)] = p
		}
	}
	if st.tls != nil && len(st.tls.trust) > 0 {
		// Public: the standby verifies this cluster's servers with it (tls.go).
		content[keyCACert] = string(st.tls.trust)
	}
	return content
}

// ownSecretURI is the full URI of the shared-credentials secret this cluster owns ("" when
// there is none yet).
func ownSecretURI(ctx context.Context, c *Charm) (string, error) {
	infos, err := c.Tools.SecretInfoGet(ctx, ReplicationSecretLabel)
	if errors.Is(err, hookenv.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("secret-info-get %s: %w", ReplicationSecretLabel, err)
	}
	if len(infos) == 0 {
		return "", nil
	}
	uri := infos[0].ID
	if !strings.HasPrefix(uri, "secret:") {
		// secret-info-get names secrets by their bare id: the other model needs the full URI.
		uri = "secret://" + c.Env.ModelUUID + "/" + uri
	}
	return uri, nil
}

// sameSecret reports whether two secret references name the same secret (a full URI and a
// secret:<id> form of it included).
func sameSecret(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	full := func(u string) bool { return strings.HasPrefix(u, "secret://") }
	if a == b || (full(a) && full(b)) {
		return a == b
	}
	id := func(u string) string { return u[strings.LastIndexAny(u, "/:")+1:] }
	return id(a) == id(b)
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// remotePrimary asks the other cluster's published primary whether it answers as a writable
// server.
func (a *asyncRepl) remotePrimary(ctx context.Context, st *State, w Workload, endpoint string) (postgres.Positions, error) {
	host, _, err := net.SplitHostPort(endpoint)
	if err != nil {
		return postgres.Positions{}, fmt.Errorf("no endpoint published")
	}
	cctx, cancel := context.WithTimeout(ctx, a.RemoteTimeout)
	defer cancel()
	db, err := w.Connect(cctx, host, remoteLogin(st))
	if err != nil {
		return postgres.Positions{}, err
	}
	defer db.Close(ctx)
	pos, err := db.Positions(cctx)
	if err != nil {
		return pos, err
	}
	if pos.InRecovery {
		return pos, errors.New("it is not writable")
	}
	return pos, nil
}

// MaxSwitchoverLag bounds how far (in WAL bytes) the standby leader may be behind the primary
// cluster when a planned switchover is requested: the old primary stays down until it has
// caught up.
const MaxSwitchoverLag = 256 << 20

// headPositions reads the standby leader's WAL positions.
func (a *asyncRepl) headPositions(ctx context.Context, st *State, w Workload) (postgres.Positions, error) {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	db, err := w.Connect(cctx, st.PrimaryAddress(), selfLogin(st))
	if err != nil {
		return postgres.Positions{}, err
	}
	defer db.Close(ctx)
	return db.Positions(cctx)
}

// promoteCluster is promote-to-primary scope=cluster on the leader of a standby cluster.
func (a *asyncRepl) promoteCluster(ctx context.Context, c *Charm, st *State, force bool) error {
	if !st.Leader {
		return failf("promote-to-primary scope=cluster must run on the leader (juju run %s/leader promote-to-primary scope=cluster)", st.App)
	}
	v, err := a.loadView(ctx, c, st)
	if err != nil {
		return err
	}
	a.view = v
	mode := modeOf(st)
	if err := c.loadPasswords(ctx, st); err != nil {
		if msg, ok := asWaiting(err); ok {
			return failf("%s", msg)
		}
		return err
	}
	w, err := c.openWorkload(ctx, st)
	if err != nil {
		return failf("the workload is not ready: %v", err)
	}
	if v.relID == "" || mode == modeStandalone {
		if mode != modeStandalone {
			return failf("%v", drprotocol.ErrNoRelation)
		}
		return a.promoteStandalone(ctx, c, st, w)
	}
	if v.remoteErr != nil {
		return failf("the other cluster's replication data is invalid: %v", v.remoteErr)
	}
	L, R := v.local, v.remote
	epoch, err := drprotocol.NextEpoch(L, R)
	if err != nil {
		return failf("%v", err)
	}
	// Action ids are unique within one model only: the epoch makes the request id unique
	// across both.
	id := fmt.Sprintf("promote-%s-e%d", c.Env.ActionUUID, epoch)
	if c.Env.ActionUUID == "" {
		id = fmt.Sprintf("promote-%d-e%d", c.Now().Unix(), epoch)
	}
	if drprotocol.PrimarySide(L, R, v.offers) == drprotocol.Local && (mode == modePrimary || L.Role == drprotocol.RolePrimary) {
		return failf("this cluster is already the primary cluster (epoch %d): run promote-to-primary on the standby cluster's leader", L.Epoch)
	}
	if err := a.checkPromoteMode(st, mode, L, R, force); err != nil {
		return err
	}
	if mode == modePromoting {
		// Forced over a planned switchover that stalled: the other cluster is lost after
		// publishing its token. The request is replaced by the forced claim.
		L.Switchover = nil
	}
	remotePos, reachErr := a.remotePrimary(ctx, st, w, R.PrimaryEndpoint)
	if mode == modePromoting && reachErr == nil {
		return failf("the primary cluster at %s answers writable again (it rolled back): this cluster abandons its switchover and follows it", R.PrimaryEndpoint)
	}
	if reachErr != nil && !force {
		lag := a.lagReport(ctx, c, st, w)
		return failf("the primary cluster at %s is unreachable (%v). A planned switchover needs it to shut down cleanly. "+
			"Pass force=true to promote anyway: what it committed and had not sent here would be lost (%s)", R.PrimaryEndpoint, reachErr, lag)
	}
	if err := drprotocol.CheckPromote(L, R, v.offers, reachErr == nil, force); err != nil {
		return failf("%v", err)
	}
	if reachErr == nil {
		return a.requestSwitchover(ctx, c, st, w, v, L, remotePos, id, epoch)
	}
	return a.forcePromotion(ctx, c, st, w, v, L, reachErr, id, epoch)
}

// checkPromoteMode refuses promote-to-primary scope=cluster in the modes it cannot start
// from. It never suggests force=true while the other cluster is handing over: it is there,
// only shut down on purpose.
func (a *asyncRepl) checkPromoteMode(st *State, mode drMode, L, R drprotocol.AppData, force bool) error {
	switch {
	case mode == modePromoting && !force:
		return failf("a switchover to this cluster is already in progress (%s): it promotes once this cluster has replayed the other cluster's "+
			"shutdown checkpoint, or gives up within %s and the other cluster rolls back", st.AppData[keySwitch], a.promoteWithin())
	case mode == modePromoting:
		return nil
	case L.Switchover != nil:
		return failf("a switchover to this cluster is already in progress (request %s, epoch %d): watch the status", L.Switchover.ID, L.Switchover.Epoch)
	case mode != modeStandby:
		return failf("this cluster is not a standby of the other cluster (mode %q): create-replication first", string(mode))
	case !force && (R.Role == drprotocol.RoleDemoting || R.Role == drprotocol.RoleDemoted):
		return failf("the primary cluster is handing over (role %s) for a request this cluster no longer makes: "+
			"try again once it has rolled back and is primary again", R.Role)
	}
	return nil
}

// promoteStandalone makes a standalone former standby cluster writable.
func (a *asyncRepl) promoteStandalone(ctx context.Context, c *Charm, st *State, w Workload) error {
	setMode(st, modeNone)
	res := map[string]string{"message": "this standalone cluster is promoted: its standby leader becomes a writable primary"}
	if running, err := w.Running(ctx); err == nil && running && st.Primary() == st.Unit {
		id := fmt.Sprintf("promote-standalone-%d", c.Now().Unix())
		if _, err := a.promoteHead(ctx, c, st, w, &drSwitch{ID: id, Force: true}); err != nil {
			return actionErr(err)
		}
		res["message"] = "this standalone cluster is now writable"
	}
	return c.Tools.ActionSet(ctx, res)
}

// requestSwitchover asks the primary cluster to hand over; the rest happens in hooks.
func (a *asyncRepl) requestSwitchover(ctx context.Context, c *Charm, st *State, w Workload, v *drView, L drprotocol.AppData,
	remotePos postgres.Positions, id string, epoch int64) error {
	head, err := a.headPositions(ctx, st, w)
	if err != nil {
		return failf("the standby leader %s does not answer: %v", st.Primary(), err)
	}
	if !head.InRecovery {
		return failf("the standby leader %s is not a standby", st.Primary())
	}
	if last := max(head.Received, head.Replayed); remotePos.Current > last && remotePos.Current-last > MaxSwitchoverLag {
		return failf("this cluster is %d MiB behind the primary cluster (replayed %s, primary at %s): the primary cluster would stay down "+
			"while it catches up; try again when the lag is under %d MiB", (remotePos.Current-last)>>20, head.Replayed, remotePos.Current, MaxSwitchoverLag>>20)
	}
	L.Switchover = &drprotocol.Switchover{Epoch: epoch, ID: id}
	if err := a.publish(ctx, c, v, L); err != nil {
		return err
	}
	sw := &drSwitch{ID: id, Epoch: epoch, Since: c.Now().Unix()}
	st.SetApp(keySwitch, sw.encode())
	a.scheduleBounds(st, modeStandby, sw, true)
	return c.Tools.ActionSet(ctx, map[string]string{
		"request-id": id,
		"epoch":      strconv.FormatInt(epoch, 10),
		"message": "switchover requested: the primary cluster shuts down cleanly and publishes its checkpoint, " +
			"then this cluster promotes once it has replayed past it; watch the status",
	})
}

// forcePromotion: the primary cluster is gone; promote now and say what may be lost.
func (a *asyncRepl) forcePromotion(ctx context.Context, c *Charm, st *State, w Workload, v *drView, L drprotocol.AppData,
	reachErr error, id string, epoch int64) error {
	sw := &drSwitch{ID: id, Epoch: epoch, Since: c.Now().Unix(), Force: true}
	res := map[string]string{"request-id": id, "epoch": strconv.FormatInt(epoch, 10)}
	if st.Primary() != st.Unit {
		// The head promotes in its next hook: it must be there to.
		head := st.Primary()
		if head == "" || !st.HasPeer(head) {
			return failf("this cluster has no standby leader to promote (%q is not a unit of it): wait until the leader has chosen one", head)
		}
		pos, err := a.headPositions(ctx, st, w)
		if err != nil {
			return failf("the standby leader %s does not answer (%v): a forced promotion promotes it, so it must be up; "+
				"wait for it to return, or for this cluster's leader to choose another", head, err)
		}
		if !pos.InRecovery {
			return failf("the standby leader %s is not a standby", head)
		}
		if mode := modeOf(st); mode == modePromoting {
			L.Switchover = nil
			if err := a.publish(ctx, c, v, L); err != nil {
				return err
			}
		}
		st.SetApp(keyToken, "") // a forced claim gates on nothing
		st.SetApp(keySwitch, sw.encode())
		setMode(st, modePromoting)
		a.scheduleBounds(st, modePromoting, sw, false)
		// The head's positions now: the primary cluster is gone, so it receives no more
		// before it promotes; what it has not received is what the promotion loses.
		rpo(res, pos)
		res["message"] = fmt.Sprintf("forced promotion requested: the standby leader %s promotes at once; "+
			"transactions the old primary cluster committed after %s were not received here and are lost (replayed %s)",
			head, pos.Received, pos.Replayed)
		c.logf(ctx, slog.LevelWarn, "forced promotion %s: %s", id, res["message"])
		return c.Tools.ActionSet(ctx, res)
	}
	pos, err := a.promoteHead(ctx, c, st, w, sw)
	if err != nil {
		return actionErr(err)
	}
	L.Epoch, L.Role, L.Switchover, L.Demotion = epoch, drprotocol.RolePrimary, nil, nil
	L.PrimaryEndpoint = endpointOf(st.PrimaryAddress())
	if err := a.publish(ctx, c, v, L); err != nil {
		return err
	}
	setMode(st, modePrimary)
	st.SetApp(keyEpoch, strconv.FormatInt(epoch, 10))
	for _, k := range []string{keySwitch, keyToken, keySeed} {
		st.SetApp(k, "")
	}
	a.scheduleBounds(st, modePrimary, nil, false)
	rpo(res, pos)
	res["message"] = fmt.Sprintf("forced promotion: this cluster is primary (epoch %d). The old primary cluster was unreachable (%v); "+
		"transactions it committed after %s were not received here and are lost; it fences itself and follows when it returns",
		epoch, reachErr, pos.Received)
	c.logf(ctx, slog.LevelWarn, "forced promotion %s: %s", id, res["message"])
	return c.Tools.ActionSet(ctx, res)
}

func rpo(res map[string]string, pos postgres.Positions) {
	res["received-lsn"] = pos.Received.String()
	res["replayed-lsn"] = pos.Replayed.String()
	behind := int64(0)
	if pos.Received > pos.Replayed {
		behind = int64(pos.Received - pos.Replayed)
	}
	res["unreplayed-bytes"] = strconv.FormatInt(behind, 10)
	res["seconds-behind"] = strconv.FormatFloat(pos.ReplayLag.Seconds(), 'f', 1, 64)
}

// lagReport describes the standby leader's position, for the messages about what force risks.
func (a *asyncRepl) lagReport(ctx context.Context, c *Charm, st *State, w Workload) string {
	addr := st.PrimaryAddress()
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	db, err := w.Connect(cctx, addr, selfLogin(st))
	if err != nil {
		return "the standby leader does not answer: " + err.Error()
	}
	defer db.Close(ctx)
	pos, err := db.Positions(cctx)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("last received %s, replayed %s, last replayed transaction %.1fs ago", pos.Received, pos.Replayed, pos.ReplayLag.Seconds())
}

// actionErr turns a waiting step into an action failure.
func actionErr(err error) error {
	if msg, ok := asWaiting(err); ok {
		return failf("%s", msg)
	}
	return err
}
