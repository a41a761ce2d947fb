// Package tlscerts is the tls-certificates interface (v4 of Canonical's
// tls_certificates_interface library, LIBAPI 4) in pure Go: the relation data both sides
// write, certificate signing requests, and the checks a requirer makes before it serves a
// certificate a provider sent. The provider is another application: everything read from
// its bucket is untrusted and checked here.
//
// # Relation data
//
// Requirer, per unit (the library's default Mode.UNIT; in Mode.APP the leader writes the
// same key in the application bucket), key certificate_signing_requests: a JSON list of
//
//	{"certificate_signing_request": "<PEM CSR, stripped>", "ca": false}
//
// where "ca" asks for a CA certificate (always false here). One entry per certificate the
// unit wants; the library compares CSRs by their exact text.
//
// Provider, application bucket, key certificates: a JSON list of
//
//	{"certificate_signing_request": "<the requirer's CSR, as sent>",
//	 "certificate": "<PEM>", "ca": "<PEM>", "chain": ["<PEM>", ...],
//	 "revoked": false,                              (optional)
//	 "recommended_expiry_notification_time": 168}   (optional, hours)
//
// certificate, ca, chain and certificate_signing_request are required (the library's JSON
// schema); other keys are allowed. The list holds the certificates of every requirer unit,
// of every related application: a requirer finds its own by its CSR. chain is, by the
// providers' convention, the certificate then its issuers.
//
// # Private key
//
// The library generates the private key itself and keeps it in a Juju secret owned by the
// unit (label "<LIBID>-private-key-<unit number>", content key private-key); it never leaves
// the unit. The CSR is signed with it, and a new CSR (same key, a fresh unique identifier in
// the subject) is sent when the request's attributes change or on renewal.
//
// # Expiry and renewal
//
// For each certificate received the library keeps a unit secret that expires at the
// notification time: the provider's recommended_expiry_notification_time hours before
// expiry when that falls after the start of validity, otherwise one third of the validity
// before expiry. On secret-expired it removes the old CSR from its bucket and sends a new
// one; the provider then answers the new CSR. A revoked certificate is dropped. Refusal has
// no representation in the interface: a provider that will not sign simply never answers
// the CSR (it says why in its own status).
//
// The requirer here (charm/tls_certificates.go) keeps the same data format and timing, with
// ECDSA P-256 keys (providers sign whatever public key the CSR carries) and a charm timer
// instead of the secret expiry.
package tlscerts
