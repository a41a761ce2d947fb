package hooktools

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/juju/cmd/v3"
	"github.com/juju/gnuflag"
	goyaml "gopkg.in/yaml.v2"
)

// toolNames lists every hook tool this package serves, sorted.
func toolNames() []string {
	return []string{
		"action-fail", "action-get", "action-log", "action-set",
		"application-version-set",
		"close-port", "config-get", "credential-get",
		"goal-state",
		"is-leader",
		"juju-log", "juju-reboot",
		"k8s-raw-get", "k8s-raw-set", "k8s-spec-get", "k8s-spec-set",
		"leader-get", "leader-set",
		"network-get",
		"open-port", "opened-ports",
		"pod-spec-get", "pod-spec-set",
		"relation-get", "relation-ids", "relation-list", "relation-model-get", "relation-set",
		"resource-get",
		"secret-add", "secret-get", "secret-grant", "secret-ids", "secret-info-get",
		"secret-remove", "secret-revoke", "secret-set",
		"state-delete", "state-get", "state-set",
		"status-get", "status-set",
		"storage-add", "storage-get", "storage-list",
		"unit-get",
	}
}

// ToolNames returns the names of all hook tools, sorted; the runtime creates one
// symlink per name pointing at the multi-call binary.
func ToolNames() []string { return toolNames() }

// IsTool reports whether name is a hook tool served by this package.
func IsTool(name string) bool {
	i := sort.SearchStrings(toolNames(), name)
	names := toolNames()
	return i < len(names) && names[i] == name
}

// newTool returns the named tool bound to hc, or false for an unknown name.
func newTool(name string, hc Context) (cmd.Command, bool) {
	switch name {
	case "relation-get":
		return newRelationGet(hc), true
	case "relation-set":
		return newRelationSet(hc), true
	case "relation-ids":
		return &relationIDsCmd{hc: hc}, true
	case "relation-list":
		return newRelationList(hc), true
	case "relation-model-get":
		return newRelationModelGet(hc), true
	case "leader-get":
		return &leaderGetCmd{hc: hc}, true
	case "leader-set":
		return &leaderSetCmd{hc: hc}, true
	case "is-leader":
		return &isLeaderCmd{hc: hc}, true
	case "config-get":
		return &configGetCmd{hc: hc}, true
	case "action-get":
		return &actionGetCmd{hc: hc}, true
	case "action-set":
		return &actionSetCmd{hc: hc}, true
	case "action-fail":
		return &actionFailCmd{hc: hc}, true
	case "action-log":
		return &actionLogCmd{hc: hc}, true
	case "status-set":
		return &statusSetCmd{hc: hc}, true
	case "status-get":
		return &statusGetCmd{hc: hc}, true
	case "juju-log":
		return &jujuLogCmd{hc: hc}, true
	case "network-get":
		return newNetworkGet(hc), true
	case "open-port":
		return &portCmd{hc: hc, open: true}, true
	case "close-port":
		return &portCmd{hc: hc}, true
	case "opened-ports":
		return &openedPortsCmd{hc: hc}, true
	case "state-get":
		return &stateGetCmd{hc: hc}, true
	case "state-set":
		return &stateSetCmd{hc: hc}, true
	case "state-delete":
		return &stateDeleteCmd{hc: hc}, true
	case "secret-add":
		return &secretAddCmd{secretUpsert{hc: hc}}, true
	case "secret-set":
		return &secretSetCmd{secretUpsert: secretUpsert{hc: hc}}, true
	case "secret-get":
		return &secretGetCmd{hc: hc}, true
	case "secret-grant":
		return newSecretGrant(hc), true
	case "secret-revoke":
		return newSecretRevoke(hc), true
	case "secret-remove":
		return &secretRemoveCmd{hc: hc}, true
	case "secret-ids":
		return &secretIDsCmd{hc: hc}, true
	case "secret-info-get":
		return &secretInfoGetCmd{hc: hc}, true
	case "storage-get":
		return newStorageGet(hc), true
	case "storage-list":
		return &storageListCmd{hc: hc}, true
	case "application-version-set":
		return &appVersionSetCmd{hc: hc}, true
	case "goal-state":
		return &goalStateCmd{hc: hc}, true
	case "credential-get":
		return &credentialGetCmd{hc: hc}, true
	case "juju-reboot":
		return &rebootCmd{hc: hc}, true
	case "unit-get":
		return &unitGetCmd{hc: hc}, true
	case "resource-get":
		return &resourceGetCmd{hc: hc}, true
	case "storage-add":
		return &storageAddCmd{hc: hc}, true
	case "k8s-spec-get", "pod-spec-get":
		return &k8sSpecGetCmd{hc: hc, name: name}, true
	case "k8s-raw-get":
		return &k8sSpecGetCmd{hc: hc, name: name, raw: true}, true
	case "k8s-spec-set", "pod-spec-set":
		return &k8sSpecSetCmd{hc: hc, name: name}, true
	case "k8s-raw-set":
		return &k8sSpecSetCmd{hc: hc, name: name, raw: true}, true
	}
	return nil, false
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
