package tlscerts

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/pki"
)

// Issued is a provider's certificate that passed Verify.
type Issued struct {
	Leaf *x509.Certificate
	// CertPEM is the leaf then its intermediates (what the server presents); CAPEM the
	// provider's CA certificate(s), what clients must trust.
	CertPEM, CAPEM string
	// NotifyAt is when the requirer renews: the provider's recommendation, or one third of
	// the validity before expiry (as the library computes it).
	NotifyAt time.Time
}

// Verify checks the provider's answer c to a CSR made with key for names, at now: the
// certificate and CA parse, the CA is a CA, the certificate chains to it (through the
// chain's intermediates) for server authentication, carries key's public key and every
// name asked for, and is valid at now. The error says what is wrong, for a status.
func Verify(c Certificate, key crypto.Signer, names Names, now time.Time) (Issued, error) {
	if c.Revoked {
		return Issued{}, errors.New("the certificate is revoked")
	}
	certs, err := parseCerts(c.Certificate, "certificate")
	if err != nil {
		return Issued{}, err
	}
	leaf := certs[0]
	cas, err := parseCerts(c.CA, "ca")
	if err != nil {
		return Issued{}, err
	}
	if len(c.Chain) > MaxChain {
		return Issued{}, fmt.Errorf("chain has %d certificates (limit %d)", len(c.Chain), MaxChain)
	}
	roots := x509.NewCertPool()
	for _, ca := range cas {
		if !ca.BasicConstraintsValid || !ca.IsCA {
			return Issued{}, fmt.Errorf("ca: %q is not a CA certificate", ca.Subject.String())
		}
		roots.AddCert(ca)
	}
	// The intermediates: what follows the leaf in certificate, and the chain minus the leaf
	// and the CA (providers list the leaf and the CA there too).
	inters := x509.NewCertPool()
	var interPEM []string
	addInter := func(x *x509.Certificate) {
		if bytes.Equal(x.Raw, leaf.Raw) || isOneOf(x, cas) {
			return
		}
		for _, p := range interPEM {
			if p == encodeCert(x) {
				return
			}
		}
		inters.AddCert(x)
		interPEM = append(interPEM, encodeCert(x))
	}
	for _, x := range certs[1:] {
		addInter(x)
	}
	for i, s := range c.Chain {
		chain, err := parseCerts(s, fmt.Sprintf("chain[%d]", i))
		if err != nil {
			return Issued{}, err
		}
		for _, x := range chain {
			addInter(x)
		}
	}
	if !pki.MatchesKey(leaf, key) {
		return Issued{}, errors.New("certificate: not for this unit's key")
	}
	if leaf.IsCA {
		return Issued{}, errors.New("certificate: is a CA certificate, not a server certificate")
	}
	if now.Before(leaf.NotBefore) {
		return Issued{}, fmt.Errorf("certificate: not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if !now.Before(leaf.NotAfter) {
		return Issued{}, fmt.Errorf("certificate: expired at %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inters, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return Issued{}, fmt.Errorf("certificate: does not chain to the ca: %w", err)
	}
	for _, san := range names.SANs {
		if leaf.VerifyHostname(san) != nil {
			return Issued{}, fmt.Errorf("certificate: no subject alternative name %s", san)
		}
	}
	var caPEM strings.Builder
	for _, ca := range cas {
		caPEM.WriteString(encodeCert(ca))
	}
	return Issued{
		Leaf:     leaf,
		CertPEM:  encodeCert(leaf) + strings.Join(interPEM, ""),
		CAPEM:    caPEM.String(),
		NotifyAt: NotifyAt(leaf.NotBefore, leaf.NotAfter, c.NotifyHours),
	}, nil
}

// NotifyAt is the library's renewal time: hours before notAfter when that is after
// notBefore, otherwise one third of the validity before notAfter.
func NotifyAt(notBefore, notAfter time.Time, hours *int) time.Time {
	if hours != nil {
		h := *hours
		if h < 0 {
			h = -h
		}
		// Bounded before the multiplication: a huge value must not overflow into the future.
		if d := time.Duration(min(h, 1<<20)) * time.Hour; notAfter.Add(-d).After(notBefore) {
			return notAfter.Add(-d)
		}
	}
	return notAfter.Add(-notAfter.Sub(notBefore) / 3)
}

// parseCerts reads one or more PEM certificates and nothing else, within the limits.
func parseCerts(s, field string) ([]*x509.Certificate, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("%s: empty", field)
	}
	if len(s) > MaxPEM {
		return nil, fmt.Errorf("%s: %d bytes (limit %d)", field, len(s), MaxPEM)
	}
	certs, err := pki.ParseCertificates([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	if len(certs) > MaxChain {
		return nil, fmt.Errorf("%s: more than %d certificates", field, MaxChain)
	}
	return certs, nil
}

func isOneOf(x *x509.Certificate, list []*x509.Certificate) bool {
	for _, y := range list {
		if bytes.Equal(x.Raw, y.Raw) {
			return true
		}
	}
	return false
}

func encodeCert(x *x509.Certificate) string { return string(pki.EncodeCertificate(x.Raw)) }
