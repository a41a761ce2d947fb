package charm

import (
	"context"
	"crypto/tls"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/hookenv"
	"github.com/jujulet/postgresql-k8s/internal/hookenv/hookenvtest"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// sessionWorkload counts the sessions opened early (ConnectWithCA, with the CA it was given)
// and the ones opened at the step (Connect).
type sessionWorkload struct {
	Workload
	mu        sync.Mutex
	early     []string // CA of each early attempt
	fresh     int
	earlyFail bool
	release   chan struct{} // when set, early attempts wait for it
}

type sessionDB struct {
	DB
	mu     *sync.Mutex
	closed *int
}

func (d sessionDB) Close(context.Context) { d.mu.Lock(); *d.closed++; d.mu.Unlock() }

func (w *sessionWorkload) ConnectWithCA(_ context.Context, _ string, _ postgres.Login, ca []byte) (DB, error) {
	if w.release != nil {
		<-w.release
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.early = append(w.early, string(ca))
	if w.earlyFail {
		return nil, errors.New("connection refused")
	}
	return sessionDB{mu: &w.mu, closed: new(int)}, nil
}

func (w *sessionWorkload) Connect(context.Context, string, postgres.Login) (DB, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fresh++
	return sessionDB{mu: &w.mu, closed: new(int)}, nil
}

func TestEarlySessions(t *testing.T) {
	login := postgres.Login{User: AdminUser, Cert: &tls.Certificate{}}
	for _, tc := range []struct {
		name        string
		fail        bool
		changeTrust bool
		other       string // the step connects to another host
		wantEarly   bool   // the step gets the early session
	}{
		{name: "taken", wantEarly: true},
		{name: "failed early: connects again", fail: true},
		{name: "trust changed since: connects again", changeTrust: true},
		{name: "another host", other: "10.0.0.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Charm{}
			st := &State{tls: &tlsState{trust: []byte("ca-1")}}
			w := &sessionWorkload{earlyFail: tc.fail}
			ctx := context.Background()
			c.openEarly(ctx, st, w, "10.0.0.1", login)
			c.openEarly(ctx, st, w, "10.0.0.1", login) // one is under way: no second
			if tc.changeTrust {
				st.tls.trust = []byte("ca-2")
			}
			host := "10.0.0.1"
			if tc.other != "" {
				host = tc.other
			}
			db, err := c.connect(ctx, st, w, host, login)
			if err != nil {
				t.Fatal(err)
			}
			st.early.close(ctx)
			if len(w.early) != 1 || w.early[0] != "ca-1" {
				t.Fatalf("early attempts %q, want one with the CA of its start", w.early)
			}
			earlyDB := st.early.sessions[0].db
			if got := db == earlyDB && earlyDB != nil; got != tc.wantEarly {
				t.Errorf("step got the early session: %v, want %v", got, tc.wantEarly)
			}
			if wantFresh := map[bool]int{true: 0, false: 1}[tc.wantEarly]; w.fresh != wantFresh {
				t.Errorf("%d sessions opened at the step, want %d", w.fresh, wantFresh)
			}
			// What nobody took is closed with the reconcile; what the step took is its own.
			if earlyDB != nil {
				closed := *earlyDB.(sessionDB).closed
				if want := map[bool]int{true: 0, false: 1}[tc.wantEarly]; closed != want {
					t.Errorf("early session closed %d times, want %d", closed, want)
				}
			}
		})
	}
}

// A step whose context ends while the early attempt is still under way does not wait for it,
// and the attempt is ended and closed with the reconcile.
func TestEarlySessionWaitBoundedByTheStep(t *testing.T) {
	login := postgres.Login{User: AdminUser, Cert: &tls.Certificate{}}
	c := &Charm{}
	st := &State{tls: &tlsState{trust: []byte("ca")}}
	w := &sessionWorkload{release: make(chan struct{})}
	c.openEarly(context.Background(), st, w, "10.0.0.1", login)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if db := st.early.take(ctx, "10.0.0.1", login, []byte("ca")); db != nil {
		t.Fatal("took a session that was not open")
	}
	close(w.release)
	st.early.close(context.Background())
	if s := st.early.sessions[0]; s.db == nil || *s.db.(sessionDB).closed != 1 {
		t.Errorf("the untaken early session was not closed")
	}
}

// In a hook that finds the cluster steady the session each unit needs (its own server; the
// leader's probe of the primary) is opened early and is the one the step uses: one login per
// server, no second. (config-changed: a steady update-status opens none, steady.go.)
func TestSteadyHookUsesItsEarlySessions(t *testing.T) {
	w := bootstrap(t, 2)
	w.app[keyPinnedPrimary] = "pg/0" // no hand-off of the primary: steady at once
	w.mustRun("pg/1", "database-peers-relation-joined")
	for _, u := range w.names() {
		w.mustRun(u, "update-status")
	}
	for _, name := range w.names() {
		u := w.units[name]
		own := len(u.s.logins)
		early := u.s.earlyConnects
		w.mustRun(name, "config-changed")
		if got := len(u.s.logins) - own; got != 1 {
			t.Errorf("%s: %d logins to its own server in a steady hook, want 1", name, got)
		}
		if u.s.earlyConnects == early {
			t.Errorf("%s: no session opened early", name)
		}
	}
}

// gatedStatus holds status-get (a read of readState's) until the workload is being opened.
type gatedStatus struct {
	*hookenvtest.Fake
	opened chan struct{}
}

func (g *gatedStatus) StatusGet(ctx context.Context, app bool) (hookenv.StatusInfo, error) {
	select {
	case <-g.opened:
	case <-time.After(10 * time.Second): // only keeps a failure from hanging the test
	}
	return g.Fake.StatusGet(ctx, app)
}

// A hook opens its workload while readState's tool calls run, once, and the reconcile uses
// that workload.
func TestWorkloadOpenedWhileReadingState(t *testing.T) {
	w := bootstrap(t, 1)
	u := w.units["pg/0"]
	tools := &gatedStatus{Fake: u.f, opened: make(chan struct{})}
	var opens int
	var mu sync.Mutex
	open := func(ctx context.Context, addr string) (Workload, error) {
		mu.Lock()
		opens++
		if opens == 1 {
			close(tools.opened)
		}
		mu.Unlock()
		return w.fc.open(u.s.addr)(ctx, addr)
	}
	u.f.Leader = true
	c := New(hookenv.Env{UnitName: "pg/0", HookName: "update-status", ModelName: "m"}, tools, open, nil)
	c.Now = w.now
	st, err := c.readState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-tools.opened:
	default:
		t.Fatal("readState's reads did not run while the workload was opened")
	}
	if err := c.reconcile(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	st.early.close(context.Background())
	if opens != 1 {
		t.Errorf("workload opened %d times, want once", opens)
	}
	if st.workload == nil {
		t.Error("the reconcile has no workload")
	}
}
