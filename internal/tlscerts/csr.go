package tlscerts

import (
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
)

// Names are what a certificate request asks for.
type Names struct {
	CommonName string
	DNS        []string
	IPs        []net.IP
}

// oidUniqueIdentifier is X.500 uniqueIdentifier (2.5.4.45): the library puts a fresh one in
// every CSR's subject so that a renewal's CSR differs from the one it replaces.
var oidUniqueIdentifier = asn1.ObjectIdentifier{2, 5, 4, 45}

// NewKey generates a private key (ECDSA P-256).
func NewKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

// EncodeKey renders a private key as PEM (PKCS #8).
func EncodeKey(k *ecdsa.PrivateKey) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", fmt.Errorf("encode key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

// ParseKey reads an ECDSA private key in PEM (PKCS #8 or SEC 1).
func ParseKey(s string) (*ecdsa.PrivateKey, error) {
	b, rest := pem.Decode([]byte(s))
	if b == nil || strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("private key: not one PEM block")
	}
	switch b.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("private key: %w", err)
		}
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("private key: %T, want ECDSA", k)
		}
		return ek, nil
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("private key: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("private key: PEM block %q", b.Type)
}

// CreateCSR returns a PEM CSR for names signed with key, with a fresh unique identifier in
// the subject.
func CreateCSR(key *ecdsa.PrivateKey, names Names) (string, error) {
	if names.CommonName == "" {
		return "", errors.New("create CSR: no common name")
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
		DNSNames:    names.DNS,
		IPAddresses: names.IPs,
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
	b, rest := pem.Decode([]byte(s))
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
// identifier aside): a unit resends its CSR when not.
func CSRMatches(s string, key *ecdsa.PrivateKey, names Names) bool {
	csr, err := ParseCSR(s)
	if err != nil {
		return false
	}
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return false
	}
	return csr.Subject.CommonName == names.CommonName &&
		sameStrings(csr.DNSNames, names.DNS) && sameStrings(ipStrings(csr.IPAddresses), ipStrings(names.IPs))
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

// sameStrings compares two lists as sets.
func sameStrings(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
