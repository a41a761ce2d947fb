package tlscerts

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/jujulet/postgresql-k8s/internal/pki"
)

// Names are what a certificate request asks for: a common name and subject alternative
// names, each an IP address or a DNS name (as pki takes them).
type Names struct {
	CommonName string
	SANs       []string
}

// oidUniqueIdentifier is X.500 uniqueIdentifier (2.5.4.45): the library puts a fresh one in
// every CSR's subject so that a renewal's CSR differs from the one it replaces.
var oidUniqueIdentifier = asn1.ObjectIdentifier{2, 5, 4, 45}

// NewKey generates a private key (ECDSA P-256); pki.EncodeKey and pki.ParsePrivateKey store
// and read it.
func NewKey() (crypto.Signer, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

// CreateCSR returns a PEM CSR for names signed with key, with a fresh unique identifier in
// the subject. It is stripped of surrounding whitespace, as the library sends it.
func CreateCSR(key crypto.Signer, names Names) (string, error) {
	if strings.TrimSpace(names.CommonName) == "" {
		return "", errors.New("create CSR: no common name")
	}
	sans, err := pki.NormaliseSANs(names.SANs)
	if err != nil {
		return "", fmt.Errorf("create CSR: %w", err)
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return "", fmt.Errorf("create CSR: %w", err)
	}
	tmpl := &x509.CertificateRequest{
		Subject: pkix.Name{
			CommonName: names.CommonName,
			ExtraNames: []pkix.AttributeTypeAndValue{{Type: oidUniqueIdentifier, Value: hex.EncodeToString(id)}},
		},
	}
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, s)
		}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return "", fmt.Errorf("create CSR: %w", err)
	}
	return strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))), nil
}

// ParseCSR reads one PEM CSR and checks its signature.
func ParseCSR(s string) (*x509.CertificateRequest, error) {
	if len(s) > MaxPEM {
		return nil, fmt.Errorf("CSR of %d bytes (limit %d)", len(s), MaxPEM)
	}
	b, rest := pem.Decode([]byte(strings.TrimSpace(s)))
	if b == nil || strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("CSR: not one PEM block")
	}
	if b.Type != "CERTIFICATE REQUEST" && b.Type != "NEW CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("CSR: PEM block %q", b.Type)
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("CSR: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("CSR: %w", err)
	}
	return csr, nil
}

// CSRMatches reports whether the PEM CSR s was made with key for names (the unique
// identifier aside): a unit sends a new CSR when not.
func CSRMatches(s string, key crypto.Signer, names Names) bool {
	csr, err := ParseCSR(s)
	if err != nil {
		return false
	}
	pub, ok := csr.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) || csr.Subject.CommonName != names.CommonName {
		return false
	}
	want, err := pki.NormaliseSANs(names.SANs)
	if err != nil {
		return false
	}
	have := make([]string, 0, len(csr.IPAddresses)+len(csr.DNSNames))
	for _, ip := range csr.IPAddresses {
		have = append(have, ip.String())
	}
	have, err = pki.NormaliseSANs(append(have, csr.DNSNames...))
	return err == nil && slices.Equal(have, want)
}
