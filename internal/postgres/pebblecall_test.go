package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canonical/pebble/client"
)

// stalledPebble is a unix socket that accepts connections and never answers, like a Pebble
// that hangs. Each accepted connection is reported on the channel, so that a test can see it
// cut off.
func stalledPebble(t *testing.T) (string, <-chan net.Conn) {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "pebble.socket")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		for {
			select {
			case c := <-accepted:
				_ = c.Close()
			default:
				return
			}
		}
	})
	return socket, accepted
}

func stalledWorkload(t *testing.T) (*Workload, <-chan net.Conn) {
	t.Helper()
	socket, accepted := stalledPebble(t)
	pc, guard, err := newPebbleClient(socket)
	if err != nil {
		t.Fatal(err)
	}
	return &Workload{Pebble: pc, Root: "/", Mount: MountPath, BinDir: "/usr/lib/postgresql/17/bin", guard: guard}, accepted
}

func TestPebbleCallsOnStalledPebble(t *testing.T) {
	const bound = 300 * time.Millisecond
	tests := []struct {
		name string
		call func(ctx context.Context, w *Workload) error
	}{
		{"read file", func(ctx context.Context, w *Workload) error { _, err := w.ReadFile(ctx, "/etc/hostname"); return err }},
		{"stat", func(ctx context.Context, w *Workload) error { _, err := w.Exists(ctx, "/x"); return err }},
		{"service status", func(ctx context.Context, w *Workload) error { _, err := w.ServiceStatus(ctx); return err }},
		{"exec", func(ctx context.Context, w *Workload) error { _, err := w.ControlData(ctx); return err }},
		{"start", func(ctx context.Context, w *Workload) error { return w.Start(ctx) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, accepted := stalledWorkload(t)
			ctx, cancel := context.WithTimeout(context.Background(), bound)
			defer cancel()
			err := within(t, 30*time.Second, func() error { return tt.call(ctx, w) })
			var pe *PebbleTimeoutError
			if !errors.As(err, &pe) || pe.Socket != w.guard.socket || pe.Bound > bound || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("want a PebbleTimeoutError naming the socket and a bound within %v, got %v", bound, err)
			}
			if testing.Verbose() {
				t.Log(err)
			}
			// The stalled connection was closed, not left to the next call.
			c := <-accepted
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.Copy(io.Discard, c); err != nil {
				t.Fatalf("the call's connection is still open: %v", err)
			}
		})
	}
}

// Without a caller deadline, the call's own bound ends it.
func TestPebbleCallBound(t *testing.T) {
	w, _ := stalledWorkload(t)
	err := within(t, 30*time.Second, func() error {
		return w.pebble(context.Background(), "pebble system-info", 200*time.Millisecond, func(pc *client.Client) error {
			_, err := pc.SysInfo()
			return err
		})
	})
	var pe *PebbleTimeoutError
	if !errors.As(err, &pe) || pe.Bound != 200*time.Millisecond || pe.Call != "pebble system-info" {
		t.Fatalf("want the call's bound, got %v", err)
	}
	// Right after, the client refuses to dial the stalled Pebble (the abandoned call's own
	// retries end at once instead of stalling again).
	if _, err := w.guard.dial("unix", ""); err == nil || !strings.Contains(err.Error(), "cut off") {
		t.Fatalf("dial right after a cut-off: %v", err)
	}
	// A cancelled context is a cancellation, not a stalled Pebble.
	w, _ = stalledWorkload(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	err = within(t, 30*time.Second, func() error {
		return w.pebble(ctx, "pebble system-info", time.Minute, func(pc *client.Client) error { _, err := pc.SysInfo(); return err })
	})
	if !errors.Is(err, context.Canceled) || errors.As(err, &pe) {
		t.Fatalf("want the cancellation, got %v", err)
	}
}

// A missing socket still reads as a container that is not there.
func TestPebbleMissingSocket(t *testing.T) {
	pc, guard, err := newPebbleClient(filepath.Join(t.TempDir(), "none.socket"))
	if err != nil {
		t.Fatal(err)
	}
	w := &Workload{Pebble: pc, Root: "/", guard: guard}
	_, err = w.ReadFile(context.Background(), "/x")
	var sne *client.SocketNotFoundError
	if !errors.As(err, &sne) {
		t.Fatalf("want the socket not found, got %v", err)
	}
}
