package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// tc is one hook tool invocation in one scenario.
type tc struct {
	scenario string
	tool     string
	args     []string
	stdin    *string
}

func (c tc) name() string {
	n := c.scenario + "/" + strings.Join(append([]string{c.tool}, c.args...), " ")
	if c.stdin != nil {
		n += fmt.Sprintf(" <<< %q", *c.stdin)
	}
	return n
}

func in(s string) *string { return &s }

// cases are the invocations compared. Each runs on a fresh context of its scenario.
func cases() []tc {
	var out []tc
	add := func(scenario, tool string, argss ...[]string) {
		for _, a := range argss {
			out = append(out, tc{scenario: scenario, tool: tool, args: a})
		}
	}
	a := func(s ...string) []string { return s }

	add("hook", "config-get", a(), a("--all"), a("-a"), a("port"), a("big"), a("ratio"), a("name"), a("flag"),
		a("empty"), a("unset"), a("missing"), a("--format=json"), a("--format=yaml"), a("--format=yaml", "big"),
		a("--format=json", "big"), a("--format=json", "--all"), a("--all", "port"), a("port", "name"),
		a("--format=xml"), a("-h"))

	add("relation", "relation-get", a(), a("-"), a("user"), a("-", "app/0"), a("user", "app/1"), a("-", "pg/0"),
		a("-r", "db:2", "-", "app/1"), a("-r", "2", "user", "app/0"), a("-r", "99", "-", "app/0"),
		a("-r", "db:nope", "-", "app/0"), a("--app", "-", "app"), a("--app"), a("--app", "-", "pg"),
		a("-r", "database-peers:1", "-", "pg/1"), a("--format=json", "-", "app/0"), a("-", "app/0", "extra"))
	add("relation-non-leader", "relation-get", a("--app", "-", "pg"), a("--app", "-", "app"))
	add("hook", "relation-get", a(), a("-", "app/0"), a("-r", "2", "-"))

	add("relation", "relation-set", a("a=b"), a("a=b", "c="), a("bad"), a("=x"), a("a=b", "a=c"),
		a("-r", "99", "x=y"), a("--app", "x=y"), a("-r", "nope", "x=y"))
	add("relation-non-leader", "relation-set", a("--app", "x=y"))
	add("hook", "relation-set", a("x=y"))
	out = append(out,
		tc{scenario: "relation", tool: "relation-set", args: a("--file", "-"), stdin: in("k: v\n")},
		tc{scenario: "relation", tool: "relation-set", args: a("--file", "-"), stdin: in("- not a map\n")},
		tc{scenario: "relation", tool: "relation-set", args: a("--file", "/nonexistent/settings.yaml")},
	)

	add("hook", "relation-ids", a("db"), a("database-peers"), a("nope"), a(), a("--format=json", "db"), a("db", "x"))
	add("relation", "relation-ids", a(), a("--format=json"))

	add("relation", "relation-list", a(), a("-r", "1"), a("-r", "12"), a("-r", "99"), a("--format=json"),
		a("--app"), a("extra"))
	add("hook", "relation-list", a(), a("-r", "db:2"))

	add("relation", "relation-model-get", a(), a("-r", "12"), a("-r", "99"))

	add("action", "action-get", a(), a("mode"), a("opts"), a("opts.deep.key"), a("opts.nope"), a("nope"),
		a("--format=json"), a("count"))
	add("hook", "action-get", a())
	add("action", "action-set", a("a=b"), a("out.nested=v"), a("A=b"), a("a.B=c"), a("a..b=c"), a("=x"),
		a("a"), a(), a("Stdout=x"), a("stdout=x"), a("a-b=c"), a("-a=c"), a("a=b", "a.c=d"))
	add("hook", "action-set", a("a=b"))
	add("action", "action-fail", a("broken"), a(), a("a", "b"))
	add("hook", "action-fail", a("broken"))
	add("action", "action-log", a("step 1"), a(), a("two", "words"))
	add("hook", "action-log", a("x"))

	add("hook", "leader-get", a(), a("-"), a("primary"), a("nope"), a("--format=json"), a("a", "b"))
	add("hook", "leader-set", a("x=y"), a("bad"), a())
	add("non-leader", "leader-set", a("x=y"))
	add("hook", "is-leader", a(), a("--format=json"), a("x"))
	add("non-leader", "is-leader", a())

	add("hook", "secret-add", a("a=b"), a("--owner", "unit", "a=b"), a("--owner", "model", "a=b"),
		a("data#base64=!!!notbase64"), a("data#base64=aGVsbG8="), a(), a("A=b"), a("a=b", "--expire", "nope"),
		a("--rotate", "sometimes", "a=b"), a("--label", "l", "--description", "d", "a=b"))
	add("non-leader", "secret-add", a("a=b"), a("--owner", "unit", "a=b"))
	add("hook", "secret-get", a("secret:bad"), a("bad"), a("cs1a2b3c4d5e6f7g8h90"), a("secret:cs1a2b3c4d5e6f7g8h90"),
		a("secret://"+modelUUID+"/cs1a2b3c4d5e6f7g8h90"), a("ct00000000000000000g", "password"),
		a("--label", "operator"), a(), a("cs1a2b3c4d5e6f7g8h90", "--format=json"),
		a("cs000000000000000000"), a("--peek", "--refresh", "cs1a2b3c4d5e6f7g8h90"))
	add("hook", "secret-set", a("secret:bad", "a=b"), a("cs1a2b3c4d5e6f7g8h90", "a=b"), a("cs1a2b3c4d5e6f7g8h90"),
		a(), a("cs1a2b3c4d5e6f7g8h90", "x#base64=!!!"))
	add("relation", "secret-grant", a("cs1a2b3c4d5e6f7g8h90", "-r", "2"), a("secret:bad", "-r", "2"),
		a("cs1a2b3c4d5e6f7g8h90"), a("cs1a2b3c4d5e6f7g8h90", "-r", "2", "--unit", "app/0"),
		a("cs1a2b3c4d5e6f7g8h90", "-r", "2", "--unit", "bad-unit"))
	add("relation", "secret-revoke", a("cs1a2b3c4d5e6f7g8h90", "-r", "2"), a("secret:bad"),
		a("cs1a2b3c4d5e6f7g8h90", "--app", "app"))
	add("hook", "secret-remove", a("cs1a2b3c4d5e6f7g8h90"), a("secret:bad"), a(),
		a("cs1a2b3c4d5e6f7g8h90", "--revision", "1"), a("cs1a2b3c4d5e6f7g8h90", "--revision", "x"))
	add("hook", "secret-ids", a(), a("--format=json"), a("x"))
	add("hook", "secret-info-get", a("cs1a2b3c4d5e6f7g8h90"), a("--label", "mine"), a("secret:bad"), a(),
		a("cs1a2b3c4d5e6f7g8h90", "--format=json"), a("cs1a2b3c4d5e6f7g8h90", "--label", "x"))

	add("hook", "status-get", a(), a("--include-data"), a("--format=json"), a("--application"),
		a("--application", "--include-data", "--format=json"), a("x"))
	add("non-leader", "status-get", a("--application"))
	add("hook", "status-set", a("active", "all good"), a("bogus"), a(), a("error", "x"), a("--application", "active"),
		a("active", "a", "b"))
	add("non-leader", "status-set", a("--application", "active"))

	add("hook", "opened-ports", a(), a("--endpoints"), a("--format=json"), a("--format=json", "--endpoints"), a("x"))
	add("hook", "open-port", a("5432/tcp"), a("5432"), a("icmp"), a("8000-8010/udp"), a("bogus"), a("70000/tcp"), a())
	add("hook", "close-port", a("5432/tcp"), a("bogus"))

	add("hook", "goal-state", a(), a("--format=json"), a("x"))

	// network-get's answers come from the controller's network info, which the Juju driver
	// does not model: only what fails before the context is asked.
	add("hook", "network-get", a(), a("-r", "99", "db"), a("--format=xml", "db"))

	add("hook", "unit-get", a("private-address"), a("public-address"), a("bogus"), a(),
		a("--format=json", "private-address"))

	add("hook", "storage-get", a("-s", "pgdata/0", "location"), a("-s", "pgdata/0"), a("-s", "logs/1", "kind"),
		a("location"), a("-s", "bad"), a("-s", "nope/3", "location"), a("-s", "pgdata/0", "bogus"))
	add("storage", "storage-get", a("location"), a(), a("--format=json"))
	add("hook", "storage-list", a(), a("pgdata"), a("--format=json"), a("a", "b"))
	add("hook", "storage-add", a("pgdata=1"), a("pgdata"), a(), a("pgdata=x"), a("pgdata=0"), a("pgdata=-1"), a("pgdata=2,ebs"), a("pgdata=10G"), a("pgdata=1", "pgdata=2"), a("=3"), a("a=b=c"), a("pgdata=1,2"), a("pgdata=,"))

	add("hook", "juju-log", a("hello"), a("-l", "WARNING", "careful"), a("--debug", "dbg"), a("-l", "bogus", "x"),
		a(), a("two", "words"), a("--log-level", "error", "bad"))
	add("relation", "juju-log", a("in relation"))

	add("hook", "application-version-set", a("14.9"), a(), a("a", "b"))

	add("hook", "state-get", a(), a("init"), a("nope"), a("--strict", "nope"), a("--format=json"))
	add("hook", "state-set", a("a=b"), a("bad"), a())
	add("hook", "state-delete", a("init"), a())

	add("hook", "credential-get", a())
	add("hook", "resource-get", a("pgbin"), a("nope"), a(), a("a", "b"))

	for _, tool := range []string{"k8s-spec-get", "pod-spec-get", "k8s-raw-get"} {
		add("hook", tool, a())
	}
	for _, tool := range []string{"k8s-spec-set", "pod-spec-set", "k8s-raw-set"} {
		add("non-leader", tool, a("--file", "/nonexistent/spec.yaml"))
		add("hook", tool, a("--file", "/nonexistent/spec.yaml"))
	}
	add("hook", "juju-reboot", a("--now", "x"), a(), a("--now"))
	add("action", "juju-reboot", a())
	out = append(out,
		tc{scenario: "hook", tool: "k8s-spec-set", stdin: in("version: 3\ncontainers: []\n")},
		tc{scenario: "hook", tool: "k8s-raw-set", stdin: in("kind: Pod\n")},
		tc{scenario: "hook", tool: "k8s-spec-set", stdin: in("")},
		tc{scenario: "non-leader", tool: "k8s-spec-set", stdin: in("version: 3\n")},
	)

	// Every tool's help, as a charm author sees it with -h.
	for _, tool := range []string{
		"action-fail", "action-get", "action-log", "action-set", "application-version-set",
		"close-port", "credential-get", "goal-state", "is-leader", "juju-log", "juju-reboot",
		"k8s-raw-get", "k8s-raw-set", "k8s-spec-get", "k8s-spec-set", "leader-get", "leader-set",
		"network-get", "open-port", "opened-ports", "pod-spec-get", "pod-spec-set",
		"relation-get", "relation-ids", "relation-list", "relation-model-get", "relation-set",
		"resource-get", "secret-add", "secret-get", "secret-grant", "secret-ids", "secret-info-get",
		"secret-remove", "secret-revoke", "secret-set", "state-delete", "state-get", "state-set",
		"status-get", "status-set", "storage-add", "storage-get", "storage-list", "unit-get",
	} {
		add("hook", tool, a("-h"))
	}
	return out
}

// runDriver feeds one scenario and its calls to a driver binary.
func runDriver(bin string, scenario doc, calls []doc) ([]result, error) {
	input, err := json.Marshal(doc{"scenario": scenario, "calls": calls})
	if err != nil {
		return nil, err
	}
	c := exec.Command(bin)
	c.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", bin, err, stderr.String())
	}
	var res []result
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("%s output: %w", bin, err)
	}
	if len(res) != len(calls) {
		return nil, fmt.Errorf("%s answered %d calls of %d", bin, len(res), len(calls))
	}
	return res, nil
}

type result struct {
	Code   int      `json:"code"`
	Stdout string   `json:"stdout"`
	Stderr string   `json:"stderr"`
	Logs   []string `json:"logs"`
}

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	jujuBin, took, err := buildJujuDriver()
	if err != nil {
		unavailable(t, err)
	}
	t.Logf("Juju jujuc driver built in %v", took)
	jujuletBin, err := buildJujuletDriver(dir)
	if err != nil {
		unavailable(t, err)
	}

	all := cases()
	byScenario := map[string][]int{}
	for i, c := range all {
		byScenario[c.scenario] = append(byScenario[c.scenario], i)
	}
	scen := scenarios()
	jujuRes := make([]result, len(all))
	jujuletRes := make([]result, len(all))
	for name, idx := range byScenario {
		s, ok := scen[name]
		if !ok {
			t.Fatalf("no scenario %q", name)
		}
		var calls []doc
		for _, i := range idx {
			c := doc{"tool": all[i].tool, "args": all[i].args, "dir": dir}
			if all[i].args == nil {
				c["args"] = []string{}
			}
			if all[i].stdin != nil {
				c["stdin"] = *all[i].stdin
			}
			calls = append(calls, c)
		}
		jr, err := runDriver(jujuBin, s, calls)
		if err != nil {
			t.Fatal(err)
		}
		lr, err := runDriver(jujuletBin, s, calls)
		if err != nil {
			t.Fatal(err)
		}
		for k, i := range idx {
			jujuRes[i], jujuletRes[i] = jr[k], lr[k]
		}
	}

	allow := allowlist()
	seen := map[string]bool{}
	for i, c := range all {
		name := c.name()
		if seen[name] {
			t.Fatalf("duplicate case %q", name)
		}
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			j, l := jujuRes[i], jujuletRes[i]
			reason, allowed := allow[name]
			if isHelp(c) && !allowed {
				// Help must match up to its prose: usage, summary and options byte for
				// byte; the prose after them is kept shorter on purpose (see allowlist).
				if hj, hl := helpHead(j.Stdout), helpHead(l.Stdout); hj == hl && j.Code == l.Code && j.Stderr == l.Stderr {
					j.Stdout, l.Stdout = hj, hl
					if jr, lr := jujuRes[i].Stdout, jujuletRes[i].Stdout; jr != lr {
						t.Logf("known difference (%s)", helpProse)
					}
				}
			}
			if c.tool == "secret-ids" {
				// Juju lists the ids in map order (random): compare them as a set.
				j.Stdout, l.Stdout = sortedIDs(j.Stdout), sortedIDs(l.Stdout)
			}
			diff := describe(j, l)
			switch {
			case diff == "" && allowed:
				t.Errorf("allowlisted (%s) but now identical: remove it from the allowlist", reason)
			case diff != "" && allowed:
				t.Logf("known difference (%s):\n%s", reason, diff)
			case diff != "":
				t.Errorf("jujulet differs from Juju:\n%s", diff)
			}
		})
	}
	for name := range allow {
		if !seen[name] {
			t.Errorf("allowlist entry %q matches no case", name)
		}
	}
}

// isHelp reports whether the case asks a tool for its help.
func isHelp(c tc) bool { return len(c.args) == 1 && (c.args[0] == "-h" || c.args[0] == "--help") }

// helpHead is a help text up to its prose: the usage line, summary and options.
func helpHead(help string) string {
	for _, section := range []string{"\nDetails:\n", "\nExamples:\n"} {
		if i := strings.Index(help, section); i >= 0 {
			return help[:i]
		}
	}
	return help
}

// describe returns "" when both results are identical, else a readable diff.
func describe(j, l result) string {
	var b strings.Builder
	if j.Code != l.Code {
		fmt.Fprintf(&b, "exit code: juju %d, jujulet %d\n", j.Code, l.Code)
	}
	if j.Stdout != l.Stdout {
		fmt.Fprintf(&b, "stdout:\n  juju:    %q\n  jujulet: %q\n", j.Stdout, l.Stdout)
	}
	if j.Stderr != l.Stderr {
		fmt.Fprintf(&b, "stderr:\n  juju:    %q\n  jujulet: %q\n", j.Stderr, l.Stderr)
	}
	if !slices.Equal(j.Logs, l.Logs) {
		fmt.Fprintf(&b, "juju-log lines:\n  juju:    %q\n  jujulet: %q\n", j.Logs, l.Logs)
	}
	return b.String()
}

// sortedIDs sorts secret-ids' output: the elements of a JSON list, else its lines.
func sortedIDs(out string) string {
	var ids []string
	if json.Unmarshal([]byte(out), &ids) == nil {
		slices.Sort(ids)
		b, _ := json.Marshal(ids) // strings only: cannot fail
		return string(b) + "\n"
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n") + "\n"
}
