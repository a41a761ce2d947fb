package postgres

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/canonical/pebble/client"
	"github.com/jujulet/postgresql-k8s/internal/pgwatch"
)

// The watcher (internal/pgwatch) runs in the workload container as a Pebble service. Its
// binary is the charm's own, pushed into the container's filesystem (not the storage: it is
// run as Pebble's user, and the storage is writable by the server's user).
const (
	WatchService    = "pg-watch"
	WatchLayerLabel = "postgresql-k8s-watch"
	WatchDir        = "/var/lib/postgresql-k8s"
	watchBin        = WatchDir + "/pg-watch"
	watchMarker     = WatchDir + "/pg-watch.sha256"
	// ObservationPath is the container path of the file the watcher keeps its observation of
	// the server in (pgwatch.Observer).
	ObservationPath = WatchDir + "/observed.json"
)

// InContainerSocket is the workload Pebble's socket as a process inside the container sees
// it: Kubernetes mounts it at /charm/container/pebble.socket; under jujulet (containersDir
// set) services run on the host and use the host path (see docs/SEAMS.md).
func InContainerSocket(containersDir, c string) string {
	if containersDir == "" {
		return "/charm/container/pebble.socket"
	}
	socket, _ := SocketPath(containersDir, c)
	return socket
}

// TimersPath is the container path of the timers file the watcher reads.
func (w *Workload) TimersPath() string { return path.Join(w.PrivateDir(), "timers.json") }

// WatchLayer renders the watcher's layer. It runs as Pebble's own user: Juju reads the
// notices as Pebble's administrator, who by default sees only its own and public ones.
func (w *Workload) WatchLayer() string {
	var b strings.Builder
	b.WriteString("summary: postgresql-k8s watcher\n")
	b.WriteString("description: raises the charm's wake-up notices (postgresql-k8s.charm/wake)\n")
	b.WriteString("services:\n")
	b.WriteString("  " + WatchService + ":\n")
	b.WriteString("    override: replace\n")
	b.WriteString("    summary: postgresql-k8s timers\n")
	fmt.Fprintf(&b, "    command: %s %s --socket %s --timers %s", w.Host(watchBin), pgwatch.Subcommand, w.WatchSocket, w.Host(w.TimersPath()))
	if w.Addr != "" {
		srv := w.ObservedServer()
		fmt.Fprintf(&b, " --observe %s --server %s --user %s --passfile %s --ca %s", w.Host(ObservationPath), srv.Addr, srv.User, srv.Passfile, srv.CAFile)
	}
	b.WriteString("\n")
	b.WriteString("    startup: enabled\n")
	b.WriteString("    on-success: restart\n    on-failure: restart\n")
	return b.String()
}

// ObservedServer is how the watcher reaches this workload's server: as the monitoring user
// (pg_monitor; its password is in the passfile the walreceiver reads), verified with the
// cluster's CA (host paths).
func (w *Workload) ObservedServer() pgwatch.Server {
	return pgwatch.Server{
		Addr: net.JoinHostPort(w.Addr, strconv.Itoa(cmp.Or(w.Port, DefaultPort))), User: ObserveUser,
		Passfile: w.Host(w.PassfilePath()), CAFile: w.Host(w.TLSPath(CAFile)),
	}
}

// EnsureWatcher makes the watcher service run the binary at exe: it pushes the binary only
// when its content (or the layer) changed since the last push, adds the layer when Pebble's
// plan lacks the service (a restarted Pebble forgets added layers) and (re)starts it.
//
// The marker beside the binary holds the SHA-256 of binary and layer, then a stamp of the
// binary's size and modification time and of the layer: while the stamp matches, the ~11 MB
// binary is not even read.
func (w *Workload) EnsureWatcher(ctx context.Context, exe string) error {
	if w.WatchSocket == "" {
		return errors.New("watcher: no Pebble socket for the container")
	}
	f, err := os.Open(exe)
	if err != nil {
		return fmt.Errorf("watcher binary: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("watcher binary: %w", err)
	}
	layer := w.WatchLayer()
	lh := sha256.Sum256([]byte(layer))
	stamp := fmt.Sprintf("%d/%d/%x", fi.Size(), fi.ModTime().UnixNano(), lh[:8])
	// The service's state is read at once with the marker (a push does not change it).
	var infos []*client.ServiceInfo
	var servicesErr error
	servicesRead := make(chan struct{})
	go func() {
		defer close(servicesRead)
		servicesErr = w.pebble(ctx, "pebble services", PebbleAPITimeout, func(pc *client.Client) (err error) {
			infos, err = pc.Services(&client.ServicesOptions{Names: []string{WatchService}})
			return err
		})
	}()
	defer func() { <-servicesRead }()
	var oldSum, oldStamp string
	if b, err := w.ReadFile(ctx, watchMarker); err == nil {
		oldSum, oldStamp, _ = strings.Cut(strings.TrimSpace(string(b)), " ")
	}
	sum := oldSum
	if oldStamp != stamp || oldSum == "" {
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return fmt.Errorf("watcher binary: %w", err)
		}
		h.Write([]byte(layer))
		sum = hex.EncodeToString(h.Sum(nil))
	}
	pushed := false
	if sum != oldSum {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("watcher binary: %w", err)
		}
		err := w.pebble(ctx, "push watcher", PebbleTransferTimeout, func(pc *client.Client) error {
			return pc.Push(&client.PushOptions{Source: f, Path: w.Host(watchBin), MakeDirs: true, Permissions: 0o755})
		})
		if err != nil {
			return fmt.Errorf("push watcher: %w", err)
		}
		pushed = true
	}
	<-servicesRead
	if err := servicesErr; err != nil {
		return fmt.Errorf("pebble services: %w", err)
	}
	if len(infos) == 0 || pushed {
		err := w.pebble(ctx, "add watcher layer", PebbleAPITimeout, func(pc *client.Client) error {
			return pc.AddLayer(&client.AddLayerOptions{Combine: true, Label: WatchLayerLabel, LayerData: []byte(layer)})
		})
		if err != nil {
			return fmt.Errorf("add watcher layer: %w", err)
		}
	}
	active := len(infos) > 0 && infos[0].Current == client.StatusActive
	// The change is not waited for: the watcher's start is Pebble's business, and the next
	// hook starts it again if it did not come up.
	switch {
	case active && pushed:
		err = w.pebble(ctx, "restart watcher", PebbleAPITimeout, func(pc *client.Client) error {
			_, err := pc.Restart(&client.ServiceOptions{Names: []string{WatchService}})
			return err
		})
	case !active:
		err = w.pebble(ctx, "start watcher", PebbleAPITimeout, func(pc *client.Client) error {
			_, err := pc.Start(&client.ServiceOptions{Names: []string{WatchService}})
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("start watcher: %w", err)
	}
	if sum != oldSum || stamp != oldStamp {
		// Written last: a push that failed half-way is retried by the next hook.
		marker := []byte(sum + " " + stamp + "\n")
		err := w.pebble(ctx, "write watcher marker", PebbleAPITimeout, func(pc *client.Client) error {
			return pc.Push(&client.PushOptions{Source: bytes.NewReader(marker), Path: w.Host(watchMarker), MakeDirs: true, Permissions: 0o644})
		})
		if err != nil {
			return fmt.Errorf("write watcher marker: %w", err)
		}
	}
	return nil
}

// ReadTimers reads the timers file (no timers when it does not exist).
func (w *Workload) ReadTimers(ctx context.Context) (pgwatch.Timers, error) {
	b, err := w.ReadFile(ctx, w.TimersPath())
	if err != nil {
		var pe *client.Error
		if errors.As(err, &pe) && pe.Kind == client.ErrorKindNotFound {
			return pgwatch.Timers{}, nil
		}
		return nil, err
	}
	return pgwatch.Parse(b)
}

// ReadObservation reads the watcher's observation of the server (an error when there is none
// yet, or it is damaged).
func (w *Workload) ReadObservation(ctx context.Context) (pgwatch.Observation, error) {
	b, err := w.ReadFile(ctx, ObservationPath)
	if err != nil {
		return pgwatch.Observation{}, err
	}
	return pgwatch.ParseObservation(b)
}

// WriteTimers replaces the timers file (0600, owned by the server's user, in the private dir).
func (w *Workload) WriteTimers(ctx context.Context, t pgwatch.Timers) error {
	return w.writePrivate(ctx, w.TimersPath(), t.Encode())
}
