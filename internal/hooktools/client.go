package hooktools

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
)

// RunTool is the client side of a hook tool, run by the multi-call binary when it is
// invoked as tool name: it forwards args, cwd (and stdin, when the tool asks for it)
// to the unit agent named by JUJU_AGENT_SOCKET_ADDRESS/JUJU_AGENT_SOCKET_NETWORK
// for context JUJU_CONTEXT_ID, copies the tool's output and returns its exit code.
func RunTool(name string, args []string) int {
	return runTool(name, args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
}

func runTool(name string, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
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
