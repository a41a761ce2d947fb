package charm

import (
	"context"
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/hookenv"
	"github.com/jujulet/postgresql-k8s/internal/pki"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// servedCert returns the certificate a unit placed, verified against the cluster CA in the
// passwords secret at the world's clock.
func (w *world) servedCert(t *testing.T, u *testUnit) *x509.Certificate {
	t.Helper()
	ca := w.secrets[w.app["secret-id"]].Content[keyCACert]
	leaf, err := pki.VerifyChain(u.s.tlsFiles[postgres.ServerCertFile], []byte(ca), w.now(), x509.ExtKeyUsageServerAuth)
	if err != nil {
		t.Fatalf("%s's certificate: %v", u.name, err)
	}
	key, err := pki.ParsePrivateKey(u.s.tlsFiles[postgres.ServerKeyFile])
	if err != nil || !pki.MatchesKey(leaf, key) {
		t.Fatalf("%s's key does not match its certificate (%v)", u.name, err)
	}
	return leaf
}

func callCount(calls []string, name string) int {
	n := 0
	for _, c := range calls {
		if c == name {
			n++
		}
	}
	return n
}

// TestTLSByDefault: with no configuration every unit serves TLS with its own certificate
// from the cluster CA, trusts that CA for its peers, and admits TLS connections only.
func TestTLSByDefault(t *testing.T) {
	w := bootstrap(t, 2)
	u1 := w.mustRun("pg/1", "database-peers-relation-joined")
	wantStatus(t, u1, "active", "Replica")
	ca := w.secrets[w.app["secret-id"]].Content[keyCACert]
	for _, name := range []string{"pg/0", "pg/1"} {
		u := w.units[name]
		leaf := w.servedCert(t, u)
		for _, host := range []string{u.s.addr, "127.0.0.1", strings.Replace(name, "/", "-", 1) + ".pg-endpoints",
			strings.Replace(name, "/", "-", 1) + ".pg-endpoints.m.svc.cluster.local"} {
			if err := pki.VerifyHost(leaf, host); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		if string(u.s.tlsFiles[postgres.CAFile]) != ca || string(u.s.tlsFiles[postgres.ClientCAFile]) != ca {
			t.Errorf("%s: ca.crt/client-ca.crt are not the cluster CA", name)
		}
		if !u.s.conf.TLS || !u.s.live.TLS {
			t.Errorf("%s: ssl not on (written %v, live %v)", name, u.s.conf.TLS, u.s.live.TLS)
		}
		for _, r := range u.s.hba {
			if r.Type != "hostssl" {
				t.Errorf("%s: pg_hba line %+v is not hostssl", name, r)
			}
		}
		if got, err := u.s.trust(w.units["pg/0"].s.addr); err != nil || string(got) != ca {
			t.Errorf("%s: connections to pg/0 trust %q (%v), want the cluster CA", name, got, err)
		}
	}
	if w.servedCert(t, w.units["pg/0"]).SerialNumber.Cmp(w.servedCert(t, u1).SerialNumber) == 0 {
		t.Error("both units serve the same certificate")
	}
	// The replica verifies its primary against the cluster CA (ca.crt), not the other
	// cluster's.
	if up := u1.s.conf.Upstream; up == nil || up.Remote {
		t.Errorf("pg/1's upstream %+v", up)
	}
}

// TestTLSSteadyHookDoesNothing: once placed, a hook with nothing new neither writes the
// files again nor reloads.
func TestTLSSteadyHookDoesNothing(t *testing.T) {
	w := bootstrap(t, 1)
	u := w.units["pg/0"]
	writes, reloads := u.s.tlsWrites, callCount(u.s.calls, "Reload")
	w.mustRun("pg/0", "update-status")
	w.mustRun("pg/0", "update-status")
	if u.s.tlsWrites != writes || callCount(u.s.calls, "Reload") != reloads {
		t.Errorf("steady hooks: %d more TLS writes, %d more reloads", u.s.tlsWrites-writes, callCount(u.s.calls, "Reload")-reloads)
	}
}

// TestTLSReissue: a new SAN set or a certificate near its end is re-issued and applied by a
// reload, never a restart.
func TestTLSReissue(t *testing.T) {
	tests := []struct {
		name    string
		elapsed time.Duration
		model   string
		reissue bool
	}{
		{"nothing changed", 0, "m", false},
		{"long before expiry", 300 * 24 * time.Hour, "m", false},
		{"within the renewal margin", pki.ServerLifetime - pki.RenewBefore + time.Hour, "m", true},
		{"new SANs", 0, "renamed", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := bootstrap(t, 1)
			u := w.units["pg/0"]
			before := w.servedCert(t, u)
			starts, reloads := callCount(u.s.calls, "Start"), callCount(u.s.calls, "Reload")
			w.elapsed = tt.elapsed
			if _, err := w.run("pg/0", "update-status", nil, func(e *hookenv.Env) { e.ModelName = tt.model }); err != nil {
				t.Fatal(err)
			}
			after := w.servedCert(t, u)
			if got := after.SerialNumber.Cmp(before.SerialNumber) != 0; got != tt.reissue {
				t.Fatalf("re-issued %v, want %v", got, tt.reissue)
			}
			if callCount(u.s.calls, "Start") != starts || callCount(u.s.calls, "Stop") != 0 {
				t.Errorf("the server was restarted: %v", u.s.calls)
			}
			if tt.reissue && callCount(u.s.calls, "Reload") == reloads {
				t.Error("a new certificate was not applied by a reload")
			}
			if tt.model == "renamed" {
				if err := pki.VerifyHost(after, "pg-0.pg-endpoints.renamed.svc.cluster.local"); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// TestTLSFilesLostBeforeStart: a server about to start whose files are gone (new storage)
// gets them again, whatever the unit's record says.
func TestTLSFilesLostBeforeStart(t *testing.T) {
	w := bootstrap(t, 1)
	u := w.units["pg/0"]
	u.s.running = false
	u.s.tlsFiles = nil
	w.mustRun("pg/0", "postgresql-pebble-ready")
	if u.s.tlsFiles[postgres.ServerKeyFile] == nil || !u.s.running {
		t.Fatalf("files %v, running %v", slices.Collect(mapKeys(u.s.tlsFiles)), u.s.running)
	}
	w.servedCert(t, u)
}

func mapKeys(m map[string][]byte) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestClusterCAAddedKeepingPasswords: a cluster from before TLS (a secret with passwords
// only) gets a CA from its leader, and every later write of the secret keeps it.
func TestClusterCAAddedKeepingPasswords(t *testing.T) {
	w := bootstrap(t, 1)
	sec := w.secrets[w.app["secret-id"]]
	delete(sec.Content, keyCACert)
	delete(sec.Content, keyCAKey)
	pw := sec.Content["operator-password"]
	w.mustRun("pg/0", "update-status")
	if sec.Content[keyCACert] == "" || sec.Content[keyCAKey] == "" || sec.Content["operator-password"] != pw {
		t.Fatalf("secret after the upgrade: CA %t, password kept %t", sec.Content[keyCACert] != "", sec.Content["operator-password"] == pw)
	}
	ca := sec.Content[keyCACert]
	w.servedCert(t, w.units["pg/0"]) // re-issued from the new CA
	res, err := w.run("pg/0", "set-password", map[string]any{"username": "monitoring"}, nil)
	if err != nil || res.f.IsFailed {
		t.Fatalf("set-password: %v %s", err, res.f.Failed)
	}
	if sec.Content[keyCACert] != ca || sec.Content[keyCAKey] == "" {
		t.Error("set-password dropped the cluster CA from the secret")
	}
}

// TestNonLeaderWaitsForCA: a unit never serves (nor starts) without the cluster CA.
func TestNonLeaderWaitsForCA(t *testing.T) {
	w := bootstrap(t, 2)
	sec := w.secrets[w.app["secret-id"]]
	delete(sec.Content, keyCACert)
	u, err := w.run("pg/1", "database-peers-relation-joined", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, u, "waiting", "waiting for the leader to create the cluster CA")
	if u.s.running || u.s.tlsFiles != nil {
		t.Errorf("pg/1 went on without a CA: running %v, files %d", u.s.running, len(u.s.tlsFiles))
	}
}

// certSourceFunc is a CertSource from a function (the certificates relation's place).
type certSourceFunc func(sans []string) (ServerCert, bool, error)

func (f certSourceFunc) ServerCert(_ context.Context, _ *Charm, _ *State, sans []string) (ServerCert, bool, error) {
	return f(sans)
}

// TestCertSource: a certificate from the seam replaces the self-issued one; the CA clients
// trust becomes the bundle of both; a certificate that does not verify is not used and the
// status says why.
func TestCertSource(t *testing.T) {
	w := bootstrap(t, 1)
	u := w.units["pg/0"]
	now := time.Unix(1_700_000_000, 0)
	org, err := pki.NewCA("organisation CA", now)
	if err != nil {
		t.Fatal(err)
	}
	var provided ServerCert
	asked := 0
	w.tweak = func(c *Charm) {
		c.Certs = certSourceFunc(func(sans []string) (ServerCert, bool, error) {
			asked++
			return provided, provided.CertPEM != nil, nil
		})
	}
	// Requested, not issued yet: still self-issued, but the provider's CA is trusted already
	// (peers that got theirs verify).
	provided = ServerCert{CAPEM: org.CertPEM}
	w.mustRun("pg/0", "update-status")
	w.servedCert(t, u)
	if trust := string(u.s.tlsFiles[postgres.CAFile]); !strings.Contains(trust, string(org.CertPEM)) {
		t.Error("the provider's CA is not trusted while this unit's certificate is pending")
	}
	if asked != 1 {
		t.Errorf("the certificate source was asked %d times in one hook", asked)
	}
	certPEM, keyPEM, err := org.IssueServer(now, u.s.addr)
	if err != nil {
		t.Fatal(err)
	}
	provided = ServerCert{CertPEM: certPEM, KeyPEM: keyPEM, CAPEM: org.CertPEM}
	reloads := callCount(u.s.calls, "Reload")
	w.mustRun("pg/0", "update-status")
	if string(u.s.tlsFiles[postgres.ServerCertFile]) != string(certPEM) || callCount(u.s.calls, "Reload") == reloads {
		t.Fatal("the provided certificate was not placed and reloaded")
	}
	ca := w.secrets[w.app["secret-id"]].Content[keyCACert]
	trust := string(u.s.tlsFiles[postgres.CAFile])
	if !strings.Contains(trust, ca) || !strings.Contains(trust, string(org.CertPEM)) {
		t.Error("ca.crt is not the bundle of the cluster CA and the provided CA")
	}
	if string(u.s.tlsFiles[postgres.ClientCAFile]) != ca {
		t.Error("client certificates must still be verified against the cluster CA only")
	}
	wantStatus(t, u, "active", "Primary")

	// A certificate for another address: refused, the previous one stays, blocked says why.
	other, otherKey, _ := org.IssueServer(now, "10.9.9.9")
	provided = ServerCert{CertPEM: other, KeyPEM: otherKey, CAPEM: org.CertPEM}
	w.mustRun("pg/0", "update-status")
	if string(u.s.tlsFiles[postgres.ServerCertFile]) != string(certPEM) {
		t.Error("a certificate that does not name the unit replaced the one in place")
	}
	wantStatus(t, u, "blocked", "Primary; certificate from the certificates relation not used")

	// Malformed PEM: the same.
	provided = ServerCert{CertPEM: []byte("junk"), KeyPEM: keyPEM, CAPEM: org.CertPEM}
	w.mustRun("pg/0", "update-status")
	if string(u.s.tlsFiles[postgres.ServerCertFile]) != string(certPEM) {
		t.Error("a malformed certificate replaced the one in place")
	}
	wantStatus(t, u, "blocked", "Primary; certificate from the certificates relation not used: malformed PEM")

	// The source withdrawn: back to a self-issued certificate.
	provided = ServerCert{}
	w.mustRun("pg/0", "update-status")
	w.servedCert(t, u)
	wantStatus(t, u, "active", "Primary")
	if trust := string(u.s.tlsFiles[postgres.CAFile]); trust != w.secrets[w.app["secret-id"]].Content[keyCACert] {
		t.Error("the withdrawn provider's CA is still trusted")
	}
}

// TestRemoteCAFromSharedSecret: the other cluster's CA is taken from its shared secret only
// when it parses; a malformed one is a waiting status naming it and the previous CA stays.
func TestRemoteCAFromSharedSecret(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	a, _ := pki.NewCA("a", now)
	b, _ := pki.NewCA("b", now)
	st := &State{secret: map[string]string{}, tls: &tlsState{}}
	changed, err := takeRemoteCA(st, "secret:x", map[string]string{keyCACert: string(a.CertPEM)})
	if err != nil || !changed || st.secret[keyRemoteCACert] != string(a.CertPEM) || string(st.tls.remote) != string(a.CertPEM) {
		t.Fatalf("first CA: changed %v, err %v", changed, err)
	}
	if changed, err := takeRemoteCA(st, "secret:x", map[string]string{keyCACert: string(a.CertPEM)}); changed || err != nil {
		t.Errorf("same CA again: changed %v, err %v", changed, err)
	}
	for _, bad := range []string{"junk", string(a.KeyPEM), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"} {
		_, err := takeRemoteCA(st, "secret:x", map[string]string{keyCACert: bad})
		if msg, ok := asWaiting(err); !ok || !strings.Contains(msg, "secret:x") || !strings.Contains(msg, keyCACert) {
			t.Errorf("malformed CA %q: %v, want waiting naming the secret and the key", bad[:4], err)
		}
		if st.secret[keyRemoteCACert] != string(a.CertPEM) {
			t.Error("a malformed CA replaced the previous one")
		}
	}
	if changed, err := takeRemoteCA(st, "secret:x", map[string]string{keyCACert: string(b.CertPEM)}); !changed || err != nil || st.secret[keyRemoteCACert] != string(b.CertPEM) {
		t.Errorf("rotated CA: changed %v, err %v", changed, err)
	}
}

// TestTrustByHost: the other cluster's CA verifies only the other cluster's units and its
// published primary; this cluster's own units always verify against its own CA, even when
// the other cluster lists their addresses.
func TestTrustByHost(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	own, _ := pki.NewCA("own", now)
	other, _ := pki.NewCA("other", now)
	c := &Charm{ext: &asyncRepl{view: &drView{relID: "replication:1", remoteAddrs: []string{"10.0.0.9", "10.0.0.1"},
		remoteRaw: map[string]string{"primary-endpoint": "10.0.0.8:5432", "ca-certificate": string(other.CertPEM)}}}}
	st := &State{Unit: "pg/0", Address: "10.0.0.1", Peers: []string{"pg/1"},
		PeerData: map[string]map[string]string{"pg/1": {"address": "10.0.0.2"}},
		tls:      &tlsState{ca: own, trust: own.CertPEM}}
	fw := &fakeWorkload{s: &fakeServer{}, fc: newFakeCluster()}
	c.trustWorkload(st, fw)
	for _, tt := range []struct {
		host string
		want []byte
	}{
		{"10.0.0.1", own.CertPEM}, {"10.0.0.2", own.CertPEM}, {"10.0.0.7", own.CertPEM},
		{"10.0.0.9", other.CertPEM}, {"10.0.0.8", other.CertPEM},
	} {
		got, err := fw.s.trust(tt.host)
		if err != nil || string(got) != string(tt.want) {
			t.Errorf("%s: trusts %q (%v)", tt.host, got, err)
		}
	}
	// Without any CA of the other cluster, its servers cannot be dialled at all.
	c.ext.(*asyncRepl).view.remoteRaw["ca-certificate"] = "junk"
	if _, err := fw.s.trust("10.0.0.9"); err == nil {
		t.Error("a remote server was trusted without a valid CA of its cluster")
	}
}

// TestTLSReloadLeftPending: files placed by a hook that did not get to reload the server
// (it waited, or failed after placing them) are applied by the next hook's reload.
func TestTLSReloadLeftPending(t *testing.T) {
	w := bootstrap(t, 1)
	u := w.units["pg/0"]
	reloads := callCount(u.s.calls, "Reload")
	u.f.State[localTLSReload] = "pending"
	w.mustRun("pg/0", "update-status")
	if callCount(u.s.calls, "Reload") != reloads+1 || u.f.State[localTLSReload] != "" {
		t.Errorf("pending TLS reload: %d reloads, marker %q", callCount(u.s.calls, "Reload")-reloads, u.f.State[localTLSReload])
	}
	w.mustRun("pg/0", "update-status")
	if callCount(u.s.calls, "Reload") != reloads+1 {
		t.Error("reloaded again with nothing pending")
	}
}
