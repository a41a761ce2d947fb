package postgres

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"path"
	"slices"

	"github.com/jujulet/postgresql-k8s/internal/pki"
)

// TLS files, in TLSDir. They live in the charm's private directory, not in PGDATA:
// pg_basebackup and pg_rewind copy PGDATA from another server, which would hand a replica
// its primary's key and certificate (and make the charm's record of what it placed wrong).
const (
	ServerCertFile = "server.crt"    // this unit's certificate (chain), ssl_cert_file
	ServerKeyFile  = "server.key"    // its key, ssl_key_file (0600, the server's user)
	CAFile         = "ca.crt"        // the CAs this cluster's servers are verified with
	ClientCAFile   = "client-ca.crt" // ssl_ca_file: the cluster CA, issuer of client certificates
	RemoteCAFile   = "remote-ca.crt" // the other cluster's CAs: sslrootcert of a remote upstream
)

// TLSFileNames are the files PlaceTLS may write, in the order it writes them.
var TLSFileNames = []string{CAFile, ClientCAFile, RemoteCAFile, ServerKeyFile, ServerCertFile}

// TLSDir is the container path of the directory of the TLS files.
func (w *Workload) TLSDir() string { return path.Join(w.PrivateDir(), "tls") }

// TLSPath is the container path of one of the TLS files.
func (w *Workload) TLSPath(name string) string { return path.Join(w.TLSDir(), name) }

// PlaceTLS writes the given TLS files (by name, one of TLSFileNames; the others are left
// as they are), 0600 and owned by the server's user, in a 0700 directory. A running server
// takes a new certificate, key or CA on reload.
func (w *Workload) PlaceTLS(ctx context.Context, files map[string][]byte) error {
	for name := range files {
		if !slices.Contains(TLSFileNames, name) {
			return fmt.Errorf("place TLS files: unknown file %q", name)
		}
	}
	if err := w.MakeDir(ctx, w.PrivateDir(), 0o700); err != nil {
		return err
	}
	if err := w.MakeDir(ctx, w.TLSDir(), 0o700); err != nil {
		return err
	}
	for _, name := range TLSFileNames {
		data, ok := files[name]
		if !ok {
			continue
		}
		if err := w.WriteFile(ctx, w.TLSPath(name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// HasTLS reports whether the server's certificate and key are in place (a server started
// with ssl = on and without them does not start).
func (w *Workload) HasTLS(ctx context.Context) (bool, error) {
	names, err := w.List(ctx, w.TLSDir(), "*")
	if err != nil {
		return false, err
	}
	return slices.Contains(names, ServerCertFile) && slices.Contains(names, ServerKeyFile), nil
}

// Trust returns the CA certificates (PEM) that the server at host must chain to: this
// cluster's CA for its own units, the other cluster's for the other cluster's.
type Trust func(host string) (caPEM []byte, err error)

// ErrNoTrust means the workload has no CA to verify a server with: the charm never falls
// back to an unverified or cleartext connection.
var ErrNoTrust = errors.New("no CA to verify the server with")

// ClientTLS returns the TLS configuration this workload's connections to host use: the
// server must present a certificate chaining to the CA Trust returns for host (verify-full
// for a DNS name, verify-ca for an address: see pki.ModeFor).
func (w *Workload) ClientTLS(host string) (*tls.Config, error) {
	if w.Trust == nil {
		return nil, fmt.Errorf("connect to %s: %w", host, ErrNoTrust)
	}
	ca, err := w.Trust(host)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", host, err)
	}
	return w.clientTLSWith(host, ca)
}

// clientTLSWith is ClientTLS with ca as the CA of host.
func (w *Workload) clientTLSWith(host string, ca []byte) (*tls.Config, error) {
	if len(ca) == 0 {
		return nil, fmt.Errorf("connect to %s: %w", host, ErrNoTrust)
	}
	return pki.ClientConfig(ca, host, pki.ModeFor(host), w.ClientCert)
}

// sslParams are the libpq parameters that make a connection to host verify it against the
// CA file rootCert (a host path).
func sslParams(host, rootCert string) []string {
	return []string{"sslmode=" + string(pki.ModeFor(host)), "sslrootcert=" + quoteConnValue(rootCert)}
}
