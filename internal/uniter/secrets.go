package uniter

import (
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
	"github.com/jujulet/postgresql-k8s/internal/hooktools"
)

// secret returns the secret as this hook sees it (pending changes applied).
func (c *hookCtx) secret(t *st.Tx, uri string) (*st.Secret, bool) {
	c.mu.Lock()
	s, ok := c.secrets[uri]
	c.mu.Unlock()
	if ok {
		if s == nil {
			return nil, false
		}
		cp := *s
		return &cp, true
	}
	return t.Secret(uri)
}

// ownedSecret finds a secret this unit may change: its own, or its application's when it is
// the leader. Others' secrets read as not found.
func (c *hookCtx) ownedSecret(t *st.Tx, unit *st.Unit, app *st.App, uri string) (*st.Secret, error) {
	s, ok := c.secret(t, st.NormaliseSecretURI(unit.Model, uri))
	if !ok || s.Model != unit.Model {
		return nil, hooktools.ErrSecretNotFound
	}
	if s.OwnerUnit != "" {
		if s.OwnerUnit != unit.Name {
			return nil, hooktools.ErrSecretNotFound
		}
		return s, nil
	}
	if s.OwnerApp != unit.App {
		return nil, hooktools.ErrSecretNotFound
	}
	if app.Leader != unit.Name {
		return nil, hooktools.ErrNotLeader
	}
	return s, nil
}

func (c *hookCtx) stage(s *st.Secret) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := *s
	cp.Revisions = maps.Clone(s.Revisions)
	cp.Grants = append([]st.Grant(nil), s.Grants...)
	cp.RevExpire = maps.Clone(s.RevExpire)
	c.secrets[s.URI] = &cp
}

// setMetadata applies the metadata secret-add/secret-set were given; nil fields stay as they
// are. As Juju, an expiry applies to the latest revision (the new one when the content
// changed) and a new rotate policy schedules the next rotation from now.
func setMetadata(s *st.Secret, args hooktools.SecretArgs, now time.Time) {
	if args.Label != nil {
		s.Label = *args.Label
	}
	if args.Description != nil {
		s.Description = *args.Description
	}
	if args.Rotate != nil {
		s.SetRotatePolicy(*args.Rotate, now)
	}
	if args.Expire != nil {
		s.Expire = args.Expire
		if s.RevExpire == nil {
			s.RevExpire = map[int]time.Time{}
		}
		s.RevExpire[s.Latest] = *args.Expire
	}
}

// Juju's bounds on a secret's content, base64-encoded: each value, and all of them.
const (
	maxSecretValueBytes   = 1000 * 1000
	maxSecretContentBytes = 1000 * 1000
)

// checkSecretContent applies Juju's bounds (core/secrets) to content in plain text, so that
// no hook can store an unbounded secret whatever its tool let through.
func checkSecretContent(content map[string]string) error {
	total := 0
	for _, k := range slices.Sorted(maps.Keys(content)) {
		n := base64.StdEncoding.EncodedLen(len(content[k]))
		if n > maxSecretValueBytes {
			return fmt.Errorf("base64 encoded secret content for key %q too large: %d bytes", k, n)
		}
		total += n
	}
	if total > maxSecretContentBytes {
		return fmt.Errorf("base64 encoded secret content too large: %d bytes", total)
	}
	return nil
}

func (c *hookCtx) AddSecret(args hooktools.SecretArgs) (string, error) {
	if err := checkSecretContent(args.Content); err != nil {
		return "", err
	}
	var uri string
	err := c.view(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		s := &st.Secret{URI: fmt.Sprintf("secret://%s/%s", unit.Model, st.NewXID()), Model: unit.Model,
			OwnerApp: unit.App, Latest: 1, Revisions: map[int]map[string]string{1: maps.Clone(args.Content)}}
		if args.Owner == "unit" {
			s.OwnerUnit = unit.Name
		} else if app.Leader != unit.Name {
			return hooktools.ErrNotLeader
		}
		setMetadata(s, args, time.Now().UTC())
		uri = s.URI
		c.stage(s)
		return nil
	})
	return uri, err
}

// findSecret resolves a secret by uri and/or label for reading.
func (c *hookCtx) findSecret(t *st.Tx, unit *st.Unit, uri, label string) (*st.Secret, *st.Consumer, error) {
	if uri != "" {
		uri = st.NormaliseSecretURI(unit.Model, uri)
		s, ok := c.secret(t, uri)
		if !ok || !t.CanRead(s, unit) {
			return nil, nil, hooktools.ErrSecretNotFound
		}
		return s, c.consumer(t, unit, uri), nil
	}
	// by label: owner label first, then consumer label.
	for _, s := range t.Secrets() {
		if s2, ok := c.secret(t, s.URI); ok && s2.Label == label && s2.Model == unit.Model &&
			(s2.OwnerUnit == unit.Name || (s2.OwnerUnit == "" && s2.OwnerApp == unit.App)) {
			return s2, c.consumer(t, unit, s.URI), nil
		}
	}
	c.mu.Lock()
	for _, s := range c.secrets {
		if s != nil && s.Label == label {
			c.mu.Unlock()
			return s, nil, nil
		}
	}
	for _, p := range c.pins {
		if p.Label == label {
			c.mu.Unlock()
			s, ok := c.secret(t, p.URI)
			if !ok {
				return nil, nil, hooktools.ErrSecretNotFound
			}
			return s, p, nil
		}
	}
	c.mu.Unlock()
	for _, p := range t.Consumers() {
		if p.Model == unit.Model && p.Unit == unit.Name && p.Label == label {
			s, ok := c.secret(t, p.URI)
			if !ok || !t.CanRead(s, unit) {
				return nil, nil, hooktools.ErrSecretNotFound
			}
			return s, p, nil
		}
	}
	return nil, nil, hooktools.ErrSecretNotFound
}

func (c *hookCtx) consumer(t *st.Tx, unit *st.Unit, uri string) *st.Consumer {
	c.mu.Lock()
	p, ok := c.pins[uri]
	c.mu.Unlock()
	if ok {
		cp := *p
		return &cp
	}
	if p, ok := t.Consumer(uri, unit.Model, unit.Name); ok {
		return p
	}
	return nil
}

func (c *hookCtx) GetSecret(args hooktools.SecretGetArgs) (map[string]string, error) {
	var out map[string]string
	err := c.view(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		s, pin, err := c.findSecret(t, unit, args.URI, args.Label)
		if err != nil {
			return err
		}
		owner := s.Model == unit.Model && (s.OwnerUnit == unit.Name || (s.OwnerUnit == "" && s.OwnerApp == unit.App))
		rev := s.Latest
		if !owner {
			if pin == nil {
				pin = &st.Consumer{URI: s.URI, Model: unit.Model, Unit: unit.Name, Revision: s.Latest}
			}
			if args.URI != "" && args.Label != "" {
				pin.Label = args.Label
			}
			switch {
			case args.Peek:
			case args.Refresh:
				pin.Revision = s.Latest
			}
			if !args.Peek {
				rev = pin.Revision
			}
			c.mu.Lock()
			c.pins[s.URI] = pin
			c.mu.Unlock()
		}
		content, ok := s.Revisions[rev]
		if !ok {
			return fmt.Errorf("secret revision %d not found", rev)
		}
		out = maps.Clone(content)
		return nil
	})
	return out, err
}

func (c *hookCtx) UpdateSecret(uri string, args hooktools.SecretArgs) error {
	if err := checkSecretContent(args.Content); err != nil {
		return err
	}
	return c.view(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		s, err := c.ownedSecret(t, unit, app, uri)
		if err != nil {
			return err
		}
		if len(args.Content) > 0 && !maps.Equal(args.Content, s.Revisions[s.Latest]) {
			s.Latest++
			if s.Revisions == nil {
				s.Revisions = map[int]map[string]string{}
			}
			s.Revisions[s.Latest] = maps.Clone(args.Content)
			s.Expire = nil // the new revision expires only if told so
		}
		setMetadata(s, args, time.Now().UTC())
		c.stage(s)
		return nil
	})
}

func (c *hookCtx) RemoveSecret(uri string, revision *int) error {
	return c.view(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		s, err := c.ownedSecret(t, unit, app, uri)
		if err != nil {
			return err
		}
		if revision != nil {
			if _, ok := s.Revisions[*revision]; !ok {
				return fmt.Errorf("secret revision %d not found", *revision)
			}
			delete(s.Revisions, *revision)
			delete(s.RevExpire, *revision)
			if len(s.Revisions) > 0 {
				c.stage(s)
				return nil
			}
		}
		c.mu.Lock()
		c.secrets[s.URI] = nil
		c.mu.Unlock()
		return nil
	})
}

func (c *hookCtx) grant(uri string, relID int, unitName string, add bool) error {
	return c.view(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		s, err := c.ownedSecret(t, unit, app, uri)
		if err != nil {
			return err
		}
		var out []st.Grant
		if relID < 0 && !add {
			// revoke by target: a remote application (every grant of its relations) or unit.
			for _, x := range s.Grants {
				r, err := t.Relation(x.RelID)
				drop := err != nil
				if err == nil {
					remoteApp := r.RemoteAppName(unit.Model, unit.App)
					drop = x.Unit == unitName || (x.Unit == "" && remoteApp == unitName) ||
						(!strings.Contains(unitName, "/") && st.AppOfUnit(x.Unit) == unitName)
				}
				if !drop {
					out = append(out, x)
				}
			}
			s.Grants = out
			c.stage(s)
			return nil
		}
		if _, err := c.relation(t, unit, relID); err != nil {
			return err
		}
		g := st.Grant{RelID: relID, Unit: unitName}
		for _, x := range s.Grants {
			if x != g {
				out = append(out, x)
			}
		}
		if add {
			out = append(out, g)
		}
		s.Grants = out
		c.stage(s)
		return nil
	})
}

func (c *hookCtx) GrantSecret(uri string, relID int, unit string) error {
	return c.grant(uri, relID, unit, true)
}

func (c *hookCtx) RevokeSecret(uri string, relID int, unit string) error {
	return c.grant(uri, relID, unit, false)
}

func (c *hookCtx) owned(t *st.Tx, unit *st.Unit) []*st.Secret {
	seen := map[string]bool{}
	var out []*st.Secret
	for _, s := range t.Secrets() {
		seen[s.URI] = true
		if s2, ok := c.secret(t, s.URI); ok && s2.Model == unit.Model && (s2.OwnerUnit == unit.Name || (s2.OwnerUnit == "" && s2.OwnerApp == unit.App)) {
			out = append(out, s2)
		}
	}
	c.mu.Lock()
	for uri, s := range c.secrets {
		if !seen[uri] && s != nil {
			out = append(out, s)
		}
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].URI < out[j].URI })
	return out
}

func (c *hookCtx) SecretIDs() ([]string, error) {
	var out []string
	err := c.view(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		for _, s := range c.owned(t, unit) {
			out = append(out, st.SecretID(s.URI))
		}
		return nil
	})
	return out, err
}

func (c *hookCtx) SecretInfo(uri, label string) ([]hooktools.SecretMetadata, error) {
	var out []hooktools.SecretMetadata
	err := c.view(func(t *st.Tx, unit *st.Unit, app *st.App) error {
		if uri != "" {
			uri = st.NormaliseSecretURI(unit.Model, uri)
		}
		for _, s := range c.owned(t, unit) {
			if (uri != "" && s.URI != uri) || (label != "" && s.Label != label) {
				continue
			}
			owner := "application"
			if s.OwnerUnit != "" {
				owner = "unit"
			}
			md := hooktools.SecretMetadata{URI: s.URI, Label: s.Label, Description: s.Description, Owner: owner,
				Revision: s.Latest, Rotation: s.Rotate, Expiry: s.Expire}
			if md.Rotation == "" {
				md.Rotation = "never"
			}
			for _, g := range s.Grants {
				target := ""
				if r, err := t.Relation(g.RelID); err == nil {
					target = r.KeyFor(unit.Model)
				}
				if g.Unit != "" {
					target = g.Unit
				}
				md.Access = append(md.Access, hooktools.SecretAccess{Target: target, Scope: fmt.Sprintf("relation-%d", g.RelID), Role: "view"})
			}
			out = append(out, md)
		}
		if (uri != "" || label != "") && len(out) == 0 {
			return hooktools.ErrSecretNotFound
		}
		return nil
	})
	return out, err
}
