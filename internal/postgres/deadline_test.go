package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jujulet/postgresql-k8s/internal/postgres/pgtest"
)

// within runs f and fails the test if it has not returned by bound (the test's own
// deadline for "it did not hang"; how fast it returned is measured by no test).
func within[T any](t *testing.T, bound time.Duration, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(bound):
		t.Fatalf("still waiting after %v: hung on a stalled peer", bound)
		panic("unreachable")
	}
}

func TestConnectStalledPeer(t *testing.T) {
	a, err := net.ResolveTCPAddr("tcp", pgtest.StalledPeer(t, context.Background(), "127.0.0.1:0", pgtest.StallAtOnce))
	if err != nil {
		t.Fatal(err)
	}
	host, port := a.IP.String(), a.Port
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		// A context without a deadline: the connect timeout bounds it.
		{"no deadline", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }},
		// The caller's shorter bound wins.
		{"caller deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 300*time.Millisecond)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			err := within(t, ConnectTimeout+10*time.Second, func() error {
				conn, err := Connect(ctx, host, port, PasswordLogin("operator", "pw"), "postgres", nil)
				if err == nil {
					_ = conn.Close(context.Background())
				}
				return err
			})
			if err == nil {
				t.Fatal("connected to a peer that never answers")
			}
			addr := net.JoinHostPort(host, strconv.Itoa(port))
			if !IsTimeout(err) || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "timeout") {
				t.Fatalf("error does not name the stalled peer %s and the timeout: %v", addr, err)
			}
			if testing.Verbose() {
				t.Log(err)
			}
		})
	}
}

func TestStallGuardEndsAStalledQuery(t *testing.T) {
	addr := pgtest.StalledPeer(t, context.Background(), "127.0.0.1:0", pgtest.StallAfterStartup)
	const stall = 300 * time.Millisecond
	connect := func(t *testing.T) *pgx.Conn {
		cfg, err := pgx.ParseConfig("postgres://operator@" + addr + "/postgres?sslmode=disable")
		if err != nil {
			t.Fatal(err)
		}
		cfg.DialFunc = stallGuardedDial(&net.Dialer{Timeout: time.Second}, stall)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close(context.Background()) })
		return conn
	}
	t.Run("no deadline: the stall bound ends it", func(t *testing.T) {
		conn := connect(t)
		err := within(t, 30*time.Second, func() error {
			_, err := WALPositions(context.Background(), conn)
			return err
		})
		var se *StalledError
		if !errors.As(err, &se) || se.Stall != stall || se.Addr != addr {
			t.Fatalf("want a StalledError naming %s and %v, got %v", addr, stall, err)
		}
		if testing.Verbose() {
			t.Log(err)
		}
		if !IsTimeout(err) {
			t.Fatalf("IsTimeout(%v) is false", err)
		}
		if !conn.IsClosed() {
			t.Fatal("the stalled session is still open: the next statement would wait again")
		}
	})
	t.Run("a cancelled context still ends it first", func(t *testing.T) {
		conn := connect(t)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		err := within(t, 30*time.Second, func() error {
			_, err := WALPositions(ctx, conn)
			return err
		})
		var se *StalledError
		if err == nil || errors.As(err, &se) || !errors.Is(err, context.Canceled) {
			t.Fatalf("want the context's cancellation, got %v", err)
		}
	})
}

// A server that answers keeps working through the guard: each read's bound starts afresh.
func TestStallGuardLetsAnsweringServerThrough(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		for i := range 5 {
			time.Sleep(100 * time.Millisecond) // each pause under the bound, their sum over it
			if _, err := c.Write([]byte{byte(i)}); err != nil {
				return
			}
		}
	}()
	c, err := stallGuardedDial(&net.Dialer{}, 250*time.Millisecond)(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := make([]byte, 1)
	for i := range 5 {
		if _, err := c.Read(b); err != nil || b[0] != byte(i) {
			t.Fatalf("read %d: %v %v", i, b, err)
		}
	}
}

func TestIsTimeout(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("28P01: password authentication failed"), false},
		{fmt.Errorf("wal positions: %w", context.DeadlineExceeded), true},
		{context.Canceled, false},
	}
	for _, tt := range tests {
		if got := IsTimeout(tt.err); got != tt.want {
			t.Errorf("IsTimeout(%v) = %v", tt.err, got)
		}
	}
}
