package uniter

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/juju/charm/v12/hooks"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
)

// JujuVersion is the Juju version jujulet reports.
const JujuVersion = "3.6.11"

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (u *Uniter) lookup(id string) (hooktoolsContext, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	c, ok := u.contexts[id]
	if !ok {
		return nil, false
	}
	return c, true
}

// kubernetesEnv are the variables of the agent's environment a hook inherits where set, as
// Juju's ContextAllowedEnvVars (a Kubernetes pod's service discovery variables).
var kubernetesEnv = []string{
	"KUBERNETES_PORT",
	"KUBERNETES_PORT_443_TCP",
	"KUBERNETES_PORT_443_TCP_ADDR",
	"KUBERNETES_PORT_443_TCP_PORT",
	"KUBERNETES_PORT_443_TCP_PROTO",
	"KUBERNETES_SERVICE",
	"KUBERNETES_SERVICE_HOST",
	"KUBERNETES_SERVICE_PORT",
	"KUBERNETES_SERVICE_PORT_HTTPS",
}

// env builds the dispatch environment from scratch, with the variables Juju's
// HookContext.HookVars sets, each in the hooks where Juju sets it.
func (u *Uniter) env(hc *hookCtx) []string {
	var env []string
	for _, k := range kubernetesEnv {
		if v, ok := u.cfg.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	cd := u.charmDir()
	env = append(env,
		"JUJU_CHARM_DIR="+cd,
		"CHARM_DIR="+cd,
		"JUJU_CONTEXT_ID="+hc.id,
		"JUJU_AGENT_SOCKET_ADDRESS="+u.socketPath(),
		"JUJU_AGENT_SOCKET_NETWORK=unix",
		"JUJU_UNIT_NAME="+u.name,
		"JUJU_MODEL_NAME="+u.modelName,
		"JUJU_MODEL_UUID="+u.model,
		"JUJU_VERSION="+JujuVersion,
		"JUJU_API_ADDRESSES=127.0.0.1:17070",
		"JUJU_SLA=unsupported",
		"JUJU_MACHINE_ID=", // a Kubernetes unit has no machine
		"JUJU_AVAILABILITY_ZONE=",
		"JUJU_PRINCIPAL_UNIT=",
		// There is no cloud API: Juju exports it empty when it cannot read the version.
		"CLOUD_API_VERSION=",
		"JUJU_CHARM_HTTP_PROXY=",
		"JUJU_CHARM_HTTPS_PROXY=",
		"JUJU_CHARM_FTP_PROXY=",
		"JUJU_CHARM_NO_PROXY=",
		// Juju's Ubuntu environment.
		"APT_LISTCHANGES_FRONTEND=none",
		"DEBIAN_FRONTEND=noninteractive",
		"LANG=C.UTF-8",
		"TERM=tmux-256color",
		"PATH="+u.toolsDir()+":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"JUJULET_CONTAINERS_DIR="+u.podDir(),
	)
	if h := hc.hook; h != nil {
		env = append(env, "JUJU_HOOK_NAME="+h.Name, "JUJU_DISPATCH_PATH=hooks/"+h.Name)
		env = append(env, hookEnv(hc, h)...)
	} else if a := hc.action; a != nil {
		env = append(env, "JUJU_HOOK_NAME=", "JUJU_DISPATCH_PATH=actions/"+a.Name,
			"JUJU_ACTION_NAME="+a.Name, "JUJU_ACTION_UUID="+strconv.Itoa(a.ID),
			fmt.Sprintf("JUJU_ACTION_TAG=action-%d", a.ID))
	}
	return env
}

// hookEnv is the environment only some hooks get: relation, workload, storage and secret
// hooks.
func hookEnv(hc *hookCtx, h *st.Hook) []string {
	var env []string
	if h.Kind.IsRelation() {
		env = append(env,
			"JUJU_RELATION="+h.Endpoint,
			fmt.Sprintf("JUJU_RELATION_ID=%s:%d", h.Endpoint, h.RelID),
			"JUJU_REMOTE_UNIT="+h.RemoteUnit,
			"JUJU_REMOTE_APP="+h.RemoteApp)
		if h.Kind == hooks.RelationDeparted {
			env = append(env, "JUJU_DEPARTING_UNIT="+h.Departing)
		}
	}
	if h.Kind.IsWorkload() {
		// As Juju's hook context: the workload in every workload hook, the notice in
		// custom-notice hooks, the check in check hooks.
		env = append(env, "JUJU_WORKLOAD_NAME="+h.Container)
		switch h.Kind {
		case hooks.PebbleCustomNotice:
			env = append(env, "JUJU_NOTICE_ID="+h.NoticeID, "JUJU_NOTICE_TYPE="+h.NoticeType, "JUJU_NOTICE_KEY="+h.NoticeKey)
		case hooks.PebbleCheckFailed, hooks.PebbleCheckRecovered:
			env = append(env, "JUJU_PEBBLE_CHECK_NAME="+h.Check)
		}
	}
	if h.Kind.IsStorage() && h.Storage != "" {
		env = append(env, "JUJU_STORAGE_ID="+h.Storage)
		// Juju leaves out the location and kind of storage it cannot find.
		loc, lerr := hc.StorageAttribute(h.Storage, "location")
		kind, kerr := hc.StorageAttribute(h.Storage, "kind")
		if lerr == nil && kerr == nil {
			env = append(env, "JUJU_STORAGE_LOCATION="+loc, "JUJU_STORAGE_KIND="+kind)
		}
	}
	if h.Kind.IsSecret() && h.SecretURI != "" {
		env = append(env, "JUJU_SECRET_ID="+h.SecretURI, "JUJU_SECRET_LABEL="+h.SecretLbl)
		// Only the hooks about one revision name it (Juju's SecretHookRequiresRevision).
		if (h.Kind == hooks.SecretRemove || h.Kind == hooks.SecretExpired) && h.SecretRev > 0 {
			env = append(env, "JUJU_SECRET_REVISION="+strconv.Itoa(h.SecretRev))
		}
	}
	return env
}

// execute runs the charm for the context's hook or action.
func (u *Uniter) execute(ctx context.Context, hc *hookCtx) (code int, stdout, stderr string, err error) {
	u.mu.Lock()
	u.contexts[hc.id] = hc
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		delete(u.contexts, hc.id)
		u.mu.Unlock()
	}()
	cd := u.charmDir()
	var path string
	if _, err := os.Stat(filepath.Join(cd, "dispatch")); err == nil {
		path = filepath.Join(cd, "dispatch")
	} else if hc.hook != nil {
		path = filepath.Join(cd, "hooks", hc.hook.Name)
		if _, err := os.Stat(path); err != nil {
			return 0, "", "", nil // missing hook counts as success
		}
	} else {
		path = filepath.Join(cd, "actions", hc.action.Name)
		if _, err := os.Stat(path); err != nil {
			return -1, "", "", errors.New("action not implemented on unit")
		}
	}
	cmd := exec.CommandContext(ctx, path)
	cmd.Dir = cd
	cmd.Env = u.env(hc)
	// The hook runs in its own process group: cancelling kills all of it, and output
	// pipes held open by stray background children do not block the agent for long.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	outW := &lineLogger{u: u, level: "DEBUG"}
	errW := &lineLogger{u: u, level: "WARNING"}
	cmd.Stdout, cmd.Stderr = outW, errW
	if err := cmd.Start(); err != nil {
		return -1, "", "", fmt.Errorf("cannot run %s: %w", path, err)
	}
	group := u.hookGroupFile()
	if err := recordHookGroup(group, cmd.Process.Pid, hc.id); err != nil {
		u.log.Warn("hook process group not recorded", "err", err)
	}
	werr := cmd.Wait()
	_ = os.Remove(group)
	outW.flush()
	errW.flush()
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		return ee.ExitCode(), outW.output(), errW.output(), nil
	}
	if werr != nil && !errors.Is(werr, exec.ErrWaitDelay) {
		return -1, outW.output(), errW.output(), fmt.Errorf("cannot run %s: %w", path, werr)
	}
	return 0, outW.output(), errW.output(), nil
}

// Bounds on what is kept of a hook's output: a charm printing without end must not
// exhaust the controller's memory or its log.
const (
	maxOutputBytes = 1 << 20  // kept per stream (an action's stdout or stderr result)
	maxLineBytes   = 64 << 10 // a longer line is logged in pieces
)

// lineLogger keeps the start of a hook's output and logs it line by line, up to
// maxOutputBytes.
type lineLogger struct {
	u         *Uniter
	level     string
	mu        sync.Mutex
	buf       bytes.Buffer
	truncated bool
	partial   []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	room := maxOutputBytes - l.buf.Len()
	if len(p) > room {
		if !l.truncated {
			l.u.logf("WARNING", "hook output over %d bytes: the rest is neither kept nor logged", maxOutputBytes)
		}
		l.truncated = true
	}
	if room <= 0 {
		return len(p), nil // read and dropped, so that the hook is not blocked
	}
	rest := p[:min(len(p), room)]
	l.buf.Write(rest)
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			l.partial = append(l.partial, rest...)
			for len(l.partial) >= maxLineBytes {
				l.u.logf(l.level, "%s", l.partial[:maxLineBytes])
				l.partial = append(l.partial[:0], l.partial[maxLineBytes:]...)
			}
			break
		}
		l.partial = append(l.partial, rest[:i]...)
		l.u.logf(l.level, "%s", l.partial)
		l.partial = l.partial[:0]
		rest = rest[i+1:]
	}
	return len(p), nil
}

func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.u.logf(l.level, "%s", l.partial)
		l.partial = nil
	}
}

// output is what was kept of the stream, marked when cut short.
func (l *lineLogger) output() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.truncated {
		return l.buf.String() + "\n[output truncated]\n"
	}
	return l.buf.String()
}
