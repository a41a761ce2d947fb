package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jujulet/postgresql-k8s/internal/pki"
	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// certificatesRelation integrates a two-unit cluster with the test CA charm
// (tests/testdata/charms/tlsca, the tls-certificates provider): every unit then serves a
// certificate that chains to tlsca's CA and names its address, a client verifies the server
// with that CA alone (sslmode=verify-ca), an application of the database relation is given
// it in tls-ca, and replication goes on. A provider that answers with malformed
// certificates blocks the units with the reason while they keep serving the good ones; once
// the relation is removed they serve certificates of the cluster CA again.
//
// It runs on TestTLS's deployment: a 2-unit cluster pg with the application app integrated,
// database db.
func certificatesRelation(t *testing.T, ctx context.Context, j *scenario.Jujulet, c *scenario.Cluster, model, db string) {

	// The cluster CA's certificates, before: what the units must come back to.
	clusterIssuer := map[string][]byte{}
	for unit, addr := range c.Units {
		chain, err := servedChain(ctx, addr)
		must(t, err)
		clusterIssuer[unit] = chain[0].AuthorityKeyId
	}

	must(t, j.Deploy(ctx, model, "tlsca", "tlsca", scenario.DeployOptions{}))
	must(t, j.Integrate(ctx, model, "pg:certificates", "tlsca:certificates"))
	settle(t, ctx, j, model, scenario.All(scenario.AppSettled("tlsca", 1, ""), scenario.AppSettled("pg", 2, "Primary"),
		scenario.UnitMessages("pg", map[string]int{"Primary": 1, "Replica": 1})))
	res := runOK(t, ctx, j, model, "tlsca/0", "get-ca-certificate", nil)
	caPEM, _ := res.Results["ca-certificate"].(string)
	roots, err := pki.CertPool([]byte(caPEM))
	must(t, err)

	servesProvider := func(unit, addr string) error {
		chain, err := servedChain(ctx, addr)
		if err != nil {
			return err
		}
		inter := x509.NewCertPool()
		for _, x := range chain[1:] {
			inter.AddCert(x)
		}
		if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			return fmt.Errorf("%s serves %q: %w", unit, chain[0].Issuer, err)
		}
		return chain[0].VerifyHostname(addr)
	}
	for unit, addr := range c.Units {
		waitFor(t, ctx, 2*time.Minute, unit+" to serve tlsca's certificate", func() error { return servesProvider(unit, addr) })
		// A client that trusts only tlsca's CA logs in, verifying the server.
		conn, err := connectVerifyCA(ctx, addr, c.Password, []byte(caPEM))
		if err != nil {
			t.Fatalf("%s with sslmode=verify-ca and tlsca's CA: %v", unit, err)
		}
		conn.Close(ctx)
	}
	// The application is given the provider's CA, and verifies every unit with what it got.
	waitFor(t, ctx, 2*time.Minute, "app's tls-ca to include tlsca's CA", func() error {
		creds := clientCreds(t, ctx, j, model, "app/0")
		if !bundleHas(creds["tls-ca"], caPEM) {
			return errors.New("tls-ca does not include tlsca's CA")
		}
		for _, host := range strings.Split(creds["endpoints"], ",") {
			conn, err := dial(ctx, host, creds["username"], creds["password"], db, creds["tls-ca"])
			if err != nil {
				return fmt.Errorf("app logs in to %s with its tls-ca: %w", host, err)
			}
			conn.Close(ctx)
		}
		return nil
	})

	// Replication still runs, each server verifying the other: a row written on the primary
	// reaches the replica (both dialled trusting tlsca's CA only).
	primary, replica := unitsByRole(t, ctx, j, model, c)
	conn, err := connectVerifyCA(ctx, c.Units[primary], c.Password, []byte(caPEM))
	must(t, err)
	_, err = conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS tls_certs (v int); INSERT INTO tls_certs VALUES (1)")
	conn.Close(ctx)
	must(t, err)
	waitFor(t, ctx, time.Minute, "the row on "+replica, func() error {
		conn, err := connectVerifyCA(ctx, c.Units[replica], c.Password, []byte(caPEM))
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM tls_certs").Scan(&n); err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("%d rows", n)
		}
		return nil
	})

	t.Run("malformed answers block, the certificates stay", func(t *testing.T) {
		_, err := j.Juju(ctx, "config", "-m", model, "tlsca", "mode=malformed")
		must(t, err)
		settle(t, ctx, j, model, allUnitsSay("pg", "blocked", "certificates: tlsca's certificate for this unit is invalid"))
		for unit, addr := range c.Units {
			if err := servesProvider(unit, addr); err != nil {
				t.Fatalf("after malformed answers: %v", err)
			}
		}
		_, err = j.Juju(ctx, "config", "-m", model, "tlsca", "mode=sign")
		must(t, err)
		settle(t, ctx, j, model, scenario.All(scenario.AppSettled("pg", 2, "Primary"),
			scenario.UnitMessages("pg", map[string]int{"Primary": 1, "Replica": 1})))
	})

	must(t, j.RemoveRelation(ctx, model, "pg", "tlsca"))
	for unit, addr := range c.Units {
		waitFor(t, ctx, 2*time.Minute, unit+" to serve the cluster CA's certificate again", func() error {
			chain, err := servedChain(ctx, addr)
			if err != nil {
				return err
			}
			if !bytes.Equal(chain[0].AuthorityKeyId, clusterIssuer[unit]) {
				return fmt.Errorf("%s serves a certificate of %q", unit, chain[0].Issuer)
			}
			return nil
		})
	}
	settle(t, ctx, j, model, scenario.All(scenario.AppSettled("pg", 2, "Primary"),
		scenario.UnitMessages("pg", map[string]int{"Primary": 1, "Replica": 1})))
	// Once both units present the cluster CA's certificates, the removed CA is retired.
	waitFor(t, ctx, 2*time.Minute, "app's tls-ca to drop tlsca's CA", func() error {
		if bundleHas(clientCreds(t, ctx, j, model, "app/0")["tls-ca"], caPEM) {
			return errors.New("tls-ca still includes tlsca's CA")
		}
		return nil
	})
}

// servedFrom returns the certificate the server at addr presents, once it verifies as a
// server certificate of the CA caPEM.
func servedFrom(ctx context.Context, addr, caPEM string) (*x509.Certificate, error) {
	chain, err := servedChain(ctx, addr)
	if err != nil {
		return nil, err
	}
	return pki.VerifyChain(pki.EncodeCertificate(chain[0].Raw), []byte(caPEM), time.Now(), x509.ExtKeyUsageServerAuth)
}

// servedChain returns the certificates PostgreSQL at addr presents: an SSLRequest, then a
// TLS handshake that records the chain without judging it.
func servedChain(ctx context.Context, addr string) ([]*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", net.JoinHostPort(addr, "5432"))
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}
	// SSLRequest: length 8, code 80877103.
	req := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 8), 80877103)
	if _, err := raw.Write(req); err != nil {
		return nil, fmt.Errorf("SSLRequest: %w", err)
	}
	answer := make([]byte, 1)
	if _, err := io.ReadFull(raw, answer); err != nil {
		return nil, fmt.Errorf("SSLRequest answer: %w", err)
	}
	if answer[0] != 'S' {
		return nil, fmt.Errorf("%s does not serve TLS (answer %q)", addr, answer)
	}
	var chain []*x509.Certificate
	conn := tls.Client(raw, &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Only recorded here; the callers verify the chain against the CA they expect.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			chain = cs.PeerCertificates
			return nil
		},
	})
	if err := conn.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
	}
	if len(chain) == 0 {
		return nil, errors.New("no certificate presented")
	}
	return chain, nil
}

// connectVerifyCA logs in as the operator verifying the server with caPEM only (libpq's
// sslmode=verify-ca). password may list candidates separated by NUL (scenario.Passwords,
// for clusters under cross-regional replication): each is tried in turn.
func connectVerifyCA(ctx context.Context, addr, password string, caPEM []byte) (*pgx.Conn, error) {
	var last error
	for _, pw := range strings.Split(password, "\x00") {
		conn, err := connectVerifyCAWith(ctx, addr, pw, caPEM)
		if err == nil {
			return conn, nil
		}
		last = err
	}
	return nil, last
}

func connectVerifyCAWith(ctx context.Context, addr, password string, caPEM []byte) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig("")
	if err != nil {
		return nil, err
	}
	cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database = addr, 5432, scenario.OperatorUser, password, "postgres"
	cfg.ConnectTimeout = 5 * time.Second
	if cfg.TLSConfig, err = pki.ClientConfig(caPEM, addr, pki.VerifyCA, nil); err != nil {
		return nil, err
	}
	cfg.Fallbacks = nil // no plaintext retry
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	return conn, nil
}

// allUnitsSay holds when every unit of app has workload status status and a message that
// contains msg.
func allUnitsSay(app, status, msg string) scenario.Condition {
	return func(s *scenario.Status) error {
		a, ok := s.Applications[app]
		if !ok || len(a.Units) == 0 {
			return fmt.Errorf("no units of %s", app)
		}
		for name, u := range a.Units {
			if u.WorkloadStatus.Current != status || !strings.Contains(u.WorkloadStatus.Message, msg) {
				return fmt.Errorf("%s is %s: %s", name, u.WorkloadStatus.Current, u.WorkloadStatus.Message)
			}
		}
		return nil
	}
}

// bundleHas reports whether the PEM bundle holds every certificate of want.
func bundleHas(bundle, want string) bool {
	have, err := pki.ParseCertificates([]byte(bundle))
	if err != nil {
		return false
	}
	wants, err := pki.ParseCertificates([]byte(want))
	if err != nil {
		return false
	}
	for _, w := range wants {
		found := false
		for _, h := range have {
			found = found || bytes.Equal(h.Raw, w.Raw)
		}
		if !found {
			return false
		}
	}
	return true
}

// unitsByRole returns the unit whose status says Primary and the one that says Replica.
func unitsByRole(t testing.TB, ctx context.Context, j *scenario.Jujulet, model string, c *scenario.Cluster) (primary, replica string) {
	t.Helper()
	st, err := j.Status(ctx, model)
	must(t, err)
	for name, u := range st.Applications[c.App].Units {
		switch u.WorkloadStatus.Message {
		case "Primary":
			primary = name
		case "Replica":
			replica = name
		}
	}
	if primary == "" || replica == "" {
		t.Fatalf("primary %q, replica %q", primary, replica)
	}
	return primary, replica
}

// TestCertificatesRefused: a unit added while the provider refuses new requests waits, saying
// why, and still joins the cluster (it verifies its peers, which serve the provider's
// certificates, with the provider's CA from their answers); once the provider signs, it serves
// the provider's certificate too.
func TestCertificatesRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	j := scenario.StartJujulet(t)
	const model = "refused"
	c := deployCluster(t, ctx, j, model, "pg", 1)
	must(t, j.Deploy(ctx, model, "tlsca", "tlsca", scenario.DeployOptions{}))
	must(t, j.Integrate(ctx, model, "pg:certificates", "tlsca:certificates"))
	settle(t, ctx, j, model, scenario.All(scenario.AppSettled("tlsca", 1, ""), scenario.AppSettled("pg", 1, "Primary")))
	res := runOK(t, ctx, j, model, "tlsca/0", "get-ca-certificate", nil)
	caPEM, _ := res.Results["ca-certificate"].(string)
	for unit, addr := range c.Units {
		waitFor(t, ctx, 2*time.Minute, unit+" to serve tlsca's certificate", func() error {
			_, err := servedFrom(ctx, addr, caPEM)
			return err
		})
	}

	_, err := j.Juju(ctx, "config", "-m", model, "tlsca", "mode=refuse")
	must(t, err)
	must(t, j.Scale(ctx, model, "pg", 2))
	// pg/1 serves with the cluster CA's certificate meanwhile; it may already have taken the
	// primary over from the leader (docs/HA.md, "Primary off the leader").
	const waitMsg = "; certificates: waiting for tlsca to sign this unit's request"
	settle(t, ctx, j, model, func(s *scenario.Status) error {
		if u := s.Applications["tlsca"].Units["tlsca/0"]; u.WorkloadStatus.Current != "blocked" || !strings.Contains(u.WorkloadStatus.Message, "refusing") {
			return fmt.Errorf("tlsca/0 is %s: %s", u.WorkloadStatus.Current, u.WorkloadStatus.Message)
		}
		u, ok := s.Applications["pg"].Units["pg/1"]
		if !ok || u.WorkloadStatus.Current != "waiting" ||
			(u.WorkloadStatus.Message != "Replica"+waitMsg && u.WorkloadStatus.Message != "Primary"+waitMsg) {
			return fmt.Errorf("pg/1 is %s: %s", u.WorkloadStatus.Current, u.WorkloadStatus.Message)
		}
		return nil
	})

	_, err = j.Juju(ctx, "config", "-m", model, "tlsca", "mode=sign")
	must(t, err)
	settle(t, ctx, j, model, scenario.All(scenario.AppSettled("pg", 2, "Primary"),
		scenario.UnitMessages("pg", map[string]int{"Primary": 1, "Replica": 1})))
	addr, err := j.UnitAddress(ctx, model, "pg/1")
	must(t, err)
	waitFor(t, ctx, time.Minute, "pg/1 to serve tlsca's certificate", func() error {
		chain, err := servedChain(ctx, addr)
		if err != nil {
			return err
		}
		_, err = pki.VerifyChain(pki.EncodeCertificate(chain[0].Raw), []byte(caPEM), time.Now(), x509.ExtKeyUsageServerAuth)
		return err
	})
}

// TestCertificatesRenewalAndRemoval, on a one-unit cluster with an application integrated:
// with certificates valid for 3 minutes, the unit renews its certificate before it expires,
// by its own timer (the suite's update-status runs hourly), serving a new certificate from
// the provider while the first one is still valid; then, once the certificates relation is
// removed and the unit serves the cluster CA's certificate again, the application is no
// longer told to trust the removed provider's CA.
func TestCertificatesRenewalAndRemoval(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	j := scenario.StartJujulet(t)
	const model = "renewal"
	c := deployCluster(t, ctx, j, model, "pg", 1)
	must(t, j.Deploy(ctx, model, "pgclient", "app", scenario.DeployOptions{Config: map[string]string{"database-name": "certsdb"}}))
	must(t, j.Integrate(ctx, model, "pg:database", "app:database"))
	waitClientReady(t, ctx, j, model, "app/0", "certsdb")
	must(t, j.Deploy(ctx, model, "tlsca", "tlsca", scenario.DeployOptions{Config: map[string]string{"validity": "3m"}}))
	must(t, j.Integrate(ctx, model, "pg:certificates", "tlsca:certificates"))
	// Not pg: a certificate valid for 3 minutes keeps it blocked ("expires in …").
	settle(t, ctx, j, model, scenario.AppSettled("tlsca", 1, ""))
	res := runOK(t, ctx, j, model, "tlsca/0", "get-ca-certificate", nil)
	caPEM, _ := res.Results["ca-certificate"].(string)
	addr := c.Units["pg/0"]
	fromProvider := func() (*x509.Certificate, error) { return servedFrom(ctx, addr, caPEM) }
	var first *x509.Certificate
	waitFor(t, ctx, 2*time.Minute, "pg/0 to serve tlsca's certificate", func() (err error) {
		first, err = fromProvider()
		return err
	})
	waitFor(t, ctx, 2*time.Minute, "app's tls-ca to include tlsca's CA", func() error {
		if !bundleHas(clientCreds(t, ctx, j, model, "app/0")["tls-ca"], caPEM) {
			return errors.New("tls-ca does not include tlsca's CA")
		}
		return nil
	})
	waitFor(t, ctx, 4*time.Minute, "pg/0 to serve a renewed certificate", func() error {
		if time.Now().After(first.NotAfter) {
			t.Fatalf("the first certificate expired (%s) before it was renewed", first.NotAfter)
		}
		cur, err := fromProvider()
		if err != nil {
			return err
		}
		if cur.SerialNumber.Cmp(first.SerialNumber) == 0 {
			return errors.New("still the first certificate")
		}
		return nil
	})

	must(t, j.RemoveRelation(ctx, model, "pg", "tlsca"))
	settle(t, ctx, j, model, scenario.AppSettled("pg", 1, "Primary"))
	waitFor(t, ctx, 2*time.Minute, "app's tls-ca to drop tlsca's CA", func() error {
		if bundleHas(clientCreds(t, ctx, j, model, "app/0")["tls-ca"], caPEM) {
			return errors.New("tls-ca still includes tlsca's CA")
		}
		return nil
	})
}

// TestCertificatesAcrossClusters: the primary cluster integrated with tlsca serves its
// certificates; the standby cluster, restarted so that its walreceiver dials again, verifies
// them with the CA the shared secret carries, and replication goes on.
func TestCertificatesAcrossClusters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	j, s, rome, lisbon := replicatingPair(t, ctx)

	// Before any provider: the standby cluster's walreceiver streams from the other cluster
	// encrypted, verifying it with the other cluster's CA (shared through the replication
	// secret and relation), and each cluster serves certificates of its own CA.
	romePrimary := mustPrimaryAddr(t, ctx, rome)
	waitEncryptedStreams(t, ctx, rome, romePrimary, "dr_", 1)
	head := ""
	for _, addr := range lisbon.Units {
		head = addr
	}
	walReceiverVerified(t, ctx, lisbon, head, "/tls/remote-ca.crt")
	if ri, li := issuer(t, ctx, rome, romePrimary), issuer(t, ctx, lisbon, head); ri == li {
		t.Errorf("both clusters serve certificates of the same CA %q", ri)
	}

	must(t, j.Deploy(ctx, rome.Model, "tlsca", "tlsca", scenario.DeployOptions{}))
	must(t, j.Integrate(ctx, rome.Model, rome.App+":certificates", "tlsca:certificates"))
	settle(t, ctx, j, rome.Model, scenario.AppSettled("tlsca", 1, ""))
	res := runOK(t, ctx, j, rome.Model, "tlsca/0", "get-ca-certificate", nil)
	caPEM, _ := res.Results["ca-certificate"].(string)
	for unit, addr := range rome.Units {
		waitFor(t, ctx, 2*time.Minute, unit+" to serve tlsca's certificate", func() error {
			_, err := servedFrom(ctx, addr, caPEM)
			return err
		})
	}
	// The standby's server restarts: its walreceiver connects anew, verifying rome's
	// certificate (sslmode=verify-ca with the CA from the shared secret).
	killed := time.Now()
	for unit := range lisbon.Units {
		must(t, j.KillPod(ctx, lisbon.Model, unit))
	}
	s.WriteAndSee(t, ctx, rome, []*scenario.Cluster{lisbon}, "after-provider", 5)
	// The rows came through a walsender connection made after the restart, over TLS.
	_, primary, err := scenario.Primary(ctx, rome)
	must(t, err)
	conn, err := connectVerifyCA(ctx, rome.Units[primary], rome.Password, []byte(caPEM))
	must(t, err)
	defer conn.Close(ctx)
	var n int
	// rome has one unit: its walsenders are the standby cluster's.
	must(t, conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)
		WHERE s.ssl AND r.backend_start > $1`, killed).Scan(&n))
	if n == 0 {
		t.Fatal("no TLS walsender to the standby cluster started after its restart")
	}
	conn.Close(ctx)

	// The same pair, last: rome's primary stops and a stalled peer takes its address
	// (deadline_test.go).
	t.Run("stalled remote primary", func(t *testing.T) { stalledRemotePrimary(t, ctx, j, s, rome) })
}
