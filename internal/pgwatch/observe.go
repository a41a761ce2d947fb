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
type Observer struct {
	Path      string // host path of the observation file
	Probe     Probe
	Heartbeat time.Duration
	Log       *slog.Logger

	last     Observation
	written  time.Time
	lastErr  string
	hasShape bool
}

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
