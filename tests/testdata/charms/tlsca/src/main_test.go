package main

import (
	"context"
	"crypto"
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/hookenv"
	"github.com/jujulet/postgresql-k8s/internal/hookenv/hookenvtest"
	"github.com/jujulet/postgresql-k8s/internal/tlscerts"
)

const rel = "certificates:7"

func hook(t *testing.T, f *hookenvtest.Fake, name string) {
	t.Helper()
	p := provider{env: hookenv.Env{UnitName: "tlsca/0", HookName: name, ModelName: "m"}, tools: f, now: time.Now}
	if err := p.run(context.Background()); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func request(t *testing.T, f *hookenvtest.Fake, unit string) (crypto.Signer, tlscerts.Names, string) {
	t.Helper()
	key, _ := tlscerts.NewKey()
	names := tlscerts.Names{CommonName: unit, SANs: []string{"10.0.0.1", "pg-0.pg-endpoints"}}
	csr, err := tlscerts.CreateCSR(key, names)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tlscerts.EncodeRequests([]tlscerts.Request{{CSR: csr}})
	f.Bucket(rel, unit)[tlscerts.KeyRequests] = raw
	return key, names, csr
}

func answers(t *testing.T, f *hookenvtest.Fake) []tlscerts.Certificate {
	t.Helper()
	certs, err := tlscerts.ParseCertificates(f.Bucket(rel, "tlsca")[tlscerts.KeyCertificates])
	if err != nil {
		t.Fatal(err)
	}
	return certs
}

func TestProvider(t *testing.T) {
	f := hookenvtest.NewFake("tlsca/0")
	f.Leader = true
	f.AddRelation(rel, "pg", "pg/0", "pg/1")
	key0, names0, csr0 := request(t, f, "pg/0")
	f.Bucket(rel, "pg/1")[tlscerts.KeyRequests] = "not json" // hostile: ignored
	hook(t, f, "certificates-relation-changed")

	certs := answers(t, f)
	if len(certs) != 1 {
		t.Fatalf("%d answers, want 1", len(certs))
	}
	c, ok := tlscerts.Find(certs, csr0)
	if !ok {
		t.Fatal("pg/0's CSR not answered")
	}
	if _, err := tlscerts.Verify(c, key0, names0, time.Now()); err != nil {
		t.Fatalf("the answer does not verify: %v", err)
	}
	if f.UnitStatus.Status != "active" {
		t.Errorf("status %+v", f.UnitStatus)
	}

	// The CA action returns the CA the answers carry.
	f.Params = map[string]any{}
	p := provider{env: hookenv.Env{UnitName: "tlsca/0", ActionName: "get-ca-certificate"}, tools: f, now: time.Now}
	if err := p.run(context.Background()); err != nil || f.Results["ca-certificate"] != c.CA {
		t.Fatalf("get-ca-certificate: %v, %q", err, f.Results["ca-certificate"])
	}

	// Refusing: the issued certificate stays, a new CSR goes unanswered, the status says so.
	f.Config["mode"] = "refuse"
	_, _, csr1 := request(t, f, "pg/1")
	hook(t, f, "config-changed")
	certs = answers(t, f)
	if _, ok := tlscerts.Find(certs, csr1); ok || len(certs) != 1 || certs[0].Certificate != c.Certificate {
		t.Fatalf("refuse: answers %d (pg/1 answered: %v)", len(certs), ok)
	}
	if f.UnitStatus.Status != "blocked" || !strings.Contains(f.UnitStatus.Message, "refusing") {
		t.Errorf("refuse: status %+v", f.UnitStatus)
	}

	// Malformed answers for every CSR.
	f.Config["mode"] = "malformed"
	hook(t, f, "config-changed")
	certs = answers(t, f)
	if len(certs) != 2 {
		t.Fatalf("malformed: %d answers", len(certs))
	}
	if _, err := tlscerts.Verify(certs[0], key0, names0, time.Now()); err == nil {
		t.Fatal("malformed: the answer verifies")
	}

	// Invalid config: blocked, nothing rewritten.
	before := f.Bucket(rel, "tlsca")[tlscerts.KeyCertificates]
	f.Config["mode"] = "sometimes"
	hook(t, f, "config-changed")
	if f.UnitStatus.Status != "blocked" || f.Bucket(rel, "tlsca")[tlscerts.KeyCertificates] != before {
		t.Fatalf("invalid config: status %+v, data changed: %v", f.UnitStatus, f.Bucket(rel, "tlsca")[tlscerts.KeyCertificates] != before)
	}

	// Back to sign: both CSRs get real certificates; a unit that leaves loses its answer.
	f.Config["mode"] = "sign"
	hook(t, f, "config-changed")
	if certs = answers(t, f); len(certs) != 2 {
		t.Fatalf("sign: %d answers", len(certs))
	}
	if _, err := tlscerts.Verify(certs[0], key0, names0, time.Now()); err != nil {
		t.Fatalf("sign: %v", err)
	}
	f.Relations[rel].Units = []string{"pg/0"}
	hook(t, f, "certificates-relation-departed")
	if certs = answers(t, f); len(certs) != 1 {
		t.Fatalf("departed: %d answers", len(certs))
	}
}

func TestConfigRejects(t *testing.T) {
	for _, v := range []string{"x", "10s", "-1h"} {
		f := hookenvtest.NewFake("tlsca/0")
		f.Config["validity"] = v
		if _, err := (provider{tools: f}).config(context.Background()); err == nil {
			t.Errorf("validity %q accepted", v)
		}
	}
}
