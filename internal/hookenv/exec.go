package hookenv

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
	"strconv"
	"strings"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/hooktools/toolclient"
)

// Exec runs the real hook tools. The zero value runs the tool executables found on PATH.
type Exec struct {
	// Dir, when set, is the directory holding the tools (otherwise PATH is searched).
	Dir string
	// Agent, when set, is a connection to the hook's unit agent (DialAgent): the tools are
	// called through it, from this process, rather than by starting their executables.
	Agent *toolclient.Agent
	// Trace, when set, records every tool call (see TraceEnv).
	Trace *Tracer
}

var _ Tools = Exec{}

// ToolError is a hook tool that exited non-zero.
type ToolError struct {
	Tool     string
	ExitCode int
	Stderr   string
}

func (e *ToolError) Error() string {
	msg := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(e.Stderr), "ERROR "))
	return fmt.Sprintf("%s: exit %d: %s", e.Tool, e.ExitCode, msg)
}

func (x Exec) run(ctx context.Context, tool string, args ...string) ([]byte, error) {
	if x.Agent != nil {
		return x.call(ctx, tool, args)
	}
	name := tool
	if x.Dir != "" {
		name = filepath.Join(x.Dir, tool)
	}
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	if x.Trace != nil {
		x.Trace.Call(tool, start, cmd.ProcessState.ExitCode())
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, &ToolError{Tool: tool, ExitCode: ee.ExitCode(), Stderr: stderr.String()}
		}
		return nil, fmt.Errorf("run %s: %w", tool, err)
	}
	return stdout.Bytes(), nil
}

// runJSON runs a tool with --format=json and decodes its output into v (null leaves v alone).
func (x Exec) runJSON(ctx context.Context, v any, tool string, args ...string) error {
	out, err := x.run(ctx, tool, append([]string{"--format=json"}, args...)...)
	if err != nil {
		return err
	}
	out = bytes.TrimSpace(out)
	if len(out) == 0 || string(out) == "null" {
		return nil
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("%s: decode output: %w", tool, err)
	}
	return nil
}

// withFile writes a YAML/JSON document to a private temporary file (0600 in a 0700 dir) for
// the tools' --file options, so that secrets never appear on a command line.
func withFile(content map[string]string, fn func(path string) error) error {
	dir, err := os.MkdirTemp("", "hookenv-")
	if err != nil {
		return fmt.Errorf("private temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	data, err := json.Marshal(content) // JSON is YAML
	if err != nil {
		return err
	}
	p := filepath.Join(dir, "content.yaml")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		return fmt.Errorf("write private file: %w", err)
	}
	return fn(p)
}

func kvArgs(values map[string]string) []string {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := make([]string, 0, len(keys))
	for _, k := range keys {
		args = append(args, k+"="+values[k])
	}
	return args
}

// stringMap converts a decoded JSON object with arbitrary values into strings.
func stringMap(in map[string]any) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		switch t := v.(type) {
		case string:
			out[k] = t
		case nil:
		default:
			b, _ := json.Marshal(t)
			out[k] = string(b)
		}
	}
	return out
}

// runMap runs a tool that prints a JSON object (with --format=json) and returns it as strings.
func (x Exec) runMap(ctx context.Context, tool string, args ...string) (map[string]string, error) {
	var m map[string]any
	if err := x.runJSON(ctx, &m, tool, args...); err != nil {
		return nil, err
	}
	return stringMap(m), nil
}

// runKV runs a tool that takes key=value arguments; no values, no call.
func (x Exec) runKV(ctx context.Context, tool string, values map[string]string) error {
	if len(values) == 0 {
		return nil
	}
	_, err := x.run(ctx, tool, kvArgs(values)...)
	return err
}

func (x Exec) IsLeader(ctx context.Context) (bool, error) {
	var b bool
	err := x.runJSON(ctx, &b, "is-leader")
	return b, err
}

func (x Exec) RelationIDs(ctx context.Context, endpoint string) ([]string, error) {
	var ids []string
	err := x.runJSON(ctx, &ids, "relation-ids", endpoint)
	return ids, err
}

func (x Exec) RelationList(ctx context.Context, relID string) ([]string, error) {
	var units []string
	err := x.runJSON(ctx, &units, "relation-list", "-r", relID)
	return units, err
}

func (x Exec) RelationRemoteApp(ctx context.Context, relID string) (string, error) {
	var app string
	err := x.runJSON(ctx, &app, "relation-list", "--app", "-r", relID)
	return app, err
}

func (x Exec) RelationModelUUID(ctx context.Context, relID string) (string, error) {
	var m struct {
		UUID string `json:"uuid"`
	}
	if err := x.runJSON(ctx, &m, "relation-model-get", "-r", relID); err != nil {
		return "", err
	}
	if m.UUID == "" {
		return "", fmt.Errorf("relation-model-get -r %s: no uuid", relID)
	}
	return m.UUID, nil
}

func (x Exec) RelationGet(ctx context.Context, relID, unitOrApp string, app bool) (map[string]string, error) {
	args := []string{"-r", relID}
	if app {
		args = append(args, "--app")
	}
	return x.runMap(ctx, "relation-get", append(args, "-", unitOrApp)...)
}

func (x Exec) RelationSet(ctx context.Context, relID string, app bool, values map[string]string) error {
	if len(values) == 0 {
		return nil
	}
	args := []string{"-r", relID}
	if app {
		args = append(args, "--app")
	}
	// Values go through --file (a YAML map) so that multi-line values keep their bytes;
	// empty values must be passed as k= to delete, which --file does not do.
	file := map[string]string{}
	var deletes []string
	for k, v := range values {
		if v == "" {
			deletes = append(deletes, k+"=")
		} else {
			file[k] = v
		}
	}
	sort.Strings(deletes)
	return withFile(file, func(p string) error {
		a := append(append(args, "--file", p), deletes...)
		_, err := x.run(ctx, "relation-set", a...)
		return err
	})
}

func (x Exec) LeaderGet(ctx context.Context) (map[string]string, error) {
	return x.runMap(ctx, "leader-get")
}

func (x Exec) LeaderSet(ctx context.Context, values map[string]string) error {
	return x.runKV(ctx, "leader-set", values)
}

func (x Exec) ConfigGet(ctx context.Context) (map[string]any, error) {
	m := map[string]any{}
	err := x.runJSON(ctx, &m, "config-get", "--all")
	return m, err
}

func (x Exec) ActionGet(ctx context.Context) (map[string]any, error) {
	m := map[string]any{}
	err := x.runJSON(ctx, &m, "action-get")
	return m, err
}

func (x Exec) ActionSet(ctx context.Context, values map[string]string) error {
	return x.runKV(ctx, "action-set", values)
}

func (x Exec) ActionFail(ctx context.Context, message string) error {
	_, err := x.run(ctx, "action-fail", message)
	return err
}

func (x Exec) ActionLog(ctx context.Context, message string) error {
	_, err := x.run(ctx, "action-log", message)
	return err
}

func (x Exec) StatusSet(ctx context.Context, app bool, status, message string) error {
	args := []string{}
	if app {
		args = append(args, "--application")
	}
	args = append(args, status, message)
	_, err := x.run(ctx, "status-set", args...)
	return err
}

func (x Exec) StatusGet(ctx context.Context, app bool) (StatusInfo, error) {
	if !app {
		var s StatusInfo
		err := x.runJSON(ctx, &s, "status-get", "--include-data")
		return s, err
	}
	var out struct {
		App StatusInfo `json:"application-status"`
	}
	err := x.runJSON(ctx, &out, "status-get", "--include-data", "--application")
	return out.App, err
}

func (x Exec) JujuLog(ctx context.Context, level, message string) error {
	_, err := x.run(ctx, "juju-log", "-l", level, message)
	return err
}

func (x Exec) NetworkGet(ctx context.Context, binding string) (Network, error) {
	var n Network
	err := x.runJSON(ctx, &n, "network-get", binding)
	return n, err
}

func (x Exec) SecretAdd(ctx context.Context, args SecretAddArgs) (string, error) {
	a := []string{}
	if args.Owner != "" {
		a = append(a, "--owner", args.Owner)
	}
	if args.Label != "" {
		a = append(a, "--label", args.Label)
	}
	if args.Description != "" {
		a = append(a, "--description", args.Description)
	}
	var uri string
	err := withFile(args.Content, func(p string) error {
		out, err := x.run(ctx, "secret-add", append(a, "--file", p)...)
		uri = strings.TrimSpace(string(out))
		return err
	})
	return uri, err
}

func (x Exec) SecretGet(ctx context.Context, args SecretGetArgs) (map[string]string, error) {
	a := []string{}
	if args.URI != "" {
		a = append(a, args.URI)
	}
	if args.Label != "" {
		a = append(a, "--label", args.Label)
	}
	if args.Peek {
		a = append(a, "--peek")
	}
	if args.Refresh {
		a = append(a, "--refresh")
	}
	m, err := x.runMap(ctx, "secret-get", a...)
	if err != nil {
		var te *ToolError
		if errors.As(err, &te) && strings.Contains(te.Stderr, "not found") {
			return nil, fmt.Errorf("%w: %v", ErrNotFound, err)
		}
		return nil, err
	}
	return m, nil
}

func (x Exec) SecretSet(ctx context.Context, uri string, content map[string]string) error {
	return withFile(content, func(p string) error {
		_, err := x.run(ctx, "secret-set", uri, "--file", p)
		return err
	})
}

func (x Exec) SecretGrant(ctx context.Context, uri, relID, unit string) error {
	a := []string{uri, "-r", relID}
	if unit != "" {
		a = append(a, "--unit", unit)
	}
	_, err := x.run(ctx, "secret-grant", a...)
	return err
}

func (x Exec) SecretRemove(ctx context.Context, uri string) error {
	_, err := x.run(ctx, "secret-remove", uri)
	return err
}

func (x Exec) SecretIDs(ctx context.Context) ([]string, error) {
	var ids []string
	err := x.runJSON(ctx, &ids, "secret-ids")
	return ids, err
}

func (x Exec) SecretInfoGet(ctx context.Context, uriOrLabel string) ([]SecretInfo, error) {
	a := []string{}
	if strings.HasPrefix(uriOrLabel, "secret:") {
		a = append(a, uriOrLabel)
	} else if uriOrLabel != "" {
		a = append(a, "--label", uriOrLabel)
	}
	var m map[string]SecretInfo
	if err := x.runJSON(ctx, &m, "secret-info-get", a...); err != nil {
		var te *ToolError
		if errors.As(err, &te) && strings.Contains(te.Stderr, "not found") {
			return nil, fmt.Errorf("%w: %v", ErrNotFound, err)
		}
		return nil, err
	}
	out := make([]SecretInfo, 0, len(m))
	for id, info := range m {
		info.ID = id
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (x Exec) StateGet(ctx context.Context) (map[string]string, error) {
	return x.runMap(ctx, "state-get")
}

func (x Exec) StateSet(ctx context.Context, values map[string]string) error {
	return x.runKV(ctx, "state-set", values)
}

func (x Exec) OpenPort(ctx context.Context, port int, protocol string) error {
	spec := strconv.Itoa(port)
	if protocol != "" {
		spec += "/" + protocol
	}
	_, err := x.run(ctx, "open-port", spec)
	return err
}

func (x Exec) ApplicationVersionSet(ctx context.Context, version string) error {
	_, err := x.run(ctx, "application-version-set", version)
	return err
}
