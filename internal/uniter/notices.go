package uniter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/canonical/pebble/client"
	"github.com/juju/charm/v12/hooks"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
	"github.com/jujulet/postgresql-k8s/internal/pod"
)

// Juju's pebbleNoticer timings: a long poll, and a pause after an error.
const (
	noticeWaitTimeout = 30 * time.Second
	noticeRetryDelay  = time.Second
)

// noticeClient is the part of a Pebble client that reading notices needs.
type noticeClient interface {
	WaitNotices(ctx context.Context, serverTimeout time.Duration, opts *client.NoticesOptions) ([]*client.Notice, error)
	Notice(id string) (*client.Notice, error)
	Change(id string) (*client.Change, error)
}

// noticeEvent maps container c's notice n to its workload hook (nil: the notice makes
// none), as Juju's pebbleNoticer does: custom notices become pebble-custom-notice, and
// the change-update notices of a check's perform-check change that failed or of its
// recover-check change that succeeded become pebble-check-failed and -recovered.
func noticeEvent(c string, n *client.Notice, cl noticeClient) (*st.Hook, error) {
	switch n.Type {
	case client.CustomNotice:
		return &st.Hook{Kind: string(hooks.PebbleCustomNotice), Name: c + "-" + string(hooks.PebbleCustomNotice), Container: c,
			NoticeID: n.ID, NoticeType: string(n.Type), NoticeKey: n.Key}, nil
	case client.ChangeUpdateNotice:
		kind := n.LastData["kind"]
		if kind != "perform-check" && kind != "recover-check" {
			return nil, nil // the charm made most changes itself: no event for those
		}
		// The change's status now, not when the notice was repeated: a change never
		// leaves Done or Error, so its final status is not missed.
		chg, err := cl.Change(n.Key)
		if err != nil {
			var ce *client.Error
			if !errors.As(err, &ce) || ce.StatusCode != http.StatusNotFound {
				return nil, fmt.Errorf("reading change %s: %w", n.Key, err)
			}
			chg = nil // pruned: it finished long ago, so take it as failed or recovered
		}
		var k hooks.Kind
		switch {
		case kind == "perform-check" && (chg == nil || chg.Status == "Error"):
			k = hooks.PebbleCheckFailed
		case kind == "recover-check" && (chg == nil || chg.Status == "Done"):
			k = hooks.PebbleCheckRecovered
		default:
			return nil, nil
		}
		return &st.Hook{Kind: string(k), Name: c + "-" + string(k), Container: c, Check: n.LastData["check-name"]}, nil
	}
	return nil, nil
}

// noticeWatchers runs one notice reader per container of the charm.
type noticeWatchers struct {
	mu     sync.Mutex
	cancel map[string]context.CancelFunc
	wg     sync.WaitGroup
}

// syncNoticeWatchers starts a notice reader for each container that has none and stops
// those of containers the charm no longer has (after a refresh).
func (u *Uniter) syncNoticeWatchers(ctx context.Context) {
	w := &u.watchers
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel == nil {
		w.cancel = map[string]context.CancelFunc{}
	}
	for c, cancel := range w.cancel {
		if _, ok := u.containers[c]; !ok {
			cancel()
			delete(w.cancel, c)
		}
	}
	for c := range u.containers {
		if _, ok := w.cancel[c]; ok {
			continue
		}
		cctx, cancel := context.WithCancel(ctx)
		w.cancel[c] = cancel
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			cl, err := pod.Client(u.podDir(), c)
			if err != nil {
				u.log.Error("cannot make a pebble client", "container", c, "err", err)
				return
			}
			defer cl.CloseIdleConnections()
			u.watchNotices(cctx, c, cl)
		}()
	}
}

// stopNoticeWatchers stops every notice reader and waits for them.
func (u *Uniter) stopNoticeWatchers() {
	w := &u.watchers
	w.mu.Lock()
	for c, cancel := range w.cancel {
		cancel()
		delete(w.cancel, c)
	}
	w.mu.Unlock()
	w.wg.Wait()
}

// watchNotices turns container c's Pebble notices into queued workload events until ctx
// ends. Unlike Juju's in-memory cursor, the cursor is in the store and moves in the same
// transaction as the queue: a controller restart resumes after the last notice queued.
func (u *Uniter) watchNotices(ctx context.Context, c string, cl noticeClient) {
	var cur st.NoticeCursor
	loaded, verified, failing := false, false, false
	for ctx.Err() == nil {
		var err error
		if !loaded {
			cur, err = u.noticeCursor(c)
			loaded = err == nil
		}
		if err == nil && !verified {
			// After a start or an error Pebble may have been replaced: check that it
			// still knows where the cursor is.
			cur, err = u.verifyCursor(c, cur, cl)
			verified = err == nil
		}
		if err == nil {
			cur, err = u.readNotices(ctx, c, cur, cl)
		}
		if err == nil {
			failing = false
			continue
		}
		if ctx.Err() != nil {
			return
		}
		verified = false
		var nf *client.SocketNotFoundError
		if failing || errors.As(err, &nf) {
			u.log.Debug("reading pebble notices", "container", c, "err", err)
		} else {
			u.log.Warn("reading pebble notices", "container", c, "err", err)
		}
		failing = true
		select {
		case <-ctx.Done():
			return
		case <-time.After(noticeRetryDelay):
		}
	}
}

func (u *Uniter) noticeCursor(c string) (st.NoticeCursor, error) {
	var cur st.NoticeCursor
	err := u.store.View(func(t *st.Tx) error {
		unit, err := t.Unit(u.model, u.name)
		if err != nil {
			return err
		}
		cur = unit.NoticeCursors[c]
		return nil
	})
	return cur, err
}

// verifyCursor returns the cursor to read from. Pebble keeps its notices in its state
// file, so a restarted Pebble still has the cursor's notice and reading goes on after it.
// A Pebble that does not have it has a new notices store (the container's state was
// replaced) or let everything up to the cursor expire (seven days without a notice):
// either way none of its notices was queued, so reading starts from its first.
func (u *Uniter) verifyCursor(c string, cur st.NoticeCursor, cl noticeClient) (st.NoticeCursor, error) {
	if cur.ID == "" {
		return cur, nil
	}
	n, err := cl.Notice(cur.ID)
	if err != nil {
		var ce *client.Error
		if !errors.As(err, &ce) || ce.StatusCode != http.StatusNotFound {
			return cur, fmt.Errorf("reading notice %s: %w", cur.ID, err)
		}
		n = nil
	}
	if n != nil && string(n.Type) == cur.Type && n.Key == cur.Key {
		return cur, nil
	}
	u.logf("INFO", "container %q: pebble no longer has notice %s (%s %s); reading all of its notices", c, cur.ID, cur.Type, cur.Key)
	return st.NoticeCursor{}, nil
}

// readNotices waits for notices repeated after cur and queues their events; it returns
// the new cursor. If a notice cannot be mapped, those before it are still queued.
func (u *Uniter) readNotices(ctx context.Context, c string, cur st.NoticeCursor, cl noticeClient) (st.NoticeCursor, error) {
	notices, err := cl.WaitNotices(ctx, noticeWaitTimeout, &client.NoticesOptions{After: cur.LastRepeated})
	if err != nil {
		return cur, fmt.Errorf("waiting for notices: %w", err)
	}
	next, moved := cur, false
	var events []*st.Hook
	var mapErr error
	for _, n := range notices {
		h, err := noticeEvent(c, n, cl)
		if err != nil {
			mapErr = fmt.Errorf("%s notice %s: %w", n.Type, n.Key, err)
			break
		}
		if h == nil {
			u.log.Debug("ignoring pebble notice", "container", c, "type", n.Type, "key", n.Key, "kind", n.LastData["kind"])
		} else {
			events = append(events, h)
		}
		next, moved = st.NoticeCursor{LastRepeated: n.LastRepeated, ID: n.ID, Type: string(n.Type), Key: n.Key}, true
	}
	if moved {
		err := u.store.Update(func(t *st.Tx) error {
			unit, err := t.Unit(u.model, u.name)
			if err != nil {
				return err
			}
			unit.EnqueueWorkloadEvents(c, next, events)
			t.PutUnit(unit)
			return nil
		})
		if err != nil {
			return cur, fmt.Errorf("queueing workload events: %w", err)
		}
	}
	return next, mapErr
}
