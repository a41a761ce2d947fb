package hooktools

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/juju/cmd/v3"
	"github.com/juju/gnuflag"
)

// leader-get

type leaderGetCmd struct {
	cmdBase
	hc  Context
	key string
	out cmd.Output
}

func (c *leaderGetCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "leader-get",
		Args:    "[<key>]",
		Purpose: "Print application leadership settings.",
		Doc: `
leader-get prints the value of a leadership setting specified by key. If no key
is given, or if the key is "-", all keys and values will be printed.
`,
	})
}

func (c *leaderGetCmd) SetFlags(f *gnuflag.FlagSet) {
	c.out.AddFlags(f, "smart", smartFormatters())
}

func (c *leaderGetCmd) Init(args []string) error {
	if len(args) == 0 {
		return nil
	}
	key := args[0]
	if key == "-" {
		key = ""
	} else if strings.Contains(key, "=") {
		return fmt.Errorf("invalid key %q", key)
	}
	c.key = key
	return cmd.CheckEmpty(args[1:])
}

func (c *leaderGetCmd) Run(ctx *cmd.Context) error {
	settings, err := c.hc.LeaderSettings()
	if err != nil {
		return fmt.Errorf("cannot read leadership settings: %w", err)
	}
	if settings == nil {
		settings = map[string]string{}
	}
	if c.key == "" {
		return c.out.Write(ctx, settings)
	}
	if v, ok := settings[c.key]; ok {
		return c.out.Write(ctx, v)
	}
	return c.out.Write(ctx, nil)
}

// leader-set

type leaderSetCmd struct {
	cmdBase
	hc       Context
	settings map[string]string
}

func (c *leaderSetCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "leader-set",
		Args:    "<key>=<value> [...]",
		Purpose: "Write application leadership settings.",
		Doc: `
leader-set immediate writes the supplied key/value pairs to the controller,
which will then inform non-leader units of the change. It will fail if called
without arguments, or if called by a unit that is not currently application leader.
`,
		Examples: "\n    leader-set cluster-leader-address=10.0.0.123\n",
	})
}

func (c *leaderSetCmd) Init(args []string) (err error) {
	c.settings, err = parseKeyValues(args)
	return err
}

func (c *leaderSetCmd) Run(ctx *cmd.Context) error {
	err := c.hc.WriteLeaderSettings(c.settings)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotLeader):
		return errors.New("cannot write leadership settings: cannot write settings: not the leader")
	default:
		return fmt.Errorf("cannot write leadership settings: %w", err)
	}
}

// is-leader

type isLeaderCmd struct {
	cmdBase
	hc  Context
	out cmd.Output
}

func (c *isLeaderCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "is-leader",
		Purpose: "Print application leadership status.",
		Doc: `
is-leader prints a boolean indicating whether the local unit is guaranteed to
be application leader for at least 30 seconds. If it fails, you should assume that
there is no such guarantee.
`,
	})
}

func (c *isLeaderCmd) SetFlags(f *gnuflag.FlagSet) {
	c.out.AddFlags(f, "smart", smartFormatters())
}

func (c *isLeaderCmd) Run(ctx *cmd.Context) error {
	leader, err := c.hc.IsLeader()
	if err != nil {
		return fmt.Errorf("leadership status unknown: %w", err)
	}
	return c.out.Write(ctx, leader)
}

// config-get

type configGetCmd struct {
	cmdBase
	hc  Context
	key string
	all bool
	out cmd.Output
}

func (c *configGetCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "config-get",
		Args:    "[<key>]",
		Purpose: "Print application configuration.",
		Doc: `
config-get returns information about the application configuration
(as defined by config.yaml). If called without arguments, it returns
a dictionary containing all config settings that are either explicitly
set, or which have a non-nil default value. If the --all flag is passed,
it returns a dictionary containing all defined config settings including
nil values (for those without defaults). If called with a single argument,
it returns the value of that config key. Missing config keys are reported
as nulls, and do not return an error.

<key> and --all are mutually exclusive.
`,
		Examples: `
    INTERVAL=$(config-get interval)

    config-get --all
`,
	})
}

func (c *configGetCmd) SetFlags(f *gnuflag.FlagSet) {
	c.out.AddFlags(f, "smart", smartFormatters())
	f.BoolVar(&c.all, "a", false, "print all keys")
	f.BoolVar(&c.all, "all", false, "")
}

func (c *configGetCmd) Init(args []string) error {
	if len(args) == 0 {
		return nil
	}
	c.key = args[0]
	if c.key != "" && c.all {
		return fmt.Errorf("cannot use argument --all together with key %q", c.key)
	}
	return cmd.CheckEmpty(args[1:])
}

func (c *configGetCmd) Run(ctx *cmd.Context) error {
	settings, err := c.hc.Config()
	if err != nil {
		return err
	}
	if c.key != "" {
		return c.out.Write(ctx, asJSONNumber(settings[c.key]))
	}
	out := make(map[string]any, len(settings))
	for k, v := range settings {
		if v == nil && !c.all {
			continue
		}
		out[k] = asJSONNumber(v)
	}
	return c.out.Write(ctx, out)
}

// asJSONNumber turns an integer into the float64 Juju's hook tools see: charm config and
// action parameters reach Juju's unit agent as JSON, so config-get prints an int option of
// 1000000 as "1e+06" in smart and YAML formats. Other values pass unchanged.
func asJSONNumber(v any) any {
	switch n := v.(type) {
	case int:
		return float64(n)
	case int32:
		return float64(n)
	case int64:
		return float64(n)
	case uint64:
		return float64(n)
	}
	return v
}

// action-get

type actionGetCmd struct {
	cmdBase
	hc   Context
	keys []string
	out  cmd.Output
}

func (c *actionGetCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "action-get",
		Args:    "[<key>[.<key>.<key>...]]",
		Purpose: "Get action parameters.",
		Doc: `
action-get will print the value of the parameter at the given key, serialized
as YAML.  If multiple keys are passed, action-get will recurse into the param
map as needed.
`,
	})
}

func (c *actionGetCmd) SetFlags(f *gnuflag.FlagSet) {
	c.out.AddFlags(f, "smart", smartFormatters())
}

func (c *actionGetCmd) Init(args []string) error {
	if len(args) > 0 {
		if err := cmd.CheckEmpty(args[1:]); err != nil {
			return err
		}
		c.keys = strings.Split(args[0], ".")
	}
	return nil
}

// lookupKeys descends into nested maps along keys.
func lookupKeys(keys []string, m map[string]any) (any, bool) {
	v, ok := m[keys[0]]
	if len(keys) == 1 || !ok {
		return v, ok
	}
	switch t := v.(type) {
	case map[string]any:
		return lookupKeys(keys[1:], t)
	case map[any]any:
		sm := make(map[string]any, len(t))
		for k, vv := range t {
			ks, isStr := k.(string)
			if !isStr {
				return nil, false
			}
			sm[ks] = vv
		}
		return lookupKeys(keys[1:], sm)
	}
	return nil, false
}

func (c *actionGetCmd) Run(ctx *cmd.Context) error {
	params, err := c.hc.ActionParams()
	if err != nil {
		return err
	}
	if len(c.keys) == 0 {
		if params == nil {
			params = map[string]any{}
		}
		return c.out.Write(ctx, params)
	}
	v, _ := lookupKeys(c.keys, params)
	return c.out.Write(ctx, v)
}

// action-set

var (
	actionKeyRE        = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$`)
	reservedActionKeys = []string{"stdout", "stdout-encoding", "stderr", "stderr-encoding"}
)

type actionSetCmd struct {
	cmdBase
	hc   Context
	sets []map[string]any
}

func (c *actionSetCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "action-set",
		Args:    "<key-path>=<value> [<key-path>=<value> ...]",
		Purpose: "Set action results.",
		Doc: `
action-set adds the given values to the results map of the Action. This map
is returned to the user after the completion of the Action. Keys must start
and end with lowercase alphanumeric, and contain only lowercase alphanumeric,
hyphens and periods.  The following special keys are reserved for internal use: 
"stdout", "stdout-encoding", "stderr", "stderr-encoding".
`,
	})
}

func (c *actionSetCmd) Init(args []string) error {
	c.sets = nil
	for _, arg := range args {
		k, v, ok := strings.Cut(arg, "=")
		if !ok {
			return fmt.Errorf("argument %q must be of the form key...=value", arg)
		}
		keys := strings.Split(k, ".")
		for _, key := range keys {
			if !actionKeyRE.MatchString(key) {
				return fmt.Errorf("key %q must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric and hyphens", key)
			}
			for _, r := range reservedActionKeys {
				if r == key {
					return fmt.Errorf(`cannot set reserved action key "%s"`, key)
				}
			}
		}
		var nested any = v
		for i := len(keys) - 1; i >= 0; i-- {
			nested = map[string]any{keys[i]: nested}
		}
		c.sets = append(c.sets, nested.(map[string]any))
	}
	return nil
}

func (c *actionSetCmd) Run(ctx *cmd.Context) error {
	for _, s := range c.sets {
		if err := c.hc.UpdateActionResults(s); err != nil {
			return err
		}
	}
	return nil
}

// action-fail

type actionFailCmd struct {
	cmdBase
	hc      Context
	message string
}

func (c *actionFailCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "action-fail",
		Args:    "[\"<failure message>\"]",
		Purpose: "Set action fail status with message.",
		Doc: `
action-fail sets the fail state of the action with a given error message.  Using
action-fail without a failure message will set a default message indicating a
problem with the action.
`,
	})
}

func (c *actionFailCmd) Init(args []string) error {
	c.message = "action failed without reason given, check action for errors"
	if len(args) > 0 {
		c.message = args[0]
		return cmd.CheckEmpty(args[1:])
	}
	return nil
}

func (c *actionFailCmd) Run(ctx *cmd.Context) error {
	return c.hc.FailAction(c.message)
}

// action-log

type actionLogCmd struct {
	cmdBase
	hc      Context
	message string
}

func (c *actionLogCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "action-log",
		Args:    "<message>",
		Purpose: "Record a progress message for the current action.",
	})
}

func (c *actionLogCmd) Init(args []string) error {
	if len(args) == 0 {
		return errors.New("no message specified")
	}
	c.message = strings.Join(args, " ")
	return nil
}

func (c *actionLogCmd) Run(ctx *cmd.Context) error {
	return c.hc.LogAction(c.message)
}

// status-set

var validStatuses = []string{"maintenance", "blocked", "waiting", "active"}

type statusSetCmd struct {
	cmdBase
	hc          Context
	status      string
	message     string
	application bool
}

func (c *statusSetCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "status-set",
		Args:    "<maintenance | blocked | waiting | active> [message]",
		Purpose: "Set status information.",
		Doc: `
Sets the workload status of the charm. Message is optional.
The "last updated" attribute of the status is set, even if the
status and message are the same as what's already set.
`,
	})
}

func (c *statusSetCmd) SetFlags(f *gnuflag.FlagSet) {
	f.BoolVar(&c.application, "application", false, "set this status for the application to which the unit belongs if the unit is the leader")
}

func (c *statusSetCmd) Init(args []string) error {
	if len(args) < 1 {
		return errors.New("invalid args, require <status> [message]")
	}
	valid := false
	for _, s := range validStatuses {
		valid = valid || s == args[0]
	}
	if !valid {
		return fmt.Errorf("invalid status %q, expected one of %v", args[0], validStatuses)
	}
	c.status = args[0]
	if len(args) > 1 {
		c.message = args[1]
		return cmd.CheckEmpty(args[2:])
	}
	return nil
}

func (c *statusSetCmd) Run(ctx *cmd.Context) error {
	s := Status{Status: c.status, Message: c.message}
	if c.application {
		return leaderErr(c.hc.SetAppStatus(s))
	}
	return c.hc.SetUnitStatus(s)
}

// status-get

type statusGetCmd struct {
	cmdBase
	hc          Context
	includeData bool
	application bool
	out         cmd.Output
}

func (c *statusGetCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "status-get",
		Args:    "[--include-data] [--application]",
		Purpose: "Print status information.",
		Doc: `
By default, only the status value is printed.
If the --include-data flag is passed, the associated data are printed also.
`,
	})
}

func (c *statusGetCmd) SetFlags(f *gnuflag.FlagSet) {
	c.out.AddFlags(f, "smart", smartFormatters())
	f.BoolVar(&c.includeData, "include-data", false, "print all status data")
	f.BoolVar(&c.application, "application", false, "print status for all units of this application if this unit is the leader")
}

func statusDetails(s Status, includeData bool) map[string]any {
	d := map[string]any{"status": s.Status}
	if includeData {
		data := make(map[string]any, len(s.Data))
		for k, v := range s.Data {
			data[k] = v
		}
		d["status-data"] = data
		d["message"] = s.Message
	}
	return d
}

func (c *statusGetCmd) Run(ctx *cmd.Context) error {
	if c.application {
		as, err := c.hc.AppStatus()
		if err != nil {
			return fmt.Errorf("finding application status: %w", leaderErr(err))
		}
		if !c.includeData && c.out.Name() == "smart" {
			return c.out.Write(ctx, as.Application.Status)
		}
		details := statusDetails(as.Application, c.includeData)
		units := make(map[string]any, len(as.Units))
		for name, u := range as.Units {
			units[name] = statusDetails(u, c.includeData)
		}
		details["units"] = units
		return c.out.Write(ctx, map[string]any{"application-status": details})
	}
	s, err := c.hc.UnitStatus()
	if err != nil {
		return fmt.Errorf("finding workload status: %w", err)
	}
	if !c.includeData && c.out.Name() == "smart" {
		return c.out.Write(ctx, s.Status)
	}
	return c.out.Write(ctx, statusDetails(s, c.includeData))
}

// juju-log

type jujuLogCmd struct {
	cmdBase
	hc         Context
	message    string
	debug      bool
	level      string
	formatFlag string
}

func (c *jujuLogCmd) Info() *cmd.Info {
	return info(cmd.Info{Name: "juju-log", Args: "<message>", Purpose: "Write a message to the juju log."})
}

func (c *jujuLogCmd) SetFlags(f *gnuflag.FlagSet) {
	f.BoolVar(&c.debug, "debug", false, "log at debug level")
	f.StringVar(&c.level, "l", "INFO", "Send log message at the given level")
	f.StringVar(&c.level, "log-level", "INFO", "")
	f.StringVar(&c.formatFlag, "format", "", "deprecated format flag")
}

func (c *jujuLogCmd) Init(args []string) error {
	if len(args) == 0 {
		return errors.New("no message specified")
	}
	c.message = strings.Join(args, " ")
	return nil
}

// parseLogLevel accepts loggo's level names, case-insensitively.
func parseLogLevel(s string) (string, bool) {
	switch u := strings.ToUpper(strings.TrimSpace(s)); u {
	case "TRACE", "DEBUG", "INFO", "ERROR", "CRITICAL":
		return u, true
	case "WARN", "WARNING":
		return "WARNING", true
	}
	return "", false
}

func (c *jujuLogCmd) Run(ctx *cmd.Context) error {
	if c.formatFlag != "" {
		fmt.Fprintf(ctx.Stderr, "--format flag deprecated for command %q", "juju-log")
	}
	level := "INFO"
	if c.debug {
		level = "DEBUG"
	} else if c.level != "" {
		l, ok := parseLogLevel(c.level)
		if ok {
			level = l
		} else if err := c.hc.Log("WARNING", fmt.Sprintf("Specified log level of %q is not valid", c.level)); err != nil {
			return err
		}
	}
	prefix := ""
	if id, ok := c.hc.HookRelationID(); ok {
		if fid, err := fakeID(c.hc, id); err == nil {
			prefix = fid + ": "
		}
	}
	return c.hc.Log(level, prefix+c.message)
}

// application-version-set

type appVersionSetCmd struct {
	cmdBase
	hc      Context
	version string
}

func (c *appVersionSetCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "application-version-set",
		Args:    "<new-version>",
		Purpose: "Specify which version of the application is deployed.",
		Doc: `
application-version-set tells Juju which version of the application
software is running. This could be a package version number or some
other useful identifier, such as a Git hash, that indicates the
version of the deployed software. (It shouldn't be confused with the
charm revision.) The version set will be displayed in "juju status"
output for the application.
`,
	})
}

func (c *appVersionSetCmd) Init(args []string) error {
	if len(args) < 1 {
		return errors.New("no version specified")
	}
	c.version = args[0]
	return cmd.CheckEmpty(args[1:])
}

func (c *appVersionSetCmd) Run(ctx *cmd.Context) error {
	return c.hc.SetApplicationVersion(c.version)
}

// goal-state

type goalStateCmd struct {
	cmdBase
	hc  Context
	out cmd.Output
}

func (c *goalStateCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "goal-state",
		Purpose: "Print the status of the charm's peers and related units.",
		Doc: `
'goal-state' command will list the charm units and relations, specifying their status and their relations to other units in different charms.
`,
	})
}

func (c *goalStateCmd) SetFlags(f *gnuflag.FlagSet) {
	c.out.AddFlags(f, "yaml", yamlJSONFormatters())
}

func (c *goalStateCmd) Run(ctx *cmd.Context) error {
	gs, err := c.hc.GoalState()
	if err != nil {
		return err
	}
	out := goalStateDisplay{Units: goalUnits(gs["units"]), Relations: map[string]goalUnitsDisplay{}}
	if rels, ok := gs["relations"].(map[string]any); ok {
		for name, units := range rels {
			out.Relations[name] = goalUnits(units)
		}
	}
	return c.out.Write(ctx, out)
}

// goalStateDisplay is goal-state's document as Juju prints it: units first, then
// relations (a struct, not a map, keeps that order in YAML and JSON).
type goalStateDisplay struct {
	Units     goalUnitsDisplay            `json:"units" yaml:"units"`
	Relations map[string]goalUnitsDisplay `json:"relations" yaml:"relations"`
}

type goalUnitsDisplay map[string]goalStatusDisplay

type goalStatusDisplay struct {
	Status string `json:"status" yaml:"status"`
	Since  string `json:"since,omitempty" yaml:"since,omitempty"`
}

// goalUnits reads one units map of the Context's goal-state document.
func goalUnits(v any) goalUnitsDisplay {
	out := goalUnitsDisplay{}
	units, _ := v.(map[string]any)
	for name, u := range units {
		m, _ := u.(map[string]any)
		status, _ := m["status"].(string)
		since, _ := m["since"].(string)
		out[name] = goalStatusDisplay{Status: status, Since: since}
	}
	return out
}

// credential-get

type credentialGetCmd struct {
	cmdBase
	hc  Context
	out cmd.Output
}

func (c *credentialGetCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "credential-get",
		Purpose: "Access cloud credentials.",
		Doc: `
credential-get returns the cloud specification used by the unit's model.
`,
	})
}

func (c *credentialGetCmd) SetFlags(f *gnuflag.FlagSet) {
	c.out.AddFlags(f, "smart", smartFormatters())
}

func (c *credentialGetCmd) Run(ctx *cmd.Context) error {
	spec, err := c.hc.Credential()
	if err != nil {
		if errors.Is(err, ErrNoTrust) {
			// What Juju's controller answers an untrusted application, as its agent words it.
			return errors.New("cannot access cloud credentials: getting model credentials: permission denied")
		}
		return fmt.Errorf("cannot access cloud credentials: %w", err)
	}
	return c.out.Write(ctx, spec)
}

// juju-reboot

type rebootCmd struct {
	cmdBase
	hc  Context
	now bool
}

func (c *rebootCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "juju-reboot",
		Purpose: "Reboot the host machine.",
		Doc: `
juju-reboot causes the host machine to reboot, after stopping all containers
hosted on the machine.

juju-reboot is not supported when running actions, nor by jujulet.
`,
	})
}

func (c *rebootCmd) SetFlags(f *gnuflag.FlagSet) {
	f.BoolVar(&c.now, "now", false, "reboot immediately, killing the invoking process")
}

func (c *rebootCmd) Run(ctx *cmd.Context) error {
	if _, err := c.hc.ActionParams(); err == nil {
		//lint:ignore ST1005 Juju's jujuc prints this text, period included
		return errors.New("juju-reboot is not supported when running an action.")
	}
	return errors.New("juju-reboot is not supported")
}
