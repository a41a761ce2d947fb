package tlscerts_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/pki"
	"github.com/jujulet/postgresql-k8s/internal/tlscerts"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// testCA is a CA for the tests (a root, or an intermediate when parent is set).
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newCA(t *testing.T, cn string, parent *testCA, isCA bool) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: isCA,
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

var names = tlscerts.Names{
	CommonName: "pg-0.pg-endpoints",
	SANs:       []string{"pg-0.pg-endpoints.m.svc.cluster.local", "pg-0.pg-endpoints", "10.1.2.3"},
}

func mustCSR(t *testing.T, key crypto.Signer, n tlscerts.Names) string {
	t.Helper()
	csr, err := tlscerts.CreateCSR(key, n)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

func mustSign(t *testing.T, csr string, ca *testCA, at time.Time, validity time.Duration) string {
	t.Helper()
	cert, err := tlscerts.Sign(csr, ca.cert, ca.key, at, validity)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestVerify(t *testing.T) {
	root := newCA(t, "root", nil, true)
	other := newCA(t, "other", nil, true)
	inter := newCA(t, "inter", root, true)
	notCA := newCA(t, "not a ca", nil, false)
	key, _ := tlscerts.NewKey()
	otherKey, _ := tlscerts.NewKey()
	csr := mustCSR(t, key, names)
	good := mustSign(t, csr, root, now, 90*24*time.Hour)
	viaInter := mustSign(t, csr, inter, now, 90*24*time.Hour)
	fewerNames := mustSign(t, mustCSR(t, key, tlscerts.Names{CommonName: "x", SANs: names.SANs[:2]}), root, now, 90*24*time.Hour)
	noDNS := mustSign(t, mustCSR(t, key, tlscerts.Names{CommonName: "x", SANs: names.SANs[:1]}), root, now, 90*24*time.Hour)
	otherKeyCert := mustSign(t, mustCSR(t, otherKey, names), root, now, 90*24*time.Hour)
	byOther := mustSign(t, csr, other, now, 90*24*time.Hour)
	old := mustSign(t, csr, root, now.Add(-100*24*time.Hour), 90*24*time.Hour)
	future := mustSign(t, csr, root, now.Add(48*time.Hour), 90*24*time.Hour)
	caLeaf := newCA(t, "leaf that is a ca", root, true)
	tampered := strings.Replace(good, good[100:110], "AAAAAAAAAA", 1)
	keyPEM, _ := pki.EncodeKey(key)
	hours := 24

	tests := []struct {
		name    string
		c       tlscerts.Certificate
		wantErr string
	}{
		{"good", tlscerts.Certificate{Certificate: good, CA: root.pem, Chain: []string{good, root.pem}}, ""},
		{"good without chain", tlscerts.Certificate{Certificate: good, CA: root.pem}, ""},
		{"through an intermediate in chain", tlscerts.Certificate{Certificate: viaInter, CA: root.pem, Chain: []string{viaInter, inter.pem, root.pem}}, ""},
		{"through an intermediate in certificate", tlscerts.Certificate{Certificate: viaInter + inter.pem, CA: root.pem}, ""},
		{"CA bundle", tlscerts.Certificate{Certificate: byOther, CA: root.pem + other.pem}, ""},
		{"provider notice", tlscerts.Certificate{Certificate: good, CA: root.pem, NotifyHours: &hours}, ""},
		{"intermediate missing", tlscerts.Certificate{Certificate: viaInter, CA: root.pem}, "does not chain"},
		{"revoked", tlscerts.Certificate{Certificate: good, CA: root.pem, Revoked: true}, "revoked"},
		{"empty certificate", tlscerts.Certificate{CA: root.pem}, "certificate: empty"},
		{"empty ca", tlscerts.Certificate{Certificate: good}, "ca: empty"},
		{"garbage certificate", tlscerts.Certificate{Certificate: "hello", CA: root.pem}, "malformed PEM"},
		{"tampered certificate", tlscerts.Certificate{Certificate: tampered, CA: root.pem}, "certificate"},
		{"certificate is a key", tlscerts.Certificate{Certificate: string(keyPEM), CA: root.pem}, `"PRIVATE KEY"`},
		{"trailing data", tlscerts.Certificate{Certificate: good + "junk", CA: root.pem}, "malformed PEM"},
		{"garbage ca", tlscerts.Certificate{Certificate: good, CA: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}, "ca:"},
		{"ca is not a ca", tlscerts.Certificate{Certificate: mustSign(t, csr, notCA, now, time.Hour), CA: notCA.pem}, "not a CA"},
		{"signed by another ca", tlscerts.Certificate{Certificate: byOther, CA: root.pem}, "does not chain"},
		{"another key", tlscerts.Certificate{Certificate: otherKeyCert, CA: root.pem}, "not for this unit's key"},
		{"expired", tlscerts.Certificate{Certificate: old, CA: root.pem}, "expired at"},
		{"not yet valid", tlscerts.Certificate{Certificate: future, CA: root.pem}, "not valid before"},
		{"a CA as leaf", tlscerts.Certificate{Certificate: caLeaf.pem, CA: root.pem}, "not for this unit's key"},
		{"missing IP SAN", tlscerts.Certificate{Certificate: fewerNames, CA: root.pem}, "10.1.2.3"},
		{"missing DNS SAN", tlscerts.Certificate{Certificate: noDNS, CA: root.pem}, "name pg-0.pg-endpoints"},
		{"chain too long", tlscerts.Certificate{Certificate: good, CA: root.pem, Chain: make([]string, 11)}, "limit"},
		{"chain garbage", tlscerts.Certificate{Certificate: good, CA: root.pem, Chain: []string{"x"}}, "chain[0]"},
		{"huge certificate", tlscerts.Certificate{Certificate: strings.Repeat("A", tlscerts.MaxPEM+1), CA: root.pem}, "limit"},
		{"many certificates", tlscerts.Certificate{Certificate: good, CA: strings.Repeat(root.pem, 11)}, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tlscerts.Verify(tt.c, key, names, now)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if !strings.HasPrefix(got.CertPEM, "-----BEGIN CERTIFICATE-----") || got.CAPEM == "" || got.Leaf == nil {
					t.Fatalf("Verify = %+v", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Verify error = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

// The served chain carries the intermediate, and the CA is what clients must trust.
func TestVerifyServedChain(t *testing.T) {
	root := newCA(t, "root", nil, true)
	inter := newCA(t, "inter", root, true)
	key, _ := tlscerts.NewKey()
	cert := mustSign(t, mustCSR(t, key, names), inter, now, 30*24*time.Hour)
	got, err := tlscerts.Verify(tlscerts.Certificate{Certificate: cert, CA: root.pem, Chain: []string{cert, inter.pem, root.pem}}, key, names, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.CertPEM != cert+inter.pem {
		t.Errorf("CertPEM = leaf + %d bytes, want leaf + intermediate", len(got.CertPEM)-len(cert))
	}
	if got.CAPEM != root.pem {
		t.Errorf("CAPEM is not the root")
	}
	if want := got.Leaf.NotAfter.Add(-got.Leaf.NotAfter.Sub(got.Leaf.NotBefore) / 3); !got.NotifyAt.Equal(want) {
		t.Errorf("NotifyAt = %v, want %v", got.NotifyAt, want)
	}
}

func TestNotifyAt(t *testing.T) {
	start := now
	end := now.Add(90 * 24 * time.Hour)
	ptr := func(h int) *int { return &h }
	tests := []struct {
		name  string
		hours *int
		want  time.Time
	}{
		{"none: a third", nil, end.Add(-30 * 24 * time.Hour)},
		{"provider's", ptr(168), end.Add(-168 * time.Hour)},
		{"negative is its absolute value", ptr(-168), end.Add(-168 * time.Hour)},
		{"before the start: a third", ptr(91 * 24), end.Add(-30 * 24 * time.Hour)},
		{"huge: a third", ptr(1 << 62), end.Add(-30 * 24 * time.Hour)},
		{"zero: at expiry", ptr(0), end},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tlscerts.NotifyAt(start, end, tt.hours); !got.Equal(tt.want) {
				t.Errorf("NotifyAt = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseCertificates(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    int
		wantErr string
	}{
		{"empty", "", 0, ""},
		{"empty list", "[]", 0, ""},
		{"one", `[{"certificate_signing_request":"a","certificate":"b","ca":"c","chain":["b","c"]}]`, 1, ""},
		{"unknown keys allowed", `[{"certificate_signing_request":"a","certificate":"b","ca":"c","chain":[],"x":1}]`, 1, ""},
		{"revoked and notice", `[{"certificate_signing_request":"a","certificate":"b","ca":"c","chain":[],"revoked":true,"recommended_expiry_notification_time":24}]`, 1, ""},
		{"not JSON", "{{", 0, "not a JSON list"},
		{"an object", `{"certificates":[]}`, 0, "not a JSON list"},
		{"a string entry", `["x"]`, 0, "not a JSON object"},
		{"null entry", `[null]`, 0, "not a JSON object"},
		{"certificate a number", `[{"certificate":1}]`, 0, "malformed entry"},
		{"chain a string", `[{"chain":"x"}]`, 0, "malformed entry"},
		{"revoked a string", `[{"revoked":"yes"}]`, 0, "malformed entry"},
		{"notice a string", `[{"recommended_expiry_notification_time":"1"}]`, 0, "malformed entry"},
		{"too many", "[" + strings.TrimSuffix(strings.Repeat("{},", tlscerts.MaxEntries+1), ",") + "]", 0, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tlscerts.ParseCertificates(tt.raw)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != tt.want {
				t.Fatalf("ParseCertificates = %d entries, %v; want %d", len(got), err, tt.want)
			}
		})
	}
}

func TestParseRequests(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    []tlscerts.Request
		wantErr string
	}{
		{"empty", "", nil, ""},
		{"one", `[{"certificate_signing_request":"csr","ca":false}]`, []tlscerts.Request{{CSR: "csr"}}, ""},
		{"ca request", `[{"certificate_signing_request":"csr","ca":true}]`, []tlscerts.Request{{CSR: "csr", CA: true}}, ""},
		{"no CSR is skipped", `[{"ca":false},{"certificate_signing_request":"  "}]`, nil, ""},
		{"not a list", `"x"`, nil, "not a JSON list"},
		{"ca a string", `[{"certificate_signing_request":"csr","ca":"no"}]`, nil, "malformed entry"},
		{"huge CSR", `[{"certificate_signing_request":"` + strings.Repeat("A", tlscerts.MaxPEM+1) + `"}]`, nil, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tlscerts.ParseRequests(tt.raw)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("ParseRequests = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// The requirer's bucket round-trips, in the library's shape.
func TestEncodeRequests(t *testing.T) {
	raw, err := tlscerts.EncodeRequests([]tlscerts.Request{{CSR: "\n-----BEGIN CERTIFICATE REQUEST-----\nx\n-----END CERTIFICATE REQUEST-----\n"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"certificate_signing_request":"-----BEGIN CERTIFICATE REQUEST-----\nx\n-----END CERTIFICATE REQUEST-----","ca":false}]`
	if raw != want {
		t.Fatalf("EncodeRequests = %s, want %s", raw, want)
	}
}

func TestFind(t *testing.T) {
	certs := []tlscerts.Certificate{{CSR: "a\n", Certificate: "1"}, {CSR: "b", Certificate: "2"}}
	if c, ok := tlscerts.Find(certs, "a"); !ok || c.Certificate != "1" {
		t.Errorf("Find(a) = %v, %v", c, ok)
	}
	if _, ok := tlscerts.Find(certs, "c"); ok {
		t.Error("Find(c) found one")
	}
	if _, ok := tlscerts.Find([]tlscerts.Certificate{{CSR: ""}}, " "); ok {
		t.Error("an empty CSR matched")
	}
}

func TestCSRMatches(t *testing.T) {
	key, _ := tlscerts.NewKey()
	other, _ := tlscerts.NewKey()
	csr := mustCSR(t, key, names)
	reordered := names
	reordered.SANs = []string{names.SANs[2], "PG-0.pg-endpoints", names.SANs[0]}
	moved := names
	moved.SANs = []string{names.SANs[0], names.SANs[1], "10.9.9.9"}
	tests := []struct {
		name  string
		csr   string
		key   crypto.Signer
		names tlscerts.Names
		want  bool
	}{
		{"same", csr, key, names, true},
		{"names in another order", csr, key, reordered, true},
		{"the address moved", csr, key, moved, false},
		{"another key", csr, other, names, false},
		{"another common name", csr, key, tlscerts.Names{CommonName: "x", SANs: names.SANs}, false},
		{"garbage", "x", key, names, false},
		{"tampered", strings.Replace(csr, csr[80:90], "AAAAAAAAAA", 1), key, names, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tlscerts.CSRMatches(tt.csr, tt.key, tt.names); got != tt.want {
				t.Errorf("CSRMatches = %v, want %v", got, tt.want)
			}
		})
	}
	if again := mustCSR(t, key, names); again == csr {
		t.Error("two CSRs for the same names are identical: a renewal could not be told apart")
	}
}

// The provider side refuses a CSR it cannot trust.
func TestSignRejects(t *testing.T) {
	ca := newCA(t, "ca", nil, true)
	key, _ := tlscerts.NewKey()
	csr := mustCSR(t, key, names)
	for name, bad := range map[string]string{
		"garbage":  "hello",
		"tampered": strings.Replace(csr, csr[80:90], "AAAAAAAAAA", 1),
		"a cert":   ca.pem,
	} {
		if _, err := tlscerts.Sign(bad, ca.cert, ca.key, now, time.Hour); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
}

func TestCreateCSRRejects(t *testing.T) {
	key, _ := tlscerts.NewKey()
	for name, n := range map[string]tlscerts.Names{
		"no common name": {SANs: names.SANs},
		"bad SAN":        {CommonName: "x", SANs: []string{"not a name!"}},
	} {
		if _, err := tlscerts.CreateCSR(key, n); err == nil {
			t.Errorf("%s: CSR created", name)
		}
	}
}
