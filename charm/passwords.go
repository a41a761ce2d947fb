package charm

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// Password changes that cannot lock anybody out (docs/DESIGN.md, "Passwords").
//
// Juju commits a hook's secret writes only when the hook ends, while ALTER ROLE commits at
// once: a hook that changed a password in the database and then died would leave a password
// that no committed secret holds. So a change spans two hooks:
//
//  1. set-password (the leader) writes a new revision of the passwords secret with the new
//     password under pendingKey(user), the committed one unchanged, and asks for a hook at
//     once (timer "passwords"); its commit is the end of the action.
//  2. A later hook of the leader (that timer's, or any other) changes the password in the
//     primary's database,
//  3. then, in the same hook, makes the pending password the committed one and drops the
//     marker: committed only when that hook ends, after the database change.
//
// A hook that dies between 2 and 3 leaves the marker committed: the next leader hook applies
// the change again (ALTER ROLE is idempotent) and clears it. The charm itself logs in with a
// certificate (logins.go), so no password change can lock it out; whoever logs in as the
// user meanwhile may need the pending password. While a change of a user is pending, the
// primary does not re-apply that user's committed password (ensureSystemRoles), and
// set-password refuses a second change of it.

// timerPasswords wakes the leader up to apply pending password changes (timers.go).
const timerPasswords = "passwords"

// localPasswordsBackoff (unit charm state) is the backoff of timerPasswords after a failed try.
const localPasswordsBackoff = "passwords-backoff"

// pendingKey is the secret key of user's password while a change of it is pending (Juju's
// key rule: lower-case letters, digits and single dashes).
func pendingKey(user string) string { return "pending-" + passwordKey(user) }

// checkPassword says why pw cannot be stored and used by every client ("" when it can):
// 1-100 bytes without NUL or line breaks (a line break would inject entries into the libpq
// passfile), and one that libpq and pgx normalise alike (SCRAM, internal/postgres).
func checkPassword(pw string) string {
	if pw == "" || len(pw) > 100 || strings.ContainsAny(pw, "\x00\n\r") {
		return "the password must be 1-100 bytes without NUL or line breaks"
	}
	if err := postgres.CheckPassword(pw); err != nil {
		return err.Error()
	}
	return ""
}

// validPassword reports whether pw can be stored and used (checkPassword).
func validPassword(pw string) bool { return checkPassword(pw) == "" }

// requestPasswordChange is step 1: the new password is written to the secret as pending
// (and to the shared secret, whose users the other cluster copies), for a later hook to
// apply. Nothing changes in the database in this hook.
func (c *Charm) requestPasswordChange(ctx context.Context, st *State, user, pw string) error {
	if _, busy := st.Pending[user]; busy {
		return failf("a change of the password of %s is still being applied (by the leader's next hook): try again in a few seconds", user)
	}
	st.Pending[user] = pw
	if err := c.storePasswords(ctx, st); err != nil {
		return err
	}
	if err := updateSharedSecret(ctx, c, st); err != nil {
		return err
	}
	st.WakeAt(timerPasswords, c.Now())
	return nil
}

// finishPasswordChanges is steps 2 and 3, on the leader of a cluster that takes writes (a
// standby cluster's users change with the primary cluster's). A failed try is retried by
// timer, with a backoff; it does not stop the rest of the hook.
func (c *Charm) finishPasswordChanges(ctx context.Context, st *State, w Workload) {
	if !st.Leader || len(st.Pending) == 0 || refuseSetPassword(st) != "" {
		return
	}
	err := c.applyPendingPasswords(ctx, st, w)
	c.backOff(st, err != nil, timerPasswords, localPasswordsBackoff, RetryMax)
	if err != nil {
		c.logf(ctx, slog.LevelWarn, "pending password change of %s not applied yet, retrying: %v",
			strings.Join(slices.Sorted(maps.Keys(st.Pending)), ", "), err)
	}
}

func (c *Charm) applyPendingPasswords(ctx context.Context, st *State, w Workload) error {
	if st.Primary() == "" {
		return fmt.Errorf("no primary recorded")
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	db, err := w.Connect(cctx, st.PrimaryAddress(), selfLogin(st))
	if err != nil {
		return fmt.Errorf("cannot reach the primary %s: %w", st.Primary(), err)
	}
	defer db.Close(ctx)
	// The change must reach a synchronous standby (a failover must not bring the old password
	// back): with none streaming the commit would wait for one indefinitely.
	if rs, err := db.Replication(cctx); err != nil {
		return err
	} else if rs.SyncStandbyNames != "" && !slices.ContainsFunc(rs.Standbys, func(r postgres.Replica) bool {
		return r.State == "streaming" && (r.SyncState == "sync" || r.SyncState == "quorum")
	}) {
		return fmt.Errorf("commits on the primary %s wait for a synchronous standby and none streams", st.Primary())
	}
	// A hook killed after the ALTER ROLE below leaves the marker committed, and the next
	// hook finishes the change: this timer, written now rather than with the hook's commit,
	// makes sure that one comes (Juju also retries a failed hook).
	st.WakeAt(timerPasswords, c.Now().Add(RetryMin))
	if err := c.flushTimers(ctx, st); err != nil {
		return err
	}
	users := slices.Sorted(maps.Keys(st.Pending))
	for _, u := range users {
		if err := db.SetPassword(ctx, u, st.Pending[u]); err != nil {
			return err
		}
	}
	for _, u := range users {
		st.Passwords[u] = st.Pending[u]
		delete(st.Pending, u)
	}
	if err := c.storePasswords(ctx, st); err != nil {
		return err
	}
	if err := updateSharedSecret(ctx, c, st); err != nil {
		return err
	}
	st.SetMine("roles", passwordsFingerprint(st.Passwords))
	c.logf(ctx, slog.LevelInfo, "password of %s changed", strings.Join(users, ", "))
	return nil
}
