package pgtest

import (
	"context"
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
				if s == StallAfterStartup && !startup(c) {
					return
				}
				<-stop // reads nothing more, answers nothing more
			}()
		}
	}()
	t.Cleanup(func() { close(stop); _ = ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// startup answers a session's startup message as a server that trusts everyone would.
func startup(c net.Conn) bool {
	be := pgproto3.NewBackend(c, c)
	msg, err := be.ReceiveStartupMessage()
	if err != nil {
		return false
	}
	if _, ok := msg.(*pgproto3.SSLRequest); ok {
		if _, err := c.Write([]byte{'N'}); err != nil {
			return false
		}
		if _, err := be.ReceiveStartupMessage(); err != nil {
			return false
		}
	}
	be.Send(&pgproto3.AuthenticationOk{})
	be.Send(&pgproto3.ParameterStatus{Name: "server_version", Value: "17.0"})
	be.Send(&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{0, 0, 0, 1}})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	return be.Flush() == nil
}
