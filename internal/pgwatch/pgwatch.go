// Package pgwatch is the charm's watcher in the workload container: a small loop that reads
// the timers file the charm writes and raises a Pebble custom notice when one of its
// deadlines passes, so that Juju runs the <container>-pebble-custom-notice hook on time
// without waiting for update-status (see docs/HA.md). It also observes its server
// (observe.go), and raises the same notice for a standby that streams nothing.
//
// The watcher is the charm's own static binary, pushed into the container by the charm and
// run as a Pebble service ("dispatch pg-watch ..."): the container needs nothing installed.
package pgwatch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/canonical/pebble/client"
)

// NoticeKey is the key of the custom notices the watcher raises. Pebble requires custom
// keys of the form domain.tld/path.
const NoticeKey = "postgresql-k8s.charm/wake"

// Subcommand is argv[1] that makes the charm binary run the watcher instead of a hook.
const Subcommand = "pg-watch"

// DefaultInterval is how often the watcher reads the timers file: the lateness of a wake-up
// is at most this (plus Juju's hook queue).
const DefaultInterval = 250 * time.Millisecond

// Timers are named deadlines: the charm asks to be woken up at each of them.
type Timers map[string]time.Time

// file is the timers file's JSON form.
type file struct {
	Timers map[string]time.Time `json:"timers"`
}

var validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`) })

// ValidName reports whether name can be a timer name (lower-case letters, digits, dashes).
func ValidName(name string) bool { return validName().MatchString(name) }

// Parse reads a timers file. An empty file is no timers; entries with invalid names or zero
// deadlines are an error, so that a damaged file is noticed rather than half-used.
func Parse(b []byte) (Timers, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return Timers{}, nil
	}
	var f file
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("timers file: %w", err)
	}
	if dec.More() {
		return nil, errors.New("timers file: trailing data")
	}
	t := Timers{}
	for name, at := range f.Timers {
		if !ValidName(name) {
			return nil, fmt.Errorf("timers file: invalid timer name %q", name)
		}
		if at.IsZero() {
			return nil, fmt.Errorf("timers file: timer %q has no deadline", name)
		}
		t[name] = at
	}
	return t, nil
}

// Encode renders the timers file (keys sorted: equal timers encode to equal bytes).
func (t Timers) Encode() []byte {
	m := map[string]time.Time{}
	for name, at := range t {
		m[name] = at.UTC()
	}
	b, err := json.Marshal(file{Timers: m})
	if err != nil {
		panic(err) // a map of times always marshals
	}
	return append(b, '\n')
}

// Equal reports whether t and o hold the same deadlines.
func (t Timers) Equal(o Timers) bool {
	return maps.EqualFunc(t, o, func(a, b time.Time) bool { return a.Equal(b) })
}

// Next returns the earliest deadline (zero when there is none).
func (t Timers) Next() time.Time {
	var next time.Time
	for _, at := range t {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next
}

// Notifier raises the wake-up notice for a timer.
type Notifier interface {
	Notify(ctx context.Context, timer string) error
}

// PebbleNotifier raises custom notices on a Pebble.
type PebbleNotifier struct{ Client *client.Client }

// Notify records one occurrence of NoticeKey with the timer's name in its data.
func (p PebbleNotifier) Notify(ctx context.Context, timer string) error {
	_, err := p.Client.Notify(&client.NotifyOptions{Type: client.CustomNotice, Key: NoticeKey, Data: map[string]string{"timer": timer}})
	if err != nil {
		return fmt.Errorf("pebble notify %s: %w", NoticeKey, err)
	}
	return nil
}

// Watcher raises a notice once for each deadline of the timers file that has passed.
type Watcher struct {
	Path     string // host path of the timers file
	Notifier Notifier
	Log      *slog.Logger

	fired   map[string]time.Time // deadline each timer was last raised for
	lastErr string               // last file problem logged (logged once, not every tick)
}

// Check reads the timers file and raises a notice for every timer due at now that was not
// raised for that deadline yet. A missing file is no timers; a bad one is logged and
// ignored (the charm rewrites it). A failed notice is tried again on the next Check.
func (w *Watcher) Check(ctx context.Context, now time.Time) {
	if w.fired == nil {
		w.fired = map[string]time.Time{}
	}
	b, err := os.ReadFile(w.Path)
	if errors.Is(err, fs.ErrNotExist) {
		b, err = nil, nil
	}
	var timers Timers
	if err == nil {
		timers, err = Parse(b)
	}
	if err != nil {
		if msg := err.Error(); msg != w.lastErr {
			w.lastErr = msg
			w.log().Warn("ignoring the timers file", "path", w.Path, "err", err)
		}
		return
	}
	w.lastErr = ""
	names := slices.Sorted(maps.Keys(timers))
	for _, name := range names {
		at := timers[name]
		if at.After(now) || w.fired[name].Equal(at) {
			continue
		}
		if err := w.Notifier.Notify(ctx, name); err != nil {
			w.log().Warn("wake-up notice failed, retrying", "timer", name, "err", err)
			continue
		}
		w.fired[name] = at
		w.log().Info("wake-up notice raised", "timer", name, "deadline", at.UTC().Format(time.RFC3339Nano), "late", now.Sub(at).Round(time.Millisecond))
	}
	// Forget timers the charm removed, so that a later timer of the same name and deadline
	// fires again.
	for name := range w.fired {
		if _, ok := timers[name]; !ok {
			delete(w.fired, name)
		}
	}
}

func (w *Watcher) log() *slog.Logger {
	if w.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return w.Log
}

// Run checks every interval until ctx ends.
func (w *Watcher) Run(ctx context.Context, interval time.Duration) { every(ctx, interval, w.Check) }

// every calls check at once, then every interval, until ctx ends.
func every(ctx context.Context, interval time.Duration, check func(context.Context, time.Time)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		check(ctx, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Server is how the observer reaches its server: the flags Main passes to NewProbe.
type Server struct {
	Addr     string // host:port of the server (the unit's address)
	User     string // a role with pg_monitor
	Passfile string // host path of the libpq passfile that holds User's password
	CAFile   string // host path of the CAs the server's certificate chains to
}

// NewProbe makes the probe of a server (postgres.NewProbe in the charm's binary).
type NewProbe func(Server) Probe

// DefaultObserveInterval is how often the observer reads its server.
const DefaultObserveInterval = time.Second

// Main runs the watcher: args are the arguments after the subcommand. With --observe it also
// keeps the observation file of the server the other flags name (newProbe reads it).
func Main(ctx context.Context, args []string, stderr io.Writer, newProbe NewProbe) int {
	fl := flag.NewFlagSet(Subcommand, flag.ContinueOnError)
	fl.SetOutput(stderr)
	socket := fl.String("socket", "", "Pebble socket of the workload container")
	timers := fl.String("timers", "", "timers file the charm writes")
	interval := fl.Duration("interval", DefaultInterval, "how often the timers file is read")
	observe := fl.String("observe", "", "observation file this watcher keeps (optional)")
	var srv Server
	fl.StringVar(&srv.Addr, "server", "", "host:port of the observed server")
	fl.StringVar(&srv.User, "user", "", "role the observer logs in as")
	fl.StringVar(&srv.Passfile, "passfile", "", "passfile that holds the role's password")
	fl.StringVar(&srv.CAFile, "ca", "", "CA file the server's certificate chains to")
	usage := func() int {
		fmt.Fprintln(stderr, "usage: pg-watch --socket PEBBLE_SOCKET --timers FILE [--interval D] [--observe FILE --server HOST:PORT --user ROLE --passfile FILE --ca FILE]")
		return 2
	}
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if *socket == "" || *timers == "" || *interval <= 0 || fl.NArg() > 0 {
		return usage()
	}
	observing := *observe != "" || srv != Server{}
	if observing && (*observe == "" || srv.Addr == "" || srv.User == "" || srv.Passfile == "" || srv.CAFile == "" || newProbe == nil) {
		return usage()
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	pc, err := client.New(&client.Config{Socket: *socket})
	if err != nil {
		log.Error("pebble client", "err", err)
		return 1
	}
	notifier := PebbleNotifier{Client: pc}
	var wg sync.WaitGroup
	if observing {
		log.Info("observing the server", "server", srv.Addr, "user", srv.User, "file", *observe)
		o := &Observer{Path: *observe, Probe: newProbe(srv), Notifier: notifier, Log: log}
		wg.Go(func() { o.Run(ctx, DefaultObserveInterval) })
	}
	log.Info("watching timers", "timers", *timers, "socket", *socket, "interval", *interval)
	w := &Watcher{Path: *timers, Notifier: notifier, Log: log}
	w.Run(ctx, *interval)
	wg.Wait()
	return 0
}
