package charm

import (
	"context"

	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// extension is the seam between the in-cluster charm and cross-regional replication
// (asyncrepl*.go): the in-cluster handlers call it at the few points where another cluster
// changes what they do. noExtension is the charm without it.
type extension interface {
	// prefetchEndpoints are endpoints whose relations readState reads in its first rounds of
	// tool calls (see Charm.RelationIDs and Charm.RelationGet).
	prefetchEndpoints() []string
	// prefetchSecrets are secrets readState reads in its second round, by the URIs the last
	// hook kept in the unit's charm state (local); step takes them with State.takeSecret.
	prefetchSecrets(local map[string]string) []string
	// roleRule is consulted before the in-cluster rule: it decides the role of this unit in
	// the situations it owns (ok=true), e.g. a standby cluster's units follow the remote
	// primary.
	roleRule(ctx context.Context, c *Charm, st *State) (role Role, ok bool)
	// step runs on every unit in every reconcile, after the in-cluster switchover step and
	// before the role is decided: the per-hook work of the other cluster (relation data,
	// seeding, demotion, promotion).
	step(ctx context.Context, c *Charm, st *State, w Workload) error
	// holdFailover, when it returns a reason, stops the leader from failing over from a
	// primary that does not answer (it is down on purpose, e.g. handing over to the other
	// cluster).
	holdFailover(st *State) string
	// refuseUnitSwitchover, when it returns a reason, fails promote-to-primary scope=unit and
	// stops hand-offs (e.g. in a standby cluster, where promoting a unit would make a second
	// writable cluster).
	refuseUnitSwitchover(st *State) string
	// extraHBA adds pg_hba.conf rules (e.g. the other cluster's unit addresses).
	extraHBA(st *State) []postgres.HBARule
	// appStatus is the leader's application status.
	appStatus(st *State) (status, message string)
	// createReplication handles the create-replication action.
	createReplication(ctx context.Context, c *Charm, st *State, params map[string]any) (map[string]string, error)
	// promoteCluster handles promote-to-primary scope=cluster.
	promoteCluster(ctx context.Context, c *Charm, st *State, force bool) error
	// replicationLink is what step read of the relation to the other cluster in this hook;
	// nil without one.
	replicationLink() *replicationLink
}

// replicationLink is the relation to the other cluster as step read it.
type replicationLink struct {
	relID       string
	mine        map[string]string // this cluster's application bucket (leader only)
	remote      map[string]string // the other cluster's application bucket, as published
	remoteAddrs []string          // the other cluster's valid unit addresses
}

// noExtension is a single cluster: nothing to read ahead, no role of its own, nothing held
// or refused, and the cross-cluster actions fail with a message that says why.
type noExtension struct{}

var _ extension = noExtension{}

func (noExtension) prefetchEndpoints() []string                           { return nil }
func (noExtension) prefetchSecrets(map[string]string) []string            { return nil }
func (noExtension) roleRule(context.Context, *Charm, *State) (Role, bool) { return Role{}, false }
func (noExtension) step(context.Context, *Charm, *State, Workload) error  { return nil }
func (noExtension) holdFailover(*State) string                            { return "" }
func (noExtension) refuseUnitSwitchover(*State) string                    { return "" }
func (noExtension) extraHBA(*State) []postgres.HBARule                    { return nil }
func (noExtension) appStatus(*State) (string, string)                     { return "active", "Primary" }
func (noExtension) replicationLink() *replicationLink                     { return nil }

func (noExtension) createReplication(context.Context, *Charm, *State, map[string]any) (map[string]string, error) {
	return nil, failf("no cross-regional replication relation: integrate replication-offer with replication first")
}

func (noExtension) promoteCluster(context.Context, *Charm, *State, bool) error {
	return failf("scope=cluster needs cross-regional replication (replication-offer/replication), which is not set up")
}

// extension returns c's extension: noExtension when none was installed (a Charm built
// without New).
func (c *Charm) extension() extension {
	if c.ext == nil {
		return noExtension{}
	}
	return c.ext
}
