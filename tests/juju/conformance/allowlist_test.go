package conformance

// helpProse is the one difference kept in every tool's help except config-get's: jujulet's
// help matches Juju's usage line, summary and options byte for byte (the suite checks),
// but its prose (Details, Examples) is jujulet's own and often shorter. The team rule is
// that no text is copied from public sources beyond what compatibility needs; config-get's
// help is reproduced in full because the issue asks for it.
const helpProse = "help prose is jujulet's own; usage, summary and options match"

// allowlist names the cases (scenario/tool args) where jujulet keeps a difference from
// Juju, each with its reason. An entry whose case no longer differs fails the suite, so the
// list stays exact.
func allowlist() map[string]string {
	return map[string]string{
		// Juju's secret-add does not decode #base64 values: they are stored as given and
		// only fail when read (secret-get: "illegal base64 data ..."). jujulet's hook-tool
		// context carries secret content as plain text, so it decodes when the tool runs
		// and refuses what cannot be decoded, with nothing stored (exit 2).
		"hook/secret-add data#base64=!!!notbase64": "invalid base64 refused at secret-add, not at secret-get",

		// Juju's juju-reboot records a reboot request for the end of the hook (or kills
		// the hook with --now). A jujulet unit has no machine of its own to reboot, so the
		// tool refuses instead of accepting a request nothing would honour.
		"hook/juju-reboot":       "no machine to reboot: refused",
		"hook/juju-reboot --now": "no machine to reboot: refused",

		// On the leader, Juju's k8s-spec-set and k8s-raw-set parse the spec and keep it for
		// the end of the hook, though a sidecar application never uses one. jujulet refuses
		// on the leader, so that a charm relying on a spec learns it has none.
		`hook/k8s-spec-set <<< "version: 3\ncontainers: []\n"`: "leader's spec refused for a sidecar charm",
		`hook/k8s-raw-set <<< "kind: Pod\n"`:                   "leader's raw spec refused for a sidecar charm",
	}
}
