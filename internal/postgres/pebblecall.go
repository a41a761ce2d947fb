package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/canonical/pebble/client"
	"github.com/jujulet/postgresql-k8s/internal/hookenv"
)

// Bounds of the charm's Pebble calls (docs/DESIGN.md, "Deadlines"). Pebble's client methods
// take no context, so a Pebble that accepts a request and never answers would hold the hook
// forever; every call runs under one of these bounds, or the caller's shorter deadline.
const (
	// PebbleAPITimeout bounds a call Pebble answers at once: listing files, reading or
	// writing a small file, the plan, service status, starting a change or an exec.
	PebbleAPITimeout = 30 * time.Second
	// PebbleTransferTimeout bounds a push of a large file (the watcher binary).
	PebbleTransferTimeout = 2 * time.Minute
	// PebbleRemoveTimeout bounds a recursive remove, which may be a whole data directory.
	PebbleRemoveTimeout = 10 * time.Minute
	// KillDelay is the postgresql service's kill-delay: how long Pebble waits after SIGTERM
	// before SIGKILL when it stops the service.
	KillDelay = 20 * time.Second
	// ServiceChangeTimeout bounds the wait for a service start or stop: a stop may take the
	// kill-delay and Pebble's wait after SIGKILL; a start, Pebble's okay-delay.
	ServiceChangeTimeout = KillDelay + 40*time.Second
	// pebbleDialTimeout bounds the connection to Pebble's socket (a full listen backlog
	// would otherwise block a dial forever).
	pebbleDialTimeout = 5 * time.Second
	// pebbleRefuseFor is how long a client refuses to dial after a call was cut off: longer
	// than the client's own retry of a failed GET (5 s), so that the abandoned call ends
	// rather than dialling the stalled Pebble again.
	pebbleRefuseFor = 6 * time.Second
)

// PebbleTimeoutError is a Pebble call that did not return within its bound.
type PebbleTimeoutError struct {
	Call   string
	Socket string
	Bound  time.Duration
}

func (e *PebbleTimeoutError) Error() string {
	// Call is left to the caller's wrapping, which names the step.
	return fmt.Sprintf("no answer from pebble at %s within %v", e.Socket, e.Bound)
}

// Unwrap makes it a context.DeadlineExceeded.
func (e *PebbleTimeoutError) Unwrap() error { return context.DeadlineExceeded }

// pebbleGuard knows the connections of one Pebble client, so that a call that outlives its
// bound can be cut off: closing them makes the blocked call return.
type pebbleGuard struct {
	socket string
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	// refuseUntil: no dial before this time (a call was just cut off).
	refuseUntil time.Time
	// idle are the guarded clients no call uses: a Pebble client is not safe for concurrent
	// requests (each records the response's maintenance and warning state in the client), so
	// calls that run at once use clients of their own.
	idle []*client.Client
}

// newPebbleClient returns a client of the Pebble at socket whose connections (its API
// requests and its exec websockets, which both dial through the transport's Dial) are
// known to the returned guard, which hands it (and more like it) to the calls.
func newPebbleClient(socket string) (*client.Client, *pebbleGuard, error) {
	g := &pebbleGuard{socket: socket, conns: map[net.Conn]struct{}{}}
	pc, err := g.newClient()
	if err != nil {
		return nil, nil, err
	}
	g.idle = append(g.idle, pc)
	return pc, g, nil
}

func (g *pebbleGuard) newClient() (*client.Client, error) {
	pc, err := client.New(&client.Config{Socket: g.socket})
	if err != nil {
		return nil, err
	}
	//lint:ignore SA1019 Pebble's websocket dialer reads Dial, not DialContext.
	pc.Requester().Transport().Dial = g.dial
	return pc, nil
}

// takeClient returns a client no other call uses (w.Pebble when there is no guard: a client
// made elsewhere, used as it is); giveClient returns it once its call is over.
func (w *Workload) takeClient() (*client.Client, error) {
	g := w.guard
	if g == nil {
		return w.Pebble, nil
	}
	g.mu.Lock()
	if n := len(g.idle); n > 0 {
		pc := g.idle[n-1]
		g.idle = g.idle[:n-1]
		g.mu.Unlock()
		return pc, nil
	}
	g.mu.Unlock()
	return g.newClient()
}

func (w *Workload) giveClient(pc *client.Client) {
	if g := w.guard; g != nil {
		g.mu.Lock()
		g.idle = append(g.idle, pc)
		g.mu.Unlock()
	}
}

// dial is Pebble's unix-socket dialer (a missing socket is client.SocketNotFoundError, which
// the charm reads as a container that is not there), with a timeout, and tracked.
func (g *pebbleGuard) dial(_, _ string) (net.Conn, error) {
	g.mu.Lock()
	refused := time.Now().Before(g.refuseUntil)
	g.mu.Unlock()
	if refused {
		return nil, fmt.Errorf("pebble at %s was cut off after it stalled", g.socket)
	}
	if _, err := os.Stat(g.socket); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &client.SocketNotFoundError{Err: err, Path: g.socket}
		}
		return nil, fmt.Errorf("cannot stat %q: %w", g.socket, err)
	}
	c, err := net.DialTimeout("unix", g.socket, pebbleDialTimeout)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, g: g}
	g.mu.Lock()
	g.conns[tc] = struct{}{}
	g.mu.Unlock()
	return tc, nil
}

// cutOff closes every connection of the client, and refuses new ones for pebbleRefuseFor:
// the calls blocked on them return with an error, and later calls dial afresh. A Pebble that
// stalls one call is not trusted with the others of the same moment either.
func (g *pebbleGuard) cutOff() {
	g.mu.Lock()
	g.refuseUntil = time.Now().Add(pebbleRefuseFor)
	conns := make([]net.Conn, 0, len(g.conns))
	for c := range g.conns {
		conns = append(conns, c)
	}
	g.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

type trackedConn struct {
	net.Conn
	g    *pebbleGuard
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.g.mu.Lock()
		delete(c.g.conns, c)
		c.g.mu.Unlock()
	})
	return c.Conn.Close()
}

// pebble runs call, one Pebble client call, within bound or ctx's deadline, whichever comes
// first. When that passes, the client's connections are closed so that the call returns, and
// the error is a *PebbleTimeoutError naming what; when ctx is cancelled, ctx's error (the
// caller's wrapping names the step).
func (w *Workload) pebble(ctx context.Context, what string, bound time.Duration, call func(pc *client.Client) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	pc, err := w.takeClient()
	if err != nil {
		return fmt.Errorf("pebble client: %w", err)
	}
	return w.pebbleOn(ctx, pc, what, bound, func(pc *client.Client) error {
		defer w.giveClient(pc) // once the call returns, even when it was cut off
		return call(pc)
	})
}

// pebbleOn is pebble with the client pc, which the caller took (takeClient) and gives back.
func (w *Workload) pebbleOn(ctx context.Context, pc *client.Client, what string, bound time.Duration, call func(pc *client.Client) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer hookenv.StartSpan(ctx, "pebble "+what)()
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < bound {
		bound = time.Until(dl).Round(time.Millisecond)
	}
	bctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- call(pc) }()
	select {
	case err := <-done:
		return err
	case <-bctx.Done():
	}
	w.cutOffPebble()
	if errors.Is(ctx.Err(), context.Canceled) {
		return ctx.Err()
	}
	return &PebbleTimeoutError{Call: what, Socket: w.socket(), Bound: bound}
}

// cutOffPebble closes the Pebble client's connections; the abandoned call then ends by
// itself (its result goes nowhere).
func (w *Workload) cutOffPebble() {
	if w.guard != nil {
		w.guard.cutOff()
	}
}

func (w *Workload) socket() string {
	if w.guard == nil {
		return "(unknown socket)"
	}
	return w.guard.socket
}
