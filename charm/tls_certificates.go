package charm

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/hookenv"
	"github.com/jujulet/postgresql-k8s/internal/pki"
	"github.com/jujulet/postgresql-k8s/internal/tlscerts"
)

// The certificates relation: the requirer side of tls-certificates as the v4 library defines
// it (internal/tlscerts documents the data). When it is integrated, each unit serves the
// provider's certificate instead of the one it issued itself from the cluster CA, and clients
// and the other cluster are given the provider's CA; the cluster CA still signs the charm's
// own client certificates (charm_admin).
//
//	unit bucket (ours):      certificate_signing_requests  [{"certificate_signing_request": CSR, "ca": false}]
//	provider's app bucket:   certificates                   [{certificate_signing_request, certificate, ca, chain, revoked?}]
//	unit-owned secret:       certKeyLabel                   {"private-key": PEM}: the key the CSR is made with
//	unit charm state:        localProvided                  JSON providedCert: the provider's certificate in use
//	                         localRetiringCA                a removed provider's CA, trusted until no unit presents its certificates
//	peer unit bucket:        tls-source                     "relation" while this unit presents a provider's certificate
//
// A certificate is served only once it verifies (tlscerts.Verify: chains to the CA it came
// with, for this unit's key and names, valid now); one that does not leaves the unit blocked
// with the reason, serving what it served before. A CSR the provider does not answer leaves it
// waiting (the self-issued certificate is served meanwhile). The certificate is renewed at the
// library's notification time (a timer, never an update-status), and its expiry shows in the
// status in its last 7 days. Without the relation the unit is back to its own certificate.

// CertificatesEndpoint is the tls-certificates requirer endpoint (metadata.yaml).
const CertificatesEndpoint = "certificates"

const (
	// localProvided (unit charm state): the provider's certificate in use, public material
	// only; its key is in the unit's secret.
	localProvided = "tls-provided"
	// timerCertificate wakes the unit up when its provided certificate must be renewed, when
	// its expiry starts to show in the status, and when it expires.
	timerCertificate = "certificate"
	// expiryWarning is how long before its end a certificate's expiry shows in the status.
	expiryWarning = 7 * 24 * time.Hour
	// localRetiringCA (unit charm state): the CA of a provider whose relation was removed,
	// still trusted while a unit may present its certificates (see retireCA).
	localRetiringCA = "tls-retiring-ca"
	// keyTLSSource (peer unit bucket): "relation" while this unit's server presents, or may
	// still present, a certificate from the certificates relation.
	keyTLSSource = "tls-source"
	// retireCheck is how often a unit that still trusts a removed provider's CA looks again.
	retireCheck = 10 * time.Second
)

// certKeyLabel labels the unit-owned secret holding the private key of the unit's CSRs (one
// per unit, as the library's labels are).
func certKeyLabel(unitNumber string) string { return "postgresql-k8s-certificates-key-" + unitNumber }

// providedCert is a provider's certificate that verified, as the unit keeps it.
type providedCert struct {
	Provider string    `json:"provider"`
	CSR      string    `json:"csr"`
	Cert     string    `json:"cert"` // leaf then intermediates
	CA       string    `json:"ca"`
	NotAfter time.Time `json:"not-after"`
	NotifyAt time.Time `json:"notify-at"`
}

// certsState is what this hook knows of the certificates relation.
type certsState struct {
	related  bool
	provider string
	// served is the provider's certificate this unit serves (nil: the self-issued one), with
	// keyPEM its key.
	served *providedCert
	keyPEM []byte
	// problem is why the provider's answer cannot be used (blocked); pending is set while
	// the unit's current CSR has no answer (waiting, or renewing).
	problem string
	pending bool
	// caPEM is the provider's CA as this unit knows it: the one of its own verified answer,
	// else those the provider's answers to the other units carry (see CertificatesCA).
	caPEM []byte
}

// CertificatesCA is the CA of the certificates relation's provider (nil when not related or
// none is known yet): what this unit must trust to verify peers that already serve the
// provider's certificates while it does not (a new unit whose CSR is unanswered).
func (s *State) CertificatesCA() []byte { return s.certs.caPEM }

// answersCA collects the distinct CA certificates of the provider's answers (at most
// tlscerts.MaxChain): entries whose CA does not parse as CA certificates are skipped.
func answersCA(certs []tlscerts.Certificate) []byte {
	var out []byte
	seen := map[string]bool{}
	for _, c := range certs {
		cas, err := pki.ParseCertificates([]byte(c.CA))
		if err != nil || len(c.CA) > tlscerts.MaxPEM {
			continue
		}
		for _, ca := range cas {
			fp := pki.Fingerprint(ca)
			if seen[fp] || !ca.IsCA || !ca.BasicConstraintsValid || len(seen) >= tlscerts.MaxChain {
				continue
			}
			seen[fp] = true
			out = append(out, pki.EncodeCertificate(ca.Raw)...)
		}
	}
	return out
}

// relationCerts is the CertSource (charm/tls.go) of the certificates relation: the
// certificate certificatesStep settled on for this hook, if any (it ran before the first
// placeTLS). Without one, the provider's CA as known (CertificatesCA) still goes in CAPEM:
// it joins the trust bundle, so that this unit verifies the peers that serve the
// provider's certificates (and, after a removal, until none does).
type relationCerts struct{}

func (relationCerts) ServerCert(_ context.Context, _ *Charm, st *State, _ []string) (ServerCert, bool, error) {
	p := st.certs.served
	if p == nil {
		return ServerCert{CAPEM: st.CertificatesCA()}, false, nil
	}
	return ServerCert{CertPEM: []byte(p.Cert), KeyPEM: st.certs.keyPEM, CAPEM: []byte(p.CA)}, true, nil
}

// certificatesStep reads the certificates relation and settles which certificate this unit
// serves (st.certs): it keeps the unit's key, sends a new CSR when the names change or the
// certificate is due for renewal, and verifies the provider's answer.
func (c *Charm) certificatesStep(ctx context.Context, st *State) error {
	ids, err := c.RelationIDs(ctx, st, CertificatesEndpoint)
	if err != nil {
		return fmt.Errorf("relation-ids %s: %w", CertificatesEndpoint, err)
	}
	relID := ""
	for _, id := range ids {
		if !c.relationBroken(CertificatesEndpoint, id) {
			relID = id
			break
		}
	}
	st.certs = certsState{}
	if relID == "" {
		if p := parseProvided(st.Local[localProvided]); p != nil {
			c.logf(ctx, slog.LevelInfo, "certificates relation removed: back to the self-issued certificate")
			st.SetLocal(localRetiringCA, p.CA)
		}
		st.SetLocal(localProvided, "")
		st.WakeAt(timerCertificate, time.Time{})
		c.retireCA(ctx, st)
		return nil
	}
	st.SetLocal(localRetiringCA, "")
	app, err := c.relationRemoteApp(ctx, st, relID)
	if err != nil {
		return fmt.Errorf("relation-list --app -r %s: %w", relID, err)
	}
	st.certs.related, st.certs.provider = true, app

	var key crypto.Signer
	var keyPEM []byte
	var buckets []map[string]string
	err = parallel(
		func() (err error) { key, keyPEM, err = c.certificateKey(ctx, st); return err },
		func() (err error) {
			refs := []bucketRef{{owner: st.Unit}}
			if app != "" {
				refs = append(refs, bucketRef{owner: app, app: true})
			}
			buckets, err = c.relationGetAll(ctx, st, relID, refs)
			return err
		},
	)
	if err != nil {
		return err
	}
	mine, theirs := buckets[0], map[string]string{}
	if len(buckets) > 1 {
		theirs = buckets[1]
	}
	names := c.certificateNames(st)
	now := c.Now()
	prev := parseProvided(st.Local[localProvided])
	if prev != nil && (prev.Provider != app || !now.Before(prev.NotAfter)) {
		prev = nil // another provider's, or expired: never served again
	}

	// The CSR the provider has: ours when it still asks for this unit's names with its key,
	// and is not the one of a certificate due for renewal.
	csr := ""
	if reqs, err := tlscerts.ParseRequests(mine[tlscerts.KeyRequests]); err == nil {
		for _, r := range reqs {
			if !r.CA && tlscerts.CSRMatches(r.CSR, key, names) {
				csr = strings.TrimSpace(r.CSR)
			}
		}
	}
	if csr != "" && prev != nil && prev.CSR == csr && !now.Before(prev.NotifyAt) {
		c.logf(ctx, slog.LevelInfo, "certificate from %s due for renewal (expires %s): sending a new CSR", app, prev.NotAfter.UTC().Format(time.RFC3339))
		csr = ""
	}

	certs, perr := tlscerts.ParseCertificates(theirs[tlscerts.KeyCertificates])
	switch {
	case perr != nil:
		st.certs.problem = fmt.Sprintf("%s's relation data is malformed: %v", app, perr)
	case csr != "":
		answer, ok := tlscerts.Find(certs, csr)
		switch {
		case !ok:
			st.certs.pending = true
		case answer.Revoked:
			c.logf(ctx, slog.LevelWarn, "%s revoked this unit's certificate: requesting a new one", app)
			if prev != nil && prev.CSR == csr {
				prev = nil
			}
			csr = ""
		default:
			issued, err := tlscerts.Verify(answer, key, names, now)
			if err != nil {
				st.certs.problem = fmt.Sprintf("%s's certificate for this unit is invalid: %v", app, err)
				break
			}
			if prev == nil || prev.Cert != issued.CertPEM || prev.CA != issued.CAPEM {
				c.logf(ctx, slog.LevelInfo, "serving the certificate from %s (expires %s)", app, issued.Leaf.NotAfter.UTC().Format(time.RFC3339))
			}
			prev = &providedCert{Provider: app, CSR: csr, Cert: issued.CertPEM, CA: issued.CAPEM,
				NotAfter: issued.Leaf.NotAfter, NotifyAt: issued.NotifyAt}
		}
	}
	if csr == "" {
		if err := c.sendCSR(ctx, relID, key, names); err != nil {
			return err
		}
		st.certs.pending = true
	}

	if perr == nil {
		st.certs.caPEM = answersCA(certs)
	}
	if prev == nil {
		st.SetLocal(localProvided, "")
		st.WakeAt(timerCertificate, time.Time{})
		return nil
	}
	st.SetLocal(localProvided, prev.encode())
	st.certs.served, st.certs.keyPEM, st.certs.caPEM = prev, keyPEM, []byte(prev.CA)
	// Wake up for whichever comes first: the renewal, the expiry warning, the expiry.
	for _, at := range []time.Time{prev.NotifyAt, prev.NotAfter.Add(-expiryWarning), prev.NotAfter} {
		if at.After(now) {
			st.WakeAt(timerCertificate, at)
		}
	}
	return nil
}

// retireCA keeps trusting a removed provider's CA (st.certs.caPEM, which charm/tls.go adds to
// the trust bundle) while this unit's server or a peer's may still present a certificate it
// signed: dropping it at once would make the units refuse each other (and their own server,
// before its reload) for as long as that lasts, and a leader could fail over a healthy
// primary. Once none does, the CA is no longer trusted.
func (c *Charm) retireCA(ctx context.Context, st *State) {
	ca := st.Local[localRetiringCA]
	if ca == "" {
		return
	}
	still := servesProvided(st)
	for _, p := range st.Peers {
		if st.PeerData[p][keyTLSSource] != "" {
			still = true
		}
	}
	if still {
		st.certs.caPEM = []byte(ca)
		st.WakeAt(timerCertificate, c.Now().Add(retireCheck))
		return
	}
	c.logf(ctx, slog.LevelInfo, "no unit presents the removed provider's certificates any more: its CA is no longer trusted")
	st.SetLocal(localRetiringCA, "")
}

// servesProvided reports whether this unit's server presents, or may still present (its
// reload is pending), a certificate from the certificates relation, as charm/tls.go last
// placed it.
func servesProvided(st *State) bool {
	var rec tlsRecord
	if raw := st.Local[localTLS]; raw != "" && json.Unmarshal([]byte(raw), &rec) == nil && rec.Source == "relation" {
		return true
	}
	return st.Local[localTLSReload] != "" && st.Local[localRetiringCA] != ""
}

// publishTLSSource tells the peers, at the end of the hook, whether this unit's server
// presents a certificate from the certificates relation (retireCA reads it).
func (c *Charm) publishTLSSource(st *State) {
	v := ""
	if servesProvided(st) {
		v = "relation"
	}
	st.SetMine(keyTLSSource, v)
}

// sendCSR replaces this unit's request with a new CSR for names.
func (c *Charm) sendCSR(ctx context.Context, relID string, key crypto.Signer, names tlscerts.Names) error {
	csr, err := tlscerts.CreateCSR(key, names)
	if err != nil {
		return err
	}
	raw, err := tlscerts.EncodeRequests([]tlscerts.Request{{CSR: csr}})
	if err != nil {
		return err
	}
	if err := c.Tools.RelationSet(ctx, relID, false, map[string]string{tlscerts.KeyRequests: raw}); err != nil {
		return fmt.Errorf("relation-set -r %s: %w", relID, err)
	}
	c.logf(ctx, slog.LevelInfo, "certificate signing request sent for %s", strings.Join(names.SANs, ", "))
	return nil
}

// certificateKey returns the unit's CSR key (as readState read it ahead, or now), created
// (and kept in its secret) on first use.
func (c *Charm) certificateKey(ctx context.Context, st *State) (crypto.Signer, []byte, error) {
	label := certKeyLabel(c.Env.UnitNumber())
	var content map[string]string
	var err error
	if r := st.certKeyAhead; r != nil {
		content, err = r.content, r.err
		st.certKeyAhead = nil
	} else {
		content, err = c.Tools.SecretGet(ctx, hookenv.SecretGetArgs{Label: label})
	}
	switch {
	case err == nil:
		key, perr := pki.ParsePrivateKey([]byte(content["private-key"]))
		if perr != nil {
			return nil, nil, fmt.Errorf("secret %s: %w", label, perr)
		}
		return key, []byte(content["private-key"]), nil
	case !errors.Is(err, hookenv.ErrNotFound):
		return nil, nil, fmt.Errorf("secret-get %s: %w", label, err)
	}
	key, err := tlscerts.NewKey()
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	if _, err := c.Tools.SecretAdd(ctx, hookenv.SecretAddArgs{
		Label: label, Owner: "unit", Description: "private key of this unit's certificate requests",
		Content: map[string]string{"private-key": string(keyPEM)},
	}); err != nil {
		return nil, nil, fmt.Errorf("secret-add %s: %w", label, err)
	}
	return key, keyPEM, nil
}

// certificateNames are what this unit's CSR asks for: the names of its self-issued
// certificate (serverSANs: its address and stable Kubernetes names). The common name is the
// short stable name (X.509 bounds it to 64 characters).
func (c *Charm) certificateNames(st *State) tlscerts.Names {
	app, n := st.App, c.Env.UnitNumber()
	cn := fmt.Sprintf("%s-%s.%s-endpoints", app, n, app)
	if len(cn) > 64 {
		cn = app + "-" + n
		cn = cn[:min(len(cn), 64)]
	}
	return tlscerts.Names{CommonName: cn, SANs: c.serverSANs(st)}
}

func parseProvided(raw string) *providedCert {
	if raw == "" {
		return nil
	}
	var p providedCert
	if json.Unmarshal([]byte(raw), &p) != nil || p.Cert == "" || p.CA == "" {
		return nil // damaged: the provider's answer is read again
	}
	return &p
}

func (p *providedCert) encode() string {
	b, _ := json.Marshal(p) // plain struct: cannot fail
	return string(b)
}

// certificatesStatus adds the certificates relation's state to the unit's running status:
// blocked with the reason when the provider's answer is unusable; waiting while this unit's
// CSR is unanswered and no provided certificate is served, or the served one expires within
// a week (its expiry is in the status already, from ensureTLS) and its renewal is unanswered.
func (c *Charm) certificatesStatus(st *State) {
	cs := st.certs
	if !cs.related {
		return
	}
	level, note := "", ""
	switch {
	case cs.problem != "":
		level, note = "blocked", "certificates: "+cs.problem
	case cs.served == nil:
		level, note = "waiting", fmt.Sprintf("certificates: waiting for %s to sign this unit's request", cs.provider)
	case cs.pending && cs.served.NotAfter.Sub(c.Now()) < expiryWarning:
		level, note = "waiting", fmt.Sprintf("certificates: waiting for %s to sign the renewal", cs.provider)
	default:
		return
	}
	for i, s := range st.statuses {
		if s.app {
			continue
		}
		if s.status == "active" || (s.status == "waiting" && level == "blocked") {
			s.status = level
		}
		st.statuses[i] = statusWrite{status: s.status, message: s.message + "; " + note}
		return
	}
}
