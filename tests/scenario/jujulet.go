package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/jujulet/postgresql-k8s/internal/postgres/pgtest"
)

// Jujulet is the Backend for a jujulet controller driven through its CLI, exactly as a user
// types the commands.
type Jujulet struct {
	Bin  string // path of the jujulet binary
	Home string // JUJULET_HOME
	Env  []string
	// UpdateStatusInterval, when set, is given to every model AddModel creates, so that
	// failure detection in tests does not wait for jujulet's default interval.
	UpdateStatusInterval time.Duration
}

// Test timings: a short leadership lease, so that the loss of a leader's pod is noticed in
// seconds (Juju's lease is 60 s), and an update-status interval of an hour: the charm learns
// of failures from its Pebble checks and fires its timers through its watcher's notices, and
// a suite that passes with it proves that no bound waits for update-status.
const (
	testLease                = "10s"
	testUpdateStatusInterval = time.Hour
)

// UpdateStatusEnv overrides the tests' update-status interval (an hour).
const UpdateStatusEnv = "JUJULET_TEST_UPDATE_STATUS_INTERVAL"

// StartJujulet bootstraps a private jujulet controller for the test and kills it at cleanup.
// The binaries come from $JUJULET_BIN (set by `make test`).
func StartJujulet(t testing.TB) *Jujulet {
	t.Helper()
	binDir := os.Getenv("JUJULET_BIN")
	if binDir == "" {
		pgtest.Unavailable(t, "JUJULET_BIN not set: run through `make test`, which builds bin/jujulet and the charm")
	}
	if !pgtest.HavePostgres() {
		pgtest.Unavailable(t, pgtest.NoPostgres)
	}
	// A short private dir that the postgres user can traverse (units run PostgreSQL as postgres
	// when the tests run as root), and short enough for unix socket paths.
	home, err := os.MkdirTemp("", "jl")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o711); err != nil {
		t.Fatal(err)
	}
	j := &Jujulet{
		Bin:  filepath.Join(binDir, "jujulet"),
		Home: home,
		Env: append(os.Environ(),
			"JUJULET_HOME="+home,
			"JUJULET_PEBBLE="+filepath.Join(binDir, "pebble"),
			"JUJULET_LEASE="+testLease,
		),
		UpdateStatusInterval: testUpdateStatusInterval,
	}
	// A suite can also run with update-status far more often than Juju runs it, so that its
	// hooks (steady or not, charm/steady.go) interleave with everything the tests do.
	if v := os.Getenv(UpdateStatusEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			t.Fatalf("%s=%q: want a duration of at least 1s", UpdateStatusEnv, v)
		}
		j.UpdateStatusInterval = d
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := j.Juju(ctx, "bootstrap"); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if t.Failed() {
			if out, err := j.Juju(ctx, "debug-log", "--replay", "--no-tail", "-n", "300"); err == nil {
				t.Logf("debug-log (last lines):\n%s", out)
			}
		}
		if _, err := j.Juju(ctx, "kill-controller", "--no-prompt"); err != nil {
			t.Errorf("kill-controller: %v", err)
		}
		if !t.Failed() {
			os.RemoveAll(home)
		}
	})
	return j
}

// Name implements Backend.
func (j *Jujulet) Name() string { return "jujulet" }

// Juju runs one CLI command and returns its stdout; the error carries stderr.
func (j *Jujulet) Juju(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, j.Bin, args...)
	cmd.Env = j.Env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("jujulet %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// AddModel implements Backend.
func (j *Jujulet) AddModel(ctx context.Context, model string) error {
	if _, err := j.Juju(ctx, "add-model", model); err != nil {
		return err
	}
	if j.UpdateStatusInterval > 0 {
		_, err := j.Juju(ctx, "model-config", "-m", model, "update-status-hook-interval="+j.UpdateStatusInterval.String())
		return err
	}
	return nil
}

// Deploy implements Backend.
func (j *Jujulet) Deploy(ctx context.Context, model, charm, app string, opts DeployOptions) error {
	_, err := j.Juju(ctx, DeployArgs(model, charm, app, opts)...)
	return err
}

// DeployArgs builds the `juju deploy` command line for opts (shared with the Juju backend's
// documentation of what it does).
func DeployArgs(model, charm, app string, opts DeployOptions) []string {
	args := []string{"deploy", "-m", model, charm, app}
	if opts.Channel != "" {
		args = append(args, "--channel="+opts.Channel)
	}
	if opts.Trust {
		args = append(args, "--trust")
	}
	keys := make([]string, 0, len(opts.Config))
	for k := range opts.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--config", k+"="+opts.Config[k])
	}
	if opts.Base != "" {
		args = append(args, "--base", opts.Base)
	}
	if opts.Units > 1 {
		args = append(args, "-n", fmt.Sprint(opts.Units))
	}
	return args
}

// Offer implements Backend.
func (j *Jujulet) Offer(ctx context.Context, model, appEndpoint, offerName string) error {
	_, err := j.Juju(ctx, "offer", "-m", model, appEndpoint, offerName)
	return err
}

// Consume implements Backend.
func (j *Jujulet) Consume(ctx context.Context, model, offerURL, alias string) error {
	args := []string{"consume", "-m", model, offerURL}
	if alias != "" {
		args = append(args, alias)
	}
	_, err := j.Juju(ctx, args...)
	return err
}

// Integrate implements Backend.
func (j *Jujulet) Integrate(ctx context.Context, model, a, b string) error {
	_, err := j.Juju(ctx, "integrate", "-m", model, a, b)
	return err
}

// RemoveRelation implements Backend.
func (j *Jujulet) RemoveRelation(ctx context.Context, model, a, b string) error {
	_, err := j.Juju(ctx, "remove-relation", "-m", model, a, b)
	return err
}

// ActionArgs renders params as `juju run` k=v arguments (values as YAML scalars).
func ActionArgs(params map[string]any) ([]string, error) {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := make([]string, 0, len(keys))
	for _, k := range keys {
		v, err := yaml.Marshal(params[k])
		if err != nil {
			return nil, fmt.Errorf("param %s: %w", k, err)
		}
		args = append(args, k+"="+strings.TrimSpace(string(v)))
	}
	return args, nil
}

// RunAction implements Backend. A failed action is returned as a result, not an error.
// As in Juju 3.6, `juju run` exits 0 for an action that failed through action-fail and
// exited 0, and 1 (with the results still on stdout) for one whose return code is 1 or
// more: the task's status is read from the output, never from the exit code. An exit
// without results (a timeout, a refused run) is an error.
func (j *Jujulet) RunAction(ctx context.Context, model, unit, action string, params map[string]any) (ActionResult, error) {
	kv, err := ActionArgs(params)
	if err != nil {
		return ActionResult{}, err
	}
	args := append([]string{"run", "-m", model, unit, action, "--format", "json", "--wait", "5m"}, kv...)
	out, runErr := j.Juju(ctx, args...)
	if strings.TrimSpace(out) == "" {
		if runErr == nil {
			runErr = fmt.Errorf("jujulet run %s %s printed no result", unit, action)
		}
		return ActionResult{}, runErr
	}
	res, err := ParseRunJSON(out)
	if err != nil {
		return ActionResult{}, errors.Join(err, runErr)
	}
	if runErr != nil && res.Status == "completed" {
		return ActionResult{}, fmt.Errorf("task completed but %w", runErr)
	}
	return res, nil
}

// ParseRunJSON reads `juju run --format json` output for a single unit.
func ParseRunJSON(out string) (ActionResult, error) {
	var byUnit map[string]struct {
		Status  string         `json:"status"`
		Message string         `json:"message"`
		Results map[string]any `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &byUnit); err != nil {
		return ActionResult{}, fmt.Errorf("parse run output %q: %w", out, err)
	}
	if len(byUnit) != 1 {
		return ActionResult{}, fmt.Errorf("run output has %d units, want 1", len(byUnit))
	}
	var res ActionResult
	for unit, r := range byUnit {
		res = ActionResult{Unit: unit, Status: r.Status, Message: r.Message, Results: r.Results}
	}
	if res.Status == "" {
		return ActionResult{}, fmt.Errorf("run output %q has no task status", out)
	}
	return res, nil
}

// Scale implements Backend.
func (j *Jujulet) Scale(ctx context.Context, model, app string, units int) error {
	_, err := j.Juju(ctx, "scale-application", "-m", model, app, fmt.Sprint(units))
	return err
}

// RemoveUnit implements Backend.
func (j *Jujulet) RemoveUnit(ctx context.Context, model, unit string) error {
	_, err := j.Juju(ctx, "remove-unit", "-m", model, unit)
	return err
}

// Status implements Backend.
func (j *Jujulet) Status(ctx context.Context, model string) (*Status, error) {
	out, err := j.Juju(ctx, "status", "-m", model, "--format", "json")
	if err != nil {
		return nil, err
	}
	var s Status
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		return nil, fmt.Errorf("parse status: %w", err)
	}
	return &s, nil
}

// UnitAddress implements Backend.
func (j *Jujulet) UnitAddress(ctx context.Context, model, unit string) (string, error) {
	s, err := j.Status(ctx, model)
	if err != nil {
		return "", err
	}
	app, _, _ := strings.Cut(unit, "/")
	u, ok := s.Applications[app].Units[unit]
	if !ok || u.Address == "" {
		return "", fmt.Errorf("unit %s has no address yet", unit)
	}
	return u.Address, nil
}

// KillPod implements PodController with jujulet's `pod kill` (SIGKILL to every process of
// the pod; the controller restarts it with the same storage).
func (j *Jujulet) KillPod(ctx context.Context, model, unit string) error {
	_, err := j.Juju(ctx, "pod", "kill", "-m", model, unit)
	return err
}

// StopPod implements PodController: the pod is killed and stays down.
func (j *Jujulet) StopPod(ctx context.Context, model, unit string) error {
	_, err := j.Juju(ctx, "pod", "stop", "-m", model, unit)
	return err
}

// StartPod implements PodController: a stopped pod comes back with its storage.
func (j *Jujulet) StartPod(ctx context.Context, model, unit string) error {
	_, err := j.Juju(ctx, "pod", "start", "-m", model, unit)
	return err
}
