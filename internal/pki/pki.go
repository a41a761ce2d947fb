// Package pki issues and checks the X.509 material the charm runs TLS with: a cluster CA
// (ECDSA P-256, self-signed), server certificates for each unit signed by it, and
// short-lived client certificates for the charm's own login. It only uses the standard
// library, holds no state, and takes the current time from its callers so that expiry is
// testable.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strings"
	"time"
)

// Lifetimes. The CA outlives every certificate it signs many times over; a server
// certificate is renewed well before it ends (RenewBefore); a client certificate lives for
// one hook, so a day only absorbs clock skew between units.
const (
	CALifetime     = 10 * 365 * 24 * time.Hour
	ServerLifetime = 365 * 24 * time.Hour
	ClientLifetime = 24 * time.Hour
	// RenewBefore is how long before its end a server certificate is re-issued.
	RenewBefore = 30 * 24 * time.Hour
	// backdate absorbs clock skew between the unit that issues and the one that verifies.
	backdate = time.Hour
)

// PEM block types.
const (
	blockCertificate = "CERTIFICATE"
	blockPKCS8       = "PRIVATE KEY"
	blockEC          = "EC PRIVATE KEY"
	blockRSA         = "RSA PRIVATE KEY"
)

// CA is a certificate authority: its certificate and the key that signs with it.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// CertPEM and KeyPEM are the encoded forms, as stored.
	CertPEM, KeyPEM []byte
}

// NewCA creates a self-signed ECDSA P-256 CA named commonName, valid from now for
// CALifetime.
func NewCA(commonName string, now time.Time) (CA, error) {
	if strings.TrimSpace(commonName) == "" {
		return CA{}, errors.New("creating CA: empty common name")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return CA{}, fmt.Errorf("creating CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return CA{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return CA{}, fmt.Errorf("signing CA certificate: %w", err)
	}
	keyPEM, err := EncodeKey(key)
	if err != nil {
		return CA{}, err
	}
	return ParseCA(EncodeCertificate(der), keyPEM)
}

// ParseCA decodes a stored CA and checks that it is one: a CA certificate whose public key
// is the key's.
func ParseCA(certPEM, keyPEM []byte) (CA, error) {
	cert, err := ParseCACertificate(certPEM)
	if err != nil {
		return CA{}, err
	}
	key, err := ParsePrivateKey(keyPEM)
	if err != nil {
		return CA{}, fmt.Errorf("CA key: %w", err)
	}
	if !MatchesKey(cert, key) {
		return CA{}, errors.New("CA key does not match the CA certificate")
	}
	return CA{Cert: cert, Key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// IssueServer signs a server certificate (new ECDSA P-256 key) for sans: each an IP address
// or a DNS name. The first DNS name, or else the first address, is the subject's common
// name. It returns the PEM certificate and key.
func (ca CA) IssueServer(now time.Time, sans ...string) (certPEM, keyPEM []byte, err error) {
	ips, names, err := splitSANs(sans)
	if err != nil {
		return nil, nil, err
	}
	if len(ips)+len(names) == 0 {
		return nil, nil, errors.New("issuing server certificate: no subject alternative names")
	}
	cn := ""
	if len(names) > 0 {
		cn = names[0]
	} else {
		cn = ips[0].String()
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		NotAfter:    now.Add(ServerLifetime),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: ips,
		DNSNames:    names,
	}
	return ca.issue(now, tmpl)
}

// IssueClient signs a client certificate for commonName (PostgreSQL's cert authentication
// maps the CN to the role), valid for ClientLifetime.
func (ca CA) IssueClient(now time.Time, commonName string) (certPEM, keyPEM []byte, err error) {
	if strings.TrimSpace(commonName) == "" {
		return nil, nil, errors.New("issuing client certificate: empty common name")
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		NotAfter:    now.Add(ClientLifetime),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return ca.issue(now, tmpl)
}

func (ca CA) issue(now time.Time, tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
	if ca.Cert == nil || ca.Key == nil {
		return nil, nil, errors.New("issuing certificate: no CA")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating key: %w", err)
	}
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return nil, nil, err
	}
	tmpl.NotBefore = now.Add(-backdate)
	// A certificate never outlives its issuer: verification would fail from then on.
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("signing certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	keyPEM, err = EncodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return EncodeCertificate(der), keyPEM, nil
}

// EncodeCertificate returns DER as a PEM CERTIFICATE block.
func EncodeCertificate(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: blockCertificate, Bytes: der})
}

// EncodeKey returns key as a PKCS #8 PEM block.
func EncodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: blockPKCS8, Bytes: der}), nil
}

// ParseCertificates decodes every CERTIFICATE block of data, in order. Anything other than
// certificate blocks and whitespace is an error, so that a truncated or mangled input is
// never half-accepted.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := bytes.TrimSpace(data)
	for len(rest) > 0 {
		block, next := pem.Decode(rest)
		if block == nil {
			return nil, errors.New("malformed PEM: no certificate block where one was expected")
		}
		if block.Type != blockCertificate {
			return nil, fmt.Errorf("malformed PEM: block %q is not a CERTIFICATE", block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate: %w", err)
		}
		certs = append(certs, cert)
		rest = bytes.TrimSpace(next)
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate in PEM data")
	}
	return certs, nil
}

// ParseCertificate decodes a PEM input holding exactly one certificate.
func ParseCertificate(data []byte) (*x509.Certificate, error) {
	certs, err := ParseCertificates(data)
	if err != nil {
		return nil, err
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("expected one certificate, found %d", len(certs))
	}
	return certs[0], nil
}

// ParseCACertificate decodes a PEM bundle of CA certificates (one, or several during a
// rotation) and checks that each is marked as a CA. It returns the first.
func ParseCACertificate(data []byte) (*x509.Certificate, error) {
	certs, err := ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	for _, c := range certs {
		if !c.IsCA || !c.BasicConstraintsValid {
			return nil, fmt.Errorf("CA certificate: %q is not a CA", c.Subject.CommonName)
		}
	}
	return certs[0], nil
}

// CertPool returns a pool holding the CA certificates of caPEM, which must parse as by
// ParseCACertificate.
func CertPool(caPEM []byte) (*x509.CertPool, error) {
	if _, err := ParseCACertificate(caPEM); err != nil {
		return nil, err
	}
	certs, _ := ParseCertificates(caPEM)
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// ParsePrivateKey decodes one PEM private key (PKCS #8, SEC 1 EC or PKCS #1 RSA).
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	block, rest := pem.Decode(bytes.TrimSpace(data))
	if block == nil {
		return nil, errors.New("malformed PEM: no private key block")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("malformed PEM: data after the private key")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case blockPKCS8:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case blockEC:
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case blockRSA:
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("malformed PEM: block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing private key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", key)
	}
	return signer, nil
}

// MatchesKey reports whether key is the private half of cert's public key.
func MatchesKey(cert *x509.Certificate, key crypto.Signer) bool {
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(key.Public())
}

// VerifyChain checks that the PEM certificate certPEM chains to one of the CAs in caPEM at
// time now, for usage (x509.ExtKeyUsageServerAuth or ClientAuth; ExtKeyUsageAny accepts
// either), and returns the parsed leaf. The host name is not checked: see VerifyHost.
// Any intermediate certificates follow the leaf in certPEM.
func VerifyChain(certPEM, caPEM []byte, now time.Time, usage x509.ExtKeyUsage) (*x509.Certificate, error) {
	certs, err := ParseCertificates(certPEM)
	if err != nil {
		return nil, err
	}
	roots, err := CertPool(caPEM)
	if err != nil {
		return nil, err
	}
	return certs[0], verify(certs, roots, now, usage)
}

func verify(certs []*x509.Certificate, roots *x509.CertPool, now time.Time, usage x509.ExtKeyUsage) error {
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{usage},
	})
	if err != nil {
		return fmt.Errorf("certificate %q does not verify: %w", certs[0].Subject.CommonName, err)
	}
	return nil
}

// VerifyHost checks that cert names host (an IP address or DNS name) in its SANs.
func VerifyHost(cert *x509.Certificate, host string) error {
	if err := cert.VerifyHostname(host); err != nil {
		return fmt.Errorf("certificate does not name %q: %w", host, err)
	}
	return nil
}

// NeedsRenewal reports whether cert ends within margin of now (or already has, or is not
// valid yet).
func NeedsRenewal(cert *x509.Certificate, now time.Time, margin time.Duration) bool {
	return now.Before(cert.NotBefore) || !now.Add(margin).Before(cert.NotAfter)
}

// Fingerprint is the SHA-256 of cert's DER, in hex.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// SANs returns cert's subject alternative names (IP addresses then DNS names), normalised
// and sorted as NormaliseSANs does, for comparison with a wanted set.
func SANs(cert *x509.Certificate) []string {
	out := make([]string, 0, len(cert.IPAddresses)+len(cert.DNSNames))
	for _, ip := range cert.IPAddresses {
		out = append(out, ip.String())
	}
	out = append(out, cert.DNSNames...)
	sans, _ := NormaliseSANs(out)
	return sans
}

// NormaliseSANs returns sans deduplicated, sorted, IP addresses in canonical form and DNS
// names in lower case. An entry that is neither an address nor a valid DNS name is an
// error.
func NormaliseSANs(sans []string) ([]string, error) {
	ips, names, err := splitSANs(sans)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ips)+len(names))
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	out = append(out, names...)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// SameSANs reports whether cert names exactly the set sans.
func SameSANs(cert *x509.Certificate, sans []string) bool {
	want, err := NormaliseSANs(sans)
	return err == nil && slices.Equal(SANs(cert), want)
}

func splitSANs(sans []string) ([]net.IP, []string, error) {
	var (
		ips   []net.IP
		names []string
	)
	for _, s := range sans {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if ip := net.ParseIP(s); ip != nil {
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			ips = append(ips, ip)
			continue
		}
		name := strings.ToLower(strings.TrimSuffix(s, "."))
		if !validDNSName(name) {
			return nil, nil, fmt.Errorf("subject alternative name %q is neither an IP address nor a DNS name", s)
		}
		names = append(names, name)
	}
	return ips, names, nil
}

// validDNSName accepts RFC 1123 host names (labels of letters, digits and hyphens, not
// starting or ending with a hyphen), as Kubernetes names are.
func validDNSName(name string) bool {
	if len(name) == 0 || len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generating serial number: %w", err)
	}
	return serial, nil
}
