package charm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/drprotocol"
	"github.com/jujulet/postgresql-k8s/internal/pki"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// TLS is on by default, with no configuration: the leader creates the cluster CA once and
// keeps it in the passwords secret (every unit of the application reads it); each unit
// issues its own server certificate from it, places it in its workload (PlaceTLS) and
// serves TLS only (ssl = on, hostssl lines only). Every connection the charm or PostgreSQL
// makes verifies the server against the CA of the cluster it dials (postgres.Workload.Trust,
// postgres.Upstream.RootCert). See docs/TLS.md.

// Keys of the passwords secret that hold the cluster CA (PEM) and the other cluster's CA
// certificates as the standby cluster's leader copied them from the shared secret.
const (
	keyCACert       = "ca-certificate"
	keyCAKey        = "ca-key"
	keyRemoteCACert = "remote-ca-certificate"
)

// ServerCert is a certificate this unit's server presents, with its key and the CA
// certificates that sign it (what clients and the other cluster must trust).
type ServerCert struct {
	CertPEM []byte // the leaf, then any intermediates
	KeyPEM  []byte
	CAPEM   []byte
}

// CertSource is the one seam for certificates that do not come from the cluster CA (the
// certificates relation, tls-certificates interface). ServerCert returns the certificate
// this unit should serve for sans: ok false when the source has none (not integrated, or
// no certificate issued yet), and the unit then serves one it issues from the cluster CA.
// With ok false, a CAPEM that is set (the provider's CA, known before this unit's
// certificate) still joins the trust bundle, so that this unit verifies its peers that
// already serve the provider's certificates. An error or a certificate that does not verify
// (against its own CAPEM, for this key and the unit's address) keeps the certificate in
// place and is shown in the unit's status. It is asked once a hook.
//
// Whatever the source, the cluster CA stays the issuer of the client certificates the charm
// logs in with (ssl_ca_file), and the CA clients and the other cluster are given to trust
// (tls-ca, the shared secret's ca-certificate) is the trust bundle: the cluster CA plus the
// source's CAPEM, so that a unit still serving the other kind of certificate verifies too.
type CertSource interface {
	ServerCert(ctx context.Context, c *Charm, st *State, sans []string) (cert ServerCert, ok bool, err error)
}

// localTLS (unit charm state) records what ensureTLS placed, so that a steady hook neither
// reads the files back nor writes them again.
const localTLS = "tls"

// tlsRecord is the content of localTLS.
type tlsRecord struct {
	Source   string            `json:"source"`    // "self" (cluster CA) or "relation" (CertSource)
	Cert     string            `json:"cert"`      // fingerprint of the served leaf
	NotAfter int64             `json:"not-after"` // its end, unix seconds
	SANs     []string          `json:"sans"`      // as asked for, normalised
	Issuer   string            `json:"issuer"`    // fingerprint of the cluster CA (self only)
	Files    map[string]string `json:"files"`     // CA file name → SHA-256 of its content
}

// tlsState is what this hook knows of the cluster's TLS (State.tls).
type tlsState struct {
	ca    pki.CA
	trust []byte // PEM bundle this cluster's servers are verified with
	// remote is the other cluster's CA bundle as the standby's leader copied it from the
	// shared secret (nil when none): see remoteCA for all that is known.
	remote []byte
}

// loadCA parses the cluster CA from the passwords secret content (nil content: not read).
func loadCA(content map[string]string) (pki.CA, bool, error) {
	certPEM, keyPEM := content[keyCACert], content[keyCAKey]
	if certPEM == "" || keyPEM == "" {
		return pki.CA{}, false, nil
	}
	ca, err := pki.ParseCA([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		return pki.CA{}, false, fmt.Errorf("the cluster CA in the passwords secret: %w", err)
	}
	return ca, true, nil
}

// newCAContent returns the secret keys of a new cluster CA for app.
func newCAContent(app string, now time.Time) (map[string]string, error) {
	ca, err := pki.NewCA(app+" cluster CA", now)
	if err != nil {
		return nil, err
	}
	return map[string]string{keyCACert: string(ca.CertPEM), keyCAKey: string(ca.KeyPEM)}, nil
}

// ensureClusterCA creates the cluster CA (leader) when the passwords secret has none yet:
// clusters created before TLS, whose secret holds only passwords.
func (c *Charm) ensureClusterCA(ctx context.Context, st *State) error {
	if _, ok, err := loadCA(st.secret); ok || err != nil || !st.Leader {
		return nil // a broken CA is reported by ensureTLS; never replaced silently
	}
	add, err := newCAContent(st.App, c.Now())
	if err != nil {
		return err
	}
	for k, v := range add {
		st.secret[k] = v
	}
	c.logf(ctx, slog.LevelInfo, "created the cluster CA")
	return c.storePasswords(ctx, st)
}

// serverSANs are the names this unit's certificate carries: its address, its stable
// Kubernetes names (the headless service <app>-endpoints) and, for units on loopback
// addresses (jujulet), 127.0.0.1, the address connections between them come from.
func (c *Charm) serverSANs(st *State) []string {
	sans := []string{st.Address}
	if n := c.Env.UnitNumber(); n != "" {
		host := st.App + "-" + n + "." + st.App + "-endpoints"
		sans = append(sans, host)
		if m := c.Env.ModelName; m != "" {
			sans = append(sans, host+"."+m+".svc.cluster.local")
		}
	}
	if strings.HasPrefix(st.Address, "127.") {
		sans = append(sans, "127.0.0.1")
	}
	out, err := pki.NormaliseSANs(sans)
	if err != nil {
		// An app or model name that is not a DNS label: the address alone still verifies.
		out, _ = pki.NormaliseSANs([]string{st.Address})
	}
	return out
}

// ensureTLS places this unit's certificate, key and CA files in the workload when they are
// not there yet or must change (new SANs, near expiry, a new CA or source), and reports
// whether it wrote anything (a running server then reloads). running says whether the
// server runs: a stopped one is about to start, and its files are checked to exist.
func (c *Charm) ensureTLS(ctx context.Context, st *State, w Workload, running bool) (changed bool, err error) {
	ts := st.tls
	if ts == nil {
		if st.Leader {
			return false, errors.New("the cluster CA is not in the passwords secret")
		}
		return false, waiting("waiting for the leader to create the cluster CA")
	}
	var rec tlsRecord
	if raw := st.Local[localTLS]; raw != "" && json.Unmarshal([]byte(raw), &rec) != nil {
		rec = tlsRecord{}
	}
	if !running && rec.Cert != "" {
		// About to start: the record is only as good as the files (new storage).
		if ok, err := w.HasTLS(ctx); err != nil {
			return false, err
		} else if !ok {
			rec = tlsRecord{}
		}
	}
	now := c.Now()
	sans := c.serverSANs(st)
	files := map[string][]byte{}
	next := rec
	provided, ok, perr := c.sourceCert(ctx, st, sans)
	if perr == nil {
		// As the source says now: the cluster CA, plus the provider's CA when it has one. On
		// an error the bundle last placed stays (loadTLS).
		ts.trust = bundle(ts.ca.CertPEM, provided.CAPEM)
	}
	switch {
	case perr != nil:
		// The source's certificate is unusable: keep whatever is in place (or self-issue
		// when nothing is), and say why.
		st.tlsProblem = "certificate from the certificates relation not used: " + perr.Error()
		c.logf(ctx, slog.LevelWarn, "%s", st.tlsProblem)
		if rec.Cert != "" {
			break
		}
		fallthrough
	case !ok:
		if rec.Source == "self" && rec.Issuer == pki.Fingerprint(ts.ca.Cert) && slices.Equal(rec.SANs, sans) &&
			now.Add(pki.RenewBefore).Before(time.Unix(rec.NotAfter, 0)) {
			break
		}
		certPEM, keyPEM, err := ts.ca.IssueServer(now, sans...)
		if err != nil {
			return false, fmt.Errorf("issue server certificate: %w", err)
		}
		leaf, _ := pki.ParseCertificate(certPEM)
		files[postgres.ServerCertFile], files[postgres.ServerKeyFile] = certPEM, keyPEM
		next = tlsRecord{Source: "self", Cert: pki.Fingerprint(leaf), NotAfter: leaf.NotAfter.Unix(), SANs: sans,
			Issuer: pki.Fingerprint(ts.ca.Cert), Files: rec.Files}
		c.logf(ctx, slog.LevelInfo, "issued this unit's server certificate for %s (until %s)", strings.Join(sans, ", "), leaf.NotAfter.Format(time.DateOnly))
	default:
		leaf, _ := pki.ParseCertificate(firstCert(provided.CertPEM))
		if fp := pki.Fingerprint(leaf); rec.Source != "relation" || rec.Cert != fp {
			files[postgres.ServerCertFile], files[postgres.ServerKeyFile] = provided.CertPEM, provided.KeyPEM
			next = tlsRecord{Source: "relation", Cert: fp, NotAfter: leaf.NotAfter.Unix(), SANs: sans, Files: rec.Files}
			c.logf(ctx, slog.LevelInfo, "serving the certificate from the certificates relation (until %s)", leaf.NotAfter.Format(time.DateOnly))
		}
	}
	if left := time.Unix(next.NotAfter, 0).Sub(now); next.Cert != "" && left < 7*24*time.Hour && st.tlsProblem == "" {
		st.tlsProblem = fmt.Sprintf("the server certificate expires in %s", left.Round(time.Hour))
	}
	want := map[string][]byte{postgres.CAFile: ts.trust, postgres.ClientCAFile: ts.ca.CertPEM}
	remote := c.remoteCA(st)
	if remote != nil {
		want[postgres.RemoteCAFile] = remote
	}
	hashes := map[string]string{}
	for name, data := range want {
		h := sha256.Sum256(data)
		hashes[name] = hex.EncodeToString(h[:])
		if rec.Files[name] != hashes[name] {
			files[name] = data
		}
	}
	if prev := rec.Files[postgres.RemoteCAFile]; prev != "" && remote == nil {
		hashes[postgres.RemoteCAFile] = prev // the last known one stays in place
	}
	next.Files = hashes
	if len(files) == 0 {
		return false, nil
	}
	if err := w.PlaceTLS(ctx, files); err != nil {
		return false, err
	}
	raw, err := json.Marshal(next)
	if err != nil {
		return false, err
	}
	st.SetLocal(localTLS, string(raw))
	st.SetLocal(localTrust, string(ts.trust))
	return true, nil
}

// sourceCert asks the CertSource, if any, for this unit's certificate, and checks it; the
// answer is kept for the rest of the hook (ensureTLS runs more than once).
func (c *Charm) sourceCert(ctx context.Context, st *State, sans []string) (ServerCert, bool, error) {
	if c.Certs == nil {
		return ServerCert{}, false, nil
	}
	if a := st.tlsSource; a != nil {
		return a.cert, a.ok, a.err
	}
	sc, ok, err := c.Certs.ServerCert(ctx, c, st, sans)
	switch {
	case err != nil:
		sc, ok = ServerCert{}, false
	case !ok:
		sc = ServerCert{CAPEM: sc.CAPEM}
		if len(sc.CAPEM) > 0 {
			if _, cerr := pki.ParseCACertificate(sc.CAPEM); cerr != nil {
				sc.CAPEM = nil // an unusable CA is not trusted; the status says so
				err = cerr
			}
		}
	default:
		err = checkServerCert(sc, st.Address, c.Now())
	}
	st.tlsSource = &sourceAnswer{cert: sc, ok: ok, err: err}
	return sc, ok, err
}

// sourceAnswer is the CertSource's answer in this hook.
type sourceAnswer struct {
	cert ServerCert
	ok   bool
	err  error
}

// checkServerCert verifies that sc is a usable server certificate for addr at now: it
// chains to its own CA, its key matches, and it names addr.
func checkServerCert(sc ServerCert, addr string, now time.Time) error {
	leaf, err := pki.VerifyChain(sc.CertPEM, sc.CAPEM, now, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return err
	}
	key, err := pki.ParsePrivateKey(sc.KeyPEM)
	if err != nil {
		return err
	}
	if !pki.MatchesKey(leaf, key) {
		return errors.New("the private key does not match the certificate")
	}
	if addr != "" {
		return pki.VerifyHost(leaf, addr)
	}
	return nil
}

// firstCert returns the first PEM block of a chain.
func firstCert(chain []byte) []byte {
	end := []byte("-----END CERTIFICATE-----")
	if i := bytes.Index(chain, end); i >= 0 {
		return chain[:i+len(end)]
	}
	return chain
}

// bundle concatenates PEM bundles, dropping certificates already in it.
func bundle(parts ...[]byte) []byte {
	var out []byte
	seen := map[string]bool{}
	for _, p := range parts {
		certs, err := pki.ParseCertificates(p)
		if err != nil {
			continue
		}
		for _, cert := range certs {
			if fp := pki.Fingerprint(cert); !seen[fp] {
				seen[fp] = true
				out = append(out, pki.EncodeCertificate(cert.Raw)...)
			}
		}
	}
	return out
}

// localTrust (unit charm state) is the trust bundle ensureTLS last placed: an action,
// which does not place files, verifies this cluster's servers with it.
const localTrust = "tls-trust"

// loadTLS sets st.tls from the passwords secret as loadPasswords read it: the cluster CA,
// the trust bundle (as last placed, or the cluster CA) and the other cluster's CA.
func loadTLS(st *State) error {
	ca, ok, err := loadCA(st.secret)
	if err != nil || !ok {
		st.tls = nil
		return err
	}
	ts := &tlsState{ca: ca, trust: bundle(ca.CertPEM, []byte(st.Local[localTrust]))}
	if r := st.secret[keyRemoteCACert]; r != "" {
		if _, err := pki.ParseCACertificate([]byte(r)); err == nil {
			ts.remote = []byte(r)
		}
	}
	st.tls = ts
	return nil
}

// trustWorkload makes w's connections verify each server with the CA of its cluster: the
// other cluster's for its units and published primary, this cluster's for every other host.
// The CAs are looked up at each connection, so what later steps of the hook learn counts.
func (c *Charm) trustWorkload(st *State, w Workload) {
	w.SetTrust(func(host string) ([]byte, error) { return c.trustFor(st, host) })
}

// trustFor is the CA bundle the server at host is verified with, as st has it now.
func (c *Charm) trustFor(st *State, host string) ([]byte, error) {
	ts := st.tls
	if ts == nil {
		return nil, errors.New("the cluster CA is not known yet")
	}
	if c.isRemoteHost(st, host) {
		remote := c.remoteCA(st)
		if remote == nil {
			return nil, fmt.Errorf("%s is the other cluster's: its CA is not known yet", host)
		}
		return remote, nil
	}
	return ts.trust, nil
}

// remoteCA is the other cluster's CA bundle: what the shared secret gave (a standby) and
// what the other cluster publishes in the replication relation (either side; parsed and
// checked with the rest of its bucket, drprotocol.ParseAppData). nil when neither is known.
func (c *Charm) remoteCA(st *State) []byte {
	var secret []byte
	if st.tls != nil {
		secret = st.tls.remote
	}
	var published []byte
	if link := c.extension().replicationLink(); link != nil {
		if raw := link.remote[drprotocol.KeyCACertificate]; raw != "" {
			if _, err := pki.ParseCACertificate([]byte(raw)); err == nil {
				published = []byte(raw)
			}
		}
	}
	if secret == nil && published == nil {
		return nil
	}
	return bundle(secret, published)
}

// isRemoteHost reports whether host is one of the other cluster's servers (its units, or
// its published primary endpoint). This cluster's own units never are, whatever the other
// cluster publishes.
func (c *Charm) isRemoteHost(st *State, host string) bool {
	link := c.extension().replicationLink()
	if link == nil {
		return false
	}
	for _, u := range append([]string{st.Unit}, st.Peers...) {
		if st.AddressOf(u) == host {
			return false
		}
	}
	if slices.Contains(link.remoteAddrs, host) {
		return true
	}
	if h, _, err := net.SplitHostPort(link.remote["primary-endpoint"]); err == nil && h == host {
		return true
	}
	return false
}

// openWorkload opens this unit's workload for an action, its connections verified.
func (c *Charm) openWorkload(ctx context.Context, st *State) (Workload, error) {
	w, err := c.OpenWorkload(ctx, st.Address)
	if err != nil {
		return nil, err
	}
	c.trustWorkload(st, w)
	return w, nil
}

// placeTLS is ensureTLS for a server that runs or is about to be configured; it remembers
// in st.tlsPlaced that files changed, so that the role's next reload applies them. It is
// called again where a later step may need what an earlier one learned (a CA copied from
// the other cluster before a seed): a call with nothing to do costs nothing.
func (c *Charm) placeTLS(ctx context.Context, st *State, w Workload) (bool, error) {
	changed, err := c.ensureTLS(ctx, st, w, true)
	st.tlsPlaced = st.tlsPlaced || changed
	if changed {
		// Until a role's run reloads (or starts) the server: a hook that places files
		// without getting there leaves the reload to the next one.
		st.SetLocal(localTLSReload, "pending")
	}
	return changed, err
}

// localTLSReload (unit charm state) is set while placed TLS files wait for a reload.
const localTLSReload = "tls-reload"

// tlsReloadPending reports whether the server must reload for TLS files placed in this hook
// or an earlier one.
func tlsReloadPending(st *State) bool { return st.tlsPlaced || st.Local[localTLSReload] != "" }

// tlsBeforeStart makes sure the files the record names exist before the server starts (a
// server with ssl = on does not start without them): one look at the directory, only when
// starting.
func (c *Charm) tlsBeforeStart(ctx context.Context, st *State, w Workload) error {
	changed, err := c.ensureTLS(ctx, st, w, false)
	st.tlsPlaced = st.tlsPlaced || changed
	return err
}

// takeRemoteCA keeps the other cluster's CA certificate from its shared secret (uri) in
// this cluster's passwords secret (keyRemoteCACert; written by the caller), and reports
// whether it changed. The secret is the other model's, so its value is checked: a
// malformed one is a waiting status naming it, and the previous CA stays in use.
func takeRemoteCA(st *State, uri string, content map[string]string) (bool, error) {
	raw := content[keyCACert]
	if raw == "" || st.secret == nil {
		return false, nil // a primary cluster from before TLS: its relation data may have it
	}
	if _, err := pki.ParseCACertificate([]byte(raw)); err != nil {
		return false, waiting("the other cluster's replication secret %s has an invalid %s (%v): still trusting the previous one", uri, keyCACert, err)
	}
	if st.secret[keyRemoteCACert] == raw {
		return false, nil
	}
	st.secret[keyRemoteCACert] = raw
	if st.tls != nil {
		st.tls.remote = []byte(raw)
	}
	return true, nil
}
