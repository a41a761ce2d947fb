package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/controller"
	"github.com/jujulet/postgresql-k8s/internal/controller/client"
)

// startController runs a controller daemon in-process on a fresh home (no units are
// deployed, so no Pebble is needed) and returns the home.
func startController(t *testing.T) string {
	t.Helper()
	home, err := os.MkdirTemp("", "jlcli")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- controller.Run(ctx, controller.Config{Home: home, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		os.RemoveAll(home)
	})
	c := client.New(client.Config{Socket: controller.SocketPath(home)})
	for c.Ping(t.Context()) != nil {
		select {
		case err := <-done:
			t.Fatalf("controller stopped: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return home
}

// cliRun runs one command line against home; it fails the test if the command hangs.
func cliRun(t *testing.T, home string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Home: home,
		Getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- e.Run(ctx, args) }()
	select {
	case code = <-done:
	case <-time.After(time.Minute):
		cancel()
		t.Fatalf("jujulet %s hangs", strings.Join(args, " "))
	}
	return out.String(), errb.String(), code
}

// TestBadInput runs every verb with unknown options, bad names and missing models: each
// gets Juju's error text and exit code (2 for bad usage, 1 for what fails while running),
// none panics or hangs, and none changes anything.
func TestBadInput(t *testing.T) {
	home := startController(t)
	if _, errs, code := cliRun(t, home, "add-model", "rome"); code != 0 {
		t.Fatalf("add-model rome: %d %s", code, errs)
	}
	const notFound = "model jujulet:admin/nosuch not found"
	tests := []struct {
		args    []string
		code    int
		wantErr string
	}{
		{[]string{"bootstrap", "--bogus"}, 2, "option provided but not defined: --bogus"},
		{[]string{"bootstrap", "a", "b", "c"}, 2, `unrecognized args: ["c"]`},
		{[]string{"kill-controller", "--bogus"}, 2, "option provided but not defined: --bogus"},
		{[]string{"destroy-controller", "-x"}, 2, "option provided but not defined: -x"},
		{[]string{"add-model", "--bogus", "x"}, 2, "option provided but not defined: --bogus"},
		{[]string{"add-model"}, 2, "model name is required"},
		{[]string{"add-model", "Bad_Model"}, 2, `"Bad_Model" is not a valid name: model names may only contain lowercase letters, digits and hyphens`},
		{[]string{"models", "--bogus"}, 2, "option provided but not defined: --bogus"},
		{[]string{"models", "--format", "xml"}, 2, `invalid value "xml" for option --format`},
		{[]string{"switch", "nosuch"}, 1, `"nosuch" is not the name of a model or controller`},
		{[]string{"switch", "--bogus"}, 2, "option provided but not defined: --bogus"},
		{[]string{"destroy-model", "nosuch", "--no-prompt"}, 1, notFound},
		{[]string{"destroy-model"}, 2, "no model specified"},
		{[]string{"destroy-model", "rome", "--destroy-storage", "--release-storage"}, 2, "--destroy-storage and --release-storage cannot both be specified"},
		{[]string{"destroy-model", "rome", "--no-wait"}, 2, "--no-wait without --force not valid"},
		{[]string{"destroy-model", "rome", "--timeout", "1s"}, 2, "--timeout can only be used with --force (dangerous)"},
		{[]string{"model-config", "-m", "nosuch"}, 1, notFound},
		{[]string{"model-config", "--bogus"}, 2, "option provided but not defined: --bogus"},
		{[]string{"model-config", "-m", "rome", "a", "b"}, 2, "cannot specify multiple keys to get"},
		{[]string{"deploy", "-m", "rome"}, 2, "no charm or bundle specified"},
		{[]string{"deploy", "-m", "rome", "/nonexistent/charm", "Bad_App"}, 2, `invalid application name "Bad_App"`},
		{[]string{"deploy", "-m", "rome", "--bogus", "x"}, 2, "option provided but not defined: --bogus"},
		{[]string{"deploy", "-m", "rome", "x", "-n", "0"}, 2, "--num-units must be a positive integer"},
		{[]string{"deploy", "-m", "nosuch", "/nonexistent/charm"}, 1, `charm or bundle not found: "/nonexistent/charm"`},
		{[]string{"add-unit", "-m", "rome", "Bad!"}, 2, `invalid application name "Bad!"`},
		{[]string{"add-unit", "-m", "rome"}, 2, "no application specified"},
		{[]string{"add-unit", "-m", "rome", "db", "-n", "0"}, 2, "--num-units must be a positive integer"},
		{[]string{"add-unit", "-m", "nosuch", "db"}, 1, notFound},
		{[]string{"remove-unit", "-m", "rome", "db/0", "--destroy-storage"}, 2, "k8s models only support --num-units"},
		{[]string{"remove-unit", "-m", "rome"}, 2, "no application specified"},
		{[]string{"remove-unit", "-m", "rome", "db/x"}, 2, `application name "db/x" not valid`},
		{[]string{"remove-unit", "-m", "rome", "db"}, 2, "specify the number of units (> 0) to remove using --num-units"},
		{[]string{"remove-unit", "-m", "rome", "db/0", "--num-units", "1"}, 2, "k8s models do not support removing named units."},
		{[]string{"remove-unit", "-m", "rome", "db/0"}, 1, `unit "db/0" not found`},
		{[]string{"remove-unit", "-m", "nosuch", "db/0"}, 1, notFound},
		{[]string{"remove-unit", "--bogus"}, 2, "option provided but not defined: --bogus"},
		{[]string{"scale-application", "-m", "rome"}, 2, "no application specified"},
		{[]string{"scale-application", "-m", "rome", "Bad!", "1"}, 2, `invalid application name "Bad!"`},
		{[]string{"scale-application", "-m", "rome", "db"}, 2, "no scale specified"},
		{[]string{"scale-application", "-m", "rome", "db", "-1"}, 2, "option provided but not defined: -1"},
		{[]string{"scale-application", "-m", "rome", "db", "x"}, 2, "scale must be a positive integer"},
		{[]string{"scale-application", "-m", "nosuch", "db", "1"}, 1, notFound},
		{[]string{"config", "-m", "rome"}, 2, "no application name specified"},
		{[]string{"config", "-m", "rome", "Bad!"}, 2, `invalid application name "Bad!"`},
		{[]string{"config", "-m", "rome", "db", "a", "b"}, 2, "cannot specify multiple keys to get"},
		{[]string{"config", "-m", "nosuch", "db"}, 1, notFound},
		{[]string{"trust", "-m", "rome"}, 2, "no application name specified"},
		{[]string{"trust", "-m", "rome", "Bad!"}, 2, `invalid application name "Bad!"`},
		{[]string{"trust", "-m", "nosuch", "db"}, 1, notFound},
		{[]string{"refresh", "-m", "rome"}, 2, "no application specified"},
		{[]string{"refresh", "-m", "rome", "Bad!", "--path", "x"}, 2, `invalid application name "Bad!"`},
		{[]string{"refresh", "--bogus"}, 2, "option provided but not defined: --bogus"},
		{[]string{"remove-saas", "-m", "rome"}, 2, "no SAAS application names specified"},
		{[]string{"remove-saas", "-m", "rome", "Bad!"}, 2, `invalid SAAS application name "Bad!"`},
		{[]string{"remove-saas", "-m", "nosuch", "pg"}, 1, notFound},
		{[]string{"integrate", "-m", "rome", "a"}, 2, "an integration must involve two applications"},
		{[]string{"integrate", "-m", "rome", "a:Bad!", "b"}, 2, `endpoint "a:Bad!" not valid`},
		{[]string{"integrate", "-m", "nosuch", "a", "b"}, 1, notFound},
		{[]string{"relate", "--bogus"}, 2, "option provided but not defined: --bogus"},
		{[]string{"remove-relation", "-m", "rome", "x"}, 2, `relation ID "x" not valid`},
		{[]string{"remove-relation", "-m", "rome", "Bad!", "b"}, 2, `application name "Bad!" not valid`},
		{[]string{"remove-relation", "-m", "nosuch", "a", "b"}, 1, notFound},
		{[]string{"remove-application", "-m", "rome"}, 2, "no application specified"},
		{[]string{"remove-application", "-m", "rome", "Bad!"}, 2, `invalid application name "Bad!"`},
		{[]string{"remove-application", "-m", "rome", "db", "--no-wait"}, 2, "--no-wait without --force not valid"},
		{[]string{"remove-application", "-m", "rome", "db"}, 1, `removing application db failed: application "db" not found`},
		{[]string{"remove-application", "-m", "nosuch", "db"}, 1, notFound},
		{[]string{"offer", "-m", "rome"}, 2, "an offer must at least specify application endpoint"},
		{[]string{"offer", "-m", "nosuch", "db:db"}, 1, notFound},
		{[]string{"offers", "-m", "rome", "a", "b"}, 2, `unrecognized args: ["b"]`},
		{[]string{"offers", "-m", "nosuch"}, 1, notFound},
		{[]string{"list-offers", "--format", "xml"}, 2, `invalid value "xml" for option --format`},
		{[]string{"consume", "-m", "rome"}, 2, "no remote offer specified"},
		{[]string{"consume", "-m", "rome", "admin/x.y", "Bad!"}, 2, `invalid application name "Bad!"`},
		{[]string{"consume", "-m", "nosuch", "admin/rome.pg"}, 1, notFound},
		{[]string{"run", "-m", "rome"}, 2, "no unit specified"},
		{[]string{"run", "-m", "rome", "Bad!"}, 2, `invalid unit or action name "Bad!"`},
		{[]string{"run", "-m", "rome", "db/0"}, 2, "no action specified"},
		{[]string{"run", "-m", "rome", "db/0", "pg/1", "act"}, 2, "all units must be of the same application"},
		{[]string{"run", "-m", "rome", "db/0", "act", "novalue"}, 2, `argument "novalue" must be of the form key.key.key...=value`},
		{[]string{"run", "-m", "rome", "db/0", "act", "Bad=1"}, 2, `key "Bad" must start and end with lowercase alphanumeric`},
		{[]string{"run", "-m", "rome", "db/0", "act", "--background", "--wait", "1s"}, 2, "cannot specify both --wait and --background"},
		{[]string{"run", "-m", "rome", "db/0", "act", "--format", "xml"}, 2, `invalid value "xml" for option --format`},
		{[]string{"run", "-m", "rome", "db/0", "act", "k=[unclosed"}, 1, "yaml:"},
		{[]string{"run", "-m", "rome", "db/0", "act"}, 1, `unit "db/0" not found`},
		{[]string{"run", "-m", "nosuch", "db/0", "act"}, 1, notFound},
		{[]string{"show-task"}, 2, "no task ID specified"},
		{[]string{"show-task", "x"}, 2, `task ID "x" not valid`},
		{[]string{"show-task", "99999"}, 1, "action 99999 not found"},
		{[]string{"show-operation", "--bogus"}, 2, "option provided but not defined: --bogus"},
		{[]string{"show-operation"}, 2, "no operation ID specified"},
		{[]string{"show-operation", "x"}, 2, `operation ID "x" not valid`},
		{[]string{"show-operation", "99999"}, 1, "operation 99999 not found"},
		{[]string{"status", "-m", "nosuch"}, 1, notFound},
		{[]string{"status", "--format", "xml"}, 2, `invalid value "xml" for option --format`},
		{[]string{"status", "--bogus"}, 2, "option provided but not defined: --bogus"},
		{[]string{"show-unit", "-m", "rome"}, 2, "an unit name must be supplied"},
		{[]string{"show-unit", "-m", "rome", "Bad!"}, 2, `unit name "Bad!" not valid`},
		{[]string{"show-unit", "-m", "nosuch", "db/0"}, 1, notFound},
		{[]string{"debug-log", "-m", "nosuch", "--no-tail"}, 1, notFound},
		{[]string{"debug-log", "--level", "LOUD"}, 2, `level value "LOUD" is not one of`},
		{[]string{"debug-log", "--tail", "--no-tail"}, 2, "setting --tail and --no-tail not valid"},
		{[]string{"wait-for", "machine", "0"}, 2, "unrecognized command: juju wait-for machine"},
		{[]string{"wait-for", "unit", "Bad!"}, 2, `"Bad!" is not a valid unit name`},
		{[]string{"wait-for", "application", "db", "-m", "nosuch", "--timeout", "1s"}, 1, notFound},
		{[]string{"ssh", "-m", "rome"}, 2, "no target name specified"},
		{[]string{"ssh", "-m", "nosuch", "db/0", "true"}, 1, notFound},
		{[]string{"resolve", "-m", "rome"}, 2, "no unit specified"},
		{[]string{"resolve", "-m", "rome", "Bad!"}, 2, `unit name "Bad!" not valid`},
		{[]string{"resolved", "-m", "rome", "--all", "db/0"}, 2, "specifying unit names(s) with --all not supported"},
		{[]string{"resolve", "-m", "nosuch", "db/0"}, 1, notFound},
		{[]string{"pod", "-m", "rome", "explode", "db/0"}, 2, `unknown pod operation "explode"`},
		{[]string{"pod", "-m", "rome", "kill", "Bad!"}, 2, `unit name "Bad!" not valid`},
		{[]string{"pod", "-m", "nosuch", "kill", "db/0"}, 1, notFound},
		{[]string{"version", "--bogus"}, 2, "option provided but not defined: --bogus"},
		{[]string{"no-such-verb"}, 2, `juju: "no-such-verb" is not a juju command`},
	}
	covered := map[string]bool{}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, errs, code := cliRun(t, home, tc.args...)
			if code != tc.code || !strings.Contains(errs, "ERROR "+tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want %d and ERROR %q", code, errs, tc.code, tc.wantErr)
			}
		})
		covered[tc.args[0]] = true
	}
	for verb := range commands() {
		if !covered[verb] {
			t.Errorf("verb %q has no bad-input case", verb)
		}
	}
	// Nothing changed: rome is still the one model, empty.
	out, errs, code := cliRun(t, home, "models", "--format", "json")
	if code != 0 || strings.Count(out, `"short-name"`) != 1 || !strings.Contains(out, `"short-name":"rome"`) {
		t.Errorf("models after bad input: %d %s %s", code, out, errs)
	}
	out, _, _ = cliRun(t, home, "status", "-m", "rome", "--format", "json")
	if !strings.Contains(out, `"applications":{}`) {
		t.Errorf("rome's status after bad input: %s", out)
	}
}
