package hooktools

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/juju/cmd/v3"
	"github.com/juju/gnuflag"
	goyaml "gopkg.in/yaml.v2"
)

// tools maps each hook tool's name to its constructor: the one list of what this package
// serves (Juju's jujuc keeps the same kind of table). A function, not a package variable,
// so that nothing can change the table.
func tools() map[string]func(hc Context) cmd.Command {
	return map[string]func(hc Context) cmd.Command{
		"action-fail":             func(hc Context) cmd.Command { return &actionFailCmd{hc: hc} },
		"action-get":              func(hc Context) cmd.Command { return &actionGetCmd{hc: hc} },
		"action-log":              func(hc Context) cmd.Command { return &actionLogCmd{hc: hc} },
		"action-set":              func(hc Context) cmd.Command { return &actionSetCmd{hc: hc} },
		"application-version-set": func(hc Context) cmd.Command { return &appVersionSetCmd{hc: hc} },
		"close-port":              func(hc Context) cmd.Command { return &portCmd{hc: hc} },
		"config-get":              func(hc Context) cmd.Command { return &configGetCmd{hc: hc} },
		"credential-get":          func(hc Context) cmd.Command { return &credentialGetCmd{hc: hc} },
		"goal-state":              func(hc Context) cmd.Command { return &goalStateCmd{hc: hc} },
		"is-leader":               func(hc Context) cmd.Command { return &isLeaderCmd{hc: hc} },
		"juju-log":                func(hc Context) cmd.Command { return &jujuLogCmd{hc: hc} },
		"juju-reboot":             func(hc Context) cmd.Command { return &rebootCmd{hc: hc} },
		"k8s-raw-get":             func(hc Context) cmd.Command { return &k8sSpecGetCmd{hc: hc, name: "k8s-raw-get", raw: true} },
		"k8s-raw-set":             func(hc Context) cmd.Command { return &k8sSpecSetCmd{hc: hc, name: "k8s-raw-set", raw: true} },
		"k8s-spec-get":            func(hc Context) cmd.Command { return &k8sSpecGetCmd{hc: hc, name: "k8s-spec-get"} },
		"k8s-spec-set":            func(hc Context) cmd.Command { return &k8sSpecSetCmd{hc: hc, name: "k8s-spec-set"} },
		"leader-get":              func(hc Context) cmd.Command { return &leaderGetCmd{hc: hc} },
		"leader-set":              func(hc Context) cmd.Command { return &leaderSetCmd{hc: hc} },
		"network-get":             func(hc Context) cmd.Command { return newNetworkGet(hc) },
		"open-port":               func(hc Context) cmd.Command { return &portCmd{hc: hc, open: true} },
		"opened-ports":            func(hc Context) cmd.Command { return &openedPortsCmd{hc: hc} },
		"pod-spec-get":            func(hc Context) cmd.Command { return &k8sSpecGetCmd{hc: hc, name: "pod-spec-get"} },
		"pod-spec-set":            func(hc Context) cmd.Command { return &k8sSpecSetCmd{hc: hc, name: "pod-spec-set"} },
		"relation-get":            func(hc Context) cmd.Command { return newRelationGet(hc) },
		"relation-ids":            func(hc Context) cmd.Command { return &relationIDsCmd{hc: hc} },
		"relation-list":           func(hc Context) cmd.Command { return newRelationList(hc) },
		"relation-model-get":      func(hc Context) cmd.Command { return newRelationModelGet(hc) },
		"relation-set":            func(hc Context) cmd.Command { return newRelationSet(hc) },
		"resource-get":            func(hc Context) cmd.Command { return &resourceGetCmd{hc: hc} },
		"secret-add":              func(hc Context) cmd.Command { return &secretAddCmd{secretUpsert{hc: hc}} },
		"secret-get":              func(hc Context) cmd.Command { return &secretGetCmd{hc: hc} },
		"secret-grant":            func(hc Context) cmd.Command { return newSecretGrant(hc) },
		"secret-ids":              func(hc Context) cmd.Command { return &secretIDsCmd{hc: hc} },
		"secret-info-get":         func(hc Context) cmd.Command { return &secretInfoGetCmd{hc: hc} },
		"secret-remove":           func(hc Context) cmd.Command { return &secretRemoveCmd{hc: hc} },
		"secret-revoke":           func(hc Context) cmd.Command { return newSecretRevoke(hc) },
		"secret-set":              func(hc Context) cmd.Command { return &secretSetCmd{secretUpsert: secretUpsert{hc: hc}} },
		"state-delete":            func(hc Context) cmd.Command { return &stateDeleteCmd{hc: hc} },
		"state-get":               func(hc Context) cmd.Command { return &stateGetCmd{hc: hc} },
		"state-set":               func(hc Context) cmd.Command { return &stateSetCmd{hc: hc} },
		"status-get":              func(hc Context) cmd.Command { return &statusGetCmd{hc: hc} },
		"status-set":              func(hc Context) cmd.Command { return &statusSetCmd{hc: hc} },
		"storage-add":             func(hc Context) cmd.Command { return &storageAddCmd{hc: hc} },
		"storage-get":             func(hc Context) cmd.Command { return newStorageGet(hc) },
		"storage-list":            func(hc Context) cmd.Command { return &storageListCmd{hc: hc} },
		"unit-get":                func(hc Context) cmd.Command { return &unitGetCmd{hc: hc} },
	}
}

// toolNames lists every hook tool this package serves, sorted.
func toolNames() []string { return slices.Sorted(maps.Keys(tools())) }

// ToolNames returns the names of all hook tools, sorted; the runtime creates one
// symlink per name pointing at the multi-call binary.
func ToolNames() []string { return toolNames() }

// IsTool reports whether name is a hook tool served by this package.
func IsTool(name string) bool {
	_, ok := tools()[name]
	return ok
}

// newTool returns the named tool bound to hc, or false for an unknown name.
func newTool(name string, hc Context) (cmd.Command, bool) {
	mk, ok := tools()[name]
	if !ok {
		return nil, false
	}
	return mk(hc), true
}

// info completes a command's Info the way Juju's jujuc does: flags are "options".
func info(i cmd.Info) *cmd.Info {
	i.FlagKnownAs = "option"
	return &i
}

// Formatter sets the tools offer with --format.
func smartFormatters() map[string]cmd.Formatter { return cmd.DefaultFormatters.Formatters() }

func yamlJSONFormatters() map[string]cmd.Formatter {
	return map[string]cmd.Formatter{"yaml": cmd.FormatYaml, "json": cmd.FormatJson}
}

// errIsNotLeader is how Juju words an operation reserved to the leader.
var errIsNotLeader = errors.New("this unit is not the leader")

// leaderErr turns ErrNotLeader into Juju's "this unit is not the leader".
func leaderErr(err error) error {
	if errors.Is(err, ErrNotLeader) {
		return errIsNotLeader
	}
	return err
}

// relationIDValue is the gnuflag.Value of -r/--relation: "db:3" or "3"; only the
// part after the last ':' counts, and the relation must be known to the unit.
type relationIDValue struct {
	hc     Context
	result *int
	value  string
}

func newRelationIDValue(hc Context, result *int) *relationIDValue {
	v := &relationIDValue{hc: hc, result: result}
	*result = -1
	if id, ok := hc.HookRelationID(); ok {
		*result = id
		if ep, err := hc.RelationEndpoint(id); err == nil {
			v.value = fmt.Sprintf("%s:%d", ep, id)
		}
	}
	return v
}

func (v *relationIDValue) String() string { return v.value }

func (v *relationIDValue) Set(value string) error {
	trim := value
	if i := strings.LastIndex(trim, ":"); i != -1 {
		trim = trim[i+1:]
	}
	id, err := strconv.Atoi(trim)
	if err != nil {
		return errors.New("invalid relation id")
	}
	if _, err := v.hc.RelationEndpoint(id); err != nil {
		return err
	}
	*v.result = id
	v.value = value
	return nil
}

// fakeID renders a relation id the way hooks see it: "endpoint:id".
func fakeID(hc Context, id int) (string, error) {
	ep, err := hc.RelationEndpoint(id)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s:%d", ep, id), nil
}

// parseKeyValues parses key=value arguments as Juju does: split at the first '=',
// key and value trimmed, empty values allowed, duplicates rejected.
func parseKeyValues(args []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range args {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("expected \"key=value\", got %q", kv)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "" {
			return nil, fmt.Errorf("expected \"key=value\", got \"%s=%s\"", k, v)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("key %q specified more than once", k)
		}
		out[k] = v
	}
	return out, nil
}

// readYAMLSettings reads a YAML map of strings (relation-set/state-set --file).
func readYAMLSettings(r io.Reader) (map[string]string, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	kvs := map[string]string{}
	if err := goyaml.Unmarshal(data, kvs); err != nil {
		return nil, err
	}
	return kvs, nil
}

// readFileVar opens a cmd.FileVar (stdin for "-") and parses it as YAML settings.
func readFileVar(ctx *cmd.Context, f *cmd.FileVar) (map[string]string, error) {
	rc, err := f.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }()
	return readYAMLSettings(rc)
}

var (
	applicationNameRE = regexp.MustCompile(`^[a-z][a-z0-9]*(?:-[a-z0-9]*[a-z][a-z0-9]*)*$`)
	unitNameRE        = regexp.MustCompile(`^([a-z][a-z0-9]*(?:-[a-z0-9]*[a-z][a-z0-9]*)*)/[0-9]+$`)
)

func isValidApplication(s string) bool { return applicationNameRE.MatchString(s) }
func isValidUnit(s string) bool        { return unitNameRE.MatchString(s) }

// unitApplication returns the application of a unit name ("db/0" → "db").
func unitApplication(unit string) string {
	app, _, _ := strings.Cut(unit, "/")
	return app
}

// cmdBase gives a command the defaults of cmd.CommandBase.
type cmdBase = cmd.CommandBase

var _ gnuflag.Value = (*relationIDValue)(nil)
