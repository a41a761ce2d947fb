package tlscerts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Relation data keys.
const (
	// KeyRequests is the requirer's key (unit bucket): JSON []Request.
	KeyRequests = "certificate_signing_requests"
	// KeyCertificates is the provider's key (application bucket): JSON []Certificate.
	KeyCertificates = "certificates"
)

// Limits on what is read from the other application: a bucket is small in practice (a few
// kilobytes per unit); these only keep a hostile one from costing much.
const (
	MaxEntries = 1000     // entries in one list
	MaxPEM     = 64 << 10 // bytes in one PEM field
	MaxChain   = 10       // certificates in one chain
)

// Request is one entry of KeyRequests.
type Request struct {
	CSR string `json:"certificate_signing_request"`
	CA  bool   `json:"ca"`
}

// Certificate is one entry of KeyCertificates.
type Certificate struct {
	CSR         string   `json:"certificate_signing_request"`
	Certificate string   `json:"certificate"`
	CA          string   `json:"ca"`
	Chain       []string `json:"chain"`
	Revoked     bool     `json:"revoked,omitempty"`
	// NotifyHours is the provider's recommended notice before expiry, in hours (nil: none).
	NotifyHours *int `json:"recommended_expiry_notification_time,omitempty"`
}

// EncodeRequests renders a requirer's bucket value.
func EncodeRequests(reqs []Request) (string, error) {
	for i := range reqs {
		reqs[i].CSR = strings.TrimSpace(reqs[i].CSR)
	}
	b, err := json.Marshal(reqs)
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", KeyRequests, err)
	}
	return string(b), nil
}

// EncodeCertificates renders a provider's bucket value.
func EncodeCertificates(certs []Certificate) (string, error) {
	b, err := json.Marshal(certs)
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", KeyCertificates, err)
	}
	return string(b), nil
}

// ParseRequests reads a requirer's bucket value ("" is no request). Entries without a CSR are
// dropped, as the library does; the CSRs themselves are not parsed here (ParseCSR).
func ParseRequests(raw string) ([]Request, error) {
	var list []json.RawMessage
	if err := decodeList(raw, KeyRequests, &list); err != nil {
		return nil, err
	}
	var out []Request
	for i, item := range list {
		var r Request
		if err := strictDecode(item, &r); err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", KeyRequests, i, err)
		}
		if len(r.CSR) > MaxPEM {
			return nil, fmt.Errorf("%s[%d]: CSR of %d bytes (limit %d)", KeyRequests, i, len(r.CSR), MaxPEM)
		}
		if strings.TrimSpace(r.CSR) != "" {
			out = append(out, r)
		}
	}
	return out, nil
}

// ParseCertificates reads a provider's bucket value ("" is no certificate). The structure is
// checked (types, sizes); the PEM inside is checked by Verify, and only for the entry the
// caller looks for: another unit's broken entry is not this unit's problem.
func ParseCertificates(raw string) ([]Certificate, error) {
	var list []json.RawMessage
	if err := decodeList(raw, KeyCertificates, &list); err != nil {
		return nil, err
	}
	out := make([]Certificate, 0, len(list))
	for i, item := range list {
		var c Certificate
		if err := strictDecode(item, &c); err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", KeyCertificates, i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// decodeList decodes a JSON list of at most MaxEntries objects.
func decodeList(raw, key string, list *[]json.RawMessage) error {
	if strings.TrimSpace(raw) == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(raw), list); err != nil {
		return fmt.Errorf("%s is not a JSON list: %w", key, err)
	}
	if len(*list) > MaxEntries {
		return fmt.Errorf("%s has %d entries (limit %d)", key, len(*list), MaxEntries)
	}
	return nil
}

// strictDecode decodes one object: known fields must have their types (unknown fields are
// allowed, as the schema allows them).
func strictDecode(item json.RawMessage, v any) error {
	item = bytes.TrimSpace(item)
	if len(item) == 0 || item[0] != '{' {
		return errors.New("not a JSON object")
	}
	if err := json.Unmarshal(item, v); err != nil {
		return fmt.Errorf("malformed entry: %w", err)
	}
	return nil
}

// Find returns the entry that answers csr (ok false when none). CSRs are compared as the
// library compares them, by their text, ignoring surrounding whitespace (the library strips
// its CSRs, some providers add a newline).
func Find(certs []Certificate, csr string) (Certificate, bool) {
	want := strings.TrimSpace(csr)
	if want == "" {
		return Certificate{}, false
	}
	for _, c := range certs {
		if strings.TrimSpace(c.CSR) == want {
			return c, true
		}
	}
	return Certificate{}, false
}
