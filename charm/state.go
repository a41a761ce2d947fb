package charm

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/hookenv"
	"github.com/jujulet/postgresql-k8s/internal/pgwatch"
)

// System users and their secret keys.
var SystemUsers = []string{"operator", "replication", "rewind", "monitoring"}

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

	Passwords map[string]string // user → password ("" until the secret exists)

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
func (s *State) SetApp(k, v string) {
	if s.AppData[k] == v {
		return
	}
	if v == "" {
		delete(s.AppData, k)
	} else {
		s.AppData[k] = v
	}
	s.appWrites[k] = v
}

// SetMine records a write to this unit's peer bucket.
func (s *State) SetMine(k, v string) {
	if s.MyData[k] == v {
		return
	}
	if v == "" {
		delete(s.MyData, k)
	} else {
		s.MyData[k] = v
	}
	s.myWrites[k] = v
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

func (c *Charm) readState(ctx context.Context) (*State, error) {
	t := c.Tools
	st := &State{Unit: c.Env.UnitName, App: c.Env.AppName(), PeerData: map[string]map[string]string{},
		AppData: map[string]string{}, MyData: map[string]string{}, Passwords: map[string]string{},
		Local: map[string]string{}, appWrites: map[string]string{}, myWrites: map[string]string{}, localWrites: map[string]string{}}
	var cfg map[string]any
	var net hookenv.Network
	var ids []string
	err := parallel(
		func() (err error) {
			if st.Leader, err = t.IsLeader(ctx); err != nil {
				return fmt.Errorf("is-leader: %w", err)
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
			return nil
		},
		func() (err error) {
			if ids, err = t.RelationIDs(ctx, PeerEndpoint); err != nil {
				return fmt.Errorf("relation-ids: %w", err)
			}
			return nil
		},
		func() error {
			state, err := t.StateGet(ctx)
			if err != nil {
				return fmt.Errorf("state-get: %w", err)
			}
			st.Leaving = state[leavingKey] == "true"
			if state != nil {
				st.Local = state
			}
			return nil
		},
	)
	if err != nil {
		return nil, err
	}
	st.Config, st.ConfigErr = ParseConfig(cfg)
	st.Address = net.BindAddress()
	if len(ids) == 0 {
		return st, nil
	}
	st.PeerRelID = ids[0]
	if st.Peers, err = t.RelationList(ctx, st.PeerRelID); err != nil {
		return nil, fmt.Errorf("relation-list: %w", err)
	}
	// A departing unit is still listed in some runtimes' departed hooks: drop it.
	if d := c.Env.DepartingUnit; d != "" {
		st.Peers = slices.DeleteFunc(st.Peers, func(u string) bool { return u == d })
	}
	peerData := make([]map[string]string, len(st.Peers))
	fns := []func() error{
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
	for i, u := range st.Peers {
		fns = append(fns, func() (err error) {
			if peerData[i], err = t.RelationGet(ctx, st.PeerRelID, u, false); err != nil {
				return fmt.Errorf("relation-get %s: %w", u, err)
			}
			return nil
		})
	}
	if err := parallel(fns...); err != nil {
		return nil, err
	}
	for i, u := range st.Peers {
		st.PeerData[u] = peerData[i]
	}
	if st.AppData == nil {
		st.AppData = map[string]string{}
	}
	if st.MyData == nil {
		st.MyData = map[string]string{}
	}
	return st, nil
}

// flush writes this hook's peer relation, charm state and timer changes.
func (c *Charm) flush(ctx context.Context, st *State) error {
	if len(st.localWrites) > 0 {
		if err := c.Tools.StateSet(ctx, st.localWrites); err != nil {
			return fmt.Errorf("state-set: %w", err)
		}
		st.localWrites = map[string]string{}
	}
	if err := c.flushTimers(ctx, st); err != nil {
		return err
	}
	if st.PeerRelID == "" {
		return nil
	}
	if len(st.appWrites) > 0 {
		if err := c.Tools.RelationSet(ctx, st.PeerRelID, true, st.appWrites); err != nil {
			return fmt.Errorf("relation-set --app: %w", err)
		}
		st.appWrites = map[string]string{}
	}
	if len(st.myWrites) > 0 {
		if err := c.Tools.RelationSet(ctx, st.PeerRelID, false, st.myWrites); err != nil {
			return fmt.Errorf("relation-set: %w", err)
		}
		st.myWrites = map[string]string{}
	}
	return nil
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
		content := map[string]string{}
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
		for _, u := range SystemUsers {
			st.Passwords[u] = content[passwordKey(u)]
		}
		return nil
	}
	content, err := c.Tools.SecretGet(ctx, hookenv.SecretGetArgs{URI: uri})
	if err != nil {
		return fmt.Errorf("secret-get passwords: %w", err)
	}
	for _, u := range SystemUsers {
		st.Passwords[u] = content[passwordKey(u)]
		if st.Passwords[u] == "" {
			return fmt.Errorf("passwords secret lacks %s", passwordKey(u))
		}
	}
	return nil
}

// storePasswords writes new passwords to the secret (leader) and bumps secret-revision so
// that the peers re-read it.
func (c *Charm) storePasswords(ctx context.Context, st *State) error {
	content := map[string]string{}
	for _, u := range SystemUsers {
		content[passwordKey(u)] = st.Passwords[u]
	}
	if err := c.Tools.SecretSet(ctx, st.AppData["secret-id"], content); err != nil {
		return fmt.Errorf("secret-set: %w", err)
	}
	rev, _ := strconv.Atoi(st.AppData["secret-revision"])
	st.SetApp("secret-revision", strconv.Itoa(rev+1))
	return nil
}
