package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jujulet/postgresql-k8s/internal/pki"
	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// TestTLS: with no configuration, every unit serves TLS with a certificate that verifies
// against the tls-ca a client of the database relation is given (verify-full by address,
// which the certificates name), refuses cleartext and certificates from elsewhere, admits
// nothing but hostssl, and the replica's walreceiver connection is encrypted and verified.
func TestTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	j := scenario.StartJujulet(t)
	const model = "tls"
	c := deployCluster(t, ctx, j, model, "pg", 2)
	must(t, j.Deploy(ctx, model, "pgclient", "app", scenario.DeployOptions{Config: map[string]string{"database-name": "appdb"}}))
	must(t, j.Integrate(ctx, model, "pg", "app"))
	waitClientReady(t, ctx, j, model, "app/0", "appdb")
	creds := clientCreds(t, ctx, j, model, "app/0")
	ca := creds["tls-ca"]
	if creds["tls"] != "True" || ca == "" {
		t.Fatalf("client got tls %q and a %d-byte tls-ca", creds["tls"], len(ca))
	}

	t.Run("every unit serves TLS verified by the client's tls-ca", func(t *testing.T) {
		for unit, addr := range c.Units {
			for _, mode := range []pki.Mode{pki.VerifyCA, pki.VerifyFull} {
				conn, err := tlsConnect(ctx, addr, "operator", c.Password, []byte(ca), mode)
				if err != nil {
					t.Fatalf("%s (%s): %v", unit, mode, err)
				}
				var ssl bool
				var version string
				err = conn.QueryRow(ctx, "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl, &version)
				conn.Close(ctx)
				must(t, err)
				if !ssl {
					t.Errorf("%s: pg_stat_ssl says this session is not encrypted", unit)
				}
			}
			// The client's login verifies the server too (once this unit's pg_hba admits the
			// client: each unit writes it in its own hook).
			waitFor(t, ctx, time.Minute, "the client's login on "+unit, func() error {
				conn, err := dial(ctx, addr+":5432", creds["username"], creds["password"], "appdb", ca)
				if err != nil {
					if isSQLState(err, "28000") {
						return err
					}
					t.Fatalf("client login on %s: %v", unit, err)
				}
				return conn.Close(ctx)
			})
		}
	})

	t.Run("no cleartext, no other CA, hostssl only", func(t *testing.T) {
		other, err := pki.NewCA("not this cluster", time.Now())
		must(t, err)
		for unit, addr := range c.Units {
			if conn, err := cleartextConnect(ctx, addr, c.Password); err == nil {
				conn.Close(ctx)
				t.Errorf("%s accepted a cleartext login", unit)
			} else if !strings.Contains(err.Error(), "no encryption") {
				t.Errorf("%s: cleartext refused for another reason: %v", unit, err)
			}
			if conn, err := tlsConnect(ctx, addr, "operator", c.Password, other.CertPEM, pki.VerifyCA); err == nil {
				conn.Close(ctx)
				t.Errorf("%s verified against a CA that did not sign it", unit)
			}
			n, err := sqlCount(ctx, c, addr, "SELECT count(*) FROM pg_hba_file_rules WHERE type <> 'hostssl'")
			must(t, err)
			if n != 0 {
				t.Errorf("%s: %d pg_hba lines other than hostssl", unit, n)
			}
		}
	})

	t.Run("replication is encrypted and verified", func(t *testing.T) {
		primary := mustPrimaryAddr(t, ctx, c)
		waitEncryptedStreams(t, ctx, c, primary, "", len(c.Units)-1)
		for _, addr := range c.Units {
			if addr != primary {
				walReceiverVerified(t, ctx, c, addr, "/tls/ca.crt")
			}
		}
	})

	// The same deployment, with an organisation's CA (tls_certs_test.go).
	if !t.Failed() {
		t.Run("certificates relation", func(t *testing.T) { certificatesRelation(t, ctx, j, c, model, "appdb") })
	}
}

// tlsConnect logs in to addr over TLS, the server verified against ca with mode.
func tlsConnect(ctx context.Context, addr, user, password string, ca []byte, mode pki.Mode) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig("")
	if err != nil {
		return nil, err
	}
	cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database = addr, 5432, user, password, "postgres"
	cfg.ConnectTimeout = 5 * time.Second
	if cfg.TLSConfig, err = pki.ClientConfig(ca, addr, mode, nil); err != nil {
		return nil, err
	}
	cfg.Fallbacks = nil
	return pgx.ConnectConfig(ctx, cfg)
}

// cleartextConnect tries to log in without TLS.
func cleartextConnect(ctx context.Context, addr, password string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig("")
	if err != nil {
		return nil, err
	}
	cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database = addr, 5432, "operator", password, "postgres"
	cfg.ConnectTimeout = 5 * time.Second
	cfg.TLSConfig, cfg.Fallbacks = nil, nil
	return pgx.ConnectConfig(ctx, cfg)
}

// waitEncryptedStreams waits until the primary at addr has want walsenders whose
// application_name starts with prefix, streaming, and checks in pg_stat_ssl that each
// connection is encrypted.
func waitEncryptedStreams(t *testing.T, ctx context.Context, c *scenario.Cluster, addr, prefix string, want int) {
	t.Helper()
	waitFor(t, ctx, 2*time.Minute, fmt.Sprintf("%d encrypted walsender(s) %s* on %s", want, prefix, addr), func() error {
		conn, err := scenario.Connect(ctx, addr, c.Password)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		var all, encrypted int
		err = conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE s.ssl)
			FROM pg_stat_replication r JOIN pg_stat_ssl s ON s.pid = r.pid
			WHERE r.state = 'streaming' AND starts_with(r.application_name, $1)`, prefix).Scan(&all, &encrypted)
		if err != nil {
			return err
		}
		if all != want {
			return fmt.Errorf("%d streaming", all)
		}
		if encrypted != all {
			t.Fatalf("%d of %d walsender connections on %s are not encrypted", all-encrypted, all, addr)
		}
		return nil
	})
}

// walReceiverVerified checks that the standby at addr streams with a connection that
// verifies its upstream against the CA file caFile (a suffix of its path).
func walReceiverVerified(t *testing.T, ctx context.Context, c *scenario.Cluster, addr, caFile string) {
	t.Helper()
	waitFor(t, ctx, 2*time.Minute, "the walreceiver of "+addr+" to stream", func() error {
		conn, err := scenario.Connect(ctx, addr, c.Password)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		var status, conninfo string
		if err := conn.QueryRow(ctx, "SELECT status, conninfo FROM pg_stat_wal_receiver").Scan(&status, &conninfo); err != nil {
			return err
		}
		if status != "streaming" {
			return errors.New(status)
		}
		if !strings.Contains(conninfo, "sslmode=verify-") || !strings.Contains(conninfo, caFile+" ") && !strings.HasSuffix(conninfo, caFile) {
			t.Fatalf("the walreceiver of %s does not verify its upstream with %s: %s", addr, caFile, conninfo)
		}
		return nil
	})
}

// issuer names the issuer of the certificate the server at addr presents.
func issuer(t *testing.T, ctx context.Context, c *scenario.Cluster, addr string) string {
	t.Helper()
	conn, err := scenario.Connect(ctx, addr, c.Password)
	must(t, err)
	defer conn.Close(ctx)
	tc, ok := conn.PgConn().Conn().(*tls.Conn)
	if !ok {
		t.Fatalf("%s: not a TLS connection", addr)
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		t.Fatalf("%s presented no certificate", addr)
	}
	return issuerName(certs[0])
}

// issuerName identifies the issuing CA by its key (two clusters' CAs may share a name).
func issuerName(c *x509.Certificate) string {
	return fmt.Sprintf("%s (key id %x)", c.Issuer, c.AuthorityKeyId)
}
