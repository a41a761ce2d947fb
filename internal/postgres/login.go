package postgres

import (
	"crypto/tls"
	"fmt"
)

// Login is who a connection logs in as. Which server certificate it accepts is the
// workload's Trust, by host.
type Login struct {
	User string
	// Password is for scram-sha-256 logins; "" for a certificate login.
	Password string
	// Cert, when set, is the client certificate presented over TLS (pg_hba method cert: its
	// CN is the user).
	Cert *tls.Certificate
}

// PasswordLogin is a login with a password.
func PasswordLogin(user, password string) Login { return Login{User: user, Password: password} }

// String names the login without its secrets (for errors and logs).
func (l Login) String() string {
	if l.Cert != nil {
		return l.User + " (certificate)"
	}
	return l.User + " (password)"
}

// withCert returns the TLS configuration of a connection as l: tlsCfg, presenting l's client
// certificate if it has one (which needs TLS).
func (l Login) withCert(tlsCfg *tls.Config) (*tls.Config, error) {
	if l.Cert == nil {
		return tlsCfg, nil
	}
	if tlsCfg == nil {
		return nil, fmt.Errorf("login %s: a client certificate needs TLS", l)
	}
	c := tlsCfg.Clone()
	c.Certificates = []tls.Certificate{*l.Cert}
	return c, nil
}
