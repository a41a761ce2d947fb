// Package toolclient is the client side of the unit agent's hook-tool socket. It speaks the
// protocol Juju's own jujuc speaks to the uniter (internal/worker/uniter/runner/jujuc in Juju
// 3.6): net/rpc with its default gob encoding, one method, Jujuc.Main, taking a Request and
// answering a Response. jujulet's agent serves the same protocol (internal/hooktools), so
// the same client works against either.
//
// Two kinds of caller use it: cmd/jujuc (what hook tools are symlinks to, one process per
// call, see Main) and a charm that calls the agent directly from its own process (Agent),
// which saves a process start per call. It imports only the standard library: every hook
// tool process links it, and a tool's start cost is mostly the package initialisation of
// what that process links in.
package toolclient

import (
	"bufio"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"sync"
)

// Request is one hook tool invocation, as Juju's jujuc sends it. Its field names are the
// wire format (gob matches fields by name): they must stay Juju's.
type Request struct {
	ContextId   string //nolint:revive // Juju's wire name
	Dir         string // the tool's working directory: relative paths (--file, -o) resolve against it
	CommandName string
	Args        []string
	// StdinSet tells whether Stdin was sent (an empty stdin is still one). A client sends
	// stdin only when a first attempt failed with NoStdin (the tool tried to read "-").
	StdinSet bool
	Stdin    []byte
	// Token is JUJU_AGENT_TOKEN: empty for hooks that run next to their agent, as a
	// Kubernetes charm's do.
	Token string
}

// Response is what the tool printed and its exit code (Juju's exec.ExecResponse).
type Response struct {
	Code   int
	Stdout []byte
	Stderr []byte
}

// ServiceMethod is the one method the agent serves.
const ServiceMethod = "Jujuc.Main"

// NoStdin is the error text the agent answers with when the tool read stdin and the request
// carried none: nothing ran past the read, and the client resends with stdin.
const NoStdin = "hook tool requires stdin, none supplied"

// Endpoint says which agent serves a hook's tools and for which hook context: the
// JUJU_AGENT_SOCKET_* and JUJU_CONTEXT_ID variables of the hook's environment.
type Endpoint struct {
	Network, Address string
	ContextID        string
	Token            string
}

// EndpointFromEnv reads the Endpoint of the running hook. Its errors are the ones jujuc
// prints when a tool runs outside a hook.
func EndpointFromEnv(getenv func(string) string) (Endpoint, error) {
	ep := Endpoint{
		ContextID: getenv("JUJU_CONTEXT_ID"),
		Address:   getenv("JUJU_AGENT_SOCKET_ADDRESS"),
		Network:   getenv("JUJU_AGENT_SOCKET_NETWORK"),
		Token:     getenv("JUJU_AGENT_TOKEN"),
	}
	switch {
	case ep.ContextID == "":
		return ep, errors.New("JUJU_CONTEXT_ID not set")
	case ep.Address == "":
		return ep, errors.New("JUJU_AGENT_SOCKET_ADDRESS not set")
	}
	if ep.Network == "" {
		ep.Network = "unix"
	}
	return ep, nil
}

// Agent is one connection to the unit agent's tool socket. Calls may be concurrent: they
// share the connection (the protocol numbers them), and the agent runs one tool at a time.
type Agent struct {
	ep   Endpoint
	conn net.Conn

	sendMu sync.Mutex // one request on the wire at a time
	enc    *gob.Encoder
	out    *bufio.Writer

	mu      sync.Mutex
	seq     uint64
	pending map[uint64]chan result
	err     error // set once the connection is gone: every later call fails with it
}

// The net/rpc message headers, as net/rpc's gob codec writes them (gob matches by field
// name). net/rpc itself is not used here: it links net/http, which would slow every
// tool process's start.
type (
	requestHeader struct {
		ServiceMethod string
		Seq           uint64
	}
	responseHeader struct {
		ServiceMethod string
		Seq           uint64
		Error         string
	}
)

type result struct {
	resp Response
	err  error
}

// ServerError is a request the agent refused, with its words (jujuc prints them after
// "ERROR "): a bad request, or NoStdin.
type ServerError string

func (e ServerError) Error() string { return string(e) }

// Dial connects to the agent of ep. Only a unix socket is dialled: over tcp Juju's jujuc
// also speaks TLS with the agent's CA, which is not this package's job.
func Dial(ctx context.Context, ep Endpoint) (*Agent, error) {
	if ep.Network != "unix" {
		return nil, fmt.Errorf("cannot connect to the unit agent: network %q is not supported", ep.Network)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, ep.Network, ep.Address)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to the unit agent: %w", err)
	}
	out := bufio.NewWriter(conn)
	a := &Agent{ep: ep, conn: conn, enc: gob.NewEncoder(out), out: out, pending: map[uint64]chan result{}}
	go a.receive(gob.NewDecoder(bufio.NewReader(conn)))
	return a, nil
}

// Close closes the connection; calls in flight fail.
func (a *Agent) Close() error {
	a.fail(errClosed)
	return a.conn.Close()
}

var errClosed = errors.New("connection to the unit agent closed")

// fail ends every pending call, and every later one, with err (the first error sticks).
func (a *Agent) fail(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err == nil {
		a.err = err
	}
	for seq, ch := range a.pending {
		ch <- result{err: a.err}
		delete(a.pending, seq)
	}
}

// receive reads responses and hands each to its call, until the connection breaks.
func (a *Agent) receive(dec *gob.Decoder) {
	for {
		var h responseHeader
		if err := dec.Decode(&h); err != nil {
			a.fail(fmt.Errorf("reading from the unit agent: %w", err))
			return
		}
		var r result
		if h.Error != "" {
			r.err = ServerError(h.Error)
			if err := dec.DecodeValue(reflect.Value{}); err != nil { // discard the refusal's empty body
				a.fail(fmt.Errorf("reading from the unit agent: %w", err))
				return
			}
		} else if err := dec.Decode(&r.resp); err != nil {
			a.fail(fmt.Errorf("reading from the unit agent: %w", err))
			return
		}
		a.mu.Lock()
		ch, ok := a.pending[h.Seq]
		delete(a.pending, h.Seq)
		a.mu.Unlock()
		if ok {
			ch <- r
		}
	}
}

// Call runs tool with args in dir (absolute) and returns what it printed and its exit code.
// stdin is read, whole, only if the tool asks for it; nil means there is none, and such a
// tool then fails with NoStdin. An error is a request the agent refused (ServerError) or a
// broken connection; the tool's own failures are a non-zero Code with its stderr. When ctx
// ends first, Call returns its error at once and the call is abandoned, as a killed jujuc
// process would abandon it: the agent may still run the tool.
func (a *Agent) Call(ctx context.Context, dir, tool string, args []string, stdin io.Reader) (Response, error) {
	if args == nil {
		args = []string{}
	}
	req := Request{ContextId: a.ep.ContextID, Dir: dir, CommandName: tool, Args: args, Token: a.ep.Token}
	resp, err := a.call(ctx, req)
	if err == ServerError(NoStdin) && stdin != nil {
		data, rerr := io.ReadAll(stdin)
		if rerr != nil {
			return Response{}, fmt.Errorf("cannot read stdin: %w", rerr)
		}
		req.StdinSet, req.Stdin = true, data
		resp, err = a.call(ctx, req)
	}
	return resp, err
}

func (a *Agent) call(ctx context.Context, req Request) (Response, error) {
	ch := make(chan result, 1)
	a.mu.Lock()
	if a.err != nil {
		a.mu.Unlock()
		return Response{}, a.err
	}
	a.seq++
	seq := a.seq
	a.pending[seq] = ch
	a.mu.Unlock()

	a.sendMu.Lock()
	err := a.enc.Encode(requestHeader{ServiceMethod: ServiceMethod, Seq: seq})
	if err == nil {
		err = a.enc.Encode(req)
	}
	if err == nil {
		err = a.out.Flush()
	}
	a.sendMu.Unlock()
	if err != nil {
		a.fail(fmt.Errorf("writing to the unit agent: %w", err))
		_ = a.conn.Close()
	}
	select {
	case r := <-ch:
		return r.resp, r.err
	case <-ctx.Done():
		// Abandon this call only, as killing a jujuc process would: the agent may still run
		// the tool, its answer is dropped, and the connection serves the next calls.
		a.mu.Lock()
		delete(a.pending, seq)
		a.mu.Unlock()
		return Response{}, fmt.Errorf("%s: %w", req.CommandName, ctx.Err())
	}
}

// Printed is what jujuc prints for a call's outcome: the tool's output and code, or, for a
// request that failed, "ERROR " and the error on stderr with exit code 1.
func Printed(resp Response, err error) Response {
	if err != nil {
		return Response{Code: 1, Stderr: []byte("ERROR " + err.Error() + "\n")}
	}
	return resp
}

// Main runs hook tool name with args for the current process, as Juju's jujuc does: it
// forwards args and cwd (and stdin, when the tool asks for it) to the hook's agent, copies
// the tool's output and returns its exit code.
func Main(name string, args []string) int {
	return Run(name, args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
}

// Run is Main with the process's environment and standard streams passed in.
func Run(name string, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "ERROR %v\n", err)
		return 1
	}
	ep, err := EndpointFromEnv(getenv)
	if err != nil {
		return fail(err)
	}
	dir, err := os.Getwd()
	if err != nil {
		return fail(fmt.Errorf("cannot get working directory: %w", err))
	}
	ctx := context.Background()
	agent, err := Dial(ctx, ep)
	if err != nil {
		return fail(err)
	}
	defer func() { _ = agent.Close() }()
	resp := Printed(agent.Call(ctx, dir, name, args, stdin))
	_, _ = stdout.Write(resp.Stdout)
	_, _ = stderr.Write(resp.Stderr)
	return resp.Code
}
