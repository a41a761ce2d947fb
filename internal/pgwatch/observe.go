package pgwatch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Observation is what the watcher last saw of its server: the file it keeps up to date
// (Observer), and what a steady hook compares with the shape the last full reconcile left
// (docs/HA.md, "A steady update-status"). It holds only the server's structure, not its WAL
// positions, which move with every write: a primary that serves writes keeps one shape.
type Observation struct {
	// At is when the watcher last read the server (or failed to).
	At time.Time `json:"at"`
	// Error is why the last read failed ("" when it did not; the other fields are then empty).
	Error string `json:"error,omitempty"`
	// Started is pg_postmaster_start_time(): a restarted server has another shape.
	Started    time.Time `json:"started"`
	InRecovery bool      `json:"in-recovery"`
	Timeline   int       `json:"timeline"`
	// SyncStandbyNames and Standbys are a primary's synchronous_standby_names and
	// pg_stat_replication (empty on a standby).
	SyncStandbyNames string            `json:"sync-standby-names,omitempty"`
	Standbys         []ObservedStandby `json:"standbys,omitempty"`
	// Slots are the physical replication slots.
	Slots []ObservedSlot `json:"slots,omitempty"`
	// Receiver is a standby's WAL receiver (nil when it has none, as on a primary).
	Receiver *ObservedReceiver `json:"receiver,omitempty"`
	// Upstream: a standby's primary_conninfo is set, so it is meant to stream (a standby
	// the charm keeps read-only with no upstream has none).
	Upstream bool `json:"upstream,omitempty"`
}

// Streaming reports whether the observation is of a standby whose WAL receiver streams.
func (o Observation) Streaming() bool {
	return o.InRecovery && o.Receiver != nil && o.Receiver.Status == "streaming"
}

// Stalled reports whether the observation is of a standby that is meant to stream and
// does not: it runs no WAL receiver, or one that is not streaming.
func (o Observation) Stalled() bool {
	return o.Error == "" && o.InRecovery && o.Upstream && !o.Streaming()
}

// ObservedReceiver is a standby's pg_stat_wal_receiver: whom it streams from, and whether it
// does (status "streaming").
type ObservedReceiver struct {
	Status string `json:"status"`
	Host   string `json:"host"`
	Port   int    `json:"port"`
}

// ObservedStandby is one row of a primary's pg_stat_replication.
type ObservedStandby struct {
	Name      string `json:"name"`       // application_name
	State     string `json:"state"`      // startup, catchup, streaming, backup, stopping
	SyncState string `json:"sync-state"` // async, potential, sync, quorum
}

// ObservedSlot is one physical replication slot.
type ObservedSlot struct {
	Name string `json:"name"`
	// Lost: wal_status is "lost" (the slot's consumer can no longer catch up).
	Lost bool `json:"lost,omitempty"`
}

// Shape is a digest of the observation without its time: two observations of a server that
// has not changed (restarted, promoted, gained or lost a standby or a slot, changed its
// synchronous standbys) have the same shape. A failed read has none ("").
func (o Observation) Shape() string {
	if o.Error != "" {
		return ""
	}
	standbys := slices.Clone(o.Standbys)
	slices.SortFunc(standbys, func(a, b ObservedStandby) int {
		return strings.Compare(a.Name+"\x00"+a.State+"\x00"+a.SyncState, b.Name+"\x00"+b.State+"\x00"+b.SyncState)
	})
	slots := slices.Clone(o.Slots)
	slices.SortFunc(slots, func(a, b ObservedSlot) int { return strings.Compare(a.Name, b.Name) })
	// Each value quoted on a line of its own, lists after their length: no two observations
	// render the same.
	h := sha256.New()
	field := func(s string) { h.Write([]byte(strconv.Quote(s) + "\n")) }
	field(o.Started.UTC().Format(time.RFC3339Nano))
	field(strconv.FormatBool(o.InRecovery))
	field(strconv.Itoa(o.Timeline))
	field(o.SyncStandbyNames)
	field(strconv.Itoa(len(standbys)))
	for _, s := range standbys {
		field(s.Name)
		field(s.State)
		field(s.SyncState)
	}
	field(strconv.Itoa(len(slots)))
	for _, s := range slots {
		field(s.Name)
		field(strconv.FormatBool(s.Lost))
	}
	field(strconv.FormatBool(o.Upstream))
	if r := o.Receiver; r != nil {
		field(r.Status)
		field(r.Host)
		field(strconv.Itoa(r.Port))
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// Encode renders the observation file.
func (o Observation) Encode() []byte {
	o.At = o.At.UTC()
	o.Started = o.Started.UTC()
	b, err := json.Marshal(o)
	if err != nil {
		panic(err) // plain strings, bools, ints and times always marshal
	}
	return append(b, '\n')
}

// ParseObservation reads an observation file; anything but one well-formed observation is an
// error, so that a damaged file is never taken for a shape.
func ParseObservation(b []byte) (Observation, error) {
	var o Observation
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return Observation{}, fmt.Errorf("observation file: %w", err)
	}
	if dec.More() {
		return Observation{}, errors.New("observation file: trailing data")
	}
	if o.At.IsZero() {
		return Observation{}, errors.New("observation file: no time")
	}
	return o, nil
}

// Probe reads the server once (postgres.Probe in the charm's binary). It keeps whatever
// connection it needs between calls, and closes it when ctx ends.
type Probe func(ctx context.Context) (Observation, error)

// Observer keeps the observation file up to date: it reads the server every interval and
// rewrites the file when the shape changes (a failed read is a shape too), and at least every
// Heartbeat otherwise, so that a reader can tell a current file from one a dead watcher left.
//
// With a Notifier, it also raises a wake-up (timer StallTimer) when a standby has been
// Stalled for StallAfter, and again after each doubling of that wait (up to StallRepeatMax)
// while it stays so: nothing else wakes the charm for a standby whose server and upstream
// both accept connections but which streams nothing (docs/HA.md, "A standby that streams
// nothing").
type Observer struct {
	Path       string // host path of the observation file
	Probe      Probe
	Heartbeat  time.Duration
	Notifier   Notifier
	StallAfter time.Duration
	Log        *slog.Logger

	last     Observation
	written  time.Time
	lastErr  string
	hasShape bool
	stall    stall
}

// stall is a standby's current stretch without a stream.
type stall struct {
	since   time.Time     // first observation of the stretch (zero: streaming)
	started time.Time     // the server's start time then: a restarted server begins anew
	next    time.Time     // when the next wake-up is due
	wait    time.Duration // the wait that led to next
}

const (
	// StallTimer is the timer name of the wake-ups for a stalled standby.
	StallTimer = "not-streaming"
	// DefaultStallAfter: a receiver restarting (a reload that re-points it, an upstream
	// that restarts) streams again well within it.
	DefaultStallAfter = 10 * time.Second
	// StallRepeatMax bounds the wait between two wake-ups of one stretch: a standby that
	// the charm cannot make stream (its upstream is down for good) costs a hook at most
	// this often, Juju's default update-status interval.
	StallRepeatMax = 5 * time.Minute
)

// DefaultHeartbeat is how often an unchanged observation is written again. A reader takes
// a file older than three heartbeats for a watcher that stopped.
const DefaultHeartbeat = 5 * time.Second

// Check reads the server and writes the file when due.
func (o *Observer) Check(ctx context.Context, now time.Time) {
	obs, err := o.Probe(ctx)
	if err != nil {
		obs = Observation{Error: err.Error()}
		if obs.Error != o.lastErr {
			o.log().Warn("cannot observe the server", "err", err)
		}
		o.lastErr = obs.Error
	} else {
		if o.lastErr != "" {
			o.log().Info("observing the server again")
		}
		o.lastErr = ""
	}
	obs.At = now
	o.watchStall(ctx, obs, now)
	changed := !o.hasShape || obs.Shape() != o.last.Shape() || obs.Error != o.last.Error
	if !changed && now.Sub(o.written) < o.heartbeat() {
		return
	}
	if err := writeAtomic(o.Path, obs.Encode()); err != nil {
		o.log().Warn("cannot write the observation file", "path", o.Path, "err", err)
		return
	}
	o.last, o.written, o.hasShape = obs, now, true
}

// watchStall follows the standby's stretches without a stream and raises their wake-ups. A
// failed read says nothing of the stream (the server's own check reports a server that is
// down); a wake-up that fails is tried again on the next observation.
func (o *Observer) watchStall(ctx context.Context, obs Observation, now time.Time) {
	if o.Notifier == nil || obs.Error != "" {
		return
	}
	s := &o.stall
	if !obs.Stalled() {
		if !s.since.IsZero() {
			o.log().Info("the standby streams again", "after", now.Sub(s.since).Round(time.Second))
		}
		*s = stall{}
		return
	}
	if s.since.IsZero() || !obs.Started.Equal(s.started) {
		*s = stall{since: now, started: obs.Started, next: now.Add(o.stallAfter()), wait: o.stallAfter()}
		return
	}
	if now.Before(s.next) {
		return
	}
	if err := o.Notifier.Notify(ctx, StallTimer); err != nil {
		o.log().Warn("wake-up notice failed, retrying", "timer", StallTimer, "err", err)
		return
	}
	receiver := "none"
	if obs.Receiver != nil {
		receiver = obs.Receiver.Status
	}
	o.log().Warn("the standby streams nothing: wake-up notice raised", "timer", StallTimer,
		"for", now.Sub(s.since).Round(time.Second), "receiver", receiver)
	s.wait = min(2*s.wait, StallRepeatMax)
	s.next = now.Add(s.wait)
}

func (o *Observer) stallAfter() time.Duration {
	if o.StallAfter <= 0 {
		return DefaultStallAfter
	}
	return o.StallAfter
}

// Run checks every interval until ctx ends.
func (o *Observer) Run(ctx context.Context, interval time.Duration) { every(ctx, interval, o.Check) }

func (o *Observer) heartbeat() time.Duration {
	if o.Heartbeat <= 0 {
		return DefaultHeartbeat
	}
	return o.Heartbeat
}

func (o *Observer) log() *slog.Logger {
	if o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log
}

// writeAtomic replaces path with data: a reader sees the old file or the new one, never a
// part of it.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing left to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
