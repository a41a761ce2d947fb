package postgres

import (
	"crypto/tls"
	"fmt"

	"github.com/jujulet/postgresql-k8s/internal/pki"
)

// Login is who a connection logs in as, and how it checks the server it dials.
type Login struct {
	User string
	// Password is for scram-sha-256 logins; "" for a certificate login.
	Password string
	// Cert, when set, is the client certificate presented over TLS (pg_hba method cert: its
	// CN is the user).
	Cert *tls.Certificate
	// CA (PEM) is what the server's certificate must chain to: the connection then uses TLS
	// (verify-ca for an IP address, verify-full for a name). nil: no TLS.
	CA []byte
}

// PasswordLogin is a login with a password (no TLS unless CA is set on the result).
func PasswordLogin(user, password string) Login { return Login{User: user, Password: password} }

// String names the login without its secrets (for errors and logs).
func (l Login) String() string {
	how := "password"
	if l.Cert != nil {
		how = "certificate"
	}
	return fmt.Sprintf("%s (%s)", l.User, how)
}

// tlsConfig is the TLS configuration for dialling host (nil: no TLS).
func (l Login) tlsConfig(host string) (*tls.Config, error) {
	if l.CA == nil {
		if l.Cert != nil {
			return nil, fmt.Errorf("login %s: a client certificate needs the server's CA", l)
		}
		return nil, nil
	}
	return pki.ClientConfig(l.CA, host, pki.ModeFor(host), l.Cert)
}
