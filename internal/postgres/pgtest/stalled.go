package pgtest

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Stall is how a StalledPeer hangs.
type Stall int

const (
	// StallAtOnce accepts TCP connections and never sends a byte.
	StallAtOnce Stall = iota
	// StallAfterStartup completes a session's startup (it trusts any user) and then never
	// answers a query: a server that hangs once connected.
	StallAfterStartup
)

// StalledPeer listens on addr ("host:port"; port 0 picks one) and hangs the way s says, until
// the test ends. It waits, until ctx ends, for addr to be free (a server just stopped). It
// returns the address it listens on.
func StalledPeer(t testing.TB, ctx context.Context, addr string, s Stall) string {
	t.Helper()
	return StalledTLSPeer(t, ctx, addr, s, nil)
}

// StalledTLSPeer is StalledPeer that, with StallAfterStartup, accepts a client's SSLRequest
// and serves TLS with cfg (nil: it refuses TLS, as StalledPeer does): a peer that clients
// which insist on TLS reach the startup with.
func StalledTLSPeer(t testing.TB, ctx context.Context, addr string, s Stall, cfg *tls.Config) string {
	t.Helper()
	var ln net.Listener
	for {
		var err error
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("listen on %s: %v", addr, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				if s == StallAfterStartup {
					tc, ok := startup(c, cfg)
					if !ok {
						return
					}
					defer tc.Close()
				}
				<-stop // reads nothing more, answers nothing more
			}()
		}
	}()
	t.Cleanup(func() { close(stop); _ = ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// startup answers a session's startup message as a server that trusts everyone would, over
// TLS when the client asks for it and cfg is set; it returns the connection the session
// runs on.
func startup(c net.Conn, cfg *tls.Config) (net.Conn, bool) {
	be := pgproto3.NewBackend(c, c)
	msg, err := be.ReceiveStartupMessage()
	if err != nil {
		return c, false
	}
	if _, ok := msg.(*pgproto3.SSLRequest); ok {
		answer := byte('N')
		if cfg != nil {
			answer = 'S'
		}
		if _, err := c.Write([]byte{answer}); err != nil {
			return c, false
		}
		if cfg != nil {
			tc := tls.Server(c, cfg)
			if err := tc.Handshake(); err != nil {
				return c, false
			}
			c, be = tc, pgproto3.NewBackend(tc, tc)
		}
		if _, err := be.ReceiveStartupMessage(); err != nil {
			return c, false
		}
	}
	be.Send(&pgproto3.AuthenticationOk{})
	be.Send(&pgproto3.ParameterStatus{Name: "server_version", Value: "17.0"})
	be.Send(&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{0, 0, 0, 1}})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	return c, be.Flush() == nil
}
