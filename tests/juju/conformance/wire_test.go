package conformance

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/hooktools/toolclient"
)

// The wire half of the suite. TestConformance compares what each tool does; this compares
// how a call travels. Juju's uniter serves hook tools over a socket with a protocol its own
// jujuc binary speaks; jujulet's agent serves the same protocol, and the charm calls the
// agent directly with jujulet's client (toolclient) instead of starting a tool process per
// call. So, on each server, Juju's real one (jujuc.NewServer, as the uniter starts it) and
// jujulet's, every call must print the same through both clients: Juju's jujuc binary and
// toolclient. And the requests a server refuses must be refused in the same words by both.

// wireCall is one tool call of the wire suite, on a server holding the "relation" scenario.
type wireCall struct {
	contextID string // "" is the server's ("conformance")
	tool      string
	args      []string
	stdin     *string
}

func wireCalls() []wireCall {
	a := func(s ...string) []string { return s }
	return []wireCall{
		{tool: "is-leader", args: a()},
		{tool: "config-get", args: a("--format=json")},
		{tool: "relation-ids", args: a("db")},
		{tool: "relation-get", args: a("-", "app/0")},
		{tool: "relation-get", args: a("-r", "99", "-", "app/0")}, // the tool's own error
		{tool: "relation-get", args: a("--nope")},                 // a usage error (code 2)
		{tool: "relation-set", args: a("--file", "-"), stdin: in("k: v\n")},
		{tool: "relation-get", args: a("k")}, // the write above, read back on the same context
		{tool: "state-get", args: a("--format=json")},
		{tool: "juju-log", args: a("-l", "INFO", "a message")},
		{tool: "is-leader", args: a("-h")},
		{tool: "add-metric", args: a("x=1")},               // not a command on Kubernetes
		{contextID: "stale", tool: "is-leader", args: a()}, // a hook that has ended
	}
}

// wireServer runs a driver's serve mode on a fresh socket with the relation scenario and
// returns the socket's path; the server stops when the test ends.
func wireServer(t *testing.T, driver string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wire") // unix socket paths are short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.socket")
	input, err := json.Marshal(doc{"scenario": scenarios()["relation"], "calls": []doc{}})
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command(driver, "serve", sock)
	stdin, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	c.Stderr = &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		if err := c.Wait(); err != nil {
			t.Errorf("%s serve: %v: %s", filepath.Base(driver), err, stderr.String())
		}
	})
	if _, err := stdin.Write(input); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("%s serve: %q %v: %s", filepath.Base(driver), line, err, stderr.String())
	}
	return sock
}

// viaJujuc runs the calls through Juju's jujuc binary, a process per call named after the
// tool, as a charm's hook runs them on Juju.
func viaJujuc(t *testing.T, jujuc, sock string, calls []wireCall) []result {
	t.Helper()
	links := t.TempDir()
	var out []result
	for _, c := range calls {
		link := filepath.Join(links, c.tool)
		if _, err := os.Lstat(link); err != nil {
			if err := os.Symlink(jujuc, link); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(link, c.args...)
		cmd.Env = append(os.Environ(), "JUJU_CONTEXT_ID="+cmp.Or(c.contextID, "conformance"),
			"JUJU_AGENT_SOCKET_ADDRESS="+sock, "JUJU_AGENT_SOCKET_NETWORK=unix")
		if c.stdin != nil {
			cmd.Stdin = strings.NewReader(*c.stdin)
		}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("jujuc %s: %v", c.tool, err)
		}
		out = append(out, result{Code: code, Stdout: stdout.String(), Stderr: stderr.String()})
	}
	return out
}

// viaToolclient runs the calls through jujulet's client, in this process, over one
// connection per context: the way the charm calls its agent.
func viaToolclient(t *testing.T, sock string, calls []wireCall) []result {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	agents := map[string]*toolclient.Agent{}
	defer func() {
		for _, a := range agents {
			_ = a.Close()
		}
	}()
	var out []result
	for _, c := range calls {
		id := cmp.Or(c.contextID, "conformance")
		a := agents[id]
		if a == nil {
			if a, err = toolclient.Dial(context.Background(), toolclient.Endpoint{Network: "unix", Address: sock, ContextID: id}); err != nil {
				t.Fatal(err)
			}
			agents[id] = a
		}
		var stdin io.Reader
		if c.stdin != nil {
			stdin = strings.NewReader(*c.stdin)
		}
		r := toolclient.Printed(a.Call(context.Background(), dir, c.tool, c.args, stdin))
		out = append(out, result{Code: r.Code, Stdout: string(r.Stdout), Stderr: string(r.Stderr)})
	}
	return out
}

func TestWireProtocol(t *testing.T) {
	jujuDriver, _, err := buildJujuDriver()
	if err != nil {
		unavailable(t, err)
	}
	jujuletDriver, err := buildJujuletDriver(t.TempDir())
	if err != nil {
		unavailable(t, err)
	}
	jujuc, err := buildJujuJujuc()
	if err != nil {
		unavailable(t, err)
	}
	calls := wireCalls()
	refusals := map[string]map[string]string{} // server → refused call → stderr
	for _, server := range []struct{ name, driver string }{{"juju", jujuDriver}, {"jujulet", jujuletDriver}} {
		t.Run(server.name+" server", func(t *testing.T) {
			want := viaJujuc(t, jujuc, wireServer(t, server.driver), calls)
			got := viaToolclient(t, wireServer(t, server.driver), calls)
			refusals[server.name] = map[string]string{}
			for i, c := range calls {
				name := fmt.Sprintf("%s %s", c.tool, strings.Join(c.args, " "))
				if c.contextID != "" {
					name = c.contextID + ": " + name
				}
				if want[i].Code != got[i].Code || want[i].Stdout != got[i].Stdout || want[i].Stderr != got[i].Stderr {
					t.Errorf("%s: Juju's jujuc and toolclient differ:\n%s", name, describe(want[i], got[i]))
				}
				if strings.HasPrefix(want[i].Stderr, "ERROR bad request") {
					refusals[server.name][name] = want[i].Stderr
				}
			}
		})
	}
	// The requests refused before any tool runs are a property of the server: jujulet's
	// must refuse the same ones in Juju's words.
	if len(refusals["juju"]) == 0 {
		t.Error("no refused request among the wire calls: the comparison below proves nothing")
	}
	t.Logf("%d refusals compared: %v", len(refusals["juju"]), refusals["juju"])
	for name, msg := range refusals["juju"] {
		if got := refusals["jujulet"][name]; got != msg {
			t.Errorf("%s: Juju's server refuses with %q, jujulet's with %q", name, msg, got)
		}
	}

	// Concurrent calls over one connection, as the charm makes them, on Juju's own server.
	sock := wireServer(t, jujuDriver)
	a, err := toolclient.Dial(context.Background(), toolclient.Endpoint{Network: "unix", Address: sock, ContextID: "conformance"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	outs := make([]string, 24)
	for i := range outs {
		wg.Go(func() {
			tool, args := "is-leader", []string{"--format=json"}
			if i%2 == 1 {
				tool, args = "relation-ids", []string{"db"}
			}
			r := toolclient.Printed(a.Call(ctx, "/", tool, args, nil))
			outs[i] = fmt.Sprintf("%d %s%s", r.Code, r.Stdout, r.Stderr)
		})
	}
	wg.Wait()
	for i, o := range outs {
		want := "0 true\n"
		if i%2 == 1 {
			want = "0 db:12\ndb:2\n"
		}
		if o != want {
			t.Errorf("concurrent call %d on Juju's server: %q, want %q", i, o, want)
		}
	}
}
