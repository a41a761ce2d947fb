package uniter

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canonical/pebble/client"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
)

// fakePebble serves notices and changes as Pebble does: WaitNotices returns the notices
// repeated strictly after opts.After, oldest first, or waits for one.
type fakePebble struct {
	mu      sync.Mutex
	notices map[string]*client.Notice // by id
	changes map[string]string         // change id -> status
	afters  []time.Time               // the After of every WaitNotices call
	changed chan struct{}
	failErr error // returned by Change when set
}

func newFakePebble() *fakePebble {
	return &fakePebble{notices: map[string]*client.Notice{}, changes: map[string]string{}, changed: make(chan struct{})}
}

func (f *fakePebble) add(n *client.Notice) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notices[n.ID] = n
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakePebble) WaitNotices(ctx context.Context, _ time.Duration, opts *client.NoticesOptions) ([]*client.Notice, error) {
	for {
		f.mu.Lock()
		if len(f.afters) == 0 || !f.afters[len(f.afters)-1].Equal(opts.After) {
			f.afters = append(f.afters, opts.After)
		}
		var out []*client.Notice
		for _, n := range f.notices {
			if opts.After.IsZero() || n.LastRepeated.After(opts.After) {
				out = append(out, n)
			}
		}
		ch := f.changed
		f.mu.Unlock()
		if len(out) > 0 {
			slices.SortFunc(out, func(a, b *client.Notice) int { return a.LastRepeated.Compare(b.LastRepeated) })
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ch:
		}
	}
}

func (f *fakePebble) Notice(id string) (*client.Notice, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n, ok := f.notices[id]; ok {
		return n, nil
	}
	return nil, &client.Error{StatusCode: http.StatusNotFound, Message: "cannot find notice"}
}

func (f *fakePebble) Change(id string) (*client.Change, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failErr != nil {
		return nil, f.failErr
	}
	s, ok := f.changes[id]
	if !ok {
		return nil, &client.Error{StatusCode: http.StatusNotFound, Message: "cannot find change"}
	}
	return &client.Change{ID: id, Status: s}, nil
}

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func custom(id, key string, at int) *client.Notice {
	return &client.Notice{ID: id, Type: client.CustomNotice, Key: key, LastRepeated: t0.Add(time.Duration(at) * time.Second)}
}

func changeUpdate(id, change, kind, check string, at int) *client.Notice {
	return &client.Notice{ID: id, Type: client.ChangeUpdateNotice, Key: change, LastRepeated: t0.Add(time.Duration(at) * time.Second),
		LastData: map[string]string{"kind": kind, "check-name": check}}
}

func TestNoticeEvent(t *testing.T) {
	tests := []struct {
		name    string
		notice  *client.Notice
		status  string // status of change "7"; "" for none (pruned)
		want    string // "<hook name> check=<name>" or "<hook name> id type key"
		wantErr bool
	}{
		{name: "custom", notice: custom("3", "example.com/foo", 1), want: "w-pebble-custom-notice 3 custom example.com/foo"},
		{name: "perform-check in error", notice: changeUpdate("4", "7", "perform-check", "ready", 1), status: "Error",
			want: "w-pebble-check-failed check=ready"},
		{name: "perform-check still running", notice: changeUpdate("4", "7", "perform-check", "ready", 1), status: "Doing"},
		{name: "perform-check pruned", notice: changeUpdate("4", "7", "perform-check", "ready", 1),
			want: "w-pebble-check-failed check=ready"},
		{name: "recover-check done", notice: changeUpdate("4", "7", "recover-check", "ready", 1), status: "Done",
			want: "w-pebble-check-recovered check=ready"},
		{name: "recover-check still failing", notice: changeUpdate("4", "7", "recover-check", "ready", 1), status: "Doing"},
		{name: "recover-check pruned", notice: changeUpdate("4", "7", "recover-check", "ready", 1),
			want: "w-pebble-check-recovered check=ready"},
		{name: "perform-check done is not a failure", notice: changeUpdate("4", "7", "perform-check", "ready", 1), status: "Done"},
		{name: "charm's own change", notice: changeUpdate("4", "7", "exec", "", 1), status: "Error"},
		{name: "warning", notice: &client.Notice{ID: "5", Type: client.WarningNotice, Key: "disk full"}},
		{name: "change unreadable", notice: changeUpdate("4", "8", "perform-check", "ready", 1), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakePebble()
			if tc.status != "" {
				f.changes["7"] = tc.status
			}
			if tc.wantErr {
				f.failErr = errors.New("connection reset")
			}
			h, err := noticeEvent("w", tc.notice, f)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			got := ""
			if h != nil {
				got = h.Name
				if h.Check != "" {
					got += " check=" + h.Check
				}
				if h.NoticeID != "" {
					got += " " + strings.Join([]string{h.NoticeID, h.NoticeType, h.NoticeKey}, " ")
				}
				if h.Container != "w" || h.Kind != strings.TrimPrefix(h.Name, "w-") {
					t.Errorf("hook %+v: container or kind wrong", h)
				}
			}
			if got != tc.want {
				t.Errorf("event = %q, want %q", got, tc.want)
			}
		})
	}
}

// noticeUnit opens a store holding one unit and returns a uniter for it.
func noticeUnit(t *testing.T) *Uniter {
	t.Helper()
	s, err := st.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	err = s.Update(func(tx *st.Tx) error {
		tx.PutUnit(&st.Unit{Model: "m", App: "a", Name: "a/0", Life: "alive"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{Store: s, Model: "m", Unit: "a/0"})
}

func (u *Uniter) testUnit(t *testing.T) *st.Unit {
	t.Helper()
	var unit *st.Unit
	if err := u.store.View(func(tx *st.Tx) error {
		var err error
		unit, err = tx.Unit("m", "a/0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return unit
}

// queued lists the unit's workload events as "<hook> <notice key or check>".
func (u *Uniter) queued(t *testing.T) []string {
	var out []string
	for _, h := range u.testUnit(t).WorkloadEvents {
		out = append(out, h.Name+" "+h.NoticeKey+h.Check)
	}
	return out
}

// watch runs the notice reader of container w until the returned stop is called.
func (u *Uniter) watch(f *fakePebble) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		u.watchNotices(ctx, "w", f)
	}()
	return func() { cancel(); <-done }
}

// waitFor polls cond with a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNoticeCursorSurvivesRestart(t *testing.T) {
	u := noticeUnit(t)
	f := newFakePebble()
	f.changes["7"] = "Doing"
	f.add(custom("1", "example.com/a", 1))
	f.add(changeUpdate("2", "7", "perform-check", "ready", 2)) // running: ignored
	stop := u.watch(f)
	waitFor(t, "the cursor at notice 2", func() bool { return u.testUnit(t).NoticeCursors["w"].ID == "2" })
	stop()
	if got := u.queued(t); !slices.Equal(got, []string{"w-pebble-custom-notice example.com/a"}) {
		t.Fatalf("queue %q", got)
	}

	// The check fails (its notice is repeated) and a notice comes while no reader runs;
	// a new reader (a restarted controller) queues both, and nothing twice.
	f.changes["7"] = "Error"
	f.add(changeUpdate("2", "7", "perform-check", "ready", 3))
	f.add(custom("3", "example.com/b", 4))
	stop = u.watch(f)
	waitFor(t, "the cursor at notice 3", func() bool { return u.testUnit(t).NoticeCursors["w"].ID == "3" })
	stop()
	want := []string{"w-pebble-custom-notice example.com/a", "w-pebble-check-failed ready", "w-pebble-custom-notice example.com/b"}
	if got := u.queued(t); !slices.Equal(got, want) {
		t.Fatalf("queue %q, want %q", got, want)
	}
	// Each read starts strictly after the last notice queued.
	if !slices.Equal(f.afters, []time.Time{{}, t0.Add(2 * time.Second), t0.Add(4 * time.Second)}) {
		t.Errorf("WaitNotices after %v", f.afters)
	}

	// The next hook is the oldest event; committing it drops it from the queue.
	unit := u.testUnit(t)
	unit.Local = started()
	v := &view{unit: unit, app: &st.App{Name: "a", Leader: "a/0"}, leader: true, interval: time.Hour,
		remote: map[int]map[string]*st.Unit{}, buckets: map[int]map[string]int{}}
	h := u.next(v, time.Now())
	if h == nil || h.Name != "w-pebble-custom-notice" || h.NoticeKey != "example.com/a" || h.NoticeID != "1" {
		t.Fatalf("next = %+v", h)
	}
	err := u.store.Update(func(tx *st.Tx) error {
		unit, err := tx.Unit("m", "a/0")
		if err != nil {
			return err
		}
		advance(tx, unit, &st.App{}, h, time.Now())
		tx.PutUnit(unit)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := u.queued(t); !slices.Equal(got, want[1:]) {
		t.Errorf("queue after commit %q, want %q", got, want[1:])
	}
}

func TestNoticeCursorResetForNewPebble(t *testing.T) {
	tests := []struct {
		name string
		// notices of the new Pebble, all older than the cursor
		notices []*client.Notice
	}{
		{name: "cursor notice gone", notices: []*client.Notice{custom("1", "example.com/new", 1)}},
		{name: "cursor notice id reused", notices: []*client.Notice{custom("9", "example.com/other", 1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := noticeUnit(t)
			err := u.store.Update(func(tx *st.Tx) error {
				unit, err := tx.Unit("m", "a/0")
				if err != nil {
					return err
				}
				unit.EnqueueWorkloadEvents("w", st.NoticeCursor{LastRepeated: t0.Add(time.Hour), ID: "9", Type: "custom", Key: "example.com/old"}, nil)
				tx.PutUnit(unit)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			f := newFakePebble()
			for _, n := range tc.notices {
				f.add(n)
			}
			stop := u.watch(f)
			waitFor(t, "the new Pebble's notices", func() bool { return len(u.queued(t)) == len(tc.notices) })
			stop()
			if len(f.afters) == 0 || !f.afters[0].IsZero() {
				t.Errorf("WaitNotices after %v, want a read from the first notice", f.afters)
			}
		})
	}
	// A Pebble that still has the cursor's notice is read after it.
	u := noticeUnit(t)
	f := newFakePebble()
	f.add(custom("1", "example.com/a", 1))
	stop := u.watch(f)
	waitFor(t, "notice 1", func() bool { return len(u.queued(t)) == 1 })
	stop()
	f.add(custom("2", "example.com/b", 2))
	stop = u.watch(f)
	waitFor(t, "notice 2", func() bool { return len(u.queued(t)) == 2 })
	stop()
	if got := u.queued(t); got[0] == got[1] {
		t.Errorf("queue %q repeats a notice", got)
	}
}

func TestWorkloadHookEnv(t *testing.T) {
	u := New(Config{Unit: "a/0"})
	tests := []struct {
		hook *st.Hook
		want []string // JUJU_WORKLOAD_NAME, JUJU_NOTICE_* and JUJU_PEBBLE_CHECK_NAME entries
	}{
		{hook: &st.Hook{Kind: "install", Name: "install"}},
		{hook: &st.Hook{Kind: "pebble-ready", Name: "w-pebble-ready", Container: "w", BootID: "b"}, want: []string{"JUJU_WORKLOAD_NAME=w"}},
		{hook: &st.Hook{Kind: "pebble-custom-notice", Name: "w-pebble-custom-notice", Container: "w", NoticeID: "3", NoticeType: "custom", NoticeKey: "example.com/a"},
			want: []string{"JUJU_WORKLOAD_NAME=w", "JUJU_NOTICE_ID=3", "JUJU_NOTICE_TYPE=custom", "JUJU_NOTICE_KEY=example.com/a"}},
		{hook: &st.Hook{Kind: "pebble-check-failed", Name: "w-pebble-check-failed", Container: "w", Check: "ready"},
			want: []string{"JUJU_WORKLOAD_NAME=w", "JUJU_PEBBLE_CHECK_NAME=ready"}},
		{hook: &st.Hook{Kind: "pebble-check-recovered", Name: "w-pebble-check-recovered", Container: "w", Check: "ready"},
			want: []string{"JUJU_WORKLOAD_NAME=w", "JUJU_PEBBLE_CHECK_NAME=ready"}},
	}
	for _, tc := range tests {
		t.Run(tc.hook.Name, func(t *testing.T) {
			var got []string
			for _, kv := range u.env(u.newContext(tc.hook, nil)) {
				for _, p := range []string{"JUJU_WORKLOAD_NAME=", "JUJU_NOTICE_", "JUJU_PEBBLE_CHECK_NAME="} {
					if strings.HasPrefix(kv, p) {
						got = append(got, kv)
					}
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("env %q, want %q", got, tc.want)
			}
		})
	}
}
