// Package toolclient is the client side of jujulet's hook tools and the wire format they
// share with the unit agent (internal/hooktools serves it). It imports only the standard
// library: every hook tool call starts a process that runs it (cmd/jujuc, or the jujulet
// multi-call binary), and a tool's start cost is mostly the package initialisation of what
// that process links in.
package toolclient

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
)

// Request is one hook tool invocation as it travels over the unit's socket
// (JSON, one request per connection).
type Request struct {
	ContextID string   `json:"context-id"`
	Tool      string   `json:"tool"`
	Args      []string `json:"args"`
	// Dir is the tool's working directory; relative paths (--file, -o) resolve against it.
	Dir string `json:"dir"`
	// StdinSet tells whether Stdin was sent. The client sends stdin only when a
	// first attempt answered NeedStdin (the tool tried to read "-").
	StdinSet bool   `json:"stdin-set,omitempty"`
	Stdin    []byte `json:"stdin,omitempty"`
}

// Response is what the tool printed and its exit code.
type Response struct {
	Code   int    `json:"code"`
	Stdout []byte `json:"stdout,omitempty"`
	Stderr []byte `json:"stderr,omitempty"`
	// NeedStdin: the tool wants stdin and none was sent; nothing ran past the read,
	// resend with StdinSet.
	NeedStdin bool `json:"need-stdin,omitempty"`
}

// Main runs hook tool name with args for the current process: it forwards args, cwd (and
// stdin, when the tool asks for it) to the unit agent named by
// JUJU_AGENT_SOCKET_ADDRESS/JUJU_AGENT_SOCKET_NETWORK for context JUJU_CONTEXT_ID, copies
// the tool's output and returns its exit code.
func Main(name string, args []string) int {
	return Run(name, args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
}

// Run is Main with the process's environment and standard streams passed in.
func Run(name string, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "ERROR "+format+"\n", a...)
		return 1
	}
	contextID := getenv("JUJU_CONTEXT_ID")
	if contextID == "" {
		return fail("JUJU_CONTEXT_ID not set")
	}
	addr := getenv("JUJU_AGENT_SOCKET_ADDRESS")
	if addr == "" {
		return fail("JUJU_AGENT_SOCKET_ADDRESS not set")
	}
	network := getenv("JUJU_AGENT_SOCKET_NETWORK")
	if network == "" {
		network = "unix"
	}
	dir, err := os.Getwd()
	if err != nil {
		return fail("cannot get working directory: %v", err)
	}
	if args == nil {
		args = []string{}
	}
	req := Request{ContextID: contextID, Tool: name, Args: args, Dir: dir}
	resp, err := call(network, addr, req)
	if err == nil && resp.NeedStdin {
		data, rerr := io.ReadAll(stdin)
		if rerr != nil {
			return fail("reading stdin: %v", rerr)
		}
		req.StdinSet, req.Stdin = true, data
		resp, err = call(network, addr, req)
	}
	if err != nil {
		return fail("%v", err)
	}
	_, _ = stdout.Write(resp.Stdout)
	_, _ = stderr.Write(resp.Stderr)
	return resp.Code
}

// call sends one request on a fresh connection and reads the response.
func call(network, addr string, req Request) (Response, error) {
	conn, err := net.Dial(network, addr)
	if err != nil {
		return Response{}, fmt.Errorf("cannot connect to the unit agent: %w", err)
	}
	defer func() { _ = conn.Close() }()
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return Response{}, fmt.Errorf("sending request to the unit agent: %w", err)
	}
	var resp Response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		return Response{}, fmt.Errorf("reading response from the unit agent: %w", err)
	}
	return resp, nil
}
