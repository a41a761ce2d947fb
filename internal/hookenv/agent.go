package hookenv

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/hooktools/toolclient"
)

// DialAgent connects to the running hook's unit agent for direct tool calls (Exec.Agent):
// a tool call then costs one round trip on the agent's socket instead of a process start
// (≈3 ms of CPU each for a Go tool binary, more than the call itself).
//
// The protocol is the one Juju's jujuc speaks, which the agent serves for its own tool
// binaries; it is internal to Juju, so it is used only where it is known: a unix socket
// (a hook running next to its agent, as a Kubernetes charm's do) and Juju 3.x, whose
// protocol the conformance suite checks against Juju's own server (tests/juju). Anywhere
// else DialAgent says why not, and the caller runs the tool executables as before.
func DialAgent(ctx context.Context, getenv func(string) string) (*toolclient.Agent, error) {
	if v := getenv("JUJU_VERSION"); !knownToolProtocol(v) {
		return nil, fmt.Errorf("direct hook tool calls: Juju %q: protocol not known", v)
	}
	ep, err := toolclient.EndpointFromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("direct hook tool calls: %w", err)
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	a, err := toolclient.Dial(dctx, ep)
	if err != nil {
		return nil, fmt.Errorf("direct hook tool calls: %w", err)
	}
	return a, nil
}

// knownToolProtocol reports whether Juju version v (JUJU_VERSION) serves hook tools with
// the protocol toolclient speaks: Juju 3.
func knownToolProtocol(v string) bool {
	major, _, ok := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	return ok && err == nil && n == 3
}

// call runs tool through the agent connection, in this process.
func (x Exec) call(ctx context.Context, tool string, args []string) ([]byte, error) {
	// Relative arguments resolve against this process's directory, as for an executable.
	dir, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("run %s: working directory: %w", tool, err)
	}
	start := time.Now()
	resp, err := x.Agent.Call(ctx, dir, tool, args, nil)
	if x.Trace != nil {
		code := resp.Code
		if err != nil {
			code = 1 // what jujuc exits with for a failed request
		}
		x.Trace.Call(tool, start, code)
	}
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", tool, err)
	}
	if resp.Code != 0 {
		return nil, &ToolError{Tool: tool, ExitCode: resp.Code, Stderr: string(resp.Stderr)}
	}
	return resp.Stdout, nil
}
