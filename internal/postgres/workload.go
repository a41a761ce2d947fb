// Package postgres holds the workload verbs of the charm: one function per thing done to
// PostgreSQL in the workload container, over the container's Pebble (files, exec, services)
// and pgx (SQL).
//
// Paths. Every path in this package is a path inside the container (e.g.
// /var/lib/postgresql/data/pgdata). Workload.Host maps it to the path Pebble and PostgreSQL
// see, which differs only under jujulet (JUJULET_CONTAINERS_DIR, see docs/SEAMS.md), where
// the container root is a directory of the host and Pebble runs without a chroot.
//
// Secrets. Passwords reach PostgreSQL tools only through a passfile (0600, in a 0700 dir
// owned by the server's user) or the pgx connection config; never on a command line.
package postgres

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/canonical/pebble/client"
)

// Defaults of the Kubernetes sidecar.
const (
	Container     = "postgresql"
	MountPath     = "/var/lib/postgresql/data" // storage pgdata in the container
	ServiceName   = "postgresql"
	CheckName     = "postgresql-ready"    // this unit's server accepts TCP connections
	UpstreamCheck = "postgresql-upstream" // the server this unit streams from accepts them
	LayerLabel    = "postgresql-k8s"
	DefaultPort   = 5432
	DefaultOSUser = "postgres"
	binRoot       = "/usr/lib/postgresql"
)

// SupportedMajors are the PostgreSQL major versions the charm runs, newest first.
var SupportedMajors = []int{17, 16, 15, 14}

// SocketPath returns the workload Pebble socket and the container root on the host for
// container c: Kubernetes' paths, or jujulet's when containersDir (JUJULET_CONTAINERS_DIR) is set.
func SocketPath(containersDir, c string) (socket, root string) {
	if containersDir == "" {
		return filepath.Join("/charm/containers", c, "pebble.socket"), "/"
	}
	return filepath.Join(containersDir, c, "pebble.socket"), filepath.Join(containersDir, c, "rootfs")
}

// Workload is the PostgreSQL server of one unit, reached through its container's Pebble.
type Workload struct {
	Pebble *client.Client
	// guard cuts off Pebble calls that outlive their bound (nil: a client made elsewhere,
	// whose calls are still bounded but not cut off).
	guard  *pebbleGuard
	Root   string // host path of the container's "/" ("/" on Kubernetes)
	Mount  string // container path of the data storage (MountPath)
	BinDir string // container path of the PostgreSQL binaries, e.g. /usr/lib/postgresql/15/bin
	Major  int    // PostgreSQL major version of BinDir
	User   string // OS user running PostgreSQL; "" when it is Pebble's own user
	Group  string
	Addr   string // listen address (the unit's address)
	Port   int
	// WatchSocket is the Pebble socket as the watcher service sees it (InContainerSocket).
	WatchSocket string
	// Trust gives the CA each server this workload connects to is verified with (set by
	// the charm once it has read its CA; nil: no connection can be made, see ClientTLS).
	Trust Trust
	// ClientCert, when set, is the client certificate its connections present (certificate
	// authentication; nil: none).
	ClientCert *tls.Certificate
}

// Options for Open.
type Options struct {
	Socket string // Pebble socket path (host)
	Root   string // container root on the host ("/" when empty)
	Addr   string // unit address PostgreSQL listens on
	Port   int    // default 5432
	BinDir string // container path of the binaries (detected when empty)
	// WatchSocket is the socket path the watcher service uses (InContainerSocket).
	WatchSocket string
}

// Open connects to the workload Pebble and detects the binaries and the OS user. It fails
// with ErrNotReady when Pebble cannot be reached.
func Open(ctx context.Context, o Options) (*Workload, error) {
	pc, guard, err := newPebbleClient(o.Socket)
	if err != nil {
		return nil, fmt.Errorf("pebble client: %w", err)
	}
	w := &Workload{Pebble: pc, Root: o.Root, Mount: MountPath, BinDir: o.BinDir, Addr: o.Addr, Port: o.Port, WatchSocket: o.WatchSocket, guard: guard}
	if w.Root == "" {
		w.Root = "/"
	}
	if w.Port == 0 {
		w.Port = DefaultPort
	}
	// Pebble's system information (is it there?) and the binaries' detection are
	// independent calls: both at once; a Pebble that is not there is reported as such.
	var binErr error
	detected := make(chan struct{})
	go func() {
		defer close(detected)
		if w.BinDir == "" {
			binErr = w.DetectBinaries(ctx)
		}
	}()
	err = w.pebble(ctx, "pebble system-info", PebbleAPITimeout, func(pc *client.Client) error { _, err := pc.SysInfo(); return err })
	<-detected
	if err != nil {
		return nil, fmt.Errorf("%w: pebble at %s: %v", ErrNotReady, o.Socket, err)
	}
	// Pebble's user owns its socket: a stat is enough (no exec on every hook).
	if fi, err := os.Stat(o.Socket); err == nil {
		if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
			w.setUser(sys.Uid == 0)
		} else if err := w.DetectUser(ctx); err != nil {
			return nil, err
		}
	} else if err := w.DetectUser(ctx); err != nil {
		return nil, err
	}
	if binErr != nil {
		return nil, binErr
	}
	if o.BinDir != "" {
		if m, err := strconv.Atoi(path.Base(path.Dir(w.BinDir))); err == nil {
			w.Major = m
		}
	}
	return w, nil
}

// Version is the PostgreSQL major version of the binaries, as a string.
func (w *Workload) Version() string { return strconv.Itoa(w.Major) }

// Running reports whether Pebble runs the postgresql service.
func (w *Workload) Running(ctx context.Context) (bool, error) {
	st, err := w.ServiceStatus(ctx)
	return st == client.StatusActive, err
}

// ErrNotReady means the workload container (Pebble) or the binaries are not there yet.
var ErrNotReady = errors.New("workload not ready")

// Host maps a container path to the path Pebble and PostgreSQL use.
func (w *Workload) Host(p string) string {
	if w.Root == "" || w.Root == "/" {
		return p
	}
	return filepath.Join(w.Root, p)
}

// PGData is the container path of the data directory.
func (w *Workload) PGData() string { return path.Join(w.Mount, "pgdata") }

// PrivateDir is the container path of the charm's private directory (passfiles).
func (w *Workload) PrivateDir() string { return path.Join(w.Mount, ".charm") }

// PassfilePath is the container path of the libpq passfile the tools and walreceiver use.
func (w *Workload) PassfilePath() string { return path.Join(w.PrivateDir(), "pgpass") }

func (w *Workload) bin(name string) string { return w.Host(path.Join(w.BinDir, name)) }

// DetectUser sets User/Group: "postgres" when Pebble runs as root, Pebble's user otherwise.
func (w *Workload) DetectUser(ctx context.Context) error {
	out, err := w.execAs(ctx, "", []string{"id", "-u"}, nil, nil)
	if err != nil {
		return fmt.Errorf("%w: detect user (id -u): %v", ErrNotReady, err)
	}
	w.setUser(strings.TrimSpace(out) == "0")
	return nil
}

func (w *Workload) setUser(root bool) {
	if root {
		w.User, w.Group = DefaultOSUser, DefaultOSUser
	} else {
		w.User, w.Group = "", ""
	}
}

// DetectBinaries finds the newest supported PostgreSQL under /usr/lib/postgresql/<major>/bin.
// The majors are looked up at once, and decided newest first: the first error or match in
// that order is the answer.
func (w *Workload) DetectBinaries(ctx context.Context) error {
	type found struct {
		ok  bool
		err error
	}
	res := make([]found, len(SupportedMajors))
	var wg sync.WaitGroup
	for i, m := range SupportedMajors {
		wg.Go(func() {
			ok, err := w.Exists(ctx, path.Join(binRoot, strconv.Itoa(m), "bin", "postgres"))
			res[i] = found{ok, err}
		})
	}
	wg.Wait()
	for i, m := range SupportedMajors {
		if res[i].err != nil {
			return res[i].err
		}
		if res[i].ok {
			w.BinDir, w.Major = path.Join(binRoot, strconv.Itoa(m), "bin"), m
			return nil
		}
	}
	return fmt.Errorf("%w: no PostgreSQL %v under %s", ErrNotReady, SupportedMajors, binRoot)
}

// Exists reports whether a container path exists.
func (w *Workload) Exists(ctx context.Context, p string) (bool, error) {
	err := w.pebble(ctx, "stat "+p, PebbleAPITimeout, func(pc *client.Client) error {
		_, err := pc.ListFiles(&client.ListFilesOptions{Path: w.Host(p), Itself: true})
		return err
	})
	if err == nil {
		return true, nil
	}
	var pe *client.Error
	if errors.As(err, &pe) && pe.Kind == client.ErrorKindNotFound {
		return false, nil
	}
	return false, fmt.Errorf("stat %s: %w", p, err)
}

// List returns the names in a container directory (empty when it does not exist).
func (w *Workload) List(ctx context.Context, dir, pattern string) ([]string, error) {
	var infos []*client.FileInfo
	err := w.pebble(ctx, "list "+dir, PebbleAPITimeout, func(pc *client.Client) (err error) {
		infos, err = pc.ListFiles(&client.ListFilesOptions{Path: w.Host(dir), Pattern: pattern})
		return err
	})
	if err != nil {
		var pe *client.Error
		if errors.As(err, &pe) && pe.Kind == client.ErrorKindNotFound {
			return nil, nil
		}
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	names := make([]string, 0, len(infos))
	for _, fi := range infos {
		names = append(names, fi.Name())
	}
	sort.Strings(names)
	return names, nil
}

// ReadFile reads a container file.
func (w *Workload) ReadFile(ctx context.Context, p string) ([]byte, error) {
	var buf bytes.Buffer
	err := w.pebble(ctx, "read "+p, PebbleAPITimeout, func(pc *client.Client) error {
		return pc.Pull(&client.PullOptions{Path: w.Host(p), Target: &buf})
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return buf.Bytes(), nil
}

// WriteFile writes a container file owned by the server's user with mode perm.
func (w *Workload) WriteFile(ctx context.Context, p string, data []byte, perm os.FileMode) error {
	err := w.pebble(ctx, "write "+p, PebbleAPITimeout, func(pc *client.Client) error {
		return pc.Push(&client.PushOptions{
			Source: bytes.NewReader(data), Path: w.Host(p), Permissions: perm,
			User: w.User, Group: w.Group,
		})
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// writePrivate writes a file of the private dir (0600, owned by the server's user), creating
// the dir (0700) first when it is not there: the write is tried first, since the dir almost
// always is.
func (w *Workload) writePrivate(ctx context.Context, p string, data []byte) error {
	err := w.WriteFile(ctx, p, data, 0o600)
	var pe *client.Error
	if err == nil || !errors.As(err, &pe) || pe.Kind != client.ErrorKindNotFound {
		return err
	}
	if err := w.MakeDir(ctx, w.PrivateDir(), 0o700); err != nil {
		return err
	}
	return w.WriteFile(ctx, p, data, 0o600)
}

// holds reports whether the container file p holds exactly data, with mode perm and owned by
// the server's user (when the charm names one; otherwise Pebble's own user wrote it). Any
// doubt (an error, a missing file) is false: the caller writes it.
func (w *Workload) holds(ctx context.Context, p string, data []byte, perm os.FileMode) bool {
	var info *client.FileInfo
	var statErr error
	stat := make(chan struct{})
	go func() { // the stat and the read are independent: both at once
		defer close(stat)
		statErr = w.pebble(ctx, "stat "+p, PebbleAPITimeout, func(pc *client.Client) error {
			infos, err := pc.ListFiles(&client.ListFilesOptions{Path: w.Host(p), Itself: true})
			if err == nil && len(infos) == 1 {
				info = infos[0]
			}
			return err
		})
	}()
	old, err := w.ReadFile(ctx, p)
	<-stat
	if err != nil || statErr != nil || info == nil || !bytes.Equal(old, data) {
		return false
	}
	if info.Mode().Perm() != perm || !info.Mode().IsRegular() {
		return false
	}
	return w.User == "" || (info.User() == w.User && info.Group() == w.Group)
}

// MakeDir creates a container directory (and parents) owned by the server's user.
func (w *Workload) MakeDir(ctx context.Context, p string, perm os.FileMode) error {
	if ok, err := w.Exists(ctx, p); err != nil || ok {
		return err
	}
	err := w.pebble(ctx, "mkdir "+p, PebbleAPITimeout, func(pc *client.Client) error {
		return pc.MakeDir(&client.MakeDirOptions{Path: w.Host(p), MakeParents: true, Permissions: perm, User: w.User, Group: w.Group})
	})
	if err != nil {
		return fmt.Errorf("mkdir %s: %w", p, err)
	}
	return nil
}

// Remove removes a container path (recursively); a missing path is not an error.
func (w *Workload) Remove(ctx context.Context, p string) error {
	err := w.pebble(ctx, "remove "+p, PebbleRemoveTimeout, func(pc *client.Client) error {
		return pc.RemovePath(&client.RemovePathOptions{Path: w.Host(p), Recursive: true})
	})
	var pe *client.Error
	if err != nil && !(errors.As(err, &pe) && pe.Kind == client.ErrorKindNotFound) {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}

// ExecError is a command in the workload that failed.
type ExecError struct {
	Command  string
	ExitCode int
	Output   string // combined stderr/stdout tail
}

func (e *ExecError) Error() string {
	out := strings.TrimSpace(e.Output)
	if len(out) > 2000 {
		out = "..." + out[len(out)-2000:]
	}
	return fmt.Sprintf("%s: exit %d: %s", e.Command, e.ExitCode, out)
}

// Exec runs a command in the workload as the server's user with the libpq passfile set, for
// at most ctx's deadline, or the command's bound (execBound) when ctx has none.
func (w *Workload) Exec(ctx context.Context, cmd []string, stdin io.Reader) (string, error) {
	env := map[string]string{
		"LANG": "C.UTF-8", "LC_ALL": "C", "PGPASSFILE": w.Host(w.PassfilePath()),
		"PGCONNECT_TIMEOUT": "10", "HOME": w.Host(w.PrivateDir()),
	}
	return w.execAs(ctx, w.User, cmd, env, stdin)
}

// execAs runs cmd as user. Pebble kills the command at ctx's deadline (its exec timeout),
// and the wait for it is bounded too: a command that overran is an *ExecTimeoutError.
func (w *Workload) execAs(ctx context.Context, user string, cmd []string, env map[string]string, stdin io.Reader) (string, error) {
	name := path.Base(cmd[0])
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, execBound(name))
		defer cancel()
	}
	dl, _ := ctx.Deadline()
	bound := time.Until(dl).Round(time.Second)
	if time.Until(dl) <= 0 {
		return "", fmt.Errorf("exec %s: %w", name, context.DeadlineExceeded)
	}
	var stdout, stderr bytes.Buffer
	opts := &client.ExecOptions{
		Command: cmd, Environment: env, Stdout: &stdout, Stderr: &stderr, Stdin: stdin,
		WorkingDir: "/", Timeout: time.Until(dl),
	}
	if user != "" {
		opts.User, opts.Group = user, w.Group
	}
	// The process uses its client until it is waited for: the client is given back then.
	pc, err := w.takeClient()
	if err != nil {
		return "", fmt.Errorf("exec %s: pebble client: %w", name, err)
	}
	var p *client.ExecProcess
	err = w.pebbleOn(ctx, pc, "exec "+name, PebbleAPITimeout, func(pc *client.Client) (err error) {
		p, err = pc.Exec(opts)
		return err
	})
	if err != nil {
		// Not given back: a call that was cut off may still be using it.
		return "", fmt.Errorf("exec %s: %w", name, err)
	}
	done := make(chan error, 1)
	go func() {
		err := p.Wait()
		w.giveClient(pc)
		done <- err
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		// Pebble kills the command at the same moment; make sure, then stop waiting for a
		// Pebble that does not report it.
		_ = p.SendSignal("SIGKILL")
		var out string
		select {
		case <-done: // the output is complete (and no longer written to)
			out = stderr.String() + stdout.String()
		case <-time.After(pebbleDialTimeout):
			w.cutOffPebble()
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "", &ExecTimeoutError{Command: name, Bound: bound, Output: out}
		}
		return "", fmt.Errorf("exec %s: %w", name, ctx.Err())
	}
	if err != nil {
		var ee *client.ExitError
		if errors.As(err, &ee) {
			return stdout.String(), &ExecError{Command: name, ExitCode: ee.ExitCode(), Output: stderr.String() + stdout.String()}
		}
		if strings.Contains(err.Error(), "timed out after") {
			return stdout.String(), &ExecTimeoutError{Command: name, Bound: bound, Output: stderr.String() + stdout.String()}
		}
		return stdout.String(), fmt.Errorf("exec %s: %w", name, err)
	}
	return stdout.String(), nil
}

// ExecTimeoutError is a workload command killed at its bound.
type ExecTimeoutError struct {
	Command string
	Bound   time.Duration
	Output  string // combined stderr/stdout tail
}

func (e *ExecTimeoutError) Error() string {
	msg := fmt.Sprintf("%s did not finish within %v and was killed", e.Command, e.Bound)
	if out := strings.TrimSpace(e.Output); out != "" {
		if len(out) > 500 {
			out = "..." + out[len(out)-500:]
		}
		msg += ": " + out
	}
	return msg
}

// Unwrap makes it a context.DeadlineExceeded.
func (e *ExecTimeoutError) Unwrap() error { return context.DeadlineExceeded }
