package hooktools

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/hooktools/toolclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startServer serves a unit socket in a short temp dir (unix paths are limited to
// 108 bytes) and returns its address; the server stops when the test ends.
func startServer(t *testing.T, contexts map[string]Context) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ht")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	addr := filepath.Join(dir, "agent.socket")
	ln, err := net.Listen("unix", addr)
	require.NoError(t, err)
	var mu sync.Mutex
	srv := NewServer(func(id string) (Context, bool) {
		mu.Lock()
		defer mu.Unlock()
		c, ok := contexts[id]
		return c, ok
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	return addr
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestRoundTrip(t *testing.T) {
	f := newFake().inRelationHook(2, "app/0")
	addr := startServer(t, map[string]Context{"pg-0-relation-changed-123": f})
	env := envOf(map[string]string{
		"JUJU_CONTEXT_ID":           "pg-0-relation-changed-123",
		"JUJU_AGENT_SOCKET_ADDRESS": addr,
		"JUJU_AGENT_SOCKET_NETWORK": "unix",
	})
	cases := []struct {
		name           string
		tool           string
		args           []string
		stdin          string
		code           int
		stdout, stderr string
	}{
		{name: "relation-get", tool: "relation-get", args: []string{"user"}, stdout: "jim\n"},
		{name: "is-leader json", tool: "is-leader", args: []string{"--format=json"}, stdout: "true\n"},
		{name: "relation-ids", tool: "relation-ids", stdout: "db:12\ndb:2\n"},
		{name: "usage error", tool: "relation-get", args: []string{"--nope"}, code: 2, stderr: "ERROR option provided but not defined: --nope\n"},
		{name: "runtime error", tool: "action-get", code: 1, stderr: "ERROR not running an action\n"},
		{name: "stdin file", tool: "relation-set", args: []string{"--file", "-"}, stdin: "k: from-stdin\n"},
		{name: "help", tool: "is-leader", args: []string{"-h"}, stdout: "Usage: is-leader [options]\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := toolclient.Run(tc.tool, tc.args, env, strings.NewReader(tc.stdin), &out, &errb)
			assert.Equal(t, tc.code, code)
			if tc.name == "help" {
				assert.True(t, strings.HasPrefix(out.String(), tc.stdout), out.String())
			} else {
				assert.Equal(t, tc.stdout, out.String())
			}
			assert.Equal(t, tc.stderr, errb.String())
		})
	}
	assert.Equal(t, []string{"rel 2 app=false k=from-stdin"}, f.writes)
}

func TestRoundTripStdinNotReadUnlessAsked(t *testing.T) {
	f := newFake()
	addr := startServer(t, map[string]Context{"c": f})
	env := envOf(map[string]string{"JUJU_CONTEXT_ID": "c", "JUJU_AGENT_SOCKET_ADDRESS": addr})
	var out, errb bytes.Buffer
	// A reader that fails the test if read: relation-get "-" must not consume stdin.
	code := toolclient.Run("leader-get", []string{"-"}, env, failReader{t}, &out, &errb)
	assert.Equal(t, 0, code, errb.String())
	assert.Equal(t, "primary: pg/0\n", out.String())
}

type failReader struct{ t *testing.T }

func (r failReader) Read([]byte) (int, error) {
	r.t.Error("stdin was read")
	return 0, os.ErrClosed
}

func TestRoundTripBadContext(t *testing.T) {
	addr := startServer(t, map[string]Context{"good": newFake()})
	var out, errb bytes.Buffer
	code := toolclient.Run("is-leader", nil, envOf(map[string]string{"JUJU_CONTEXT_ID": "stale", "JUJU_AGENT_SOCKET_ADDRESS": addr}),
		strings.NewReader(""), &out, &errb)
	assert.Equal(t, 1, code)
	assert.Empty(t, out.String())
	assert.Equal(t, "ERROR bad request: wrong context ID; got \"stale\"\n", errb.String())
}

func TestClientOutsideHook(t *testing.T) {
	cases := []struct {
		env    map[string]string
		stderr string
	}{
		{env: map[string]string{}, stderr: "ERROR JUJU_CONTEXT_ID not set\n"},
		{env: map[string]string{"JUJU_CONTEXT_ID": "x"}, stderr: "ERROR JUJU_AGENT_SOCKET_ADDRESS not set\n"},
	}
	for _, tc := range cases {
		var out, errb bytes.Buffer
		code := toolclient.Run("is-leader", nil, envOf(tc.env), strings.NewReader(""), &out, &errb)
		assert.Equal(t, 1, code)
		assert.Equal(t, tc.stderr, errb.String())
	}
	// No agent listening.
	var out, errb bytes.Buffer
	code := toolclient.Run("is-leader", nil, envOf(map[string]string{"JUJU_CONTEXT_ID": "x", "JUJU_AGENT_SOCKET_ADDRESS": "/nonexistent/sock"}),
		strings.NewReader(""), &out, &errb)
	assert.Equal(t, 1, code)
	assert.True(t, strings.HasPrefix(errb.String(), "ERROR cannot connect to the unit agent: "), errb.String())
}

func TestServeStopsWithIdleConnection(t *testing.T) {
	dir, err := os.MkdirTemp("", "ht")
	require.NoError(t, err)
	defer func() { _ = os.RemoveAll(dir) }()
	addr := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", addr)
	require.NoError(t, err)
	srv := NewServer(func(string) (Context, bool) { return nil, false })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	// A client that connects and never sends must not keep Serve from returning.
	conn, err := net.Dial("unix", addr)
	require.NoError(t, err)
	defer func() { _ = conn.Close() }()
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

func dialAgent(t *testing.T, addr, contextID, token string) *toolclient.Agent {
	t.Helper()
	a, err := toolclient.Dial(context.Background(), toolclient.Endpoint{Network: "unix", Address: addr, ContextID: contextID, Token: token})
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// TestAgentRefusals: the requests Juju's Jujuc.Main refuses before running anything are
// refused in its words, and the connection stays usable.
func TestAgentRefusals(t *testing.T) {
	f := newFake()
	addr := startServer(t, map[string]Context{"c": f})
	cases := []struct {
		name, token, dir, tool string
		want                   string
	}{
		{"token", "t0ken", "/", "is-leader", "bad request: token does not match"},
		{"no command", "", "/", "", "bad request: command not specified"},
		{"relative dir", "", "rel", "is-leader", "bad request: Dir is not absolute"},
		{"unknown command", "", "/", "add-metric", "bad request: unknown command: add-metric"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := dialAgent(t, addr, "c", tc.token)
			_, err := a.Call(context.Background(), tc.dir, tc.tool, nil, nil)
			assert.Equal(t, toolclient.ServerError(tc.want), err)
			if tc.token == "" {
				resp, err := a.Call(context.Background(), "/", "is-leader", nil, nil)
				require.NoError(t, err)
				assert.Equal(t, "True\n", string(resp.Stdout))
			}
		})
	}
	// A tool that reads stdin the request did not carry: refused before it ran.
	a := dialAgent(t, addr, "c", "")
	_, err := a.Call(context.Background(), "/", "relation-set", []string{"-r", "db:2", "--file", "-"}, nil)
	assert.Equal(t, toolclient.ServerError(toolclient.NoStdin), err)
}

// TestAgentOversizedRequest: a request over the bound breaks its connection only.
func TestAgentOversizedRequest(t *testing.T) {
	addr := startServer(t, map[string]Context{"c": newFake()})
	a := dialAgent(t, addr, "c", "")
	big := strings.Repeat("x", maxRequestSize+1)
	_, err := a.Call(context.Background(), "/", "juju-log", []string{big}, nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "bad request")
	_, err = a.Call(context.Background(), "/", "is-leader", nil, nil)
	require.Error(t, err, "a broken connection stays broken")
	resp, err := dialAgent(t, addr, "c", "").Call(context.Background(), "/", "is-leader", nil, nil)
	require.NoError(t, err)
	assert.Equal(t, 0, resp.Code)
}

// TestAgentCallCancelled: a call whose context ends returns at once; the connection keeps
// serving the calls after it, as other tool processes would go on after a killed one.
func TestAgentCallCancelled(t *testing.T) {
	f := newFake()
	f.block = make(chan struct{})
	addr := startServer(t, map[string]Context{"c": f})
	a := dialAgent(t, addr, "c", "")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := a.Call(ctx, "/", "is-leader", nil, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	close(f.block) // the agent finishes the abandoned call, then serves the next
	resp, err := a.Call(context.Background(), "/", "config-get", []string{"port"}, nil)
	require.NoError(t, err)
	assert.Equal(t, "5432\n", string(resp.Stdout))
}
