package hooktools

import (
	"errors"
	"fmt"
	"sort"

	"github.com/juju/cmd/v3"
	"github.com/juju/gnuflag"
)

// relation-get

type relationGetCmd struct {
	cmdBase
	hc      Context
	relID   int
	relFlag *relationIDValue
	app     bool
	key     string
	target  string
	out     cmd.Output
}

func newRelationGet(hc Context) *relationGetCmd {
	c := &relationGetCmd{hc: hc}
	c.relFlag = newRelationIDValue(hc, &c.relID)
	return c
}

func (c *relationGetCmd) Info() *cmd.Info {
	args := "<key> <unit id>"
	doc := `
relation-get prints the value of a unit's relation setting, specified by key.
If no key is given, or if the key is "-", all keys and values will be printed.

A unit can see its own settings by calling "relation-get - MYUNIT", this will include
any changes that have been made with "relation-set".

When reading remote relation data, a charm can call relation-get --app - to get
the data for the application data bag that is set by the remote applications
leader.
`
	if u := c.hc.RemoteUnitName(); u != "" {
		args = "[<key> [<unit id>]]"
		doc += fmt.Sprintf("Current default unit id is %q.", u)
	}
	return info(cmd.Info{
		Name:    "relation-get",
		Args:    args,
		Purpose: "Get relation settings.",
		Doc:     doc,
	})
}

func (c *relationGetCmd) SetFlags(f *gnuflag.FlagSet) {
	c.out.AddFlags(f, "smart", smartFormatters())
	f.Var(c.relFlag, "r", "Specify a relation by id")
	f.Var(c.relFlag, "relation", "")
	f.BoolVar(&c.app, "app", false, "Get the relation data for the overall application, not just a unit")
}

func (c *relationGetCmd) Init(args []string) error {
	if c.relID == -1 {
		return errors.New("no relation id specified")
	}
	if len(args) > 0 {
		if c.key = args[0]; c.key == "-" {
			c.key = ""
		}
		args = args[1:]
	}
	if err := c.resolveTarget(&args); err != nil {
		return err
	}
	return cmd.CheckEmpty(args)
}

func (c *relationGetCmd) resolveTarget(args *[]string) error {
	if len(*args) > 0 {
		given := (*args)[0]
		*args = (*args)[1:]
		if c.app {
			switch {
			case isValidApplication(given):
				c.target = given
			case isValidUnit(given):
				c.target = unitApplication(given)
			}
			return nil
		}
		if !isValidUnit(given) {
			if isValidApplication(given) {
				return fmt.Errorf("expected unit name, got application name %q", given)
			}
			return fmt.Errorf("invalid unit name %q", given)
		}
		c.target = given
		return nil
	}
	if c.app {
		if c.target = c.hc.RemoteAppName(); c.target == "" {
			return errors.New("no unit or application specified")
		}
		return nil
	}
	if u := c.hc.RemoteUnitName(); u != "" {
		c.target = u
		return nil
	}
	if a := c.hc.RemoteAppName(); a != "" {
		c.target = a
		c.app = true
		return nil
	}
	return errors.New("no unit or application specified")
}

func (c *relationGetCmd) Run(ctx *cmd.Context) error {
	var settings map[string]string
	var err error
	if c.app {
		settings, err = c.hc.ReadAppSettings(c.relID, c.target)
	} else {
		settings, err = c.hc.ReadUnitSettings(c.relID, c.target)
	}
	if err != nil {
		return err
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

// relation-set

type relationSetCmd struct {
	cmdBase
	hc         Context
	relID      int
	relFlag    *relationIDValue
	settings   map[string]string
	file       cmd.FileVar
	formatFlag string
	app        bool
}

func newRelationSet(hc Context) *relationSetCmd {
	c := &relationSetCmd{hc: hc}
	c.relFlag = newRelationIDValue(hc, &c.relID)
	return c
}

func (c *relationSetCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "relation-set",
		Args:    "key=value [key=value ...]",
		Purpose: "Set relation settings.",
		Doc: `
"relation-set" writes the local unit's settings for some relation.
If no relation is specified then the current relation is used. The
setting values are not inspected and are stored as strings. Setting
an empty string causes the setting to be removed. Duplicate settings
are not allowed.

If the unit is the leader, it can set the application settings using
"--app". These are visible to related applications via 'relation-get --app'
or by supplying the application name to 'relation-get' in place of
a unit name.

The --file option should be used when one or more key-value pairs are
too long to fit within the command length limit of the shell or
operating system. The file will contain a YAML map containing the
settings.  Settings in the file will be overridden by any duplicate
key-value arguments. A value of "-" for the filename means <stdin>.
`,
	})
}

func (c *relationSetCmd) SetFlags(f *gnuflag.FlagSet) {
	f.Var(c.relFlag, "r", "specify a relation by id")
	f.Var(c.relFlag, "relation", "")
	c.file.SetStdin()
	f.Var(&c.file, "file", "file containing key-value pairs")
	f.BoolVar(&c.app, "app", false, `pick whether you are setting "application" settings or "unit" settings`)
	f.StringVar(&c.formatFlag, "format", "", "deprecated format flag")
}

func (c *relationSetCmd) Init(args []string) error {
	if c.relID == -1 {
		return errors.New("no relation id specified")
	}
	kv, err := parseKeyValues(args)
	if err != nil {
		return err
	}
	c.settings = kv
	return nil
}

func (c *relationSetCmd) Run(ctx *cmd.Context) error {
	if c.formatFlag != "" {
		fmt.Fprintf(ctx.Stderr, "--format flag deprecated for command %q", "relation-set")
	}
	settings := c.settings
	if c.file.Path != "" {
		fromFile, err := readFileVar(ctx, &c.file)
		if err != nil {
			return err
		}
		for k, v := range c.settings {
			fromFile[k] = v
		}
		settings = fromFile
	}
	if c.app {
		leader, err := c.hc.IsLeader()
		if err != nil {
			return fmt.Errorf("cannot determine leadership status: %w", err)
		}
		if !leader {
			return errors.New("cannot write relation settings")
		}
	}
	if err := c.hc.WriteSettings(c.relID, c.app, settings); err != nil {
		if errors.Is(err, ErrNotLeader) {
			return errors.New("cannot write relation settings")
		}
		return err
	}
	return nil
}

// relation-ids

type relationIDsCmd struct {
	cmdBase
	hc       Context
	endpoint string
	out      cmd.Output
}

func (c *relationIDsCmd) Info() *cmd.Info {
	args := "<name>"
	doc := ""
	if id, ok := c.hc.HookRelationID(); ok {
		if ep, err := c.hc.RelationEndpoint(id); err == nil {
			args = "[<name>]"
			doc = fmt.Sprintf("Current default endpoint name is %q.", ep)
		}
	}
	doc += `
relation-ids outputs a list of the related applications with a relation name.
Accepts a single argument (relation-name) which, in a relation hook, defaults
to the name of the current relation. The output is useful as input to the
relation-list, relation-get, and relation-set commands to read or write other
relation values.

Only relation ids for relations which are not broken are included.
`
	return info(cmd.Info{
		Name:     "relation-ids",
		Args:     args,
		Purpose:  "List all relation IDs for the given endpoint.",
		Doc:      doc,
		Examples: "\n    relation-ids database\n",
	})
}

func (c *relationIDsCmd) SetFlags(f *gnuflag.FlagSet) {
	c.out.AddFlags(f, "smart", smartFormatters())
}

func (c *relationIDsCmd) Init(args []string) error {
	if id, ok := c.hc.HookRelationID(); ok {
		if ep, err := c.hc.RelationEndpoint(id); err == nil {
			c.endpoint = ep
		}
	}
	if len(args) > 0 {
		c.endpoint = args[0]
		args = args[1:]
	} else if c.endpoint == "" {
		return errors.New("no endpoint name specified")
	}
	return cmd.CheckEmpty(args)
}

func (c *relationIDsCmd) Run(ctx *cmd.Context) error {
	ids, err := c.hc.RelationIDs(c.endpoint)
	if err != nil {
		return err
	}
	result := []string{}
	for _, id := range ids {
		result = append(result, fmt.Sprintf("%s:%d", c.endpoint, id))
	}
	sort.Strings(result)
	return c.out.Write(ctx, result)
}

// relation-list

type relationListCmd struct {
	cmdBase
	hc      Context
	relID   int
	relFlag *relationIDValue
	listApp bool
	out     cmd.Output
}

func newRelationList(hc Context) *relationListCmd {
	c := &relationListCmd{hc: hc}
	c.relFlag = newRelationIDValue(hc, &c.relID)
	return c
}

func (c *relationListCmd) Info() *cmd.Info {
	doc := "-r must be specified when not in a relation hook"
	if _, ok := c.hc.HookRelationID(); ok {
		doc = ""
	}
	return info(cmd.Info{Name: "relation-list", Purpose: "List relation units.", Doc: doc})
}

func (c *relationListCmd) SetFlags(f *gnuflag.FlagSet) {
	c.out.AddFlags(f, "smart", smartFormatters())
	f.Var(c.relFlag, "r", "Specify a relation by id")
	f.Var(c.relFlag, "relation", "")
	f.BoolVar(&c.listApp, "app", false, "List remote application instead of participating units")
}

func (c *relationListCmd) Init(args []string) error {
	if c.relID == -1 {
		return errors.New("no relation id specified")
	}
	return cmd.CheckEmpty(args)
}

func (c *relationListCmd) Run(ctx *cmd.Context) error {
	if c.listApp {
		app, err := c.hc.RelationRemoteApp(c.relID)
		if err != nil {
			return err
		}
		return c.out.Write(ctx, app)
	}
	units, err := c.hc.RelationUnits(c.relID)
	if err != nil {
		return err
	}
	units = append([]string{}, units...)
	sort.Strings(units)
	return c.out.Write(ctx, units)
}

// relation-model-get

type relationModelGetCmd struct {
	cmdBase
	hc      Context
	relID   int
	relFlag *relationIDValue
	out     cmd.Output
}

func newRelationModelGet(hc Context) *relationModelGetCmd {
	c := &relationModelGetCmd{hc: hc}
	c.relFlag = newRelationIDValue(hc, &c.relID)
	return c
}

func (c *relationModelGetCmd) Info() *cmd.Info {
	doc := `
-r must be specified when not in a relation hook

relation-model-get outputs details about the model hosting the application
on the other end of a unit relation.
If not running in a relation hook context, -r needs to be specified with a
relation identifier similar to the relation-get and relation-set commands.
`
	if _, ok := c.hc.HookRelationID(); ok {
		doc = ""
	}
	return info(cmd.Info{
		Name:    "relation-model-get",
		Purpose: "Get details about the model hosing a related application.",
		Doc:     doc,
	})
}

func (c *relationModelGetCmd) SetFlags(f *gnuflag.FlagSet) {
	c.out.AddFlags(f, "smart", smartFormatters())
	f.Var(c.relFlag, "r", "Specify a relation by id")
	f.Var(c.relFlag, "relation", "")
}

func (c *relationModelGetCmd) Init(args []string) error {
	if c.relID == -1 {
		return errors.New("no relation id specified")
	}
	return cmd.CheckEmpty(args)
}

type modelDetails struct {
	UUID string `yaml:"uuid" json:"uuid"`
}

func (c *relationModelGetCmd) Run(ctx *cmd.Context) error {
	uuid, err := c.hc.RelationModelUUID(c.relID)
	if err != nil {
		return err
	}
	return c.out.Write(ctx, modelDetails{UUID: uuid})
}
