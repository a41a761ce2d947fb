package drprotocol

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
)

// Side names one end of the relation from this cluster's point of view.
type Side int

// Sides of the relation.
const (
	Neither Side = iota // nobody claims to be primary: not replicating
	Local
	Remote
)

func (s Side) String() string {
	switch s {
	case Local:
		return "local"
	case Remote:
		return "remote"
	default:
		return "neither"
	}
}

// PrimarySide decides which cluster is the primary one: the higher epoch wins (compared as
// integers). An epoch of 0 claims nothing. Equal epochs above 0 can only come from two claims
// racing (a forced promotion and a rollback, or two forced promotions); both clusters must
// reach the same answer without talking, from the buckets both can read, so the tie goes to
// the cluster that publishes role primary over one that does not, then to the higher system
// id, then to the offering side (`replication-offer`). A request id cannot decide: a claim
// that won is published without one.
func PrimarySide(local, remote AppData, localOffers bool) Side {
	switch {
	case local.Epoch == 0 && remote.Epoch == 0:
		return Neither
	case local.Epoch > remote.Epoch:
		return Local
	case remote.Epoch > local.Epoch:
		return Remote
	}
	if lp, rp := local.Role == RolePrimary, remote.Role == RolePrimary; lp != rp {
		return pick(lp)
	}
	if c := compareSystemIDs(local.SystemID, remote.SystemID); c != 0 {
		return pick(c > 0)
	}
	return pick(localOffers)
}

func pick(local bool) Side {
	if local {
		return Local
	}
	return Remote
}

// compareSystemIDs compares two decimal system ids as numbers ("" is the lowest).
func compareSystemIDs(a, b string) int {
	if len(a) != len(b) {
		return cmp.Compare(len(a), len(b))
	}
	return strings.Compare(a, b)
}

// ErrEpochsExhausted: a claim above every published epoch would pass MaxEpoch (only a remote
// that publishes absurd epochs gets there): publishing it would make our own bucket invalid.
var ErrEpochsExhausted = errors.New("no epoch left below the bound: the other cluster publishes epochs at the limit; remove and re-create the relation")

// NextEpoch is the epoch a cluster claims to become primary: above every epoch either side
// has published or requested, and never above MaxEpoch.
func NextEpoch(local, remote AppData) (int64, error) {
	n := max(local.Epoch, remote.Epoch)
	for _, s := range []*Switchover{local.Switchover, remote.Switchover} {
		if s != nil {
			n = max(n, s.Epoch)
		}
	}
	for _, d := range []*Demotion{local.Demotion, remote.Demotion} {
		if d != nil {
			n = max(n, d.Epoch)
		}
	}
	if n >= MaxEpoch {
		return 0, ErrEpochsExhausted
	}
	return n + 1, nil
}

// Replicating reports whether the two clusters have an established primary/standby pair.
func Replicating(local, remote AppData) bool {
	return local.Epoch > 0 || remote.Epoch > 0
}

// Action failures the charm shows to the user as they are.
var (
	ErrNoRelation       = errors.New("no replication relation: integrate replication-offer with the other cluster's replication endpoint first")
	ErrNotInitialised   = errors.New("this cluster is not initialised yet: wait until its units are active")
	ErrRemoteNotReady   = errors.New("the other cluster has not published its data yet: wait until it is active")
	ErrNotPrimaryRemote = errors.New("this cluster is not a standby of the other one")
)

// CheckCreate validates create-replication on the offering cluster's leader.
func CheckCreate(local, remote AppData, initialised bool) error {
	switch {
	case !initialised:
		return ErrNotInitialised
	case local.Role == RolePrimary && PrimarySide(local, remote, true) == Local:
		return fmt.Errorf("this cluster is already the primary cluster (epoch %d): replication exists", local.Epoch)
	case Replicating(local, remote):
		return fmt.Errorf("replication already exists (this cluster %s, epoch %d; other cluster %s, epoch %d)",
			orNone(local.Role), local.Epoch, orNone(remote.Role), remote.Epoch)
	}
	return nil
}

// CheckPromote validates promote-to-primary scope=cluster on a cluster's leader, before any
// change. remoteReachable says whether the other cluster's primary answered.
func CheckPromote(local, remote AppData, localOffers, remoteReachable, force bool) error {
	if !Replicating(local, remote) {
		return ErrNotPrimaryRemote
	}
	if PrimarySide(local, remote, localOffers) == Local && local.Role == RolePrimary {
		return fmt.Errorf("this cluster is already the primary cluster (epoch %d)", local.Epoch)
	}
	if local.Switchover != nil {
		return fmt.Errorf("a switchover to this cluster is already in progress (request %s, epoch %d)", local.Switchover.ID, local.Switchover.Epoch)
	}
	if !remoteReachable && !force {
		return errors.New("the primary cluster is unreachable: a planned switchover needs it to shut down cleanly. " +
			"Pass force=true to promote anyway; transactions it committed but had not yet sent to this cluster would be lost")
	}
	return nil
}

func orNone(r Role) string {
	if r == RoleNone {
		return "not replicating"
	}
	return string(r)
}
