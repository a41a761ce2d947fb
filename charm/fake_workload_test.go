package charm

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/pgwatch"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// fakeServer is one unit's simulated PostgreSQL.
type fakeServer struct {
	addr          string
	notReady      bool // Pebble not reachable
	goneMidHook   bool // the pod goes away after the hook opened the workload
	initialised   bool
	running       bool
	standby       bool // standby.signal
	inRecovery    bool
	down          bool // refuses connections even when running
	conf          postgres.Settings
	live          postgres.Settings // the config the running server uses (Start, Reload)
	replState     string            // pg_stat_replication state as a standby ("" streaming)
	staleReload   bool              // Reload does not reach the server
	hba           []postgres.HBARule
	pass          []postgres.PassEntry
	slots         map[string]bool
	lostSlots     map[string]bool // wal_status lost
	cutSlots      map[string]bool // walsender terminated: inactive until the slot is recreated
	received      postgres.LSN
	replayed      postgres.LSN
	timeline      int
	roles         map[string]string
	logins        []fakeLogin // the connections it accepted
	earlyConnects int         // sessions its charm opened early (ConnectWithCA), from this server
	cluster       int         // the world it belongs to (its first address)
	systemID      string
	cleanStopped  bool
	calls         []string
	layer         postgres.LayerOptions
	watcher       bool      // EnsureWatcher ran
	started       time.Time // when the server last started (pg_postmaster_start_time)
	// unobserved: the watcher has no observation of the server (ReadObservation fails).
	unobserved bool
	// stalled: as a standby, its WAL receiver does not stream even while its upstream
	// answers (it diverged from the upstream's timeline).
	stalled     bool
	timers      pgwatch.Timers // the timers file
	timersBad   bool           // the timers file is garbage
	timerWrites int
	// killAfterSetPassword: the hook process dies right after a password change commits
	// (a panic that runKilled recovers).
	killAfterSetPassword bool
	tlsFiles             map[string][]byte // PlaceTLS's files, by name
	tlsWrites            int               // PlaceTLS calls
	trust                postgres.Trust

	// stopCkpt and stopTLI: the shutdown checkpoint of the last clean Stop of a running
	// server; restartCkpt and restartTLI: a standby's last restartpoint (Checkpoint in
	// recovery), which its ControlData reports when set.
	stopCkpt    postgres.LSN
	stopTLI     int
	restartCkpt postgres.LSN
	restartTLI  int

	// cloneBound is what was left of the context of the last BaseBackup or Rewind; cloneErr
	// makes BaseBackup fail.
	cloneBound time.Duration
	cloneErr   error
}

type fakeCluster struct {
	// now is the world's clock (time.Now when nil): the watchers' observations are taken then.
	now     func() time.Time
	mu      sync.Mutex
	servers map[string]*fakeServer // by address
	// state guards what a connection reads of a server (its rules, roles, TLS files, whether
	// it runs) against the hook's writes: the charm opens sessions early, on goroutines of
	// their own (sessions.go).
	state sync.Mutex
}

func (fc *fakeCluster) clock() time.Time {
	if fc.now == nil {
		return time.Now()
	}
	return fc.now()
}

func newFakeCluster() *fakeCluster { return &fakeCluster{servers: map[string]*fakeServer{}} }

func (fc *fakeCluster) add(addr string) *fakeServer {
	s := &fakeServer{addr: addr, slots: map[string]bool{}, roles: map[string]string{}, timeline: 1, systemID: "7000000000000000001"}
	fc.servers[addr] = s
	return s
}

func (fc *fakeCluster) open(addr string) func(ctx context.Context, a string) (Workload, error) {
	return func(ctx context.Context, a string) (Workload, error) {
		s := fc.servers[addr]
		if s.notReady {
			return nil, fmt.Errorf("%w: pebble socket missing", postgres.ErrNotReady)
		}
		return &fakeWorkload{s: s, fc: fc}, nil
	}
}

type fakeWorkload struct {
	s  *fakeServer
	fc *fakeCluster
	// trust is what SetTrust set on this workload: as on a real one, no connection is made
	// without a CA for the host.
	trust postgres.Trust
}

func (w *fakeWorkload) call(f string, args ...any) {
	w.fc.mu.Lock()
	defer w.fc.mu.Unlock()
	c := f
	if len(args) > 0 {
		c += fmt.Sprint(args...)
	}
	w.s.calls = append(w.s.calls, c)
}

func (w *fakeWorkload) IsInitialised(context.Context) (bool, error) {
	if w.s.goneMidHook {
		return false, fmt.Errorf("%w: pebble connection closed", postgres.ErrNotReady)
	}
	return w.s.initialised, nil
}
func (w *fakeWorkload) InitDB(_ context.Context, u postgres.Login) error {
	w.fc.state.Lock()
	defer w.fc.state.Unlock()
	w.call("InitDB")
	w.s.initialised = true
	w.s.roles[u.User] = u.Password
	return nil
}
func (w *fakeWorkload) WritePassfile(_ context.Context, e []postgres.PassEntry) error {
	w.s.pass = e
	return nil
}
func (w *fakeWorkload) WriteConf(_ context.Context, s postgres.Settings) (bool, error) {
	changed := confKey(w.s.conf) != confKey(s)
	w.s.conf = s
	return changed, nil
}

// confKey renders s with its upstream's values (not the pointer's address).
func confKey(s postgres.Settings) string {
	up := s.Upstream
	s.Upstream = nil
	if up == nil {
		return fmt.Sprint(s)
	}
	return fmt.Sprint(s, *up)
}

func (w *fakeWorkload) WriteHBA(_ context.Context, r []postgres.HBARule) (bool, error) {
	w.fc.state.Lock()
	defer w.fc.state.Unlock()
	changed := fmt.Sprint(w.s.hba) != fmt.Sprint(r)
	w.s.hba = r
	return changed, nil
}
func (w *fakeWorkload) PlanLayer(_ context.Context, o postgres.LayerOptions) error {
	w.s.layer = o
	return nil
}
func (w *fakeWorkload) EnsureWatcher(context.Context) error { w.s.watcher = true; return nil }
func (w *fakeWorkload) ReadTimers(context.Context) (pgwatch.Timers, error) {
	if w.s.timersBad {
		return nil, fmt.Errorf("timers file: invalid character")
	}
	return maps.Clone(w.s.timers), nil
}
func (w *fakeWorkload) WriteTimers(_ context.Context, t pgwatch.Timers) error {
	if w.s.goneMidHook {
		return fmt.Errorf("%w: pebble connection closed", postgres.ErrNotReady)
	}
	w.s.timers, w.s.timersBad = maps.Clone(t), false
	w.s.timerWrites++
	return nil
}
func (w *fakeWorkload) Running(context.Context) (bool, error) { return w.s.running, nil }
func (w *fakeWorkload) Version() string                       { return "15" }
func (w *fakeWorkload) MemoryMB(context.Context) (int, error) { return 4096, nil }
func (w *fakeWorkload) WaitReady(context.Context, postgres.Login) error {
	if !w.s.running {
		return fmt.Errorf("not running")
	}
	return nil
}
func (w *fakeWorkload) Start(context.Context) error {
	w.fc.state.Lock()
	defer w.fc.state.Unlock()
	w.call("Start")
	w.s.running = true
	w.s.started = w.fc.clock()
	w.s.live = w.s.conf
	w.s.inRecovery = w.s.standby
	return nil
}
func (w *fakeWorkload) Stop(context.Context) (postgres.ControlData, error) {
	w.fc.state.Lock()
	defer w.fc.state.Unlock()
	w.call("Stop")
	if w.s.running {
		w.s.cleanStopped = true
		w.s.stopCkpt, w.s.stopTLI = max(w.s.received, w.s.replayed), w.s.timeline
	}
	w.s.running = false
	state := "shut down"
	if w.s.inRecovery {
		state = "shut down in recovery"
	}
	return postgres.ControlData{State: state, SystemID: w.s.systemID, CheckpointLSN: max(w.s.received, w.s.replayed), TimelineID: w.s.timeline}, nil
}
func (w *fakeWorkload) Reload(context.Context) error {
	w.call("Reload")
	if !w.s.staleReload {
		w.s.live = w.s.conf
	}
	return nil
}
func (w *fakeWorkload) IsStandbyConfigured(context.Context) (bool, error) {
	return w.s.standby, nil
}
func (w *fakeWorkload) WriteStandbySignal(context.Context) error { w.s.standby = true; return nil }
func (w *fakeWorkload) FollowPrimary(ctx context.Context, s postgres.Settings, up postgres.Upstream) (bool, error) {
	w.call("FollowPrimary", up.Host)
	w.s.standby = true
	s.Upstream = &up
	return w.WriteConf(ctx, s)
}
func (w *fakeWorkload) BaseBackup(ctx context.Context, up postgres.Upstream) (string, error) {
	w.fc.state.Lock()
	defer w.fc.state.Unlock()
	w.call("BaseBackup", up.Host)
	w.s.cloneBound = remaining(ctx)
	if w.s.cloneErr != nil {
		return "", w.s.cloneErr
	}
	src := w.fc.servers[up.Host]
	if src == nil || !src.running {
		return "", fmt.Errorf("connection refused")
	}
	if up.Slot != "" && !src.slots[up.Slot] {
		return "", fmt.Errorf("replication slot %q does not exist", up.Slot)
	}
	w.s.initialised = true
	w.s.standby = false
	w.s.systemID = src.systemID
	w.s.timeline = src.timeline
	w.s.roles = maps.Clone(src.roles) // a copy of its data: its roles too
	return "", nil
}

// remaining is the time left before ctx's deadline (0 when it has none).
func remaining(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl)
	}
	return 0
}

func (w *fakeWorkload) Rewind(ctx context.Context, s postgres.Upstream) (string, error) {
	w.fc.state.Lock()
	defer w.fc.state.Unlock()
	w.call("Rewind", s.Host)
	w.s.cloneBound = remaining(ctx)
	w.s.timeline = w.fc.servers[s.Host].timeline
	w.s.roles = maps.Clone(w.fc.servers[s.Host].roles)
	w.s.stalled = false // on the source's timeline, it can follow it
	return "", nil
}
func (w *fakeWorkload) ControlData(context.Context) (postgres.ControlData, error) {
	state := "in production"
	if w.s.cleanStopped && !w.s.running {
		state = "shut down"
	}
	if w.s.restartCkpt != 0 {
		return postgres.ControlData{State: "in archive recovery", SystemID: w.s.systemID, CheckpointLSN: w.s.restartCkpt, TimelineID: w.s.restartTLI}, nil
	}
	return postgres.ControlData{State: state, SystemID: w.s.systemID, CheckpointLSN: w.s.received, TimelineID: w.s.timeline}, nil
}

// Connect logs in to host from this workload's address: the server's pg_hba rules (once
// written) must admit the user to the postgres database from there, and the password must
// be the role's.
func (w *fakeWorkload) Connect(ctx context.Context, host string, l postgres.Login) (DB, error) {
	if w.trust == nil {
		return nil, fmt.Errorf("connect %s: %w", host, postgres.ErrNoTrust)
	}
	ca, err := w.trust(host)
	if err != nil || len(ca) == 0 {
		return nil, fmt.Errorf("connect %s: %w (%v)", host, postgres.ErrNoTrust, err)
	}
	return w.connectWithCA(host, l, ca)
}

// ConnectWithCA is Connect with the CA given (a session opened early); the server counts it.
func (w *fakeWorkload) ConnectWithCA(_ context.Context, host string, l postgres.Login, ca []byte) (DB, error) {
	db, err := w.connectWithCA(host, l, ca)
	w.fc.mu.Lock()
	w.s.earlyConnects++
	w.fc.mu.Unlock()
	return db, err
}

func (w *fakeWorkload) connectWithCA(host string, l postgres.Login, ca []byte) (DB, error) {
	if len(ca) == 0 {
		return nil, fmt.Errorf("connect %s: %w", host, postgres.ErrNoTrust)
	}
	w.fc.state.Lock()
	defer w.fc.state.Unlock()
	s := w.fc.servers[host]
	if s == nil || !s.running || s.down {
		return nil, fmt.Errorf("connect %s: connection refused", host)
	}
	// A unit of the server's own cluster that its rules do not name at all is one whose peer
	// hook the server has not run yet: the charm retries (timerRetry) until it has, and the
	// fake admits it at once so that tests need not run that hook. Every other connection
	// needs a rule for its user.
	newPeer := s.cluster == w.s.cluster && !slices.ContainsFunc(s.hba, func(r postgres.HBARule) bool { return r.Address == w.s.addr+"/32" })
	method := "scram-sha-256"
	if l.User == AdminUser {
		method = "cert"
	}
	if s.hba != nil && !newPeer {
		r, ok := hbaMatch(s.hba, "postgres", l.User, w.s.addr)
		if !ok {
			return nil, fmt.Errorf("connect %s: no pg_hba.conf entry for host %q, user %q, database \"postgres\"", host, w.s.addr, l.User)
		}
		method = r.Method
	}
	if _, ok := s.roles[l.User]; !ok && l.User == AdminUser {
		return nil, fmt.Errorf("connect %s: FATAL: role %q does not exist (SQLSTATE 28000)", host, l.User)
	}
	if method == "cert" {
		if err := s.verifyClientCert(l); err != nil {
			return nil, fmt.Errorf("connect %s: certificate authentication failed for user %q: %v", host, l.User, err)
		}
	} else if want, ok := s.roles[l.User]; ok && want != l.Password {
		return nil, fmt.Errorf("connect %s: password authentication failed for user %q", host, l.User)
	}
	w.fc.mu.Lock()
	s.logins = append(s.logins, fakeLogin{user: l.User, from: w.s.addr})
	w.fc.mu.Unlock()
	return &fakeDB{s: s, w: w, user: l.User}, nil
}

// fakeLogin is one connection a server accepted.
type fakeLogin struct{ user, from string }

// hbaMatch returns the first rule for user and database from addr, as PostgreSQL picks it.
func hbaMatch(rules []postgres.HBARule, database, user, addr string) (postgres.HBARule, bool) {
	ip := net.ParseIP(addr)
	for _, r := range rules {
		if (r.Database != "all" && r.Database != database) || (r.User != "all" && r.User != user) {
			continue
		}
		if _, n, err := net.ParseCIDR(r.Address); err == nil && ip != nil && n.Contains(ip) {
			return r, r.Method != "reject"
		}
	}
	return postgres.HBARule{}, false
}

// verifyClientCert is pg_hba's cert method: a client certificate signed by the server's
// ssl_ca_file (the cluster CA its charm placed), whose CN is the user.
func (s *fakeServer) verifyClientCert(l postgres.Login) error {
	if l.Cert == nil || len(l.Cert.Certificate) == 0 {
		return errors.New("connection requires a valid client certificate")
	}
	leaf, err := x509.ParseCertificate(l.Cert.Certificate[0])
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.tlsFiles[postgres.ClientCAFile]) {
		return errors.New("the server has no CA for client certificates")
	}
	// Issued with the wall clock, checked at its own start: the tests' clock is fixed.
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: leaf.NotBefore.Add(time.Second),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return err
	}
	if leaf.Subject.CommonName != l.User {
		return fmt.Errorf("the certificate's CN %q is not the user", leaf.Subject.CommonName)
	}
	return nil
}

type fakeDB struct {
	s    *fakeServer
	w    *fakeWorkload
	user string
}

// superuser fails what a role other than the charm's own superusers may not do.
func (d *fakeDB) superuser(what string) error {
	if d.user == "operator" || d.user == AdminUser {
		return nil
	}
	return fmt.Errorf("%s as %s: permission denied (SQLSTATE 42501)", what, d.user)
}

func (d *fakeDB) Positions(context.Context) (postgres.Positions, error) {
	p := postgres.Positions{InRecovery: d.s.inRecovery, Received: d.s.received, Replayed: d.s.replayed, Timeline: d.s.timeline}
	if !d.s.inRecovery {
		p.Current = d.s.received // the fake primary's WAL position
	}
	return p, nil
}

// Replication lists the fake servers that run as standbys of this one (their live upstream is
// this server's address); a standby is synchronous when the live synchronous_standby_names
// quotes its name. The flush position of a standby is its received position.
func (d *fakeDB) Replication(context.Context) (postgres.ReplicationState, error) {
	rs := postgres.ReplicationState{SyncStandbyNames: d.s.live.SynchronousStandbyNames, FlushLSN: d.s.received}
	for _, o := range d.w.fc.servers {
		up := o.live.Upstream
		if o == d.s || !o.running || o.down || !o.inRecovery || up == nil || up.Host != d.s.addr {
			continue
		}
		r := postgres.Replica{AppName: up.AppName, State: "streaming", SyncState: "async", FlushLSN: o.received, ReplayLSN: o.replayed}
		if o.replState != "" {
			r.State = o.replState
		}
		if names := rs.SyncStandbyNames; strings.Contains(names, `"`+up.AppName+`"`) {
			r.SyncState = "sync"
			if strings.HasPrefix(names, "ANY") {
				r.SyncState = "quorum"
			}
		}
		rs.Standbys = append(rs.Standbys, r)
	}
	sort.Slice(rs.Standbys, func(i, j int) bool { return rs.Standbys[i].AppName < rs.Standbys[j].AppName })
	return rs, nil
}
func (d *fakeDB) Promote(context.Context) error {
	if err := d.superuser("pg_promote"); err != nil {
		return err
	}
	d.s.calls = append(d.s.calls, "Promote")
	d.s.inRecovery, d.s.standby = false, false
	d.s.timeline++
	d.s.restartCkpt, d.s.restartTLI = 0, 0
	return nil
}

// Checkpoint on a standby is a restartpoint at the last checkpoint it replayed: its
// upstream's shutdown checkpoint once it replayed past it (the fake's standbys replay nothing
// else that it tracks).
func (d *fakeDB) Checkpoint(context.Context) error {
	if !d.s.inRecovery || d.s.conf.Upstream == nil {
		return nil
	}
	if up := d.w.fc.servers[d.s.conf.Upstream.Host]; up != nil && up.stopTLI != 0 && !up.running && d.s.replayed > up.stopCkpt {
		d.s.restartCkpt, d.s.restartTLI = up.stopCkpt, up.stopTLI
	}
	return nil
}
func (d *fakeDB) EnsureRole(_ context.Context, r postgres.Role) error {
	if err := d.superuser("ALTER ROLE"); err != nil {
		return err
	}
	d.setRole(r.Name, r.Password)
	return nil
}
func (d *fakeDB) EnsureCertRole(_ context.Context, name string) error {
	if err := d.superuser("CREATE ROLE"); err != nil {
		return err
	}
	d.s.calls = append(d.s.calls, "EnsureCertRole "+name)
	d.w.fc.state.Lock()
	defer d.w.fc.state.Unlock()
	if _, ok := d.s.roles[name]; !ok {
		d.s.roles[name] = ""
	}
	return nil
}
func (d *fakeDB) SetPassword(_ context.Context, u, pw string) error {
	if err := d.superuser("ALTER ROLE"); err != nil {
		return err
	}
	d.s.calls = append(d.s.calls, "SetPassword "+u)
	d.setRole(u, pw)
	if d.s.killAfterSetPassword {
		panic(hookKilled{})
	}
	return nil
}

// setRole changes a role on a writable server and, as replay would, on the standbys of its
// cluster (same system id) that have the role.
func (d *fakeDB) setRole(user, pw string) {
	d.w.fc.state.Lock()
	defer d.w.fc.state.Unlock()
	d.s.roles[user] = pw
	if d.s.inRecovery {
		return
	}
	for _, o := range d.w.fc.servers {
		if _, ok := o.roles[user]; ok && o != d.s && o.inRecovery && o.systemID == d.s.systemID {
			o.roles[user] = pw
		}
	}
}
func (d *fakeDB) CreateSlot(_ context.Context, n string) error {
	if !d.s.slots[n] {
		delete(d.s.cutSlots, n)
		delete(d.s.lostSlots, n)
	}
	d.s.slots[n] = true
	return nil
}
func (d *fakeDB) TerminateSlotSenders(_ context.Context, prefix string) (int, error) {
	if err := d.superuser("pg_terminate_backend"); err != nil {
		return 0, err
	}
	d.s.calls = append(d.s.calls, "TerminateSlotSenders "+prefix)
	n := 0
	for name := range d.s.slots {
		if strings.HasPrefix(name, prefix) {
			if d.s.cutSlots == nil {
				d.s.cutSlots = map[string]bool{}
			}
			d.s.cutSlots[name] = true
			n++
		}
	}
	return n, nil
}
func (d *fakeDB) DropSlot(_ context.Context, n string) error { delete(d.s.slots, n); return nil }
func (d *fakeDB) ListSlots(context.Context) ([]postgres.Slot, error) {
	var out []postgres.Slot
	for n := range d.s.slots {
		// Active: a running standby streams through it from this server.
		active := false
		for _, o := range d.w.fc.servers {
			if up := o.conf.Upstream; o.running && o.inRecovery && up != nil && up.Host == d.s.addr && up.Slot == n {
				active = true
			}
		}
		st := "reserved"
		if d.s.lostSlots[n] {
			st, active = postgres.SlotLost, false
		}
		out = append(out, postgres.Slot{Name: n, Active: active && !d.s.cutSlots[n], WALStatus: st})
	}
	return out, nil
}
func (d *fakeDB) TimelineHistory(_ context.Context, tli int) ([]postgres.HistoryEntry, error) {
	if tli <= 1 {
		return nil, nil
	}
	if tli > d.s.timeline {
		return nil, fmt.Errorf("timeline %d: %w", tli, postgres.ErrNoHistory)
	}
	// The fake's timelines fork at the server's received position.
	return []postgres.HistoryEntry{{TLI: tli - 1, SwitchLSN: d.s.received + 1}}, nil
}

// WALTimelines: the fake holds WAL of every timeline up to its own.
func (d *fakeDB) WALTimelines(context.Context) (map[int]bool, error) {
	held := map[int]bool{}
	for tli := 1; tli <= d.s.timeline; tli++ {
		held[tli] = true
	}
	return held, nil
}
func (d *fakeDB) Close(context.Context) {}

// Observe is postgres.Observe over the fake's positions, standbys and slots.
func (d *fakeDB) Observe(ctx context.Context) (pgwatch.Observation, error) {
	pos, _ := d.Positions(ctx)
	var rs postgres.ReplicationState
	if !pos.InRecovery {
		rs, _ = d.Replication(ctx)
	}
	slots, _ := d.ListSlots(ctx)
	o := postgres.ObservationOf(d.s.started, pos, rs, slots)
	// A standby streams from its live upstream while that runs and answers.
	if up := d.s.live.Upstream; pos.InRecovery && up != nil {
		o.Upstream = true
		o.Receiver = &pgwatch.ObservedReceiver{Status: "waiting", Host: up.Host, Port: cmp.Or(up.Port, postgres.DefaultPort)}
		if u := d.w.fc.servers[up.Host]; u != nil && u.running && !u.down && !d.s.stalled {
			o.Receiver.Status = "streaming"
		}
	}
	return o, nil
}

// ReadObservation is the watcher's observation of a fake server: taken now, of the server as
// it is (a stopped or refusing one is an error), once EnsureWatcher has run.
func (w *fakeWorkload) ReadObservation(ctx context.Context) (pgwatch.Observation, error) {
	w.fc.state.Lock()
	defer w.fc.state.Unlock()
	if !w.s.watcher || w.s.unobserved {
		return pgwatch.Observation{}, errors.New("observed.json: not found")
	}
	if !w.s.running || w.s.down {
		return pgwatch.Observation{At: w.fc.clock(), Error: "connection refused"}, nil
	}
	o, err := (&fakeDB{s: w.s, w: w, user: postgres.ObserveUser}).Observe(ctx)
	o.At = w.fc.clock()
	return o, err
}

func (w *fakeWorkload) PlaceTLS(_ context.Context, files map[string][]byte) error {
	w.fc.state.Lock()
	defer w.fc.state.Unlock()
	w.call("PlaceTLS")
	if w.s.tlsFiles == nil {
		w.s.tlsFiles = map[string][]byte{}
	}
	for k, v := range files {
		w.s.tlsFiles[k] = v
	}
	w.s.tlsWrites++
	return nil
}
func (w *fakeWorkload) HasTLS(context.Context) (bool, error) {
	return w.s.tlsFiles[postgres.ServerCertFile] != nil && w.s.tlsFiles[postgres.ServerKeyFile] != nil, nil
}
func (w *fakeWorkload) SetTrust(t postgres.Trust) { w.trust, w.s.trust = t, t }
