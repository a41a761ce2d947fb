package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Bounds of the charm's SQL sessions (docs/DESIGN.md, "Deadlines"). A hook must never wait
// forever on a server, least of all on the other cluster's: a peer that accepts the TCP
// connection and then never answers (a stopped process, a black-holing middlebox) would
// otherwise hold the unit agent, which runs one hook at a time.
const (
	// ConnectTimeout bounds a whole connection attempt: dial, TLS, startup and
	// authentication, whatever the caller's context.
	ConnectTimeout = 5 * time.Second
	// StatementTimeout is the server-side statement_timeout of the charm's sessions: a
	// healthy but busy server answers every statement within it, with an error at worst. The
	// longest statement the charm runs is pg_promote(true, 60).
	StatementTimeout = 2 * time.Minute
	// StallTimeout is how long one operation on a session may wait for the server's next
	// bytes, whatever the caller's context: longer than StatementTimeout, so that a server
	// that is alive reports its own timeout first, and a commit waiting for a synchronous
	// standby that is gone ends too. (So these sessions cannot wait longer than this for a
	// notification, which the charm never does.)
	StallTimeout = StatementTimeout + 30*time.Second
)

// withDeadlines bounds the sessions of cfg (a pgx.ConnConfig's, or a replication
// connection's pgconn.Config): a connect timeout, a dialer with a timeout and
// TCP keepalives (a peer that vanished is noticed on an idle session), the server-side
// statement_timeout, and a client-side bound on every wait for the server (stallConn).
func withDeadlines(cfg *pgconn.Config) {
	cfg.ConnectTimeout = ConnectTimeout
	d := &net.Dialer{
		Timeout:         ConnectTimeout,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3},
	}
	cfg.DialFunc = stallGuardedDial(d, StallTimeout)
	cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(StatementTimeout.Milliseconds(), 10)
}

// stallGuardedDial dials with d and returns connections on which no read waits longer than
// stall (stallConn).
func stallGuardedDial(d *net.Dialer, stall time.Duration) pgconn.DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &stallConn{Conn: c, stall: stall}, nil
	}
}

// StalledError is a read that got nothing from the server for its stall bound.
type StalledError struct {
	Addr  string
	Stall time.Duration
}

func (e *StalledError) Error() string {
	// Not necessarily a hung server: a commit waiting for a synchronous standby that is gone
	// is silent too.
	return fmt.Sprintf("no answer from %s for %v", e.Addr, e.Stall)
}

// Timeout makes it a net.Error timeout, which pgx reports as such.
func (e *StalledError) Timeout() bool { return true }

// Temporary is net.Error's.
func (e *StalledError) Temporary() bool { return false }

// stallConn is a net.Conn on which a read waits at most stall for the peer, whatever read
// deadline its user set (pgx sets one only when the context ends, and a context without a
// deadline never does). pgx closes a session whose read failed, so a stalled server costs
// one bound per session, not one per statement.
type stallConn struct {
	net.Conn
	stall time.Duration

	mu       sync.Mutex
	deadline time.Time // the read deadline the user set (zero: none)
}

func (c *stallConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	// Under the lock: a deadline the user sets meanwhile (pgx's cancellation, from another
	// goroutine) is either seen here or set after this one.
	d, own := c.deadline, false
	if limit := time.Now().Add(c.stall); d.IsZero() || limit.Before(d) {
		d, own = limit, true
	}
	err := c.Conn.SetReadDeadline(d)
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	var ne net.Error
	if err != nil && own && errors.As(err, &ne) && ne.Timeout() && !c.userDeadlinePassed() {
		return n, &StalledError{Addr: c.RemoteAddr().String(), Stall: c.stall}
	}
	return n, err
}

func (c *stallConn) userDeadlinePassed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.deadline.IsZero() && !time.Now().Before(c.deadline)
}

func (c *stallConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return c.Conn.SetDeadline(t)
}

func (c *stallConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return c.Conn.SetReadDeadline(t)
}

// IsTimeout reports whether err is a session that ran out of time: a context deadline, the
// connect timeout, or a server that stalled (StalledError).
func IsTimeout(err error) bool {
	return err != nil && (pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded))
}
