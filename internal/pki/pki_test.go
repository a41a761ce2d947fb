package pki_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/pki"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newCA(t *testing.T, name string) pki.CA {
	t.Helper()
	ca, err := pki.NewCA(name, t0)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestCARoundTrip(t *testing.T) {
	ca := newCA(t, "test-ca")
	if !ca.Cert.IsCA || ca.Cert.Subject.CommonName != "test-ca" {
		t.Fatalf("CA certificate: IsCA=%v CN=%q", ca.Cert.IsCA, ca.Cert.Subject.CommonName)
	}
	if got := ca.Cert.NotAfter.Sub(t0); got != pki.CALifetime {
		t.Errorf("CA lifetime %v, want %v", got, pki.CALifetime)
	}
	again, err := pki.ParseCA(ca.CertPEM, ca.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if pki.Fingerprint(again.Cert) != pki.Fingerprint(ca.Cert) {
		t.Error("parsed CA differs from the one created")
	}
	other := newCA(t, "other")
	if _, err := pki.ParseCA(ca.CertPEM, other.KeyPEM); err == nil {
		t.Error("a CA certificate with another CA's key parsed")
	}
	leaf, _, err := ca.IssueServer(t0, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pki.ParseCA(leaf, ca.KeyPEM); err == nil {
		t.Error("a server certificate parsed as a CA")
	}
	if _, err := pki.NewCA(" ", t0); err == nil {
		t.Error("a CA with an empty name was created")
	}
}

func TestIssueServerVerify(t *testing.T) {
	ca := newCA(t, "cluster")
	other := newCA(t, "other")
	sans := []string{"10.1.2.3", "pg-0.pg-endpoints.m.svc.cluster.local", "pg-0.pg-endpoints", "127.0.0.1"}
	certPEM, keyPEM, err := ca.IssueServer(t0, sans...)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cert    []byte
		ca      []byte
		now     time.Time
		usage   x509.ExtKeyUsage
		wantErr string
	}{
		{"valid", certPEM, ca.CertPEM, t0, x509.ExtKeyUsageServerAuth, ""},
		{"any usage", certPEM, ca.CertPEM, t0, x509.ExtKeyUsageAny, ""},
		{"other CA", certPEM, other.CertPEM, t0, x509.ExtKeyUsageServerAuth, "does not verify"},
		{"bundle with the right CA second", certPEM, append(append([]byte{}, other.CertPEM...), ca.CertPEM...), t0, x509.ExtKeyUsageServerAuth, ""},
		{"expired", certPEM, ca.CertPEM, t0.Add(pki.ServerLifetime + time.Minute), x509.ExtKeyUsageServerAuth, "does not verify"},
		{"not yet valid", certPEM, ca.CertPEM, t0.Add(-2 * time.Hour), x509.ExtKeyUsageServerAuth, "does not verify"},
		{"client usage", certPEM, ca.CertPEM, t0, x509.ExtKeyUsageClientAuth, "does not verify"},
		{"garbage cert", []byte("hello"), ca.CertPEM, t0, x509.ExtKeyUsageServerAuth, "malformed PEM"},
		{"key as cert", keyPEM, ca.CertPEM, t0, x509.ExtKeyUsageServerAuth, "not a CERTIFICATE"},
		{"leaf as CA", certPEM, certPEM, t0, x509.ExtKeyUsageServerAuth, "not a CA"},
		{"empty CA", certPEM, nil, t0, x509.ExtKeyUsageServerAuth, "no certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pki.VerifyChain(tt.cert, tt.ca, tt.now, tt.usage)
			checkErr(t, err, tt.wantErr)
		})
	}

	leaf, err := pki.ParseCertificate(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !pki.MatchesKey(leaf, key) {
		t.Error("issued key does not match issued certificate")
	}
	if leaf.Subject.CommonName != "pg-0.pg-endpoints.m.svc.cluster.local" {
		t.Errorf("CN %q, want the first DNS name", leaf.Subject.CommonName)
	}
	for _, h := range []struct {
		host string
		ok   bool
	}{
		{"10.1.2.3", true}, {"127.0.0.1", true}, {"pg-0.pg-endpoints", true},
		{"PG-0.pg-endpoints.m.svc.cluster.local", true},
		{"10.1.2.4", false}, {"pg-1.pg-endpoints", false}, {"localhost", false},
	} {
		err := pki.VerifyHost(leaf, h.host)
		if (err == nil) != h.ok {
			t.Errorf("VerifyHost(%q) = %v, want ok=%v", h.host, err, h.ok)
		}
	}
}

func TestIssueServerBadSANs(t *testing.T) {
	ca := newCA(t, "cluster")
	for _, sans := range [][]string{nil, {""}, {"not a name"}, {"-bad.example"}, {"a..b"}, {"under_score"}} {
		if _, _, err := ca.IssueServer(t0, sans...); err == nil {
			t.Errorf("IssueServer(%q) succeeded", sans)
		}
	}
	if _, _, err := (pki.CA{}).IssueServer(t0, "10.0.0.1"); err == nil {
		t.Error("issued from an empty CA")
	}
}

func TestLeafNeverOutlivesCA(t *testing.T) {
	ca := newCA(t, "cluster")
	late := ca.Cert.NotAfter.Add(-24 * time.Hour)
	certPEM, _, err := ca.IssueServer(late, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := pki.ParseCertificate(certPEM)
	if leaf.NotAfter.After(ca.Cert.NotAfter) {
		t.Errorf("leaf ends %v after its CA %v", leaf.NotAfter, ca.Cert.NotAfter)
	}
}

func TestIssueClient(t *testing.T) {
	ca := newCA(t, "cluster")
	certPEM, keyPEM, err := ca.IssueClient(t0, "charm_admin")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := pki.VerifyChain(certPEM, ca.CertPEM, t0, x509.ExtKeyUsageClientAuth)
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Subject.CommonName != "charm_admin" {
		t.Errorf("CN %q", leaf.Subject.CommonName)
	}
	if got := leaf.NotAfter.Sub(t0); got != pki.ClientLifetime {
		t.Errorf("client lifetime %v, want %v", got, pki.ClientLifetime)
	}
	if _, err := pki.VerifyChain(certPEM, ca.CertPEM, t0, x509.ExtKeyUsageServerAuth); err == nil {
		t.Error("a client certificate verified for server use")
	}
	if _, err := pki.KeyPair(certPEM, keyPEM); err != nil {
		t.Error(err)
	}
	if _, _, err := ca.IssueClient(t0, ""); err == nil {
		t.Error("client certificate with an empty CN issued")
	}
}

func TestNeedsRenewal(t *testing.T) {
	ca := newCA(t, "cluster")
	certPEM, _, _ := ca.IssueServer(t0, "10.0.0.1")
	leaf, _ := pki.ParseCertificate(certPEM)
	tests := []struct {
		name string
		now  time.Time
		want bool
	}{
		{"fresh", t0, false},
		{"just outside the margin", leaf.NotAfter.Add(-pki.RenewBefore - time.Minute), false},
		{"inside the margin", leaf.NotAfter.Add(-pki.RenewBefore + time.Minute), true},
		{"expired", leaf.NotAfter.Add(time.Minute), true},
		{"not yet valid", leaf.NotBefore.Add(-time.Minute), true},
	}
	for _, tt := range tests {
		if got := pki.NeedsRenewal(leaf, tt.now, pki.RenewBefore); got != tt.want {
			t.Errorf("%s: NeedsRenewal = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSANs(t *testing.T) {
	ca := newCA(t, "cluster")
	certPEM, _, _ := ca.IssueServer(t0, "b.example", "10.0.0.2", "A.example.", "10.0.0.2", "::ffff:10.0.0.3")
	leaf, _ := pki.ParseCertificate(certPEM)
	want := []string{"10.0.0.2", "10.0.0.3", "a.example", "b.example"}
	if got := pki.SANs(leaf); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("SANs = %v, want %v", got, want)
	}
	tests := []struct {
		sans []string
		want bool
	}{
		{[]string{"a.example", "b.example", "10.0.0.3", "10.0.0.2"}, true},
		{[]string{"A.EXAMPLE", "b.example", "10.0.0.3", "10.0.0.2", "10.0.0.2"}, true},
		{[]string{"a.example", "b.example", "10.0.0.2"}, false},
		{[]string{"a.example", "b.example", "10.0.0.2", "10.0.0.3", "c.example"}, false},
		{[]string{"a.example", "b.example", "10.0.0.2", "bad name"}, false},
	}
	for _, tt := range tests {
		if got := pki.SameSANs(leaf, tt.sans); got != tt.want {
			t.Errorf("SameSANs(%v) = %v, want %v", tt.sans, got, tt.want)
		}
	}
}

func TestParseMalformed(t *testing.T) {
	ca := newCA(t, "cluster")
	block, _ := pem.Decode(ca.CertPEM)
	corrupt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes[:len(block.Bytes)/2]})
	truncated := ca.CertPEM[:len(ca.CertPEM)-20]
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"empty", nil, "no certificate"},
		{"whitespace", []byte("  \n"), "no certificate"},
		{"text", []byte("not pem"), "malformed PEM"},
		{"truncated", truncated, "malformed PEM"},
		{"corrupt DER", corrupt, "parsing certificate"},
		{"trailing garbage", append(append([]byte{}, ca.CertPEM...), "junk"...), "malformed PEM"},
		{"key block", ca.KeyPEM, "not a CERTIFICATE"},
		{"two certificates", append(append([]byte{}, ca.CertPEM...), ca.CertPEM...), "expected one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pki.ParseCertificate(tt.data)
			checkErr(t, err, tt.wantErr)
		})
	}
	keyTests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"empty", nil, "no private key"},
		{"certificate", ca.CertPEM, "not a private key"},
		{"corrupt", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), "parsing private key"},
		{"two keys", append(append([]byte{}, ca.KeyPEM...), ca.KeyPEM...), "data after"},
	}
	for _, tt := range keyTests {
		t.Run("key/"+tt.name, func(t *testing.T) {
			_, err := pki.ParsePrivateKey(tt.data)
			checkErr(t, err, tt.wantErr)
		})
	}
}

// TestClientConfig runs real TLS handshakes over loopback to check each mode accepts and
// refuses what it should.
func TestClientConfig(t *testing.T) {
	ca := newCA(t, "cluster")
	other := newCA(t, "other")
	now := time.Now()
	serve := func(t *testing.T, issuer pki.CA, sans ...string) string {
		t.Helper()
		certPEM, keyPEM, err := issuer.IssueServer(now, sans...)
		if err != nil {
			t.Fatal(err)
		}
		pair, err := pki.KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_ = c.(*tls.Conn).Handshake()
				c.Close()
			}
		}()
		return ln.Addr().String()
	}
	tests := []struct {
		name    string
		issuer  pki.CA
		sans    []string
		trust   []byte
		host    string
		mode    pki.Mode
		wantErr bool
	}{
		{"verify-full by IP in SAN", ca, []string{"127.0.0.1"}, ca.CertPEM, "127.0.0.1", pki.VerifyFull, false},
		{"verify-full, IP not in SAN", ca, []string{"10.9.9.9"}, ca.CertPEM, "127.0.0.1", pki.VerifyFull, true},
		{"verify-ca, IP not in SAN", ca, []string{"10.9.9.9"}, ca.CertPEM, "127.0.0.1", pki.VerifyCA, false},
		{"verify-ca, other CA", other, []string{"127.0.0.1"}, ca.CertPEM, "127.0.0.1", pki.VerifyCA, true},
		{"verify-full, other CA", other, []string{"127.0.0.1"}, ca.CertPEM, "127.0.0.1", pki.VerifyFull, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := serve(t, tt.issuer, tt.sans...)
			cfg, err := pki.ClientConfig(tt.trust, tt.host, tt.mode, nil)
			if err != nil {
				t.Fatal(err)
			}
			c, err := tls.Dial("tcp", addr, cfg)
			if err == nil {
				c.Close()
			}
			if (err != nil) != tt.wantErr {
				t.Errorf("handshake error %v, want error=%v", err, tt.wantErr)
			}
		})
	}
	if _, err := pki.ClientConfig([]byte("junk"), "127.0.0.1", pki.VerifyCA, nil); err == nil {
		t.Error("a config trusting a malformed CA was built")
	}
	if _, err := pki.ClientConfig(ca.CertPEM, "127.0.0.1", "prefer", nil); err == nil {
		t.Error("an unknown mode was accepted")
	}
	if pki.ModeFor("10.0.0.1") != pki.VerifyCA || pki.ModeFor("::1") != pki.VerifyCA || pki.ModeFor("pg-0.pg-endpoints") != pki.VerifyFull {
		t.Error("ModeFor: IPs are verify-ca, names verify-full")
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q, want one containing %q", err, want)
	}
}
