package controller

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/pidfile"
)

// TestSecondDaemonRefused: a second daemon on the same home refuses to start and changes
// nothing of the one that runs; its socket is in a directory of mode 0700.
func TestSecondDaemonRefused(t *testing.T) {
	home := t.TempDir()
	cfg := Config{Home: home, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- Run(ctx, cfg) }()
	defer func() {
		cancel()
		if err := <-first; err != nil {
			t.Errorf("first daemon: %v", err)
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(SocketPath(home)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first daemon did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	info, err := os.Stat(filepath.Dir(SocketPath(home)))
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("socket directory: %v %v, want mode 0700", info.Mode(), err)
	}
	pid := pidfile.Read(PidPath(home), func([]string) bool { return true })
	if pid != os.Getpid() {
		t.Errorf("pid file %d, want %d", pid, os.Getpid())
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	err = Run(sctx, cfg)
	// (The message names no pid here: the test binary is not a controller-daemon.)
	if err == nil || !strings.Contains(err.Error(), "a controller already runs in "+home) {
		t.Fatalf("second daemon: %v, want it refused", err)
	}
	// The first one still serves.
	if _, err := os.Stat(SocketPath(home)); err != nil {
		t.Errorf("the first daemon's socket: %v", err)
	}
}

func TestIsDaemon(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want bool
	}{
		{[]string{"/usr/bin/jujulet", "controller-daemon"}, true},
		{[]string{"/usr/bin/jujulet", "status"}, false},
		{[]string{"controller-daemon"}, false},
		{[]string{"sleep", "600"}, false},
	} {
		if got := IsDaemon(tc.argv); got != tc.want {
			t.Errorf("IsDaemon(%q) = %v", tc.argv, got)
		}
	}
}

// TestAPIServerDropsStalledClients: a client that sends part of a request and stalls is
// disconnected after the header timeout.
func TestAPIServerDropsStalledClients(t *testing.T) {
	srv := newAPIServer(http.NotFoundHandler())
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 {
		t.Fatalf("unbounded server: %+v", srv)
	}
	srv.ReadHeaderTimeout = 200 * time.Millisecond // the behaviour, quicker
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("POST /call HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Errorf("the stalled connection was not closed by the server: %v", err)
	}
}
