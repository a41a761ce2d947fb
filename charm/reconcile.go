package charm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/hookenv"
	"github.com/jujulet/postgresql-k8s/internal/pgwatch"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// Reconcile converges this unit (and, on the leader, the cluster records) on the desired
// state. It is idempotent: every hook runs it.
func (c *Charm) Reconcile(ctx context.Context) error {
	endRead := hookenv.StartSpan(ctx, "charm readState")
	st, err := c.readState(ctx)
	endRead()
	if err != nil {
		return err
	}
	if st.Leaving {
		return nil // stopped for good at its own departure; never restarted
	}
	inputs := inputsDigest(st)
	if c.Env.HookName == hookUpdateStatus {
		endSteady := hookenv.StartSpan(ctx, "charm steady")
		steady, why := c.steadyUpdateStatus(ctx, st, inputs)
		endSteady()
		if steady {
			c.logf(ctx, slog.LevelDebug, "update-status: steady, nothing to do")
			return c.flushWith(ctx, st) // what readState recorded, if anything
		}
		c.logf(ctx, slog.LevelDebug, "update-status: a full reconcile (%s)", why)
	}
	endRec := hookenv.StartSpan(ctx, "charm reconcile")
	err = c.reconcile(ctx, st)
	st.early.close(ctx)
	endRec()
	if err != nil && isNotReady(err) {
		// The pod went away under this hook; pebble-ready comes when it is back.
		err = waiting("lost the postgresql container: %v", err)
		st.workload = nil
	}
	msg, isWaiting := asWaiting(err)
	c.scheduleRetry(st, isWaiting)
	c.recordSteady(ctx, st, inputs, err)
	// The statuses go with the hook's last writes, in one round, and only when they change.
	if isWaiting {
		c.logf(ctx, slog.LevelInfo, "waiting: %s", msg)
		st.statuses = []statusWrite{{status: "waiting", message: msg}}
	}
	var statuses []func() error
	for _, s := range st.statuses {
		if cur, ok := st.shown[s.app]; ok && cur.Status == s.status && cur.Message == s.message && (s.app || !c.unitStatusSet.Load()) {
			continue
		}
		statuses = append(statuses, func() error {
			if s.app {
				return c.appStatus(ctx, s.status, s.message)
			}
			return c.status(ctx, s.status, s.message)
		})
	}
	defer hookenv.StartSpan(ctx, "charm flush")()
	if isWaiting {
		return c.flushWith(ctx, st, statuses...)
	}
	if ferr := c.flushWith(ctx, st, statuses...); ferr != nil && err == nil {
		err = ferr
	}
	return err
}

// statusWrite is a status this hook sets with its last writes.
type statusWrite struct {
	app             bool
	status, message string
}

func (c *Charm) reconcile(ctx context.Context, st *State) error {
	if st.ConfigErr != nil {
		// Nothing is restarted or rewritten with a config we cannot honour.
		return c.status(ctx, "blocked", "invalid config: "+st.ConfigErr.Error())
	}
	if st.PeerRelID == "" {
		return waiting("waiting for the peer relation")
	}
	if st.Address == "" {
		return waiting("waiting for the unit's network address")
	}
	st.SetMine("address", st.Address)
	// The secret (a hook tool) and the workload (Pebble) are independent: ask both at once.
	var w Workload
	var werr error
	err := parallel(
		func() error { return c.loadPasswords(ctx, st) },
		func() error { w, werr = c.openHookWorkload(ctx, st); return nil },
	)
	if err != nil {
		return err
	}
	err = werr
	if err != nil {
		if isNotReady(err) {
			return waiting("waiting for the postgresql container: %v", err)
		}
		return fmt.Errorf("open workload: %w", err)
	}
	st.workload = w
	c.trustWorkload(st, w)
	// The sessions the steps below are about to need open meanwhile. The trust may still
	// change (placeTLS): a session is taken only if it was verified with the CA of then.
	c.openEarly(ctx, st, w, st.Address, selfLogin(st))
	if p := st.Primary(); st.Leader && p != "" && p != st.Unit {
		c.openEarly(ctx, st, w, primaryAddress(st, p), selfLogin(st))
	}
	// The certificates relation decides which server certificate placeTLS places.
	if err := c.certificatesStep(ctx, st); err != nil {
		return err
	}
	// Certificates and CA files first: seeding, rewinding and the server itself need them.
	if _, err := c.placeTLS(ctx, st, w); err != nil {
		return err
	}
	// The timers and the watcher are independent Pebble calls: both at once (only the
	// watcher can fail).
	watchErr := parallel(
		func() error { c.loadTimers(ctx, st, w); return nil },
		func() error { return w.EnsureWatcher(ctx) },
	)
	if watchErr != nil {
		if isNotReady(watchErr) {
			return waiting("lost the postgresql container: %v", watchErr)
		}
		// Timers then wait for other hooks: said loudly, but the database is served.
		c.logf(ctx, slog.LevelWarn, "the watcher service does not run, timers fire only with other hooks: %v", watchErr)
	}
	if !st.Leader {
		st.setPrimaryDown("", time.Time{}) // a confirmation is the leader's own
	}
	if st.Leader {
		if err := c.leaderDuties(ctx, st, w); err != nil {
			return err
		}
		c.finishPasswordChanges(ctx, st, w)
	}
	if err := c.switchoverStep(ctx, st, w); err != nil {
		return err
	}
	if err := c.extension().step(ctx, c, st, w); err != nil {
		return err
	}
	if err := c.readClients(ctx, st); err != nil {
		return err
	}
	role := c.DesiredRole(ctx, st)
	c.reportUpstream(ctx, st, role)
	if err := c.applyRole(ctx, st, w, role); err != nil {
		return err
	}
	if err := c.serveClients(ctx, st, w); err != nil {
		return err
	}
	c.certificatesStatus(st)
	c.publishTLSSource(st)
	if st.Leader {
		status, msg := c.extension().appStatus(st)
		st.statuses = append(st.statuses, statusWrite{app: true, status: status, message: msg})
	}
	return nil
}

// settings renders the configured PostgreSQL settings for this unit.
func (c *Charm) settings(ctx context.Context, st *State, w Workload) postgres.Settings {
	mem := 0
	if st.Config.Profile == "production" {
		mem, _ = w.MemoryMB(ctx)
	}
	s := st.Config.Settings(st.App, mem)
	s.TLS = true // always: there is no cleartext mode (tls.go)
	return s
}

// hbaRules admits the system users from the cluster's own units only: the charm's
// AdminUser with its client certificate, operator and monitoring with their passwords
// (humans and agents on the units), replication and rewind for streaming and pg_rewind. Nothing admits a system user from everywhere: the other
// cluster's units get replication and rewind only (extraHBA), clients their own users only.
func (c *Charm) hbaRules(st *State) []postgres.HBARule {
	var rules []postgres.HBARule
	for _, a := range c.ownAddresses(st) {
		cidr := hostCIDR(a)
		rules = append(rules,
			postgres.HBARule{Type: "hostssl", Database: "all", User: AdminUser, Address: cidr, Method: "cert"},
			postgres.HBARule{Type: "hostssl", Database: "all", User: "operator", Address: cidr, Method: "scram-sha-256"},
			postgres.HBARule{Type: "hostssl", Database: "all", User: "monitoring", Address: cidr, Method: "scram-sha-256"})
		rules = append(rules, streamingHBA(a)...)
	}
	rules = append(rules, c.extension().extraHBA(st)...)
	return append(rules, c.clientHBA(st)...)
}

// ownAddresses are the addresses of the cluster's units, sorted; on one host (jujulet) every
// unit has its own loopback address, but connections between them (and from the host) leave
// from the interface's primary address 127.0.0.1, which is added for loopback units.
func (c *Charm) ownAddresses(st *State) []string {
	addrs := map[string]bool{}
	for _, u := range append([]string{st.Unit}, st.Peers...) {
		if a := st.AddressOf(u); a != "" {
			addrs[a] = true
		}
	}
	list := make([]string, 0, len(addrs)+1)
	for a := range addrs {
		list = append(list, a)
	}
	sort.Strings(list)
	if !addrs["127.0.0.1"] && slices.ContainsFunc(list, func(a string) bool { return strings.HasPrefix(a, "127.") }) {
		list = append(list, "127.0.0.1")
	}
	return list
}

// streamingHBA admits the replication and rewind users from one address: what a unit that
// streams from this one (or rewinds onto it) needs.
func streamingHBA(addr string) []postgres.HBARule {
	cidr := hostCIDR(addr)
	return []postgres.HBARule{
		{Type: "hostssl", Database: "replication", User: "replication", Address: cidr, Method: "scram-sha-256"},
		{Type: "hostssl", Database: "postgres", User: "rewind", Address: cidr, Method: "scram-sha-256"},
	}
}

// hostCIDR is the one-address CIDR of addr (IPv4 or IPv6).
func hostCIDR(addr string) string {
	if strings.Contains(addr, ":") {
		return addr + "/128"
	}
	return addr + "/32"
}

func (c *Charm) passEntries(st *State) []postgres.PassEntry {
	var out []postgres.PassEntry
	for _, u := range SystemUsers {
		out = append(out, postgres.PassEntry{User: u, Password: st.Passwords[u]})
	}
	return out
}

func (c *Charm) systemRoles(st *State) []postgres.Role {
	return []postgres.Role{
		{Name: "operator", Password: st.Passwords["operator"], Attributes: []string{"SUPERUSER"}},
		{Name: "replication", Password: st.Passwords["replication"], Attributes: []string{"REPLICATION"}, Grants: postgres.ReplicationGrants},
		{Name: "rewind", Password: st.Passwords["rewind"], Grants: postgres.RewindGrants},
		{Name: "monitoring", Password: st.Passwords["monitoring"], Grants: []string{"GRANT pg_monitor TO %s"}},
	}
}

// prepare writes pg_hba.conf and the Pebble layer (idempotent; the passfile is written first
// by the callers). upstream is host:port of the server this unit streams from ("" for a
// primary): its check tells this unit when the upstream is lost.
func (c *Charm) prepare(ctx context.Context, st *State, w Workload, upstream string) (hbaChanged bool, err error) {
	rules := c.hbaRules(st)
	// The file and the plan are independent: both at once (the file's error first).
	err = parallel(
		func() (err error) { hbaChanged, err = w.WriteHBA(ctx, rules); return err },
		func() error { return w.PlanLayer(ctx, postgres.LayerOptions{Upstream: upstream}) },
	)
	if err != nil {
		return false, err
	}
	return hbaChanged, nil
}

// prepareAndRunning is prepare, and whether Pebble runs the server, asked at once (writing the
// file and the plan does not start or stop the service).
func (c *Charm) prepareAndRunning(ctx context.Context, st *State, w Workload, upstream string) (hbaChanged, running bool, err error) {
	err = parallel(
		func() (err error) { hbaChanged, err = c.prepare(ctx, st, w, upstream); return err },
		func() (err error) { running, err = w.Running(ctx); return err },
	)
	return hbaChanged, running, err
}

func (c *Charm) applyRole(ctx context.Context, st *State, w Workload, role Role) error {
	switch role.Kind {
	case RoleWait:
		return waiting("%s", role.Status)
	case RoleStopped:
		if running, err := w.Running(ctx); err != nil {
			return err
		} else if running {
			if _, err := w.Stop(ctx); err != nil {
				return err
			}
		}
		return c.status(ctx, "maintenance", role.Status)
	case RolePrimary:
		if _, err := c.placeTLS(ctx, st, w); err != nil {
			return err
		}
		if err := c.runPrimary(ctx, st, w, &role); err != nil {
			return err
		}
	case RoleReplica:
		if _, err := c.placeTLS(ctx, st, w); err != nil {
			return err
		}
		if err := c.runReplica(ctx, st, w, role); err != nil {
			return err
		}
	case RoleReadOnly:
		if _, err := c.placeTLS(ctx, st, w); err != nil {
			return err
		}
		if err := c.runReadOnly(ctx, st, w, role); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown role %q", role.Kind)
	}
	if st.MyData["version"] == "" {
		if err := c.Tools.OpenPort(ctx, PGPort, "tcp"); err != nil {
			return fmt.Errorf("open-port: %w", err)
		}
	}
	// Done once per unit (and after an image upgrade): "version" in the peer unit bucket.
	if v := w.Version(); v != "" && v != "0" && st.MyData["version"] != v {
		if err := c.Tools.ApplicationVersionSet(ctx, v); err != nil {
			return fmt.Errorf("application-version-set: %w", err)
		}
		st.SetMine("version", v)
	}
	level := "active"
	if role.StatusLevel != "" {
		level = role.StatusLevel
	}
	st.SetLocal(localTLSReload, "") // the role's run reloaded or started the server
	if st.tlsProblem != "" && level == "active" {
		level, role.Status = "blocked", role.Status+"; "+st.tlsProblem
	}
	st.statuses = append(st.statuses, statusWrite{status: level, message: role.Status})
	return nil
}

// runPrimary makes this unit's server the writable primary: initdb on first start, promote
// a standby that was named primary, then users, slots and the synchronous standbys (whose
// state becomes role's status).
func (c *Charm) runPrimary(ctx context.Context, st *State, w Workload, role *Role) error {
	init, err := w.IsInitialised(ctx)
	if err != nil {
		return err
	}
	if !init {
		if st.AppData["system-id"] != "" {
			// Never initdb a second, unrelated cluster under an existing one's name.
			return c.status(ctx, "blocked", "named primary but this unit has no data: remove the unit or promote another one")
		}
		if st.secretCreated {
			// What the database depends on must be in a committed secret first: the cluster
			// CA that signs charm_admin's certificates, and the passwords ensureSystemRoles
			// sets. A hook that died after initdb would leave a cluster nobody can log in
			// to. The secret commits when this hook ends; initdb runs in the next.
			st.WakeAt(timerRetry, c.Now())
			return waiting("committing the passwords secret before initdb")
		}
		if err := c.status(ctx, "maintenance", "initialising the database (initdb)"); err != nil {
			return err
		}
		if err := w.InitDB(ctx, postgres.Login{User: AdminUser}); err != nil {
			return err
		}
	}
	if err := w.WritePassfile(ctx, c.passEntries(st)); err != nil {
		return err
	}
	hbaChanged, running, err := c.prepareAndRunning(ctx, st, w, "")
	if err != nil {
		return err
	}
	// A running primary's synchronous standbys are decided from pg_stat_replication before the
	// config is written, so that one write and one reload apply them.
	var db DB
	if running {
		if db, err = c.connectSelf(ctx, st, w); err != nil {
			db = nil // reported below if it persists
		} else {
			defer db.Close(ctx)
		}
	}
	plan := c.readSyncPlan(ctx, st, db)
	settings := c.settings(ctx, st, w)
	settings.SynchronousStandbyNames = plan.names
	confChanged, err := w.WriteConf(ctx, settings)
	if err != nil {
		return err
	}
	// A reload that did not happen (a failed hook) shows as a live value that differs.
	confChanged = confChanged || hbaChanged || tlsReloadPending(st) || (plan.known && plan.live != plan.names)
	if !running {
		if err := c.startPrimary(ctx, st, w, init); err != nil {
			return err
		}
		if err := c.waitReady(ctx, w, st); err != nil {
			return err
		}
	} else if confChanged {
		if err := w.Reload(ctx); err != nil {
			return err
		}
	}
	if db == nil {
		if db, err = c.connectSelf(ctx, st, w); err != nil {
			return waiting("PostgreSQL not accepting connections yet: %v", err)
		}
		defer db.Close(ctx)
	}
	pos, err := db.Positions(ctx)
	if err != nil {
		return err
	}
	if pos.InRecovery {
		if err := c.promoteNamedPrimary(ctx, st, w, db, pos); err != nil {
			return err
		}
		if pos, err = db.Positions(ctx); err != nil { // the new timeline
			return err
		}
	}
	st.SetMine(keyRestarted, "")
	if err := c.ensureSystemRoles(ctx, st, db, pos.Timeline, !init); err != nil {
		return err
	}
	if err := c.reconcileSlots(ctx, st, db); err != nil {
		return err
	}
	if role.StatusLevel, role.Status, err = c.publishSync(ctx, st, db, plan); err != nil {
		return err
	}
	st.SetMine("demoted", "")
	// The shape this run verified, for a steady update-status (steady.go).
	if o, err := db.Observe(ctx); err == nil {
		st.observedSelf(o)
	}
	if st.Leader && st.AppData["system-id"] == "" {
		cd, err := w.ControlData(ctx)
		if err != nil {
			return err
		}
		st.SetApp("system-id", cd.SystemID)
	}
	return nil
}

// startPrimary starts a named primary's stopped server: never writable while the unit it
// handed over to (a rolled-back switchover) answers writable, and read-only after an
// unplanned stop until the leader confirms it (promoteNamedPrimary).
func (c *Charm) startPrimary(ctx context.Context, st *State, w Workload, init bool) error {
	// Back from a switchover that was rolled back: never start writable while the
	// target we handed over to answers as a primary.
	var d Demotion
	if raw := st.MyData["demoted"]; raw != "" && json.Unmarshal([]byte(raw), &d) == nil && d.To != "" {
		if c.writable(ctx, st, w, d.To) {
			return waiting("switchover to %s was rolled back but it is writable: not starting", d.To)
		}
	}
	// A primary with peers that finds its server stopped (its pod restarted, it crashed)
	// may have been replaced while it was down: the leader may be failing over right
	// now, from a view of the app data newer than this hook's. It starts read-only, so
	// that the leader's probe sees it answer, and is promoted only once the leader,
	// which alone fails over, has confirmed it is still the primary (keyRestarted;
	// chaos finding F6). The leader itself needs no confirmation.
	if init && len(st.Peers) > 0 && !st.Leader {
		if err := w.WriteStandbySignal(ctx); err != nil {
			return err
		}
		st.SetMine(keyRestarted, strconv.FormatInt(c.Now().UnixMilli(), 10))
		c.logf(ctx, slog.LevelWarn, "primary found stopped: starting read-only until the leader confirms it is still the primary")
	}
	if err := c.status(ctx, "maintenance", "starting PostgreSQL"); err != nil {
		return err
	}
	// A standby named primary starts as a standby and is promoted (new timeline); it never
	// starts writable on its old timeline.
	if err := c.tlsBeforeStart(ctx, st, w); err != nil {
		return err
	}
	if err := w.Start(ctx); err != nil {
		return startFailed(err)
	}
	return nil
}

// promoteNamedPrimary promotes a named primary whose server is in recovery (a replica chosen
// by a failover or a switchover, or a primary restarted read-only): never while another unit
// answers writable, nor before the leader confirmed a restarted one.
func (c *Charm) promoteNamedPrimary(ctx context.Context, st *State, w Workload, db DB, pos postgres.Positions) error {
	if nonce := st.MyData[keyRestarted]; nonce != "" && !st.Leader && st.AppData[keyRestartConfirmed] != st.Unit+"@"+nonce {
		return waiting("restarted read-only after an unplanned stop: waiting for the leader to confirm this unit is still the primary")
	}
	if u := c.writablePeer(ctx, st, w); u != "" {
		// The leader's record moved on and this hook's view is older, or the other
		// side of a restart: never a second writable server.
		return waiting("not promoting: %s answers writable", u)
	}
	if err := c.status(ctx, "maintenance", "promoting to primary"); err != nil {
		return err
	}
	if err := db.Promote(ctx); err != nil {
		return err
	}
	c.logf(ctx, slog.LevelInfo, "promoted to primary (was replaying %s)", pos.Replayed)
	// Where the new timeline starts: a replica is a hand-off target only once it streams
	// past it (startHandOff).
	st.SetLocal(localPromotedAt, pos.Replayed.String())
	return nil
}

// ensureSystemRoles creates or updates the system users when their passwords changed, the
// cluster is new, or this server became primary since it last did (timeline tli, or a new
// epoch of cross-regional replication). The last case matters to a cluster promoted from a
// standby of another cluster: its servers hold that cluster's roles (a copy of its data),
// while its own secret keeps its own operator and monitoring passwords, which it sets now
// (they are committed in its secret already, so nobody is locked out). A user whose password
// change is pending is left to the leader (passwords.go): its database may hold the new
// password already.
func (c *Charm) ensureSystemRoles(ctx context.Context, st *State, db DB, tli int, fresh bool) error {
	key := rolesKey(st, tli)
	if st.MyData["roles"] == key && !fresh {
		return nil
	}
	for _, r := range c.systemRoles(st) {
		if _, pending := st.Pending[r.Name]; pending && !fresh {
			continue
		}
		if err := db.EnsureRole(ctx, r); err != nil {
			return err
		}
	}
	st.SetMine("roles", key)
	return nil
}

// rolesKey identifies the system roles a primary set: its passwords, and the primary term
// (the cross-regional epoch and the timeline, both new after any promotion).
func rolesKey(st *State, tli int) string {
	return fmt.Sprintf("%s/%s/%d", passwordsFingerprint(st.Passwords), st.AppData[keyEpoch], tli)
}

func (c *Charm) waitReady(ctx context.Context, w Workload, st *State) error {
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := w.WaitReady(wctx, selfLogin(st)); err != nil && !adminMissing(err) {
		return waiting("PostgreSQL is starting: %v", err)
	}
	return nil // up; a missing AdminUser is created by connectSelf
}

// reconcileSlots creates a slot per peer and drops the slots of units that left.
func (c *Charm) reconcileSlots(ctx context.Context, st *State, db DB) error {
	want := map[string]bool{}
	for _, u := range st.Peers {
		want[postgres.SlotName(u)] = true
	}
	slots, err := db.ListSlots(ctx)
	if err != nil {
		return err
	}
	// Only a departure drops a slot: a new unit creates its own slot on the primary before
	// this unit has seen it join, so "not in relation-list" does not mean "gone".
	gone := ""
	if d := c.Env.DepartingUnit; d != "" && d != st.Unit {
		gone = postgres.SlotName(d)
	}
	have := map[string]bool{}
	for _, s := range slots {
		have[s.Name] = true
		if s.Name == gone {
			if err := db.DropSlot(ctx, s.Name); err != nil {
				return err
			}
			c.logf(ctx, slog.LevelInfo, "dropped replication slot %s of departed unit %s", s.Name, c.Env.DepartingUnit)
		}
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !have[n] {
			if err := db.CreateSlot(ctx, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// inClusterProbeTimeout bounds a replica's session to its upstream when it compares their
// histories (runReplica).
const inClusterProbeTimeout = 3 * time.Second

// runReplica makes this unit's server stream from role's upstream: seed with pg_basebackup
// when empty, fence and rewind a server that was writable, re-point a running standby, and
// rewind one that streams nothing because it diverged.
func (c *Charm) runReplica(ctx context.Context, st *State, w Workload, role Role) error {
	slot := role.Slot
	if slot == "" {
		slot = postgres.SlotName(st.Unit)
	}
	up := postgres.Upstream{Host: role.UpstreamAddr, Port: role.UpstreamPort, User: "replication", Slot: slot, AppName: slot,
		Remote: c.isRemoteHost(st, role.UpstreamAddr)}
	// The passfile and the data's presence are independent: both at once (the passfile's
	// error first).
	var init bool
	err := parallel(
		func() error {
			return w.WritePassfile(ctx, append(append([]postgres.PassEntry(nil), role.UpstreamPass...), c.passEntries(st)...))
		},
		func() (err error) { init, err = w.IsInitialised(ctx); return err },
	)
	if err != nil {
		return err
	}
	if !init {
		if err := c.seed(ctx, st, w, role, up); err != nil {
			return err
		}
	}
	hbaChanged, running, err := c.prepareAndRunning(ctx, st, w, net.JoinHostPort(role.UpstreamAddr, strconv.Itoa(role.UpstreamPort)))
	if err != nil {
		return err
	}
	settings := c.settings(ctx, st, w)
	settings.SynchronousStandbyNames = replicaSyncNames(st)
	// Only a primary's record counts; a stale one must never be read as this unit's.
	st.SetMine(keySyncStandbys, "")
	fenced := false
	if running {
		stopped, err := c.checkRunningReplica(ctx, st, w, role, slot)
		if err != nil {
			return err
		}
		running, fenced = !stopped, stopped
	}
	if running && st.MyData[keyRestarted] != "" {
		c.logf(ctx, slog.LevelWarn, "restarted read-only as the primary, but %s is the primary now: stopping to follow it", role.UpstreamUnit)
		if _, err := w.Stop(ctx); err != nil {
			return err
		}
		running, fenced = false, true
	}
	if running {
		changed, err := w.WriteConf(ctx, withUpstream(settings, up))
		if err != nil {
			return err
		}
		if (hbaChanged || tlsReloadPending(st)) && !changed {
			if err := w.Reload(ctx); err != nil {
				return err
			}
		}
		if changed {
			if err := w.Reload(ctx); err != nil {
				return err
			}
			// Best effort: the primary also creates a slot for every peer it sees.
			if err := c.ensureUpstreamSlot(ctx, st, w, role, slot, false); err != nil {
				c.logf(ctx, slog.LevelInfo, "slot on %s not created yet: %v", role.UpstreamUnit, err)
			}
		}
		return nil
	}
	// A server that was a standby (or was just seeded) never ran ahead of the replicas'
	// common history; one that ran as primary may have, and is checked (and rewound).
	wasStandby, err := w.IsStandbyConfigured(ctx)
	if err != nil {
		return err
	}
	// A primary that restarted read-only (runPrimary) and was replaced meanwhile may hold
	// WAL its replacement never received: it is checked (and rewound) like a writable one.
	restarted := st.MyData[keyRestarted] != ""
	if (!wasStandby || restarted) && init {
		// A postmaster that outlived its Pebble must be down before pg_rewind reads the data.
		if !fenced {
			if _, err := w.Stop(ctx); err != nil {
				return err
			}
		}
		if err := c.makeFollower(ctx, st, w, role, up); err != nil {
			return err
		}
	}
	if _, err := w.WriteHBA(ctx, c.hbaRules(st)); err != nil { // a rewind copies the source's
		return err
	}
	if _, err := w.FollowPrimary(ctx, settings, up); err != nil {
		return err
	}
	if err := c.ensureUpstreamSlot(ctx, st, w, role, slot, false); err != nil {
		return err
	}
	if err := c.status(ctx, "maintenance", "starting PostgreSQL as a replica of "+role.UpstreamUnit); err != nil {
		return err
	}
	if err := c.tlsBeforeStart(ctx, st, w); err != nil {
		return err
	}
	if err := w.Start(ctx); err != nil {
		return startFailed(err)
	}
	if err := c.waitReady(ctx, w, st); err != nil {
		return err
	}
	st.SetMine("demoted", "")
	st.SetMine(keyRestarted, "")
	return nil
}

// checkRunningReplica looks at a replica's running server and stops it when it must not run
// as it is: a writable server that is not the recorded primary is fenced; one that streams
// nothing while its upstream answers (its own check is green) may hold WAL the cluster's
// timeline abandoned, and is rewound when it does (diverged.go). It reports whether it
// stopped the server.
func (c *Charm) checkRunningReplica(ctx context.Context, st *State, w Workload, role Role, slot string) (bool, error) {
	obs, err := c.selfObservation(ctx, st, w)
	if err != nil {
		return false, err
	}
	if !obs.InRecovery {
		c.logf(ctx, slog.LevelWarn, "fencing: this unit is writable but %s is the primary; stopping", role.UpstreamUnit)
		if err := c.status(ctx, "maintenance", "fencing: stopping a writable server that is not the primary"); err != nil {
			return false, err
		}
		if _, err := w.Stop(ctx); err != nil {
			return false, err
		}
		return true, nil
	}
	if !obs.Stalled() {
		if st.Local[localNotStreamingBackoff] != "" {
			c.backOff(st, false, timerNotStreaming, localNotStreamingBackoff, pgwatch.StallRepeatMax)
		}
		return false, nil
	}
	role.Slot = slot
	stopped, err := c.rewindIfDiverged(ctx, st, w, role, inClusterProbeTimeout)
	if err == nil {
		// Not diverged, or it cannot tell yet (the upstream is restarting after its own
		// rewind): look again, less often while it lasts (as the watcher does).
		c.backOff(st, !stopped, timerNotStreaming, localNotStreamingBackoff, pgwatch.StallRepeatMax)
	}
	return stopped, err
}

// runReadOnly keeps this unit's server a standby without an upstream: read-only and
// streaming from nobody (primary_conninfo cleared, which a reload applies). A server that
// runs writable is fenced and restarted read-only.
func (c *Charm) runReadOnly(ctx context.Context, st *State, w Workload, role Role) error {
	init, err := w.IsInitialised(ctx)
	if err != nil {
		return err
	}
	if !init {
		return waiting("%s: this unit has no data (promote-to-primary scope=cluster on the leader)", role.Status)
	}
	if err := w.WritePassfile(ctx, c.passEntries(st)); err != nil {
		return err
	}
	hbaChanged, running, err := c.prepareAndRunning(ctx, st, w, "")
	if err != nil {
		return err
	}
	settings := c.settings(ctx, st, w)
	settings.SynchronousStandbyNames = replicaSyncNames(st)
	st.SetMine(keySyncStandbys, "")
	if running {
		obs, err := c.selfObservation(ctx, st, w)
		if err != nil {
			return err
		}
		if !obs.InRecovery {
			c.logf(ctx, slog.LevelWarn, "fencing: this unit is writable in a read-only cluster; restarting it read-only")
			if _, err := w.Stop(ctx); err != nil {
				return err
			}
			running = false
		}
	}
	changed, err := w.WriteConf(ctx, settings)
	if err != nil {
		return err
	}
	if running {
		if changed || hbaChanged || tlsReloadPending(st) {
			return w.Reload(ctx)
		}
		return nil
	}
	if err := w.WriteStandbySignal(ctx); err != nil {
		return err
	}
	if err := c.status(ctx, "maintenance", "starting PostgreSQL read-only"); err != nil {
		return err
	}
	if err := c.tlsBeforeStart(ctx, st, w); err != nil {
		return err
	}
	if err := w.Start(ctx); err != nil {
		return startFailed(err)
	}
	return c.waitReady(ctx, w, st)
}

// writablePeer returns a peer whose server answers writable ("" when none does).
func (c *Charm) writablePeer(ctx context.Context, st *State, w Workload) string {
	for _, u := range st.Peers {
		if c.writable(ctx, st, w, u) {
			return u
		}
	}
	return ""
}

// writable reports whether unit's server answers and accepts writes.
func (c *Charm) writable(ctx context.Context, st *State, w Workload, unit string) bool {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	db, err := w.Connect(cctx, st.AddressOf(unit), selfLogin(st))
	if err != nil {
		return false
	}
	defer db.Close(ctx)
	pos, err := db.Positions(cctx)
	return err == nil && !pos.InRecovery
}

func withUpstream(s postgres.Settings, up postgres.Upstream) postgres.Settings {
	s.Upstream = &up
	return s
}

// keptAside tells, in the status of a re-seed, where the replaced data goes.
const keptAside = ": the current data is kept aside as the only " + "pgdata" + postgres.AsideSuffix + "* copy"

// seed clones the upstream with pg_basebackup (its slot created first).
func (c *Charm) seed(ctx context.Context, st *State, w Workload, role Role, up postgres.Upstream) error {
	if _, err := c.placeTLS(ctx, st, w); err != nil { // the CA the upstream is verified with
		return err
	}
	if err := c.ensureUpstreamSlot(ctx, st, w, role, up.Slot, true); err != nil {
		return err
	}
	if err := c.status(ctx, "maintenance", "seeding from "+role.UpstreamUnit+" (pg_basebackup)"+keptAside); err != nil {
		return err
	}
	cctx, cancel := cloneContext(ctx, st)
	defer cancel()
	aside, err := w.BaseBackup(cctx, up)
	if err != nil {
		// Nothing was replaced (BaseBackup installs a complete copy only): the retry timer
		// of a waiting reconcile seeds again.
		return waiting("waiting to seed from %s: %v", role.UpstreamUnit, err)
	}
	if aside != "" {
		c.logf(ctx, slog.LevelInfo, "seeded from %s; the previous data is kept in %s (older copies removed)", role.UpstreamUnit, aside)
	}
	return nil
}

// cloneContext bounds one pg_basebackup or pg_rewind by clone_timeout_minutes: a copy that
// stalls is killed there and the step fails (docs/DESIGN.md, "Deadlines").
func cloneContext(ctx context.Context, st *State) (context.Context, context.CancelFunc) {
	d := st.Config.CloneTimeout
	if d <= 0 {
		d = DefaultCloneTimeout
	}
	return context.WithTimeout(ctx, d)
}

// ensureUpstreamSlot creates this unit's slot on the upstream server. For a fresh copy
// (seeding), a slot that lost WAL (max_slot_wal_keep_size) is dropped and created again;
// otherwise it is left for the standby leader to notice (checkUpstream).
func (c *Charm) ensureUpstreamSlot(ctx context.Context, st *State, w Workload, role Role, slot string, fresh bool) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	db, err := w.Connect(cctx, role.UpstreamAddr, role.upstreamLogin(st))
	if err != nil {
		return waiting("waiting for %s to accept connections: %v", role.UpstreamUnit, err)
	}
	defer db.Close(ctx)
	pos, err := db.Positions(cctx)
	if err != nil {
		return upstreamErr(role, err)
	}
	if pos.InRecovery && role.UpstreamUnit == st.Primary() {
		return waiting("waiting for %s to be promoted", role.UpstreamUnit)
	}
	if fresh {
		slots, err := db.ListSlots(cctx)
		if err != nil {
			return upstreamErr(role, err)
		}
		if slices.ContainsFunc(slots, func(s postgres.Slot) bool { return s.Name == slot && s.WALStatus == postgres.SlotLost }) {
			if err := db.DropSlot(cctx, slot); err != nil {
				return upstreamErr(role, err)
			}
			c.logf(ctx, slog.LevelInfo, "dropped the slot %s on %s, which had lost WAL, to seed afresh", slot, role.UpstreamUnit)
		}
	}
	return upstreamErr(role, db.CreateSlot(cctx, slot))
}

// upstreamErr: an upstream whose session ran out of time (it stalls, or is overloaded) makes
// the unit wait, naming it, and the retry timer tries again; other errors are the hook's.
func upstreamErr(role Role, err error) error {
	if postgres.IsTimeout(err) {
		return waiting("waiting for %s (%s) to answer: %v", role.UpstreamUnit, role.UpstreamAddr, err)
	}
	return err
}

// makeFollower prepares a stopped server to follow up: nothing to do for a clean server whose
// WAL is part of the upstream's history, pg_rewind otherwise (after a CHECKPOINT on the
// upstream), re-clone as last resort with the old data kept aside.
func (c *Charm) makeFollower(ctx context.Context, st *State, w Workload, role Role, up postgres.Upstream) error {
	cd, err := w.ControlData(ctx)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	db, err := w.Connect(cctx, up.Host, role.upstreamLogin(st))
	if err != nil {
		return waiting("waiting for %s to accept connections: %v", role.UpstreamUnit, err)
	}
	defer db.Close(ctx)
	pos, err := db.Positions(cctx)
	if err != nil {
		return upstreamErr(role, err)
	}
	hist, err := db.TimelineHistory(cctx, pos.Timeline)
	if err != nil {
		return upstreamErr(role, err)
	}
	if postgres.CanFollowWithoutRewind(cd, pos.Timeline, hist) {
		return nil
	}
	if err := c.status(ctx, "maintenance", "rewinding (pg_rewind) to follow "+role.UpstreamUnit); err != nil {
		return err
	}
	// Not within cctx: a checkpoint writes every dirty buffer (the session's statement and
	// stall bounds still apply).
	if err := db.Checkpoint(ctx); err != nil {
		return upstreamErr(role, err)
	}
	rctx, cancel := cloneContext(ctx, st)
	defer cancel()
	out, err := w.Rewind(rctx, postgres.Upstream{Host: up.Host, Port: up.Port, User: "rewind", Remote: up.Remote})
	if err == nil {
		c.logf(ctx, slog.LevelInfo, "pg_rewind onto %s: %s", role.UpstreamUnit, strings.TrimSpace(out))
		return nil
	}
	c.logf(ctx, slog.LevelWarn, "pg_rewind onto %s failed, re-cloning (old data kept aside): %v", role.UpstreamUnit, err)
	if err := c.status(ctx, "maintenance", "re-cloning from "+role.UpstreamUnit+" (pg_rewind failed)"+keptAside); err != nil {
		return err
	}
	// pg_basebackup -S fails on a slot the upstream lacks (a cluster's new primary has none
	// for the units of the other cluster): create it first, or clone without it (runReplica
	// creates it before the server starts).
	if up.Slot != "" {
		if err := c.ensureUpstreamSlot(ctx, st, w, role, up.Slot, true); err != nil {
			c.logf(ctx, slog.LevelWarn, "re-cloning from %s without the slot %s: %v", role.UpstreamUnit, up.Slot, err)
			up.Slot = ""
		}
	}
	bctx, cancel := cloneContext(ctx, st)
	defer cancel()
	if _, err := w.BaseBackup(bctx, up); err != nil {
		return fmt.Errorf("re-clone after failed rewind: %w", err)
	}
	return nil
}

// onStop shuts PostgreSQL down cleanly when the unit goes away.
func (c *Charm) onStop(ctx context.Context) error {
	_, _, err := c.stopServer(ctx)
	return err
}

// stopServer reads the state and shuts this unit's PostgreSQL down cleanly; w is nil when the
// workload container is not there (nothing to stop). A failed stop returns st and w with the
// error, for callers that go on regardless.
func (c *Charm) stopServer(ctx context.Context) (*State, Workload, error) {
	st, err := c.readState(ctx)
	if err != nil {
		return nil, nil, err
	}
	w, err := c.openHookWorkload(ctx, st)
	if err != nil {
		if isNotReady(err) {
			return st, nil, nil
		}
		return nil, nil, err
	}
	if _, err := w.Stop(ctx); err != nil {
		return st, w, err
	}
	return st, w, nil
}

// onSelfDeparting: this unit leaves the cluster. It stops its server cleanly (fencing it), and
// a leaving leader that was primary hands the role to the most advanced replica.
func (c *Charm) onSelfDeparting(ctx context.Context) error {
	st, w, err := c.stopServer(ctx)
	if (err != nil && !errors.Is(err, context.Canceled)) || w == nil {
		return err
	}
	if st.Leader && st.Primary() == st.Unit && st.PeerRelID != "" {
		if err := c.loadPasswords(ctx, st); err != nil {
			return err
		}
		c.trustWorkload(st, w)
		if next := c.mostAdvancedReplica(ctx, st, w, st.Unit); next != "" {
			c.setPrimary(st, next)
		}
		if err := c.flush(ctx, st); err != nil {
			return err
		}
	}
	return c.status(ctx, "maintenance", "leaving the cluster: PostgreSQL stopped")
}

// startFailed: PostgreSQL did not come up (e.g. its address is still taken). Pebble keeps
// retrying the service (on-failure: restart) and the next hook checks again, so the unit
// waits with the reason rather than failing the hook.
func startFailed(err error) error {
	return waiting("PostgreSQL failed to start, retrying: %v", err)
}

// selfObservation reads the running server's shape (whether it is in recovery, above all),
// and keeps it as the hook's own observation (State.observed).
func (c *Charm) selfObservation(ctx context.Context, st *State, w Workload) (pgwatch.Observation, error) {
	db, err := c.connectSelf(ctx, st, w)
	if err != nil {
		return pgwatch.Observation{}, waiting("PostgreSQL not accepting connections yet: %v", err)
	}
	defer db.Close(ctx)
	o, err := db.Observe(ctx)
	if err != nil {
		return pgwatch.Observation{}, err
	}
	st.observedSelf(o)
	return o, nil
}

// connectSelf connects to this unit's server as AdminUser (selfLogin), retrying for a few
// seconds while a server finishes startup. A primary initialised before AdminUser existed gets
// it first (adoptAdmin); a replica of such a cluster waits for the role to replicate.
func (c *Charm) connectSelf(ctx context.Context, st *State, w Workload) (DB, error) {
	deadline := time.Now().Add(5 * time.Second)
	adopted := false
	for {
		db, err := c.connect(ctx, st, w, st.Address, selfLogin(st))
		if err == nil || time.Now().After(deadline) {
			return db, err
		}
		if !adopted && adminMissing(err) && st.Primary() == st.Unit {
			adopted = true
			if aerr := c.adoptAdmin(ctx, st, w); aerr != nil {
				return nil, fmt.Errorf("%w (and creating %s: %v)", err, AdminUser, aerr)
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(250 * time.Millisecond):
		}
	}
}
