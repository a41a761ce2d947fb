// Package drprotocol is the data of the cross-regional replication relation
// (`replication-offer` / `replication`, interface postgresql_async): the keys each cluster
// publishes, their strict parsing (the other model is untrusted), and the rules that decide
// which cluster is primary. It does no I/O; the charm's handlers act on its results.
//
// Application bucket, written by each cluster's leader:
//
//	epoch             decimal integer ≥ 0: this cluster's claim; the highest epoch is primary
//	role              primary | standby | demoting | demoted
//	primary-endpoint  host:port of this cluster's writable server (or standby leader)
//	system-id         the database system identifier (decimal)
//	secret-id         full URI of the replication-credentials secret granted to the relation
//	switchover        JSON {"epoch":N,"id":"..."}: "I ask to become primary with this epoch"
//	demotion          JSON {"epoch":N,"system-id":"...","timeline":T,"checkpoint-lsn":"X/Y"}:
//	                  the demotion token a primary publishes after its clean shutdown
//	slot              a standby cluster's: the replication slot its standby leader streams
//	                  through on the primary (the primary drops other, stale ones)
//	ca-certificate    PEM: the CA certificates this cluster's servers are verified with (public;
//	                  the other cluster dials them verify-ca/verify-full against it)
//
// Unit bucket: unit-address (the unit's IP address). Passwords never travel in relation data.
package drprotocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/jujulet/postgresql-k8s/internal/pki"
)

// Keys of the application bucket.
const (
	KeyEpoch           = "epoch"
	KeyRole            = "role"
	KeyPrimaryEndpoint = "primary-endpoint"
	KeySystemID        = "system-id"
	KeySecretID        = "secret-id"
	KeySwitchover      = "switchover"
	KeyDemotion        = "demotion"
	KeySlot            = "slot"
	KeyCACertificate   = "ca-certificate"
	// KeyUnitAddress is the one key of a unit bucket.
	KeyUnitAddress = "unit-address"
)

// Role is what a cluster says it is.
type Role string

// Roles a cluster can publish.
const (
	RoleNone     Role = ""         // not replicating yet
	RolePrimary  Role = "primary"  // writable; the others follow it
	RoleStandby  Role = "standby"  // follows the other cluster
	RoleDemoting Role = "demoting" // shutting down cleanly for a switchover
	RoleDemoted  Role = "demoted"  // shut down; its demotion token is published
)

// MaxEpoch bounds epochs so they stay exact in JSON numbers and cannot be pushed to overflow.
const MaxEpoch = 1 << 53

// Switchover is a standby cluster's request to become primary with Epoch.
type Switchover struct {
	Epoch int64  `json:"epoch"`
	ID    string `json:"id"`
}

// Demotion is the token a primary cluster publishes after its clean shutdown: the new primary
// may promote only once it has replayed past CheckpointLSN on the same system and timeline.
type Demotion struct {
	Epoch         int64  `json:"epoch"`
	SystemID      string `json:"system-id"`
	Timeline      int    `json:"timeline"`
	CheckpointLSN string `json:"checkpoint-lsn"`
}

// AppData is one cluster's application bucket.
type AppData struct {
	Epoch           int64
	Role            Role
	PrimaryEndpoint string
	SystemID        string
	SecretID        string
	Switchover      *Switchover
	Demotion        *Demotion
	Slot            string
	CACertificate   string
}

// Empty reports whether the bucket says nothing yet (a cluster that has not published).
func (d AppData) Empty() bool {
	return d == AppData{}
}

// maxCABundle bounds a published CA bundle: a few certificates, not a payload.
const maxCABundle = 64 << 10

// ErrInvalid wraps every validation failure, so callers can tell bad remote data from I/O.
var ErrInvalid = errors.New("invalid replication data")

func invalid(key, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, key, fmt.Sprintf(format, args...))
}

var (
	systemIDPattern  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]{1,20}$`) })
	lsnPattern       = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$`) })
	requestIDPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`) })
	secretURIPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^secret:(//[A-Za-z0-9-]{1,64}/)?[0-9a-v]{20}$`) })
	hostnamePattern  = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)
	})
	slotPattern       = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9_]{1,63}$`) })
	knownAppKeys      = []string{KeyEpoch, KeyRole, KeyPrimaryEndpoint, KeySystemID, KeySecretID, KeySwitchover, KeyDemotion, KeySlot, KeyCACertificate}
	errUnknownRoleFmt = "unknown role %q (want primary, standby, demoting or demoted)"
)

// ParseEpoch reads an epoch: a decimal integer in [0, MaxEpoch]. Epochs are always compared
// as integers, never as strings.
func ParseEpoch(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 || n > MaxEpoch || strings.TrimSpace(s) != s {
		return 0, invalid(KeyEpoch, "%q is not a non-negative integer", s)
	}
	return n, nil
}

// ParseEndpoint checks a host:port published by the other cluster and returns it unchanged.
func ParseEndpoint(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", invalid(KeyPrimaryEndpoint, "%q is not host:port", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return "", invalid(KeyPrimaryEndpoint, "%q has no valid port", s)
	}
	if net.ParseIP(host) == nil && (len(host) > 253 || !hostnamePattern().MatchString(host)) {
		return "", invalid(KeyPrimaryEndpoint, "%q has no valid host", s)
	}
	return s, nil
}

// ParseAddress checks a unit-address: an IP address only (it goes into pg_hba.conf).
func ParseAddress(s string) (net.IP, error) {
	ip := net.ParseIP(s)
	if ip == nil {
		return nil, invalid(KeyUnitAddress, "%q is not an IP address", s)
	}
	return ip, nil
}

// ParseAppData validates a cluster's application bucket. Unknown keys are ignored (a newer
// peer may publish more); every known key must be well formed.
func ParseAppData(m map[string]string) (AppData, error) {
	var d AppData
	var err error
	if d.Epoch, err = ParseEpoch(m[KeyEpoch]); err != nil {
		return AppData{}, err
	}
	switch r := Role(m[KeyRole]); r {
	case RoleNone, RolePrimary, RoleStandby, RoleDemoting, RoleDemoted:
		d.Role = r
	default:
		return AppData{}, invalid(KeyRole, errUnknownRoleFmt, m[KeyRole])
	}
	if v := m[KeyPrimaryEndpoint]; v != "" {
		if d.PrimaryEndpoint, err = ParseEndpoint(v); err != nil {
			return AppData{}, err
		}
	}
	if v := m[KeySystemID]; v != "" {
		if !systemIDPattern().MatchString(v) {
			return AppData{}, invalid(KeySystemID, "%q is not a system identifier", v)
		}
		d.SystemID = v
	}
	if v := m[KeySecretID]; v != "" {
		if !secretURIPattern().MatchString(v) {
			return AppData{}, invalid(KeySecretID, "%q is not a secret URI", v)
		}
		d.SecretID = v
	}
	if v := m[KeySlot]; v != "" {
		if !slotPattern().MatchString(v) {
			return AppData{}, invalid(KeySlot, "%q is not a replication slot name", v)
		}
		d.Slot = v
	}
	if v := m[KeyCACertificate]; v != "" {
		if len(v) > maxCABundle {
			return AppData{}, invalid(KeyCACertificate, "%d bytes, more than %d", len(v), maxCABundle)
		}
		if _, err := pki.ParseCACertificate([]byte(v)); err != nil {
			return AppData{}, invalid(KeyCACertificate, "%v", err)
		}
		d.CACertificate = v
	}
	if v := m[KeySwitchover]; v != "" {
		var s Switchover
		if err := strictJSON(v, &s); err != nil {
			return AppData{}, invalid(KeySwitchover, "%v", err)
		}
		if s.Epoch < 1 || s.Epoch > MaxEpoch {
			return AppData{}, invalid(KeySwitchover, "epoch %d out of range", s.Epoch)
		}
		if !requestIDPattern().MatchString(s.ID) {
			return AppData{}, invalid(KeySwitchover, "request id %q is not valid", s.ID)
		}
		d.Switchover = &s
	}
	if v := m[KeyDemotion]; v != "" {
		var t Demotion
		if err := strictJSON(v, &t); err != nil {
			return AppData{}, invalid(KeyDemotion, "%v", err)
		}
		switch {
		case t.Epoch < 0 || t.Epoch > MaxEpoch:
			return AppData{}, invalid(KeyDemotion, "epoch %d out of range", t.Epoch)
		case !systemIDPattern().MatchString(t.SystemID):
			return AppData{}, invalid(KeyDemotion, "system-id %q is not valid", t.SystemID)
		case t.Timeline < 1:
			return AppData{}, invalid(KeyDemotion, "timeline %d is not valid", t.Timeline)
		case !lsnPattern().MatchString(t.CheckpointLSN):
			return AppData{}, invalid(KeyDemotion, "checkpoint-lsn %q is not an LSN", t.CheckpointLSN)
		}
		d.Demotion = &t
	}
	return d, nil
}

// strictJSON decodes one JSON object with no unknown fields and nothing after it.
func strictJSON(s string, v any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	// More is false before a stray '}' or ']': only the end of the input will do.
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("malformed JSON: trailing data")
	}
	return nil
}

// Encode renders the bucket for relation-set: every known key, with "" for the absent ones
// so that a stale value is deleted.
func (d AppData) Encode() map[string]string {
	m := make(map[string]string, len(knownAppKeys))
	for _, k := range knownAppKeys {
		m[k] = ""
	}
	if d.Epoch > 0 || d.Role != RoleNone {
		m[KeyEpoch] = strconv.FormatInt(d.Epoch, 10)
	}
	m[KeyRole] = string(d.Role)
	m[KeyPrimaryEndpoint] = d.PrimaryEndpoint
	m[KeySystemID] = d.SystemID
	m[KeySecretID] = d.SecretID
	m[KeySlot] = d.Slot
	m[KeyCACertificate] = d.CACertificate
	if d.Switchover != nil {
		b, _ := json.Marshal(d.Switchover) // plain struct: cannot fail
		m[KeySwitchover] = string(b)
	}
	if d.Demotion != nil {
		b, _ := json.Marshal(d.Demotion)
		m[KeyDemotion] = string(b)
	}
	return m
}
