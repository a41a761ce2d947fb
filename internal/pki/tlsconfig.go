package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"
)

// Mode is how a client checks the server's certificate, named after libpq's sslmode.
type Mode string

const (
	// VerifyCA checks that the server's certificate chains to the trusted CA, not which
	// host it names. Used when the client dials an address that may not be in the
	// certificate: a pod IP that changed since the certificate was issued.
	VerifyCA Mode = "verify-ca"
	// VerifyFull also checks that the certificate names the host dialled.
	VerifyFull Mode = "verify-full"
)

// ModeFor returns the mode the charm dials host with: VerifyFull for a DNS name (the stable
// Kubernetes names are in every unit's certificate), VerifyCA for an IP address (pod
// addresses change on reschedule, and a peer may dial a new address before the unit there
// has re-issued its certificate; the CA is private to the cluster, so any certificate it
// signed is one of the cluster's own servers).
func ModeFor(host string) Mode {
	if net.ParseIP(host) != nil {
		return VerifyCA
	}
	return VerifyFull
}

// ClientConfig returns a TLS configuration that trusts only the CAs of caPEM and verifies
// the server at host with mode. client, if not nil, is presented as the client certificate.
func ClientConfig(caPEM []byte, host string, mode Mode, client *tls.Certificate) (*tls.Config, error) {
	roots, err := CertPool(caPEM)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, ServerName: host}
	if client != nil {
		cfg.Certificates = []tls.Certificate{*client}
	}
	switch mode {
	case VerifyFull:
		return cfg, nil
	case VerifyCA:
		// crypto/tls ties chain and host name verification together; verify-ca keeps the
		// chain check and drops only the name.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server presented no certificate")
			}
			return verify(cs.PeerCertificates, roots, time.Now(), x509.ExtKeyUsageServerAuth)
		}
		return cfg, nil
	default:
		return nil, fmt.Errorf("unknown TLS verification mode %q", mode)
	}
}

// KeyPair returns the PEM certificate and key as a tls.Certificate.
func KeyPair(certPEM, keyPEM []byte) (tls.Certificate, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("loading key pair: %w", err)
	}
	return pair, nil
}
