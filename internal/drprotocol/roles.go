package drprotocol

import (
	"errors"
	"fmt"
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
// integers). An epoch of 0 claims nothing. Equal epochs above 0 can only come from two forced
// promotions racing; the offering side (`replication-offer`) wins then, so that both clusters
// reach the same answer without talking.
func PrimarySide(local, remote AppData, localOffers bool) Side {
	switch {
	case local.Epoch == 0 && remote.Epoch == 0:
		return Neither
	case local.Epoch > remote.Epoch:
		return Local
	case remote.Epoch > local.Epoch:
		return Remote
	case localOffers:
		return Local
	default:
		return Remote
	}
}

// NextEpoch is the epoch a cluster claims to become primary: above every epoch either side
// has published or requested.
func NextEpoch(local, remote AppData) int64 {
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
	return n + 1
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
