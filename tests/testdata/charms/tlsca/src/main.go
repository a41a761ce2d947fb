// Command tlsca is a test provider of the tls-certificates interface: the provider side as
// Canonical's tls_certificates_interface v4 library defines it (internal/tlscerts describes
// the data), in Go, talking to Juju through the hook tools only.
//
// The leader keeps a CA in an application-owned secret (label tlsca-ca). In every hook it
// reads the CSRs each related unit (and application) lists under certificate_signing_requests
// and answers them in its application bucket under certificates, with the CA and the chain
// [certificate, CA]; answers to CSRs no longer requested are dropped. Config mode=refuse
// leaves new CSRs unanswered, mode=malformed answers with a certificate that does not parse.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/hookenv"
	"github.com/jujulet/postgresql-k8s/internal/pki"
	"github.com/jujulet/postgresql-k8s/internal/tlscerts"
)

const (
	endpoint = "certificates"
	caLabel  = "tlsca-ca"
)

// Modes of config option mode.
const (
	modeSign      = "sign"
	modeRefuse    = "refuse"
	modeMalformed = "malformed"
)

// malformedCertificate is what mode=malformed answers: PEM framing around bytes that are not
// a certificate.
const malformedCertificate = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := hookenv.FromEnviron(os.Getenv)
	p := provider{env: env, tools: hookenv.Exec{}, now: time.Now}
	if err := p.run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", env.Event(), err)
		os.Exit(1)
	}
}

type provider struct {
	env   hookenv.Env
	tools hookenv.Tools
	now   func() time.Time
}

type config struct {
	mode     string
	validity time.Duration
}

func (p provider) config(ctx context.Context) (config, error) {
	raw, err := p.tools.ConfigGet(ctx)
	if err != nil {
		return config{}, err
	}
	cfg := config{mode: modeSign, validity: 90 * 24 * time.Hour}
	if m, ok := raw["mode"].(string); ok && m != "" {
		cfg.mode = m
	}
	if !slices.Contains([]string{modeSign, modeRefuse, modeMalformed}, cfg.mode) {
		return config{}, fmt.Errorf("mode %q: want sign, refuse or malformed", cfg.mode)
	}
	if v, ok := raw["validity"].(string); ok && v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			return config{}, fmt.Errorf("validity %q: want a duration of at least 1m", v)
		}
		cfg.validity = d
	}
	return cfg, nil
}

// errConfig marks a configuration the provider cannot honour: blocked, nothing changes.
var errConfig = errors.New("invalid config")

func (p provider) run(ctx context.Context) error {
	if p.env.IsAction() {
		return p.action(ctx)
	}
	cfg, err := p.config(ctx)
	if err != nil {
		return p.tools.StatusSet(ctx, false, "blocked", fmt.Sprintf("%v: %v", errConfig, err))
	}
	leader, err := p.tools.IsLeader(ctx)
	if err != nil {
		return err
	}
	if !leader {
		return p.tools.StatusSet(ctx, false, "active", "")
	}
	ca, err := p.ca(ctx)
	if err != nil {
		return err
	}
	ids, err := p.tools.RelationIDs(ctx, endpoint)
	if err != nil {
		return err
	}
	var answered, unanswered int
	for _, id := range ids {
		if p.env.HookName == endpoint+"-relation-broken" && id == p.env.RelationID {
			continue
		}
		a, u, err := p.serve(ctx, id, ca, cfg)
		if err != nil {
			return fmt.Errorf("relation %s: %w", id, err)
		}
		answered, unanswered = answered+a, unanswered+u
	}
	if cfg.mode == modeRefuse && unanswered > 0 {
		return p.tools.StatusSet(ctx, false, "blocked", fmt.Sprintf("refusing certificate requests (mode=refuse): %d unanswered", unanswered))
	}
	return p.tools.StatusSet(ctx, false, "active", fmt.Sprintf("%d certificates issued (mode=%s)", answered, cfg.mode))
}

// ca reads the CA from its secret; the leader creates it on first use.
func (p provider) ca(ctx context.Context) (pki.CA, error) {
	content, err := p.tools.SecretGet(ctx, hookenv.SecretGetArgs{Label: caLabel})
	if err == nil {
		return pki.ParseCA([]byte(content["certificate"]), []byte(content["private-key"]))
	}
	if !errors.Is(err, hookenv.ErrNotFound) {
		return pki.CA{}, fmt.Errorf("secret-get %s: %w", caLabel, err)
	}
	ca, err := pki.NewCA("tlsca "+p.env.ModelName, p.now())
	if err != nil {
		return pki.CA{}, err
	}
	if _, err := p.tools.SecretAdd(ctx, hookenv.SecretAddArgs{
		Label: caLabel, Owner: "application", Description: "the test CA",
		Content: map[string]string{"certificate": string(ca.CertPEM), "private-key": string(ca.KeyPEM)},
	}); err != nil {
		return pki.CA{}, fmt.Errorf("secret-add %s: %w", caLabel, err)
	}
	return ca, nil
}

// serve answers the CSRs of one relation; it returns how many are answered and how many not.
func (p provider) serve(ctx context.Context, id string, ca pki.CA, cfg config) (answered, unanswered int, err error) {
	csrs, err := p.requests(ctx, id)
	if err != nil {
		return 0, 0, err
	}
	app := hookenv.AppOf(p.env.UnitName)
	mine, err := p.tools.RelationGet(ctx, id, app, true)
	if err != nil {
		return 0, 0, err
	}
	have, err := tlscerts.ParseCertificates(mine[tlscerts.KeyCertificates])
	if err != nil {
		have = nil // our own data, damaged: answer again
	}
	next, unanswered := answer(csrs, have, ca, cfg, p.now())
	raw := ""
	if len(next) > 0 {
		if raw, err = tlscerts.EncodeCertificates(next); err != nil {
			return 0, 0, err
		}
	}
	if raw != mine[tlscerts.KeyCertificates] {
		if err := p.tools.RelationSet(ctx, id, true, map[string]string{tlscerts.KeyCertificates: raw}); err != nil {
			return 0, 0, err
		}
	}
	return len(next), unanswered, nil
}

// requests lists the CSRs of the remote units' buckets and of the remote application's
// bucket (the library's Mode.APP), in order, without duplicates. A bucket that does not
// parse is skipped: it is the other application's problem.
func (p provider) requests(ctx context.Context, id string) ([]string, error) {
	units, err := p.tools.RelationList(ctx, id)
	if err != nil {
		return nil, err
	}
	remote, err := p.tools.RelationRemoteApp(ctx, id)
	if err != nil {
		return nil, err
	}
	var csrs []string
	read := func(owner string, app bool) error {
		data, err := p.tools.RelationGet(ctx, id, owner, app)
		if err != nil {
			return err
		}
		reqs, err := tlscerts.ParseRequests(data[tlscerts.KeyRequests])
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s of %s ignored: %v\n", tlscerts.KeyRequests, owner, err)
			return nil
		}
		for _, r := range reqs {
			csr := strings.TrimSpace(r.CSR)
			if r.CA {
				fmt.Fprintf(os.Stderr, "%s asks for a CA certificate: not answered\n", owner)
				continue
			}
			if !slices.Contains(csrs, csr) {
				csrs = append(csrs, csr)
			}
		}
		return nil
	}
	if remote != "" {
		if err := read(remote, true); err != nil {
			return nil, err
		}
	}
	for _, u := range units {
		if err := read(u, false); err != nil {
			return nil, err
		}
	}
	return csrs, nil
}

// answer computes the provider's list for csrs: an answer kept when it still verifies
// against ca (mode sign or refuse), a new one signed (mode sign) or a malformed one (mode
// malformed). unanswered counts the CSRs left without an answer.
func answer(csrs []string, have []tlscerts.Certificate, ca pki.CA, cfg config, now time.Time) (next []tlscerts.Certificate, unanswered int) {
	caPEM := string(ca.CertPEM)
	for _, csr := range csrs {
		if cfg.mode == modeMalformed {
			next = append(next, tlscerts.Certificate{CSR: csr, Certificate: malformedCertificate, CA: caPEM, Chain: []string{malformedCertificate, caPEM}})
			continue
		}
		if old, ok := tlscerts.Find(have, csr); ok && old.CA == caPEM && !old.Revoked {
			if _, err := pki.VerifyChain([]byte(old.Certificate), ca.CertPEM, now, 0); err == nil {
				next = append(next, old)
				continue
			}
		}
		if cfg.mode == modeRefuse {
			unanswered++
			continue
		}
		cert, err := tlscerts.Sign(csr, ca.Cert, ca.Key, now, cfg.validity)
		if err != nil {
			fmt.Fprintf(os.Stderr, "CSR not signed: %v\n", err)
			unanswered++
			continue
		}
		next = append(next, tlscerts.Certificate{CSR: csr, Certificate: cert, CA: caPEM, Chain: []string{cert, caPEM}})
	}
	return next, unanswered
}

func (p provider) action(ctx context.Context) error {
	switch p.env.ActionName {
	case "get-ca-certificate":
		content, err := p.tools.SecretGet(ctx, hookenv.SecretGetArgs{Label: caLabel})
		if errors.Is(err, hookenv.ErrNotFound) {
			return p.tools.ActionFail(ctx, "no CA yet: the leader creates it in its next hook")
		}
		if err != nil {
			return err
		}
		return p.tools.ActionSet(ctx, map[string]string{"ca-certificate": content["certificate"]})
	}
	return p.tools.ActionFail(ctx, "unknown action "+p.env.ActionName)
}
