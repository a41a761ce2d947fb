package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jujulet/postgresql-k8s/internal/controller/api"
	"github.com/jujulet/postgresql-k8s/internal/controller/client"
)

// serve runs handler on a unix socket and returns the socket's path.
func serve(t *testing.T, handler http.HandlerFunc) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(handler)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return sock
}

// reply answers every call with status and body, recording the requests.
func reply(status int, body string, got *[]api.Request) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req api.Request
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &req); err == nil && got != nil {
			*got = append(*got, req)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func TestCallSendsTypedRequests(t *testing.T) {
	var got []api.Request
	c := client.New(client.Config{Socket: serve(t, reply(200, `{"result":{"application":"b1","charm":"bashcharm","revision":3,"base":"ubuntu@22.04"}}`, &got))})
	d, err := c.Deploy(t.Context(), "rome", api.DeployParams{Charm: "/charms/b", NumUnits: 2})
	if err != nil {
		t.Fatal(err)
	}
	if d != (api.Deployed{Application: "b1", Charm: "bashcharm", Revision: 3, Base: "ubuntu@22.04"}) {
		t.Errorf("deployed = %+v", d)
	}
	if len(got) != 1 || got[0].Method != api.MethodDeploy || got[0].Model != "rome" ||
		string(got[0].Params) != `{"charm":"/charms/b","num-units":2}` {
		t.Errorf("requests = %+v", got)
	}
	if err := c.Scale(t.Context(), "", "b1", 0); err != nil {
		t.Fatal(err)
	}
	// Scale to 0 sends n explicitly: the controller refuses a scale without one.
	if last := got[len(got)-1]; last.Method != api.MethodScale || last.Model != "" || string(last.Params) != `{"app":"b1","n":0}` {
		t.Errorf("scale request = %+v", last)
	}
}

func TestCallErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		check  func(error) bool
		want   string
	}{
		{"error reply", 400, `{"error":"application \"x\" not found","kind":"failed"}`,
			func(err error) bool { return client.IsKind(err, api.KindFailed) }, `application "x" not found`},
		{"bad request", 400, `{"error":"invalid params: missing required field \"app\"","kind":"bad-request"}`,
			func(err error) bool { return client.IsKind(err, api.KindBadRequest) }, `missing required field "app"`},
		{"error from an older controller (no kind, status 200)", 200, `{"error":"boom"}`,
			func(err error) bool { var e *client.Error; return errors.As(err, &e) && e.Status == 200 }, "boom"},
		{"not JSON", 200, `<html>`, func(err error) bool { return err != nil }, "reading controller reply to ping"},
		{"non-200 without an error", 502, `{}`,
			func(err error) bool { var e *client.Error; return errors.As(err, &e) && e.Status == 502 }, "controller replied 502"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := client.New(client.Config{Socket: serve(t, reply(tc.status, tc.body, nil))})
			err := c.Ping(t.Context())
			if err == nil || !tc.check(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Ping() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestCallDecodesResultOrFails(t *testing.T) {
	c := client.New(client.Config{Socket: serve(t, reply(200, `{"result":{"name":7}}`, nil))})
	if _, err := c.CurrentModel(t.Context()); err == nil || !strings.Contains(err.Error(), "decoding the result of current-model") {
		t.Errorf("CurrentModel() with a mistyped result = %v", err)
	}
}

func TestCallValidatesBeforeSending(t *testing.T) {
	var calls atomic.Int32
	c := client.New(client.Config{Socket: serve(t, func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		_, _ = io.WriteString(w, `{}`)
	})})
	tests := []struct {
		name string
		call func(context.Context) error
		want string
	}{
		{"add-model", func(ctx context.Context) error { _, err := c.AddModel(ctx, ""); return err }, `missing required field "name"`},
		{"pod", func(ctx context.Context) error { return c.Pod(ctx, "", "b1/0", "pause") }, `unknown pod operation "pause"`},
		{"scale", func(ctx context.Context) error { return c.Scale(ctx, "", "b1", -1) }, "non-negative"},
		{"action", func(ctx context.Context) error { _, err := c.Action(ctx, 0); return err }, `missing required field "id"`},
		{"run", func(ctx context.Context) error { _, err := c.Run(ctx, "", api.RunParams{Action: "x"}); return err }, `missing required field "targets"`},
	}
	for _, tc := range tests {
		if err := tc.call(t.Context()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d invalid calls reached the controller", n)
	}
}

func TestUnreachable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	errGone := errors.New("no controller")
	var seen error
	c := client.New(client.Config{Socket: sock, Unreachable: func(err error) error { seen = err; return errGone }})
	if err := c.Ping(t.Context()); !errors.Is(err, errGone) || seen == nil {
		t.Errorf("Ping() = %v (hook saw %v), want the hook's error", err, seen)
	}
	if err := client.New(client.Config{Socket: sock}).Ping(t.Context()); err == nil || !strings.Contains(err.Error(), "cannot reach the controller") {
		t.Errorf("Ping() without a hook = %v", err)
	}
}

func TestCallHonoursContext(t *testing.T) {
	release := make(chan struct{})
	c := client.New(client.Config{Socket: serve(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}), Unreachable: func(error) error { return errors.New("hook must not run for a cancelled call") }})
	defer close(release)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- c.Kill(ctx) }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Kill() with a cancelled context = %v", err)
	}
}
