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
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/juju/charm/v12/hooks"
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

// env builds the dispatch environment from scratch.
func (u *Uniter) env(hc *hookCtx) []string {
	cd := u.charmDir()
	env := []string{
		"JUJU_CHARM_DIR=" + cd,
		"CHARM_DIR=" + cd,
		"JUJU_CONTEXT_ID=" + hc.id,
		"JUJU_AGENT_SOCKET_ADDRESS=" + u.socketPath(),
		"JUJU_AGENT_SOCKET_NETWORK=unix",
		"JUJU_UNIT_NAME=" + u.name,
		"JUJU_MODEL_NAME=" + u.modelName,
		"JUJU_MODEL_UUID=" + u.model,
		"JUJU_VERSION=" + JujuVersion,
		"JUJU_API_ADDRESSES=127.0.0.1:17070",
		"JUJU_SLA=unsupported",
		"JUJU_AVAILABILITY_ZONE=",
		"JUJU_PRINCIPAL_UNIT=",
		"JUJU_CHARM_HTTP_PROXY=",
		"JUJU_CHARM_HTTPS_PROXY=",
		"JUJU_CHARM_FTP_PROXY=",
		"JUJU_CHARM_NO_PROXY=",
		"LANG=C.UTF-8",
		"PATH=" + u.toolsDir() + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"JUJULET_CONTAINERS_DIR=" + u.podDir(),
	}
	if h := hc.hook; h != nil {
		env = append(env, "JUJU_HOOK_NAME="+h.Name, "JUJU_DISPATCH_PATH=hooks/"+h.Name)
		if strings.HasPrefix(h.Kind, "relation-") {
			env = append(env,
				"JUJU_RELATION="+h.Endpoint,
				fmt.Sprintf("JUJU_RELATION_ID=%s:%d", h.Endpoint, h.RelID),
				"JUJU_REMOTE_UNIT="+h.RemoteUnit,
				"JUJU_REMOTE_APP="+h.RemoteApp)
			if h.Kind == "relation-departed" {
				env = append(env, "JUJU_DEPARTING_UNIT="+h.Departing)
			}
		}
		if k := hooks.Kind(h.Kind); k.IsWorkload() {
			// As Juju's hook context: the workload in every workload hook, the notice in
			// custom-notice hooks, the check in check hooks.
			env = append(env, "JUJU_WORKLOAD_NAME="+h.Container)
			switch k {
			case hooks.PebbleCustomNotice:
				env = append(env, "JUJU_NOTICE_ID="+h.NoticeID, "JUJU_NOTICE_TYPE="+h.NoticeType, "JUJU_NOTICE_KEY="+h.NoticeKey)
			case hooks.PebbleCheckFailed, hooks.PebbleCheckRecovered:
				env = append(env, "JUJU_PEBBLE_CHECK_NAME="+h.Check)
			}
		}
		if h.Storage != "" {
			env = append(env, "JUJU_STORAGE_ID="+h.Storage)
		}
		if h.SecretURI != "" {
			env = append(env, "JUJU_SECRET_ID="+h.SecretURI, "JUJU_SECRET_LABEL="+h.SecretLbl)
		}
	} else if a := hc.action; a != nil {
		env = append(env, "JUJU_HOOK_NAME=", "JUJU_DISPATCH_PATH=actions/"+a.Name,
			"JUJU_ACTION_NAME="+a.Name, "JUJU_ACTION_UUID="+strconv.Itoa(a.ID),
			fmt.Sprintf("JUJU_ACTION_TAG=action-%d", a.ID))
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
	werr := cmd.Run()
	outW.flush()
	errW.flush()
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		return ee.ExitCode(), outW.buf.String(), errW.buf.String(), nil
	}
	if werr != nil && !errors.Is(werr, exec.ErrWaitDelay) {
		return -1, outW.buf.String(), errW.buf.String(), fmt.Errorf("cannot run %s: %w", path, werr)
	}
	return 0, outW.buf.String(), errW.buf.String(), nil
}

// lineLogger keeps a hook's output and logs it line by line.
type lineLogger struct {
	u       *Uniter
	level   string
	mu      sync.Mutex
	buf     bytes.Buffer
	partial []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.u.logf(l.level, "%s", l.partial[:i])
		l.partial = l.partial[i+1:]
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
