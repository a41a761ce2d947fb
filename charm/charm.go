// Package charm holds the postgresql-k8s handlers: one idempotent reconcile for every hook,
// the leader's duties (primary election, failover, passwords), the in-cluster switchover
// protocol and the actions. Handlers talk to Juju only through hookenv.Tools and to
// PostgreSQL only through Workload, so tests run them against fakes.
//
// Peer relation data (endpoint database-peers):
//
//	app bucket (leader):  primary          unit name of the primary
//	                      primary-address  its address
//	                      secret-id        URI of the app-owned passwords secret
//	                      secret-revision  bumped on each change of the passwords secret: peers refresh
//	                      system-id        database system identifier of the cluster
//	                      switchover       JSON Switchover while a planned switchover runs
//	                      last-switchover  id of the last switchover completed or rolled back
//	                      ended-switchovers JSON list of the last 32 switchover ids the leader ended
//	                      last-failover-request  id of the last failover request handled
//	unit bucket:          address          this unit's address (PostgreSQL listens on :5432)
//	                      version          PostgreSQL major, once the unit has run it (a replica
//	                                       that ran counts for synchronous_mode_strict)
//	                      switchover-request JSON {id,to} from a non-leader's action
//	                      demoted          JSON Demotion: the old primary's clean-shutdown token
//	                      promoted         switchover id the target promoted for
//	                      upstream-down    JSON {primary,since}: this replica's upstream check
//	                                       fails (events.go)
//	                      sync-standbys    JSON SyncRecord (primary): the standbys failover may
//	                                       promote (charm/sync.go, docs/SYNC.md)
//	                      failover-request JSON failoverRequest: promote-to-primary scope=unit
//	                                       while the primary is down
//	                      tls-source       "relation" while this unit's server presents a
//	                                       certificate from the certificates relation
//	                                       (tls_certificates.go)
//	app bucket, also:     pinned-primary   unit an operator made primary (no hand-off from it)
//
// Unit charm state (state-set): leaving, retry-backoff, primary-down, handoff-after (timers.go);
// peer-relation, peers and secret-id, what the last hook saw, which the next one reads ahead
// from (state.go); ahead-<endpoint>, the same for the extension's relations (readahead.go).
// Cross-regional replication adds its dr-* keys (asyncrepl.go, docs/PROTOCOL.md).
package charm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/hookenv"
)

// Endpoint and container names from metadata.yaml.
const (
	PeerEndpoint = "database-peers"
	PGPort       = 5432
)

// Charm runs one hook or action.
type Charm struct {
	Env   hookenv.Env
	Tools hookenv.Tools
	// OpenWorkload connects to this unit's workload container; it returns an error wrapping
	// postgres.ErrNotReady when the container is not there yet.
	OpenWorkload func(ctx context.Context, addr string) (Workload, error)
	Log          *slog.Logger
	Now          func() time.Time

	// ext is what cross-regional replication adds to the in-cluster charm (noExtension when
	// it is not enabled; see EnableAsyncReplication).
	ext extension

	// FailoverAfter is the leader's confirmation window: its own probes of a primary that
	// stopped answering must fail for this long before it promotes a replica (a timer wakes
	// it up at the end, see confirmPrimaryDown). SwitchoverReplayWait bounds the in-hook wait
	// of a switchover target (a timer looks again after it); SwitchoverTimeout is when the
	// leader rolls a stuck switchover back (a timer fires then).
	FailoverAfter        time.Duration
	SwitchoverReplayWait time.Duration
	SwitchoverTimeout    time.Duration
	// SyncConfirmWait bounds the primary's in-hook wait for a standby it just made synchronous
	// to catch up before it is published; SyncCheckInterval is how often a primary with
	// replicas looks at them again (a synchronous standby that dies sends no event).
	SyncConfirmWait   time.Duration
	SyncCheckInterval time.Duration

	// Certs, when set, supplies server certificates from elsewhere than the cluster CA (the
	// certificates relation; see CertSource in tls.go).
	Certs CertSource

	// unitStatusSet: this hook has set the unit status (so the status it read is stale).
	unitStatusSet atomic.Bool
}

// DefaultFailoverAfter is the failover confirmation window. With the checks' 3 s detection
// and two hooks, a lost primary is replaced in about 10 s; a server that restarts (a crash
// that Pebble restarts, recovery included) usually answers again within it.
const DefaultFailoverAfter = 5 * time.Second

// New returns a Charm with the default timeouts.
func New(env hookenv.Env, tools hookenv.Tools, open func(ctx context.Context, addr string) (Workload, error), log *slog.Logger) *Charm {
	return &Charm{
		Env: env, Tools: tools, OpenWorkload: open, Log: log, Now: time.Now, ext: noExtension{}, Certs: relationCerts{},
		FailoverAfter: DefaultFailoverAfter, SwitchoverReplayWait: 5 * time.Second, SwitchoverTimeout: 90 * time.Second,
		SyncConfirmWait: 5 * time.Second, SyncCheckInterval: 10 * time.Second,
	}
}

// Run handles the hook or action of c.Env. Errors are real failures (the hook fails and
// Juju retries it); a workload that is not ready is a waiting status, not an error.
func (c *Charm) Run(ctx context.Context) error {
	if c.Env.IsAction() {
		return c.runAction(ctx)
	}
	hook := c.Env.HookName
	switch {
	case strings.HasSuffix(hook, "-storage-detaching"):
		// Juju runs storage-detaching first when a unit is removed, before its relations
		// depart (and may run a relation-changed owed to a joined unit in between): the
		// unit is leaving from here on, so no later hook may start its server again.
		if err := c.Tools.StateSet(ctx, map[string]string{leavingKey: "true"}); err != nil {
			return fmt.Errorf("state-set: %w", err)
		}
		return c.onStop(ctx)
	case hook == "stop":
		return c.onStop(ctx)
	case hook == PeerEndpoint+"-relation-departed" && c.Env.DepartingUnit == c.Env.UnitName:
		// Remember that this unit is being removed: no later hook of it may start the server
		// again, or a departing primary could accept writes after a replica was promoted.
		if err := c.Tools.StateSet(ctx, map[string]string{leavingKey: "true"}); err != nil {
			return fmt.Errorf("state-set: %w", err)
		}
		return c.onSelfDeparting(ctx)
	case hook == hookCustomNotice && !c.isOurNotice(ctx):
		return nil
	}
	// Everything else, the workload events included, converges the same idempotent way.
	return c.Reconcile(ctx)
}

// leavingKey marks, in the unit's charm state, a unit that has left the peer relation.
const leavingKey = "leaving"

func (c *Charm) status(ctx context.Context, status, msg string) error {
	c.unitStatusSet.Store(true)
	if err := c.Tools.StatusSet(ctx, false, status, msg); err != nil {
		return fmt.Errorf("status-set: %w", err)
	}
	return nil
}

func (c *Charm) appStatus(ctx context.Context, status, msg string) error {
	if err := c.Tools.StatusSet(ctx, true, status, msg); err != nil {
		return fmt.Errorf("status-set --application: %w", err)
	}
	return nil
}

func (c *Charm) logf(ctx context.Context, level slog.Level, format string, args ...any) {
	if c.Log != nil {
		c.Log.Log(ctx, level, fmt.Sprintf(format, args...))
	}
}

// errWaiting carries a waiting status out of a step: the hook succeeds.
type errWaiting struct{ msg string }

func (e errWaiting) Error() string { return e.msg }

func waiting(format string, args ...any) error { return errWaiting{fmt.Sprintf(format, args...)} }

func asWaiting(err error) (string, bool) {
	var w errWaiting
	if errors.As(err, &w) {
		return w.msg, true
	}
	return "", false
}
