package charm

import (
	"context"
	"crypto/x509"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/hookenv"
	"github.com/jujulet/postgresql-k8s/internal/hookenv/hookenvtest"
	"github.com/jujulet/postgresql-k8s/internal/pki"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
	"github.com/jujulet/postgresql-k8s/internal/tlscerts"
)

const certsRel = "certificates:5"

// testProvider plays the tls-certificates provider (tlsca) for the unit tests: it answers
// what the units' buckets ask, the way the test wants.
type testProvider struct {
	t  *testing.T
	w  *world
	ca pki.CA
}

func newTestProvider(t *testing.T, w *world) *testProvider {
	ca, err := pki.NewCA("test provider", w.now())
	if err != nil {
		t.Fatal(err)
	}
	return &testProvider{t: t, w: w, ca: ca}
}

// relate adds the certificates relation to unit and runs its relation-created and -joined.
func (p *testProvider) relate(unit string) *testUnit {
	u := p.w.units[unit]
	u.f.AddRelation(certsRel, "tlsca", "tlsca/0")
	p.certsHook(unit, "certificates-relation-created")
	return p.certsHook(unit, "certificates-relation-joined")
}

func (p *testProvider) certsHook(unit, hook string) *testUnit {
	p.t.Helper()
	u, err := p.w.run(unit, hook, nil, func(e *hookenv.Env) {
		if strings.HasPrefix(hook, CertificatesEndpoint+"-") {
			e.RelationName, e.RelationID, e.RemoteApp = CertificatesEndpoint, certsRel, "tlsca"
		}
	})
	if err != nil {
		p.t.Fatalf("%s on %s: %v", hook, unit, err)
	}
	if hook == CertificatesEndpoint+"-relation-broken" {
		delete(u.f.Relations, certsRel) // gone for the hooks that follow, as in Juju
	}
	return u
}

// csr is the unit's current CSR in its bucket.
func (p *testProvider) csr(unit string) string {
	p.t.Helper()
	reqs, err := tlscerts.ParseRequests(p.w.units[unit].f.Bucket(certsRel, unit)[tlscerts.KeyRequests])
	if err != nil || len(reqs) != 1 {
		p.t.Fatalf("%s's requests: %v, %v", unit, reqs, err)
	}
	return reqs[0].CSR
}

// answer sets the provider's bucket (seen by unit) to certs.
func (p *testProvider) answer(unit string, certs ...tlscerts.Certificate) {
	p.t.Helper()
	raw, err := tlscerts.EncodeCertificates(certs)
	if err != nil {
		p.t.Fatal(err)
	}
	p.w.units[unit].f.Bucket(certsRel, "tlsca")[tlscerts.KeyCertificates] = raw
}

// sign answers csr with a certificate valid for validity from now.
func (p *testProvider) sign(csr string, validity time.Duration) tlscerts.Certificate {
	p.t.Helper()
	cert, err := tlscerts.Sign(csr, p.ca.Cert, p.ca.Key, p.w.now(), validity)
	if err != nil {
		p.t.Fatal(err)
	}
	return tlscerts.Certificate{CSR: csr, Certificate: cert, CA: string(p.ca.CertPEM), Chain: []string{cert, string(p.ca.CertPEM)}}
}

// servedBy reports whether the certificate the unit's workload serves was issued by ca (and
// its key matches), and whether the CA file (what this cluster is verified with) holds ca.
func servedBy(t *testing.T, u *testUnit, ca pki.CA) (served, trusted bool) {
	t.Helper()
	certPEM, keyPEM := u.s.tlsFiles[postgres.ServerCertFile], u.s.tlsFiles[postgres.ServerKeyFile]
	if certPEM == nil || keyPEM == nil {
		t.Fatalf("%s serves no certificate", u.name)
	}
	leaf, err := pki.VerifyChain(certPEM, ca.CertPEM, time.Unix(1_700_000_000, 0).Add(time.Hour), x509.ExtKeyUsageServerAuth)
	key, kerr := pki.ParsePrivateKey(keyPEM)
	served = err == nil && kerr == nil && pki.MatchesKey(leaf, key)
	trusted = strings.Contains(string(u.s.tlsFiles[postgres.CAFile]), string(ca.CertPEM))
	return served, trusted
}

func provided(t *testing.T, u *testUnit) *providedCert {
	t.Helper()
	return parseProvided(u.f.State[localProvided])
}

func TestCertificatesRelation(t *testing.T) {
	w := bootstrap(t, 1)
	p := newTestProvider(t, w)
	u := p.relate("pg/0")

	// A key in a unit secret, a CSR for the unit's names in its bucket, waiting for the answer.
	var keySecret *struct{ owner, key string }
	for _, s := range w.secrets {
		if s.Label == certKeyLabel("0") {
			keySecret = &struct{ owner, key string }{s.Owner, s.Content["private-key"]}
		}
	}
	if keySecret == nil || keySecret.owner != "unit" || !strings.Contains(keySecret.key, "PRIVATE KEY") {
		t.Fatalf("key secret %+v", keySecret)
	}
	for owner, bucket := range u.f.Relations[certsRel].Data {
		for k, v := range bucket {
			if strings.Contains(v, "PRIVATE KEY") {
				t.Fatalf("a private key in %s's bucket, key %s", owner, k)
			}
		}
	}
	csr := p.csr("pg/0")
	parsed, err := tlscerts.ParseCSR(csr)
	if err != nil {
		t.Fatal(err)
	}
	wantSANs := []string{"127.0.0.1", "127.0.0.10", "pg-0.pg-endpoints", "pg-0.pg-endpoints.m.svc.cluster.local"}
	if got := append(ipStrings(parsed), parsed.DNSNames...); strings.Join(got, ",") != strings.Join(wantSANs, ",") {
		t.Errorf("CSR SANs %v, want %v", got, wantSANs)
	}
	wantStatus(t, u, "waiting", "Primary; certificates: waiting for tlsca to sign this unit's request")
	if provided(t, u) != nil {
		t.Fatal("a provided certificate before the provider answered")
	}
	if served, _ := servedBy(t, u, p.ca); served {
		t.Fatal("serving the provider's certificate before it answered")
	}

	// The provider answers: the unit serves it, active again, with a renewal timer.
	first := p.sign(csr, 90*24*time.Hour)
	p.answer("pg/0", first)
	u = p.certsHook("pg/0", "certificates-relation-changed")
	wantStatus(t, u, "active", "Primary")
	got := provided(t, u)
	if got == nil || got.CA != string(p.ca.CertPEM) || !strings.HasPrefix(got.Cert, first.Certificate) || got.CSR != csr {
		t.Fatalf("provided = %+v", got)
	}
	if at := u.s.timers[timerCertificate]; !at.Equal(got.NotifyAt) || !at.After(w.now()) {
		t.Errorf("certificate timer %v, want the renewal at %v", at, got.NotifyAt)
	}
	// The workload serves it (through the CertSource seam), and trusts the provider's CA.
	if served, trusted := servedBy(t, u, p.ca); !served || !trusted {
		t.Fatalf("workload: serves the provider's certificate %v, trusts its CA %v", served, trusted)
	}
	// Nothing changes while nothing does.
	u = w.mustRun("pg/0", "update-status")
	if p.csr("pg/0") != csr || provided(t, u).Cert != got.Cert {
		t.Fatal("update-status changed the request or the certificate")
	}

	// Renewal: at the notification time the unit sends a new CSR and serves the old
	// certificate until the answer comes.
	w.elapsed = got.NotifyAt.Sub(time.Unix(1_700_000_000, 0)) + time.Minute
	u = w.mustRunEvent("pg/0", "postgresql-pebble-custom-notice", wake)
	renewal := p.csr("pg/0")
	if renewal == csr {
		t.Fatal("no new CSR at the renewal time")
	}
	if provided(t, u).Cert != got.Cert {
		t.Fatal("the old certificate was dropped before the renewal came")
	}
	wantStatus(t, u, "active", "Primary")
	second := p.sign(renewal, 90*24*time.Hour)
	p.answer("pg/0", second)
	u = p.certsHook("pg/0", "certificates-relation-changed")
	if g := provided(t, u); g == nil || !strings.HasPrefix(g.Cert, second.Certificate) {
		t.Fatal("the renewed certificate is not served")
	}

	// The relation goes: back to the self-issued certificate, no timer.
	u = p.certsHook("pg/0", "certificates-relation-broken")
	if provided(t, u) != nil {
		t.Fatalf("after relation-broken: provided %v", u.f.State[localProvided])
	}
	served, trusted := servedBy(t, u, p.ca)
	if served {
		t.Fatal("still serving the provider's certificate after relation-broken")
	}
	// Its CA is retired once no unit presents its certificates: here at the next look.
	if !trusted || u.s.timers[timerCertificate].IsZero() {
		t.Fatalf("right after relation-broken: trusts the provider's CA %v (want true), timer %v", trusted, u.s.timers[timerCertificate])
	}
	wantStatus(t, u, "active", "Primary")
	w.elapsed += retireCheck
	u = w.mustRunEvent("pg/0", "postgresql-pebble-custom-notice", wake)
	if _, trusted := servedBy(t, u, p.ca); trusted {
		t.Fatal("still trusts the removed provider's CA")
	}
	if u.f.State[localRetiringCA] != "" {
		t.Fatal("the retiring CA is still recorded")
	}
}

// Bad answers from the provider: blocked with the reason, the previous certificate stays.
func TestCertificatesBadAnswers(t *testing.T) {
	other, err := pki.NewCA("someone else", time.Unix(1_700_000_000, 0))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		corrupt func(p *testProvider, c tlscerts.Certificate) string // the provider's bucket value
		wantMsg string
	}{
		{"certificate garbage", func(p *testProvider, c tlscerts.Certificate) string {
			c.Certificate = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
			return encodeCerts(t, c)
		}, "tlsca's certificate for this unit is invalid: certificate:"},
		{"CA is not the issuer", func(p *testProvider, c tlscerts.Certificate) string {
			c.CA = string(other.CertPEM)
			return encodeCerts(t, c)
		}, "does not chain to the ca"},
		{"CA garbage", func(p *testProvider, c tlscerts.Certificate) string {
			c.CA = "not a certificate"
			return encodeCerts(t, c)
		}, "tlsca's certificate for this unit is invalid: ca:"},
		{"certificate for another key", func(p *testProvider, c tlscerts.Certificate) string {
			key, _ := tlscerts.NewKey()
			csr, _ := tlscerts.CreateCSR(key, tlscerts.Names{CommonName: "x", SANs: []string{"10.0.0.1"}})
			c.Certificate = p.sign(csr, time.Hour).Certificate
			return encodeCerts(t, c)
		}, "not for this unit's key"},
		{"expired", func(p *testProvider, c tlscerts.Certificate) string {
			p.w.elapsed -= 48 * time.Hour
			old := p.sign(c.CSR, time.Hour)
			p.w.elapsed += 48 * time.Hour
			return encodeCerts(t, old)
		}, "expired at"},
		{"bucket not JSON", func(*testProvider, tlscerts.Certificate) string { return "{" }, "tlsca's relation data is malformed"},
		{"entry of the wrong type", func(*testProvider, tlscerts.Certificate) string { return `[{"certificate": 7}]` }, "tlsca's relation data is malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := bootstrap(t, 1)
			p := newTestProvider(t, w)
			p.relate("pg/0")
			good := p.sign(p.csr("pg/0"), 90*24*time.Hour)
			p.answer("pg/0", good)
			u := p.certsHook("pg/0", "certificates-relation-changed")
			before := u.f.State[localProvided]
			if before == "" {
				t.Fatal("the good certificate is not served")
			}
			// The provider re-issues for the same CSR, badly.
			u.f.Bucket(certsRel, "tlsca")[tlscerts.KeyCertificates] = tt.corrupt(p, good)
			u = p.certsHook("pg/0", "certificates-relation-changed")
			wantStatus(t, u, "blocked", "Primary; certificates: ")
			if !strings.Contains(u.f.UnitStatus.Message, tt.wantMsg) {
				t.Errorf("status %q, want it to say %q", u.f.UnitStatus.Message, tt.wantMsg)
			}
			if u.f.State[localProvided] != before {
				t.Error("the previous certificate was replaced or dropped")
			}
			if served, _ := servedBy(t, u, p.ca); !served {
				t.Error("the workload no longer serves the previous certificate")
			}
			// Fixed by the provider: active again.
			p.answer("pg/0", good)
			u = p.certsHook("pg/0", "certificates-relation-changed")
			wantStatus(t, u, "active", "Primary")
		})
	}
}

func encodeCerts(t *testing.T, certs ...tlscerts.Certificate) string {
	raw, err := tlscerts.EncodeCertificates(certs)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A provider that never answers (refuses): waiting with the reason, the self-issued
// certificate served; a revoked certificate is dropped and requested again.
func TestCertificatesRefusedAndRevoked(t *testing.T) {
	w := bootstrap(t, 1)
	p := newTestProvider(t, w)
	p.relate("pg/0")
	u := w.mustRun("pg/0", "update-status")
	wantStatus(t, u, "waiting", "Primary; certificates: waiting for tlsca to sign this unit's request")
	// Answers to other units' CSRs (even broken ones) are not this unit's business.
	p.answer("pg/0", tlscerts.Certificate{CSR: "someone else's", Certificate: "junk", CA: "junk"})
	u = p.certsHook("pg/0", "certificates-relation-changed")
	wantStatus(t, u, "waiting", "Primary; certificates: waiting for tlsca")

	csr := p.csr("pg/0")
	c := p.sign(csr, 90*24*time.Hour)
	p.answer("pg/0", c)
	p.certsHook("pg/0", "certificates-relation-changed")
	c.Revoked = true
	p.answer("pg/0", c)
	u = p.certsHook("pg/0", "certificates-relation-changed")
	if provided(t, u) != nil {
		t.Fatal("a revoked certificate is still served")
	}
	if p.csr("pg/0") == csr {
		t.Fatal("no new CSR after the revocation")
	}
	wantStatus(t, u, "waiting", "Primary; certificates: waiting for tlsca")
}

// In its last week a certificate's expiry shows; with the renewal unanswered the unit waits.
func TestCertificatesExpiryShown(t *testing.T) {
	w := bootstrap(t, 1)
	p := newTestProvider(t, w)
	p.relate("pg/0")
	c := p.sign(p.csr("pg/0"), 10*24*time.Hour)
	p.answer("pg/0", c)
	u := p.certsHook("pg/0", "certificates-relation-changed")
	wantStatus(t, u, "active", "Primary")
	got := provided(t, u)
	// The first timer is the expiry warning (the renewal, a third of 10 days before the end,
	// comes later).
	if at := u.s.timers[timerCertificate]; !at.Equal(got.NotAfter.Add(-expiryWarning)) {
		t.Errorf("timer %v, want the expiry warning at %v", at, got.NotAfter.Add(-expiryWarning))
	}
	w.elapsed = got.NotAfter.Add(-5 * 24 * time.Hour).Sub(time.Unix(1_700_000_000, 0))
	u = w.mustRunEvent("pg/0", "postgresql-pebble-custom-notice", wake)
	wantStatus(t, u, "blocked", "Primary; the server certificate expires in 120h")
	if at := u.s.timers[timerCertificate]; !at.Equal(got.NotifyAt) {
		t.Errorf("timer %v, want the renewal at %v", at, got.NotifyAt)
	}
	// Renewal time: a new CSR; unanswered, the unit waits and says why.
	w.elapsed = got.NotifyAt.Sub(time.Unix(1_700_000_000, 0))
	u = w.mustRunEvent("pg/0", "postgresql-pebble-custom-notice", wake)
	wantStatus(t, u, "blocked", "Primary; the server certificate expires in 80h0m0s; certificates: waiting for tlsca to sign the renewal")
	// Past the end it is no longer served.
	w.elapsed = got.NotAfter.Add(time.Minute).Sub(time.Unix(1_700_000_000, 0))
	u = w.mustRunEvent("pg/0", "postgresql-pebble-custom-notice", wake)
	if provided(t, u) != nil {
		t.Fatal("an expired certificate is still served")
	}
	if served, _ := servedBy(t, u, p.ca); served {
		t.Fatal("the workload serves an expired certificate")
	}
}

// The address moves: a new CSR with the new address; the old certificate is served until
// the new one comes.
func TestCertificatesNamesChange(t *testing.T) {
	w := bootstrap(t, 1)
	p := newTestProvider(t, w)
	p.relate("pg/0")
	csr := p.csr("pg/0")
	p.answer("pg/0", p.sign(csr, 90*24*time.Hour))
	p.certsHook("pg/0", "certificates-relation-changed")
	w.units["pg/0"].f.Address = "127.0.0.77"
	u := w.mustRun("pg/0", "update-status")
	next := p.csr("pg/0")
	if next == csr {
		t.Fatal("no new CSR for the new address")
	}
	if parsed, _ := tlscerts.ParseCSR(next); !strings.Contains(strings.Join(ipStrings(parsed), ","), "127.0.0.77") {
		t.Fatalf("new CSR names %v", ipStrings(parsed))
	}
	if provided(t, u) == nil {
		t.Fatal("the certificate in use was dropped before the new one came")
	}
}

func ipStrings(csr *x509.CertificateRequest) []string {
	out := make([]string, 0, len(csr.IPAddresses))
	for _, ip := range csr.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

// A unit whose own CSR is unanswered still learns the provider's CA from the answers to its
// peers (what it must trust to verify them); junk CAs are skipped.
func TestCertificatesCAFromPeersAnswers(t *testing.T) {
	w := bootstrap(t, 1)
	p := newTestProvider(t, w)
	p.relate("pg/0")
	key, _ := tlscerts.NewKey()
	peerCSR, _ := tlscerts.CreateCSR(key, tlscerts.Names{CommonName: "pg-1", SANs: []string{"127.0.0.11"}})
	p.answer("pg/0", tlscerts.Certificate{CSR: "junk", Certificate: "junk", CA: "junk"}, p.sign(peerCSR, time.Hour),
		tlscerts.Certificate{CSR: "leaf as ca", Certificate: "x", CA: p.sign(peerCSR, time.Hour).Certificate})
	u := w.units["pg/0"]
	c := New(hookenv.Env{UnitName: "pg/0", HookName: "update-status", ModelName: "m"}, u.f, w.fc.open(u.s.addr), nil)
	c.Now = w.now
	st, err := c.readState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.certificatesStep(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	if st.certs.served != nil {
		t.Fatal("served a certificate for an unanswered CSR")
	}
	if got := st.CertificatesCA(); string(got) != string(p.ca.CertPEM) {
		t.Fatalf("CertificatesCA = %q, want the provider's CA only", got)
	}
}

// The provider's CA is trusted (the CA file the unit verifies its peers with) as soon as any
// answer carries it, before this unit's own certificate comes: a unit added while the
// provider refuses it still seeds from peers that serve the provider's certificates.
func TestCertificatesTrustBeforeOwnCertificate(t *testing.T) {
	w := bootstrap(t, 1)
	p := newTestProvider(t, w)
	u := p.relate("pg/0")
	if _, trusted := servedBy(t, u, p.ca); trusted {
		t.Fatal("trusts a CA no answer carried yet")
	}
	key, _ := tlscerts.NewKey()
	peerCSR, _ := tlscerts.CreateCSR(key, tlscerts.Names{CommonName: "pg-1", SANs: []string{"127.0.0.11"}})
	p.answer("pg/0", p.sign(peerCSR, time.Hour))
	u = p.certsHook("pg/0", "certificates-relation-changed")
	served, trusted := servedBy(t, u, p.ca)
	if served || !trusted {
		t.Fatalf("serves the provider's certificate %v (want false), trusts its CA %v (want true)", served, trusted)
	}
	wantStatus(t, u, "waiting", "Primary; certificates: waiting for tlsca to sign this unit's request")
}

// A removed provider's CA stays trusted while a peer still presents its certificate (it has
// not run its own relation-broken yet), and goes once it has switched.
func TestCertificatesRetireCAWaitsForPeers(t *testing.T) {
	w := bootstrap(t, 2)
	// The fakes share one secret store but number their secrets each from 1: pg/1's unit
	// secret must not take the URI of pg/0's passwords secret.
	w.units["pg/1"].f.ModelUUID = "model-of-pg-1"
	w.app[keyPinnedPrimary] = "pg/0" // no hand-off to pg/1 in the middle of the test
	wantStatus(t, w.mustRun("pg/1", "database-peers-relation-joined"), "active", "Replica")
	p := newTestProvider(t, w)
	for _, unit := range []string{"pg/0", "pg/1"} {
		p.relate(unit)
		p.answer(unit, p.sign(p.csr(unit), 90*24*time.Hour))
		u := p.certsHook(unit, "certificates-relation-changed")
		if served, _ := servedBy(t, u, p.ca); !served {
			t.Fatalf("%s does not serve the provider's certificate", unit)
		}
	}
	// Let each unit's bucket (tls-source) reach the other.
	w.mustRun("pg/0", "database-peers-relation-changed")
	w.mustRun("pg/1", "database-peers-relation-changed")
	if got := w.units["pg/1"].f.Bucket(peerRel, "pg/1")[keyTLSSource]; got != "relation" {
		t.Fatalf("pg/1's tls-source = %q", got)
	}

	if served, trusted := servedBy(t, p.certsHook("pg/0", "certificates-relation-broken"), p.ca); served || !trusted {
		t.Fatalf("pg/0 after relation-broken: serves the provider's certificate %v, trusts its CA %v", served, trusted)
	}
	w.elapsed += 2 * retireCheck
	u := w.mustRunEvent("pg/0", "postgresql-pebble-custom-notice", wake)
	if _, trusted := servedBy(t, u, p.ca); !trusted {
		t.Fatal("pg/0 dropped the provider's CA while pg/1 still presents its certificate")
	}
	p.certsHook("pg/1", "certificates-relation-broken")
	if got := w.units["pg/1"].f.Bucket(peerRel, "pg/1")[keyTLSSource]; got != "" {
		t.Fatalf("pg/1's tls-source after its switch = %q", got)
	}
	u = w.mustRun("pg/0", "database-peers-relation-changed")
	if _, trusted := servedBy(t, u, p.ca); trusted {
		t.Fatal("pg/0 still trusts the removed provider's CA after every unit switched")
	}
}

// keyReads counts secret-get calls by label.
type keyReads struct {
	*hookenvtest.Fake
	mu   sync.Mutex // the hook reads secrets from several goroutines
	gets map[string]int
}

func (c *keyReads) SecretGet(ctx context.Context, args hookenv.SecretGetArgs) (map[string]string, error) {
	c.mu.Lock()
	c.gets[args.Label]++
	c.mu.Unlock()
	return c.Fake.SecretGet(ctx, args)
}

// Once related, a hook reads the unit's key in its first round (read ahead), once.
func TestCertificatesKeyReadAhead(t *testing.T) {
	w := bootstrap(t, 1)
	p := newTestProvider(t, w)
	p.relate("pg/0")
	u := w.units["pg/0"]
	tools := &keyReads{Fake: u.f, gets: map[string]int{}}
	c := New(hookenv.Env{UnitName: "pg/0", HookName: "update-status", ModelName: "m"}, tools, w.fc.open(u.s.addr), nil)
	c.Now = w.now
	st, err := c.readState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.certKeyAhead == nil || st.certKeyAhead.err != nil {
		t.Fatalf("key not read ahead: %+v", st.certKeyAhead)
	}
	ahead := st.certKeyAhead
	if err := c.certificatesStep(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	st.certKeyAhead = ahead
	if n := tools.gets[certKeyLabel("0")]; n != 1 {
		t.Fatalf("key secret read %d times, want once", n)
	}
	key, err := pki.ParsePrivateKey([]byte(st.certKeyAhead.content["private-key"]))
	if err != nil || !tlscerts.CSRMatches(p.csr("pg/0"), key, c.certificateNames(st)) {
		t.Fatalf("the CSR in the bucket is not for the key read ahead (%v)", err)
	}
}
