package state

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
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
