package state

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"time"
)

const xidAlphabet = "0123456789abcdefghijklmnopqrstuv"

// NewXID returns a 20-character xid-style id (base32hex of 12 bytes, time first).
func NewXID() string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], uint32(time.Now().Unix()))
	_, _ = rand.Read(b[4:])
	var out [20]byte
	var acc uint64
	bits := 0
	j := 0
	for _, c := range b {
		acc = acc<<8 | uint64(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out[j] = xidAlphabet[(acc>>bits)&31]
			j++
		}
	}
	if bits > 0 {
		out[j] = xidAlphabet[(acc<<(5-bits))&31]
	}
	return string(out[:])
}

// NormaliseSecretURI turns a bare id or full URI into a full URI for the model.
func NormaliseSecretURI(model, s string) string {
	if strings.HasPrefix(s, "secret://") {
		return s
	}
	s = strings.TrimPrefix(s, "secret:")
	return fmt.Sprintf("secret://%s/%s", model, s)
}

// SecretID is the bare xid of a URI.
func SecretID(uri string) string {
	if i := strings.LastIndex(uri, "/"); i >= 0 {
		return uri[i+1:]
	}
	return uri
}

// Secret returns a secret by full URI.
func (t *Tx) Secret(uri string) (*Secret, bool) {
	s := &Secret{}
	if !t.Get(kSecret, uri, s) {
		return nil, false
	}
	return s, true
}

// PutSecret stores a secret.
func (t *Tx) PutSecret(s *Secret) { t.Put(kSecret, s.URI, s) }

// DeleteSecret removes a secret and its consumers.
func (t *Tx) DeleteSecret(uri string) {
	t.Delete(kSecret, uri)
	t.DeletePrefix(kConsumer, key(uri, ""))
}

// Secrets lists every secret.
func (t *Tx) Secrets() []*Secret { return list[Secret](t, kSecret, "") }

// Consumer returns a unit's pin of a secret.
func (t *Tx) Consumer(uri, model, unit string) (*Consumer, bool) {
	c := &Consumer{}
	if !t.Get(kConsumer, key(uri, model, unit), c) {
		return nil, false
	}
	return c, true
}

// PutConsumer stores a pin.
func (t *Tx) PutConsumer(c *Consumer) { t.Put(kConsumer, key(c.URI, c.Model, c.Unit), c) }

// Consumers lists every pin.
func (t *Tx) Consumers() []*Consumer { return list[Consumer](t, kConsumer, "") }

// CanRead reports whether unit u may read secret s.
func (t *Tx) CanRead(s *Secret, u *Unit) bool {
	if s.Model == u.Model && (s.OwnerUnit == u.Name || (s.OwnerUnit == "" && s.OwnerApp == u.App)) {
		return true
	}
	for _, g := range s.Grants {
		r, err := t.Relation(g.RelID)
		if err != nil {
			continue // grants end with the relation
		}
		_, other, ok := r.Side(s.Model, s.OwnerApp)
		if !ok {
			continue
		}
		ep := r.EPs[other]
		if ep.Model != u.Model || ep.App != u.App {
			continue
		}
		if g.Unit == "" {
			return true
		}
		if _, _, real := r.RealRemote(s.Model, s.OwnerApp, g.Unit); real == u.Name {
			return true
		}
	}
	return false
}

// Juju's retry delays (core/secrets): secret-rotate runs again this long after a rotation
// that made no new revision, secret-expired after an expiry the charm did not act on.
const (
	RotateRetryDelay = 5 * time.Minute
	ExpireRetryDelay = 5 * time.Minute
)

// NextRotateTime is when a secret with rotate policy p rotates after from; false for
// "never" (or no policy).
func NextRotateTime(p string, from time.Time) (time.Time, bool) {
	switch p {
	case "hourly":
		return from.Add(time.Hour), true
	case "daily":
		return from.AddDate(0, 0, 1), true
	case "weekly":
		return from.AddDate(0, 0, 7), true
	case "monthly":
		return from.AddDate(0, 1, 0), true
	case "quarterly":
		return from.AddDate(0, 3, 0), true
	case "yearly":
		return from.AddDate(1, 0, 0), true
	}
	return time.Time{}, false
}

// TriggerDue reports whether a rotation or expiry at at is due at now, with Juju's
// one-minute granularity.
func TriggerDue(at, now time.Time) bool { return at.Truncate(time.Minute).Before(now) }

// SetRotatePolicy changes the rotate policy, scheduling the next rotation from now when
// it changes, as Juju's secret-set --rotate.
func (s *Secret) SetRotatePolicy(p string, now time.Time) {
	if p == s.Rotate && (s.NextRotate != nil || p == "" || p == "never") {
		return
	}
	s.Rotate = p
	s.NextRotate = nil
	if next, ok := NextRotateTime(p, now); ok {
		s.NextRotate = &next
	}
}

// Rotated records that the owner's secret-rotate hook ran, which started at revision
// original, as Juju's SecretsRotated: the next rotation follows the policy from the one
// just done; if the charm made no new revision, or the latest revision expires first, it
// runs again after RotateRetryDelay. Unlike Juju, a schedule that fell behind (the
// controller was down) restarts from now rather than running the hook once per period
// missed.
func (s *Secret) Rotated(original int, now time.Time) {
	if _, ok := NextRotateTime(s.Rotate, now); !ok {
		s.NextRotate = nil
		return
	}
	last := now
	if s.NextRotate != nil {
		last = *s.NextRotate
	}
	next, _ := NextRotateTime(s.Rotate, last)
	if !next.After(now) {
		next, _ = NextRotateTime(s.Rotate, now)
	}
	forced := now.Add(RotateRetryDelay)
	if last.After(now) {
		forced = last.Add(RotateRetryDelay)
	}
	exp, expires := s.RevExpire[s.Latest]
	willExpire := expires && exp.Before(next)
	if willExpire && forced.Before(exp) || s.Latest == original {
		next = forced
	}
	s.NextRotate = &next
}

// TrackedRevisions maps each secret (by URI) to the revisions its consumers (cons, from
// Tx.Consumers) track.
func TrackedRevisions(cons []*Consumer) map[string]map[int]bool {
	out := map[string]map[int]bool{}
	for _, c := range cons {
		if out[c.URI] == nil {
			out[c.URI] = map[int]bool{}
		}
		out[c.URI][c.Revision] = true
	}
	return out
}

// ObsoleteRevisions lists the revisions of s that are not the latest and that no consumer
// tracks (tracked: TrackedRevisions(...)[s.URI]): those the owner is told to remove
// (secret-remove).
func (s *Secret) ObsoleteRevisions(tracked map[int]bool) []int {
	var out []int
	for rev := range s.Revisions {
		if rev != s.Latest && !tracked[rev] {
			out = append(out, rev)
		}
	}
	sort.Ints(out)
	return out
}
