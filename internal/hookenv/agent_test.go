package hookenv_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jujulet/postgresql-k8s/internal/hookenv"
	"github.com/jujulet/postgresql-k8s/internal/hooktools"
	"github.com/jujulet/postgresql-k8s/internal/hooktools/hooktoolstest"
)

// serveAgent runs jujulet's tool server for one hook context of scenario s on a unix
// socket, and returns the hook environment that names it.
func serveAgent(t *testing.T, s *hooktoolstest.Scenario) map[string]string {
	t.Helper()
	dir, err := os.MkdirTemp("", "agent") // unix socket paths are short
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.socket")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	hc := hooktoolstest.NewContext(s)
	srv := hooktools.NewServer(func(id string) (hooktools.Context, bool) { return hc, id == "ctx-1" })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	return map[string]string{
		"JUJU_VERSION": "3.6.11", "JUJU_CONTEXT_ID": "ctx-1",
		"JUJU_AGENT_SOCKET_ADDRESS": sock, "JUJU_AGENT_SOCKET_NETWORK": "unix",
	}
}

// directTools are the hook tools called through a direct connection to the agent env names.
func directTools(t *testing.T, env map[string]string) hookenv.Exec {
	t.Helper()
	agent, err := hookenv.DialAgent(context.Background(), func(k string) string { return env[k] })
	require.NoError(t, err)
	t.Cleanup(func() { _ = agent.Close() })
	return hookenv.Exec{Agent: agent}
}

func scenario() *hooktoolstest.Scenario {
	return &hooktoolstest.Scenario{
		Unit: "pg/0", ModelUUID: "m-1", Leader: true, HookRelation: -1,
		Config: map[string]any{"profile": "testing"},
		Relations: []hooktoolstest.Relation{{ID: 3, Endpoint: "database-peers", RemoteApp: "pg", Peer: true,
			Units: map[string]map[string]string{"pg/0": {"a": "1"}, "pg/1": {"private-address": "10.0.0.2"}}}},
		State: map[string]string{"k": "v"},
		Secrets: []hooktoolstest.Secret{{ID: "secret:cv1t3l7mp25c7fcb3l5g", Label: "app-secret", Owner: "application",
			Revision: 1, Content: map[string]string{"password": "pw"}}},
	}
}

// TestExecThroughAgent runs the typed tools over a direct agent connection against
// jujulet's real tool server: reads, writes (arguments and --file), and a tool's own
// failure, which is a ToolError as from an executable.
func TestExecThroughAgent(t *testing.T) {
	ctx := context.Background()
	x := directTools(t, serveAgent(t, scenario()))

	leader, err := x.IsLeader(ctx)
	require.NoError(t, err)
	assert.True(t, leader)
	cfg, err := x.ConfigGet(ctx)
	require.NoError(t, err)
	assert.Equal(t, "testing", cfg["profile"])
	ids, err := x.RelationIDs(ctx, "database-peers")
	require.NoError(t, err)
	assert.Equal(t, []string{"database-peers:3"}, ids)
	data, err := x.RelationGet(ctx, "database-peers:3", "pg/1", false)
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.2", data["private-address"])

	// Writes: arguments, and a --file the agent reads from the path it is given.
	require.NoError(t, x.StateSet(ctx, map[string]string{"k": "w", "n": "2"}))
	uri, err := x.SecretAdd(ctx, hookenv.SecretAddArgs{Content: map[string]string{"password": "s3cret"}, Label: "l"})
	require.NoError(t, err)
	assert.Contains(t, uri, "secret:")
	got, err := x.SecretGet(ctx, hookenv.SecretGetArgs{Label: "app-secret"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"password": "pw"}, got)

	_, err = x.RelationGet(ctx, "database-peers:99", "pg/1", false)
	var te *hookenv.ToolError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "relation-get", te.Tool)
	assert.NotZero(t, te.ExitCode)
	assert.Contains(t, te.Stderr, "ERROR ")
}

// TestExecThroughAgentConcurrent: the charm reads in parallel rounds; calls sharing one
// connection must each get their own answer.
func TestExecThroughAgentConcurrent(t *testing.T) {
	ctx := context.Background()
	x := directTools(t, serveAgent(t, scenario()))
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			switch i % 2 {
			case 0:
				ids, err := x.RelationIDs(ctx, "database-peers")
				if err == nil && (len(ids) != 1 || ids[0] != "database-peers:3") {
					err = errors.New("relation-ids: " + ids[0])
				}
				errs <- err
			default:
				leader, err := x.IsLeader(ctx)
				if err == nil && !leader {
					err = errors.New("is-leader: false")
				}
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}

// TestDialAgentOnlyWhereKnown: direct calls only for Juju 3 on a unix socket; anywhere
// else the charm runs the tool executables.
func TestDialAgentOnlyWhereKnown(t *testing.T) {
	base := serveAgent(t, scenario())
	cases := []struct {
		name string
		set  map[string]string
	}{
		{"juju 2.9", map[string]string{"JUJU_VERSION": "2.9.49"}},
		{"juju 4", map[string]string{"JUJU_VERSION": "4.0.0"}},
		{"no version", map[string]string{"JUJU_VERSION": ""}},
		{"tcp agent", map[string]string{"JUJU_AGENT_SOCKET_NETWORK": "tcp"}},
		{"no context", map[string]string{"JUJU_CONTEXT_ID": ""}},
		{"no agent listening", map[string]string{"JUJU_AGENT_SOCKET_ADDRESS": "/nonexistent/agent.socket"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.set {
				env[k] = v
			}
			a, err := hookenv.DialAgent(context.Background(), func(k string) string { return env[k] })
			assert.Error(t, err)
			assert.Nil(t, a)
		})
	}
}
