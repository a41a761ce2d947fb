package charm

import (
	"context"

	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// RoleKind is what this unit's PostgreSQL should be.
type RoleKind string

const (
	// RolePrimary: writable server of the cluster.
	RolePrimary RoleKind = "primary"
	// RoleReplica: streams from Upstream (in-cluster primary, or a remote one for a standby
	// cluster's leader).
	RoleReplica RoleKind = "replica"
	// RoleStopped: keep the server shut down (e.g. an old primary during a switchover).
	RoleStopped RoleKind = "stopped"
	// RoleWait: nothing can be decided yet (Message says why).
	RoleWait RoleKind = "wait"
	// RoleReadOnly: a standby that streams from nobody (the head of a standalone former
	// standby cluster): read-only until promoted.
	RoleReadOnly RoleKind = "read-only"
)

// Role is the desired role of this unit.
type Role struct {
	Kind RoleKind
	// Upstream (replica): the unit (or remote endpoint label) and address to stream from.
	UpstreamUnit string
	UpstreamAddr string
	UpstreamPort int
	// Slot is the slot name on the upstream (default: SlotName(this unit)).
	Slot string
	// UpstreamRemote: the upstream is the other cluster's primary (a standby cluster's head),
	// where the charm's SQL (slots, timeline history, CHECKPOINT) logs in as replication.
	UpstreamRemote bool
	// UpstreamPass are passfile entries for the upstream's replication/rewind users (host-
	// specific entries, written before this cluster's wildcard ones).
	UpstreamPass []postgres.PassEntry
	// Status is the active status message ("Primary", "Replica", "Standby"...), or the
	// waiting/maintenance message for RoleWait/RoleStopped.
	Status string
	// StatusLevel is the unit status of a running role (default "active"; e.g. "blocked" for
	// a standalone read-only cluster).
	StatusLevel string
}

// DesiredRole computes the role of this unit from the peer (and, through the extension's
// roleRule, the replication) relation data. It is the one place where roles are decided.
func (c *Charm) DesiredRole(ctx context.Context, st *State) Role {
	if r, ok := c.extension().roleRule(ctx, c, st); ok {
		return r
	}
	return InClusterRole(st)
}

// InClusterRole is the role inside one cluster: the unit the leader recorded is primary, the
// others follow it; an old primary handing over in a switchover stays stopped.
func InClusterRole(st *State) Role {
	primary := st.Primary()
	if primary == "" {
		return Role{Kind: RoleWait, Status: "waiting for the leader to choose a primary"}
	}
	if sw := st.Switchover(); sw != nil {
		if sw.From == st.Unit && primary == st.Unit {
			return Role{Kind: RoleStopped, Status: "switchover to " + sw.To + ": stopped cleanly, waiting for it to promote"}
		}
		if sw.To == st.Unit && st.MyData["promoted"] == sw.ID {
			return Role{Kind: RolePrimary, Status: "Primary"}
		}
	}
	if primary == st.Unit {
		return Role{Kind: RolePrimary, Status: "Primary"}
	}
	addr := st.PrimaryAddress()
	if addr == "" {
		return Role{Kind: RoleWait, Status: "waiting for the address of primary " + primary}
	}
	return Role{Kind: RoleReplica, UpstreamUnit: primary, UpstreamAddr: addr, UpstreamPort: PGPort, Status: "Replica"}
}

// upstreamLogin is the login for SQL on the role's upstream.
func (r Role) upstreamLogin(st *State) postgres.Login {
	if r.UpstreamRemote {
		return remoteLogin(st)
	}
	return selfLogin(st)
}
