package charm

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/hookenv"
	"github.com/jujulet/postgresql-k8s/internal/pgwatch"
)

// System users and their secret keys.
var SystemUsers = []string{"operator", "replication", "rewind", "monitoring"}

// SharedUsers are the system users whose passwords a primary cluster shares with its
// standby cluster (cross-regional replication): streaming and pg_rewind need them.
var SharedUsers = []string{"replication", "rewind"}

// SecretLabel labels the app-owned passwords secret.
const SecretLabel = "postgresql-k8s-passwords"

func passwordKey(user string) string { return user + "-password" }

// IsSystemUser reports whether user is one of SystemUsers.
func IsSystemUser(user string) bool { return slices.Contains(SystemUsers, user) }

// State is what one hook knows about the cluster, read once at its start.
type State struct {
	// Leaving: this unit saw its own peer departure and is being removed (unit charm state).
	Leaving   bool
	Unit, App string
	Leader    bool
	Config    Config
	ConfigErr error
	Address   string // this unit's address

	PeerRelID string                       // "" before the peer relation exists
	Peers     []string                     // other units in scope, sorted
	PeerData  map[string]map[string]string // unit buckets of the peers
	AppData   map[string]string            // peer app bucket
	MyData    map[string]string            // this unit's peer bucket

	Passwords map[string]string // user → committed password ("" until the secret exists)
	// Pending: user → new password of a change not yet applied to the database
	// (passwords.go).
	Pending map[string]string
	// secret is the passwords secret's whole content as read or last written: its writers
	// keep the keys they do not own (the cluster CA, tls.go; pending changes, passwords.go).
	// secretStored is the content as read or last written (what storePasswords compares
	// with: callers change secret in place). secretCreated: this hook added it, so it is not
	// committed before the hook ends.
	secret        map[string]string
	secretStored  map[string]string
	secretCreated bool
	// tls is the cluster's TLS material (tls.go; nil until the cluster CA exists), tlsProblem
	// what the unit's status says about its certificate ("" when all is well).
	tls        *tlsState
	tlsProblem string
	tlsPlaced  bool          // this hook wrote TLS files: a running server reloads
	tlsSource  *sourceAnswer // the CertSource's answer in this hook (tls.go)
	// admin is this hook's client certificate for AdminUser (logins.go).
	admin *adminCert
	// early are the sessions this reconcile opens ahead of their use (sessions.go).
	early *earlySessions
	// opening is the workload readState started opening (nil when it did not).
	opening *workloadOpen

	// Local is the unit's charm state (state-get): what only this unit needs to remember.
	Local map[string]string

	// appWrites/myWrites collect this hook's relation-set values, localWrites its state-set
	// values (flushed by flush).
	appWrites   map[string]string
	myWrites    map[string]string
	localWrites map[string]string

	// Timers (timers.go): this hook's WakeAt requests, the timers file as read (minus what
	// is due) and as it is on disk.
	wakes         map[string]time.Time
	timers        pgwatch.Timers
	timersOnDisk  pgwatch.Timers
	timersLoaded  bool
	timersDamaged bool
	// workload is this unit's workload once the hook opened it (nil before, or when the
	// container is not there).
	workload Workload

	// relationIDs holds the relation ids of the extension's prefetchEndpoints, relAhead their
	// relations as readState read them ahead (readahead.go); secretAhead the passwords secret
	// as readState read it (by the id the last hook saw).
	relationIDs map[string][]string
	relAhead    map[string]*relationAhead
	secretAhead *secretRead
	// secretsAhead are the extension's prefetchSecrets as readState read them, by URI.
	secretsAhead map[string]*secretRead
	// certKeyAhead is the certificates relation's key secret as readState read it, when the
	// last hook saw the relation (nil: not read).
	certKeyAhead *secretRead
	// statuses are set with the hook's last writes (Reconcile); shown are the unit's (false)
	// and the application's (true) statuses as the hook found them.
	statuses []statusWrite
	shown    map[bool]hookenv.StatusInfo
	// clients are the database relations (client.go), read before the role is applied;
	// clientsDR the replication relation as they need it (leader, client_dr.go).
	clients   []clientRel
	clientsDR *drClientView
	// certs is the certificates relation as certificatesStep settled it (tls_certificates.go).
	certs certsState
	// observed is this hook's own observation of its server, made once the role's run had
	// verified it (nil when it made none): what recordSteady keeps (steady.go).
	observed *pgwatch.Observation
}

// Primary is the unit the leader recorded as primary ("" before the first election).
func (s *State) Primary() string { return s.AppData["primary"] }

// PrimaryAddress is the recorded primary's address.
func (s *State) PrimaryAddress() string {
	p := s.Primary()
	if p == s.Unit {
		return s.Address
	}
	if a := s.PeerData[p]["address"]; a != "" {
		return a
	}
	return s.AppData["primary-address"]
}

// AddressOf returns a unit's address ("" when unknown).
func (s *State) AddressOf(unit string) string {
	if unit == s.Unit {
		return s.Address
	}
	if a := s.PeerData[unit]["address"]; a != "" {
		return a
	}
	return s.PeerData[unit]["private-address"]
}

// HasPeer reports whether unit is this unit or a peer in scope.
func (s *State) HasPeer(unit string) bool { return unit == s.Unit || slices.Contains(s.Peers, unit) }

// SetApp records a peer app bucket write (leader only), visible to the rest of this hook.
func (s *State) SetApp(k, v string) { setKey(s.AppData, s.appWrites, k, v) }

// SetMine records a write to this unit's peer bucket.
func (s *State) SetMine(k, v string) { setKey(s.MyData, s.myWrites, k, v) }

// SetLocal records a write to the unit's charm state ("" deletes), flushed with the hook.
func (s *State) SetLocal(k, v string) { setKey(s.Local, s.localWrites, k, v) }

// setKey sets k to v in data ("" deletes) and, when that changes it, records the write in
// writes for the hook's flush.
func setKey(data, writes map[string]string, k, v string) {
	if data[k] == v {
		return
	}
	if v == "" {
		delete(data, k)
	} else {
		data[k] = v
	}
	writes[k] = v
}

// Switchover is the leader's record of a planned in-cluster switchover.
type Switchover struct {
	ID    string `json:"id"`
	From  string `json:"from"`
	To    string `json:"to"`
	Since int64  `json:"since"` // unix seconds
}

// Switchover returns the running switchover (nil when none or malformed).
func (s *State) Switchover() *Switchover {
	raw := s.AppData["switchover"]
	if raw == "" {
		return nil
	}
	var sw Switchover
	if err := json.Unmarshal([]byte(raw), &sw); err != nil || sw.ID == "" {
		return nil
	}
	return &sw
}

// Demotion is the old primary's clean-shutdown token.
type Demotion struct {
	ID            string `json:"id"`
	To            string `json:"to"`
	SystemID      string `json:"system-id"`
	Timeline      int    `json:"timeline"`
	CheckpointLSN string `json:"checkpoint-lsn"`
}

// parallel runs fns concurrently and returns the first error (in argument order). The hook
// tools are separate processes: reading the state concurrently cuts a hook's latency.
func parallel(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Facts that rarely change, kept in the unit's charm state so that the next hook reads what
// depends on them in its second round of tool calls instead of its third and fourth: each is
// checked against what that hook reads, and a stale one costs a round, never a wrong answer.
const (
	localPeerRelation = "peer-relation" // the peer relation id the peers below are of
	localPeers        = "peers"         // the peers in scope, sorted, comma-separated
	localSecretID     = "secret-id"     // URI of the passwords secret
)

// secretRead is a passwords secret read ahead of loadPasswords.
type secretRead struct {
	uri     string
	content map[string]string
	err     error
}

// takeSecret returns the content of secret uri as readState read it ahead (prefetchSecrets),
// once: a later read goes to the tool, and so sees what this hook wrote since. ok is false
// when it was not read ahead or its read failed.
func (st *State) takeSecret(uri string) (content map[string]string, ok bool) {
	r := st.secretsAhead[uri]
	delete(st.secretsAhead, uri)
	if r == nil || r.err != nil {
		return nil, false
	}
	return r.content, true
}

// readState reads what the hook needs in two rounds of tool calls (a round of concurrent
// calls costs about one call on Juju, where each is an API round trip): the first reads the
// leadership, config, address, relation ids and the unit's charm state; as soon as the peer
// relation id and the charm state are in, the second reads the peer relation's units and
// buckets and the passwords secret, using the peers and the secret id the last hook saw, and
// the relations of the extension's prefetch endpoints (readahead.go). A peer that joined
// since is read in a third round.
func (c *Charm) readState(ctx context.Context) (*State, error) {
	t := c.Tools
	st := &State{Unit: c.Env.UnitName, App: c.Env.AppName(), PeerData: map[string]map[string]string{},
		AppData: map[string]string{}, MyData: map[string]string{}, Passwords: map[string]string{}, Pending: map[string]string{},
		Local: map[string]string{}, appWrites: map[string]string{}, myWrites: map[string]string{}, localWrites: map[string]string{},
		relationIDs: map[string][]string{}, relAhead: map[string]*relationAhead{}}
	var cfg map[string]any
	var net hookenv.Network
	var local map[string]string
	localRead := make(chan struct{})   // closed once local is set (or state-get failed)
	leaderKnown := make(chan struct{}) // closed once st.Leader is set (or is-leader failed)
	known := func() (map[string]string, bool) {
		<-localRead
		<-leaderKnown
		return local, st.Leader
	}
	// The database and certificates relations are the charm's own; the extension adds the
	// replication endpoints.
	prefetch := append([]string{ClientEndpoint, CertificatesEndpoint}, c.extension().prefetchEndpoints()...)
	extraIDs := make([][]string, len(prefetch))
	relAhead := make([]map[string]*relationAhead, len(prefetch))
	var ahead map[string]map[string]string // peer buckets read before relation-list answered
	fns := []func() error{
		func() (err error) {
			st.Leader, err = t.IsLeader(ctx)
			close(leaderKnown)
			if err != nil {
				return fmt.Errorf("is-leader: %w", err)
			}
			// The statuses as they are, so that the hook's last round sets only what
			// changes (a status this read misses is set regardless).
			cur, err := t.StatusGet(ctx, st.Leader)
			if err != nil {
				return nil
			}
			if st.Leader {
				st.shown = map[bool]hookenv.StatusInfo{true: cur}
				if u, ok := cur.Units[st.Unit]; ok {
					st.shown[false] = u
				}
			} else {
				st.shown = map[bool]hookenv.StatusInfo{false: cur}
			}
			return nil
		},
		func() (err error) {
			if cfg, err = t.ConfigGet(ctx); err != nil {
				return fmt.Errorf("config-get: %w", err)
			}
			return nil
		},
		func() (err error) {
			if net, err = t.NetworkGet(ctx, PeerEndpoint); err != nil {
				return fmt.Errorf("network-get: %w", err)
			}
			// A hook opens the workload at once (Pebble), while the other reads run.
			if !c.Env.IsAction() {
				st.opening = c.openAhead(ctx, net.BindAddress())
			}
			return nil
		},
		func() (err error) {
			defer close(localRead)
			if local, err = t.StateGet(ctx); err != nil {
				return fmt.Errorf("state-get: %w", err)
			}
			return nil
		},
		func() error {
			ids, err := t.RelationIDs(ctx, PeerEndpoint)
			if err != nil {
				return fmt.Errorf("relation-ids: %w", err)
			}
			if len(ids) == 0 {
				return nil
			}
			st.PeerRelID = ids[0]
			<-localRead // when state-get failed, its error is the hook's
			ahead, err = c.readPeers(ctx, st, local)
			return err
		},
	}
	var secrets []*secretRead // the extension's prefetchSecrets
	fns = append(fns, func() error {
		<-localRead
		uris := c.extension().prefetchSecrets(local)
		secrets = make([]*secretRead, len(uris))
		reads := make([]func() error, len(uris))
		for i, uri := range uris {
			reads[i] = func() error {
				content, err := t.SecretGet(ctx, hookenv.SecretGetArgs{URI: uri})
				secrets[i] = &secretRead{uri: uri, content: content, err: err}
				return nil
			}
		}
		return parallel(reads...)
	})
	// The certificates relation's key, when the last hook saw the relation (tls_certificates.go).
	fns = append(fns, func() error {
		<-localRead
		if parseAheadRecord(local[aheadKey(CertificatesEndpoint)]).Rel == "" {
			return nil
		}
		content, err := t.SecretGet(ctx, hookenv.SecretGetArgs{Label: certKeyLabel(c.Env.UnitNumber())})
		st.certKeyAhead = &secretRead{content: content, err: err}
		return nil
	})
	for i, ep := range prefetch {
		fns = append(fns, func() (err error) {
			if extraIDs[i], err = t.RelationIDs(ctx, ep); err != nil {
				return fmt.Errorf("relation-ids %s: %w", ep, err)
			}
			relAhead[i] = c.readAhead(ctx, ep, extraIDs[i], known)
			return nil
		})
	}
	if err := parallel(fns...); err != nil {
		return nil, err
	}
	st.Leaving = local[leavingKey] == "true"
	for _, r := range secrets {
		if st.secretsAhead == nil {
			st.secretsAhead = map[string]*secretRead{}
		}
		st.secretsAhead[r.uri] = r
	}
	if local != nil {
		st.Local = local
	}
	for i, ep := range prefetch {
		st.relationIDs[ep] = extraIDs[i]
		maps.Copy(st.relAhead, relAhead[i])
		st.recordAhead(ep, extraIDs[i], c.relationBroken)
	}
	st.Config, st.ConfigErr = ParseConfig(cfg)
	st.Address = net.BindAddress()
	if st.PeerRelID == "" {
		return st, nil
	}
	// The peers that were not read ahead (joined since the last hook, or their read failed).
	var missing []string
	for _, u := range st.Peers {
		if d, ok := ahead[u]; ok {
			st.PeerData[u] = d
		} else {
			missing = append(missing, u)
		}
	}
	refs := make([]bucketRef, len(missing))
	for i, u := range missing {
		refs[i] = bucketRef{owner: u}
	}
	peerData, err := c.relationGetAll(ctx, st, st.PeerRelID, refs)
	if err != nil {
		return nil, err
	}
	for i, u := range missing {
		st.PeerData[u] = peerData[i]
	}
	if st.AppData == nil {
		st.AppData = map[string]string{}
	}
	if st.MyData == nil {
		st.MyData = map[string]string{}
	}
	st.SetLocal(localPeerRelation, st.PeerRelID)
	st.SetLocal(localPeers, strings.Join(st.Peers, ","))
	return st, nil
}

// readPeers is readState's second round: relation-list, the app and unit buckets, the buckets
// of the peers local (the unit's charm state) lists for this relation, and the passwords secret
// whose id it holds. It returns the peer buckets read ahead; a read ahead that fails is left
// to the caller, which reads again the peers that are really in scope.
func (c *Charm) readPeers(ctx context.Context, st *State, local map[string]string) (map[string]map[string]string, error) {
	t := c.Tools
	var cached []string
	if local[localPeerRelation] == st.PeerRelID && local[localPeers] != "" {
		for _, u := range strings.Split(local[localPeers], ",") {
			if u != st.Unit && u != c.Env.DepartingUnit {
				cached = append(cached, u)
			}
		}
	}
	data := make([]map[string]string, len(cached))
	errs := make([]error, len(cached))
	fns := []func() error{
		func() (err error) {
			if st.Peers, err = t.RelationList(ctx, st.PeerRelID); err != nil {
				return fmt.Errorf("relation-list: %w", err)
			}
			// A departing unit is still listed in some runtimes' departed hooks: drop it.
			if d := c.Env.DepartingUnit; d != "" {
				st.Peers = slices.DeleteFunc(st.Peers, func(u string) bool { return u == d })
			}
			return nil
		},
		func() (err error) {
			if st.AppData, err = t.RelationGet(ctx, st.PeerRelID, st.App, true); err != nil {
				return fmt.Errorf("relation-get --app: %w", err)
			}
			return nil
		},
		func() (err error) {
			if st.MyData, err = t.RelationGet(ctx, st.PeerRelID, st.Unit, false); err != nil {
				return fmt.Errorf("relation-get %s: %w", st.Unit, err)
			}
			return nil
		},
	}
	for i, u := range cached {
		fns = append(fns, func() error {
			data[i], errs[i] = t.RelationGet(ctx, st.PeerRelID, u, false)
			return nil
		})
	}
	if uri := local[localSecretID]; uri != "" {
		fns = append(fns, func() error {
			content, err := t.SecretGet(ctx, hookenv.SecretGetArgs{URI: uri})
			st.secretAhead = &secretRead{uri: uri, content: content, err: err}
			return nil
		})
	}
	if err := parallel(fns...); err != nil {
		return nil, err
	}
	ahead := map[string]map[string]string{}
	for i, u := range cached {
		if errs[i] == nil {
			ahead[u] = data[i]
		}
	}
	return ahead, nil
}

// RelationIDs returns the ids of an endpoint's relations: read in the first round when the
// endpoint is one of the extension's prefetchEndpoints, else now.
func (c *Charm) RelationIDs(ctx context.Context, st *State, endpoint string) ([]string, error) {
	if ids, ok := st.relationIDs[endpoint]; ok {
		return ids, nil
	}
	return c.Tools.RelationIDs(ctx, endpoint)
}

// flush writes this hook's peer relation, charm state and timer changes, all at once (the
// writes are independent: Juju commits them together when the hook ends).
func (c *Charm) flush(ctx context.Context, st *State) error {
	return c.flushWith(ctx, st)
}

// flushWith is flush with more writes (e.g. the statuses) in the same round.
func (c *Charm) flushWith(ctx context.Context, st *State, more ...func() error) error {
	fns := []func() error{
		pending(&st.localWrites, "state-set", func(v map[string]string) error { return c.Tools.StateSet(ctx, v) }),
		func() error { return c.flushTimers(ctx, st) },
	}
	if st.PeerRelID != "" {
		fns = append(fns,
			pending(&st.appWrites, "relation-set --app", func(v map[string]string) error {
				return c.Tools.RelationSet(ctx, st.PeerRelID, true, v)
			}),
			pending(&st.myWrites, "relation-set", func(v map[string]string) error {
				return c.Tools.RelationSet(ctx, st.PeerRelID, false, v)
			}))
	}
	return parallel(append(fns, more...)...)
}

// pending returns the write of the values collected in *writes by set (none when there are
// none), which empties them once written.
func pending(writes *map[string]string, tool string, set func(map[string]string) error) func() error {
	return func() error {
		if len(*writes) == 0 {
			return nil
		}
		if err := set(*writes); err != nil {
			return fmt.Errorf("%s: %w", tool, err)
		}
		*writes = map[string]string{}
		return nil
	}
}

const pwAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// GeneratePassword returns a random 24-character alphanumeric password.
func GeneratePassword() (string, error) {
	b := make([]byte, 24)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(pwAlphabet))))
		if err != nil {
			return "", err
		}
		b[i] = pwAlphabet[n.Int64()]
	}
	return string(b), nil
}

// loadPasswords reads the passwords secret; the leader creates it on first use. It returns
// waiting when a non-leader runs before the leader published it.
func (c *Charm) loadPasswords(ctx context.Context, st *State) error {
	uri := st.AppData["secret-id"]
	if uri == "" {
		if !st.Leader {
			return waiting("waiting for the leader to generate the passwords")
		}
		content, err := newCAContent(st.App, c.Now())
		if err != nil {
			return err
		}
		for _, u := range SystemUsers {
			pw, err := GeneratePassword()
			if err != nil {
				return fmt.Errorf("generate password: %w", err)
			}
			content[passwordKey(u)] = pw
		}
		uri, err := c.Tools.SecretAdd(ctx, hookenv.SecretAddArgs{Content: content, Label: SecretLabel,
			Description: "passwords of the PostgreSQL system users", Owner: "application"})
		if err != nil {
			return fmt.Errorf("secret-add: %w", err)
		}
		st.SetApp("secret-id", uri)
		st.SetLocal(localSecretID, uri)
		for _, u := range SystemUsers {
			st.Passwords[u] = content[passwordKey(u)]
		}
		st.secret, st.secretStored, st.secretCreated = content, maps.Clone(content), true
		return loadTLS(st)
	}
	var content map[string]string
	var err error
	if a := st.secretAhead; a != nil && a.uri == uri && a.err == nil {
		content = a.content // read by readState
	} else if content, err = c.Tools.SecretGet(ctx, hookenv.SecretGetArgs{URI: uri}); err != nil {
		return fmt.Errorf("secret-get passwords: %w", err)
	}
	for _, u := range SystemUsers {
		st.Passwords[u] = content[passwordKey(u)]
		if st.Passwords[u] == "" {
			return fmt.Errorf("passwords secret lacks %s", passwordKey(u))
		}
		if p := content[pendingKey(u)]; p != "" {
			st.Pending[u] = p
		} else {
			delete(st.Pending, u)
		}
	}
	st.SetLocal(localSecretID, uri)
	st.secret, st.secretStored = maps.Clone(content), content
	if err := c.ensureClusterCA(ctx, st); err != nil {
		return err
	}
	return loadTLS(st)
}

// storePasswords writes the passwords and the pending changes to the secret (leader), keeping
// the keys it does not own (e.g. the cluster CA), and bumps secret-revision so that the
// peers re-read it. Nothing is written when nothing changed.
func (c *Charm) storePasswords(ctx context.Context, st *State) error {
	if st.secret == nil {
		// Writing without the content read would drop the keys others own (the CA).
		return errors.New("the passwords secret was not read before writing it")
	}
	content := maps.Clone(st.secret) // the keys this function does not own stay
	for _, u := range SystemUsers {
		content[passwordKey(u)] = st.Passwords[u]
		if p := st.Pending[u]; p != "" {
			content[pendingKey(u)] = p
		} else {
			delete(content, pendingKey(u))
		}
	}
	if maps.Equal(content, st.secretStored) {
		return nil
	}
	if err := c.Tools.SecretSet(ctx, st.AppData["secret-id"], content); err != nil {
		return fmt.Errorf("secret-set: %w", err)
	}
	st.secret, st.secretStored = content, maps.Clone(content)
	rev, _ := strconv.Atoi(st.AppData["secret-revision"])
	st.SetApp("secret-revision", strconv.Itoa(rev+1))
	return nil
}
