package charm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/pki"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// AdminUser is the superuser the charm logs in to its own cluster's servers as: the
// bootstrap superuser of initdb, with no password, admitted only with a client certificate
// (pg_hba method cert, CN=AdminUser) from the cluster's own units. The certificate is issued
// in memory from the cluster CA for one hook and never stored: each cluster's servers trust
// only their own CA for client certificates (ssl_ca_file), so the role, replicated to a
// standby cluster like every role, lets nobody in there with the other cluster's
// certificates; and no password change can lock the charm out of its own database.
const AdminUser = "charm_admin"

// adminCert is this hook's client certificate for AdminUser, issued on first use from the
// cluster CA (again if the hook learns another CA).
type adminCert struct {
	mu   sync.Mutex
	ca   *x509.Certificate // the CA cert was issued from
	cert *tls.Certificate
}

// selfLogin is how the charm logs in to its own cluster's servers: as AdminUser with this
// hook's client certificate. Without the cluster CA (not created or read yet) it has no
// certificate, and the connection is refused.
func selfLogin(st *State) postgres.Login {
	cert, err := st.adminCertificate()
	if err != nil {
		return postgres.Login{User: AdminUser}
	}
	return postgres.Login{User: AdminUser, Cert: cert}
}

// adminCertificate returns this hook's client certificate of AdminUser, issued from the
// cluster CA.
func (st *State) adminCertificate() (*tls.Certificate, error) {
	if st.tls == nil || st.tls.ca.Cert == nil {
		return nil, errors.New("the cluster CA is not known yet")
	}
	if st.admin == nil {
		st.admin = &adminCert{}
	}
	a := st.admin
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cert != nil && a.ca == st.tls.ca.Cert {
		return a.cert, nil
	}
	certPEM, keyPEM, err := st.tls.ca.IssueClient(time.Now(), AdminUser)
	if err != nil {
		return nil, fmt.Errorf("client certificate for %s: %w", AdminUser, err)
	}
	pair, err := pki.KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("client certificate for %s: %w", AdminUser, err)
	}
	a.ca, a.cert = st.tls.ca.Cert, &pair
	return a.cert, nil
}

// remoteLogin is how the charm logs in to the other cluster's servers (cross-regional
// replication): as replication, to the postgres database, never as a superuser. Its password
// is the one both clusters hold (the standby copies it from the primary cluster's shared
// secret), and postgres.ReplicationGrants lists what its queries need beyond REPLICATION.
func remoteLogin(st *State) postgres.Login {
	return postgres.PasswordLogin("replication", st.Passwords["replication"])
}

// adminMissing reports whether err is a server's refusal of AdminUser because the role does
// not exist: a cluster initialised by a charm that did not have it yet.
func adminMissing(err error) bool {
	return err != nil && strings.Contains(err.Error(), `role "`+AdminUser+`" does not exist`)
}

// adoptAdmin creates AdminUser on this unit's primary server, logging in once as operator
// with its password (what the older charm logged in with); replicas get the role by
// replication.
func (c *Charm) adoptAdmin(ctx context.Context, st *State, w Workload) error {
	db, err := w.Connect(ctx, st.Address, postgres.PasswordLogin("operator", st.Passwords["operator"]))
	if err != nil {
		return err
	}
	defer db.Close(ctx)
	if err := db.EnsureCertRole(ctx, AdminUser); err != nil {
		return err
	}
	c.logf(ctx, slog.LevelInfo, "created %s, which the charm logs in as from now on (this cluster was initialised without it)", AdminUser)
	return nil
}
