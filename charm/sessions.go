package charm

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// Early sessions. Opening a session (TCP, TLS with the hook's client certificate, the server
// forking a backend) is the slowest step of a steady hook after its tool calls, and its
// Pebble calls do not depend on it: the sessions a reconcile is about to need (this unit's
// server, and the leader's probe of the primary) are opened as soon as the workload is open
// and the trust known, while those calls run. A step that connects takes
// the early session when it is to the same host with the same login and trust; otherwise, or
// when the early attempt failed, it connects as it always did. (ConnectWithCA: the attempt
// does not read the hook's state, which the hook goes on changing.) Sessions nobody took are
// closed when the reconcile ends.

// earlyConnectTimeout bounds an early attempt (the step that takes it has its own bound).
const earlyConnectTimeout = 5 * time.Second

// earlySession is one session being opened ahead of its use.
type earlySession struct {
	host  string
	login postgres.Login
	ca    []byte // the CA bundle the server is verified with
	done  chan struct{}
	db    DB // set with err before done closes
	err   error
	taken bool // guarded by earlySessions.mu
}

// earlySessions are the early sessions of one reconcile.
type earlySessions struct {
	mu       sync.Mutex
	sessions []*earlySession
	cancel   context.CancelFunc
	ctx      context.Context
}

// openEarly starts opening a session to host as l, unless one is under way. The CA the
// server is verified with is taken now: the attempt runs while the hook goes on.
func (c *Charm) openEarly(ctx context.Context, st *State, w Workload, host string, l postgres.Login) {
	if host == "" || l.Cert == nil {
		return // it would fail: the step that connects says why
	}
	ca, err := c.trustFor(st, host)
	if err != nil || len(ca) == 0 {
		return
	}
	e := st.early
	if e == nil {
		e = &earlySessions{}
		e.ctx, e.cancel = context.WithCancel(ctx)
		st.early = e
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.sessions {
		if s.host == host && s.login == l {
			return
		}
	}
	s := &earlySession{host: host, login: l, ca: ca, done: make(chan struct{})}
	e.sessions = append(e.sessions, s)
	go func() {
		defer close(s.done)
		cctx, cancel := context.WithTimeout(e.ctx, earlyConnectTimeout)
		defer cancel()
		s.db, s.err = w.ConnectWithCA(cctx, host, l, ca)
	}()
}

// connect opens a session to host as l: the early one when there is one for the same host,
// login and CA that succeeded, a new one otherwise.
func (c *Charm) connect(ctx context.Context, st *State, w Workload, host string, l postgres.Login) (DB, error) {
	if st.early != nil {
		if ca, err := c.trustFor(st, host); err == nil {
			if db := st.early.take(ctx, host, l, ca); db != nil {
				return db, nil
			}
		}
	}
	return w.Connect(ctx, host, l)
}

// take returns the early session to host as l, verified with ca, once it is open (nil when
// there is none, it failed, or ctx ends first). It is the caller's.
func (e *earlySessions) take(ctx context.Context, host string, l postgres.Login, ca []byte) DB {
	e.mu.Lock()
	var s *earlySession
	for _, c := range e.sessions {
		if !c.taken && c.host == host && c.login == l && bytes.Equal(c.ca, ca) {
			s = c
			break
		}
	}
	e.mu.Unlock()
	if s == nil {
		return nil
	}
	select {
	case <-s.done:
	case <-ctx.Done():
		return nil // the caller's own attempt fails the same way
	}
	if s.err != nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if s.taken {
		return nil
	}
	s.taken = true
	return s.db
}

// close ends the attempts under way and closes the sessions nobody took.
func (e *earlySessions) close(ctx context.Context) {
	if e == nil {
		return
	}
	e.cancel()
	e.mu.Lock()
	sessions := e.sessions
	e.mu.Unlock()
	for _, s := range sessions {
		<-s.done
		e.mu.Lock()
		left := !s.taken && s.err == nil
		s.taken = true
		e.mu.Unlock()
		if left {
			s.db.Close(ctx)
		}
	}
}
