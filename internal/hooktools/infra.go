package hooktools

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/juju/cmd/v3"
	"github.com/juju/gnuflag"
)

// network-get

type networkGetCmd struct {
	cmdBase
	hc             Context
	relID          int
	relFlag        *relationIDValue
	binding        string
	bindAddress    bool
	ingressAddress bool
	egressSubnets  bool
	primaryAddress bool
	keys           []string
	out            cmd.Output
}

func newNetworkGet(hc Context) *networkGetCmd {
	c := &networkGetCmd{hc: hc}
	c.relFlag = newRelationIDValue(hc, &c.relID)
	return c
}

func (c *networkGetCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "network-get",
		Args:    "<binding-name> [--ingress-address] [--bind-address] [--egress-subnets]",
		Purpose: "Get network config.",
		Doc: `
network-get returns the network config for a given binding name. By default
it returns the list of interfaces and associated addresses in the space for
the binding, as well as the ingress address for the binding. If defined, any
egress subnets are also returned.
If one of the following flags are specified, just that value is returned.
If more than one flag is specified, a map of values is returned.
    --bind-address: the address the local unit should listen on to serve connections, as well
                    as the address that should be advertised to its peers.
    --ingress-address: the address the local unit should advertise as being used for incoming connections.
    --egress-subnets: subnets (in CIDR notation) from which traffic on this relation will originate.
`,
	})
}

func (c *networkGetCmd) SetFlags(f *gnuflag.FlagSet) {
	c.out.AddFlags(f, "smart", smartFormatters())
	f.BoolVar(&c.primaryAddress, "primary-address", false, "(deprecated) get the primary address for the binding")
	f.BoolVar(&c.bindAddress, "bind-address", false, "get the address for the binding on which the unit should listen")
	f.BoolVar(&c.ingressAddress, "ingress-address", false, "get the ingress address for the binding")
	f.BoolVar(&c.egressSubnets, "egress-subnets", false, "get the egress subnets for the binding")
	f.Var(c.relFlag, "r", "specify a relation by id")
	f.Var(c.relFlag, "relation", "")
}

func (c *networkGetCmd) Init(args []string) error {
	if len(args) < 1 {
		return errors.New("no arguments specified")
	}
	c.binding = args[0]
	if c.binding == "" {
		return errors.New("no binding name specified")
	}
	if c.bindAddress {
		c.keys = append(c.keys, "bind-address")
	}
	if c.ingressAddress {
		c.keys = append(c.keys, "ingress-address")
	}
	if c.egressSubnets {
		c.keys = append(c.keys, "egress-subnets")
	}
	return cmd.CheckEmpty(args[1:])
}

// Display types: JSON as Juju 3.6 prints it; YAML also carries the legacy keys
// (macaddress, interfacename, address) Juju keeps for old agents.
type ifaceAddrDisplay struct {
	Hostname string `json:"hostname" yaml:"hostname"`
	Address  string `json:"value" yaml:"value"`
	CIDR     string `json:"cidr" yaml:"cidr"`
	AddressX string `json:"-" yaml:"address"`
}

type netInfoDisplay struct {
	MACAddress     string             `json:"mac-address" yaml:"mac-address"`
	InterfaceName  string             `json:"interface-name" yaml:"interface-name"`
	Addresses      []ifaceAddrDisplay `json:"addresses" yaml:"addresses"`
	MACAddressX    string             `json:"-" yaml:"macaddress"`
	InterfaceNameX string             `json:"-" yaml:"interfacename"`
}

type netResultDisplay struct {
	Info             []netInfoDisplay `json:"bind-addresses,omitempty" yaml:"bind-addresses,omitempty"`
	EgressSubnets    []string         `json:"egress-subnets,omitempty" yaml:"egress-subnets,omitempty"`
	IngressAddresses []string         `json:"ingress-addresses,omitempty" yaml:"ingress-addresses,omitempty"`
}

func networkDisplay(ni NetworkInfo) netResultDisplay {
	d := netResultDisplay{
		Info:             make([]netInfoDisplay, len(ni.BindAddresses)),
		EgressSubnets:    append([]string{}, ni.EgressSubnets...),
		IngressAddresses: append([]string{}, ni.IngressAddresses...),
	}
	for i, b := range ni.BindAddresses {
		di := netInfoDisplay{
			MACAddress: b.MACAddress, InterfaceName: b.InterfaceName,
			MACAddressX: b.MACAddress, InterfaceNameX: b.InterfaceName,
			Addresses: make([]ifaceAddrDisplay, len(b.Addresses)),
		}
		for j, a := range b.Addresses {
			di.Addresses[j] = ifaceAddrDisplay{Hostname: a.Hostname, Address: a.Address, CIDR: a.CIDR, AddressX: a.Address}
		}
		d.Info[i] = di
	}
	return d
}

func (c *networkGetCmd) Run(ctx *cmd.Context) error {
	ni, err := c.hc.NetworkInfo(c.binding, c.relID)
	if err != nil {
		if errors.Is(err, ErrNoNetwork) {
			return fmt.Errorf("no network config found for binding %q", c.binding)
		}
		return err
	}
	if len(ni.BindAddresses) == 0 {
		return fmt.Errorf("no network config found for binding %q", c.binding)
	}
	if !c.primaryAddress && len(c.keys) == 0 {
		return c.out.Write(ctx, networkDisplay(ni))
	}
	firstAddr := func() (string, error) {
		if len(ni.BindAddresses[0].Addresses) == 0 {
			return "", fmt.Errorf("no addresses attached to space for binding %q", c.binding)
		}
		return ni.BindAddresses[0].Addresses[0].Address, nil
	}
	if c.primaryAddress {
		if len(c.keys) > 0 {
			return errors.New("--primary-address must be the only flag specified")
		}
		a, err := firstAddr()
		if err != nil {
			return err
		}
		return c.out.Write(ctx, a)
	}
	values := map[string]any{}
	if c.egressSubnets {
		values["egress-subnets"] = ni.EgressSubnets
	}
	if c.ingressAddress {
		if len(ni.IngressAddresses) > 0 {
			values["ingress-address"] = ni.IngressAddresses[0]
		} else {
			a, err := firstAddr()
			if err != nil {
				return err
			}
			values["ingress-address"] = a
		}
	}
	if c.bindAddress {
		a, err := firstAddr()
		if err != nil {
			return err
		}
		values["bind-address"] = a
	}
	if len(c.keys) == 1 {
		return c.out.Write(ctx, values[c.keys[0]])
	}
	return c.out.Write(ctx, values)
}

// Ports

// String renders a port range as Juju does: "5432/tcp", "8000-8010/udp", "icmp".
func (p Port) String() string {
	if p.Protocol == "icmp" {
		return "icmp"
	}
	if p.From == p.To {
		return fmt.Sprintf("%d/%s", p.From, p.Protocol)
	}
	return fmt.Sprintf("%d-%d/%s", p.From, p.To, p.Protocol)
}

// ParsePort parses "<port>[/<protocol>]", "<from>-<to>[/<protocol>]" or "icmp" the
// way Juju's open-port does (input lower-cased first; icmp is From = To = -1).
func ParsePort(s string) (Port, error) {
	in := strings.ToLower(s)
	proto := "tcp"
	if rng, p, ok := strings.Cut(in, "/"); ok {
		in, proto = rng, p
	}
	parts := strings.Split(in, "-")
	var from, to int
	switch {
	case len(parts) > 2:
		return Port{}, fmt.Errorf("invalid port range %q", in)
	case len(parts) == 1 && parts[0] == "icmp":
		from, to, proto = -1, -1, "icmp"
	case len(parts) == 1:
		n, err := strconv.Atoi(parts[0])
		if err != nil {
			return Port{}, fmt.Errorf("invalid port %q: %w", in, err)
		}
		from, to = n, n
	default:
		var err error
		if from, err = strconv.Atoi(parts[0]); err != nil {
			return Port{}, fmt.Errorf("invalid port %q: %w", parts[0], err)
		}
		if to, err = strconv.Atoi(parts[1]); err != nil {
			return Port{}, fmt.Errorf("invalid port %q: %w", parts[1], err)
		}
	}
	p := Port{Protocol: proto, From: from, To: to}
	switch {
	case proto != "tcp" && proto != "udp" && proto != "icmp":
		return Port{}, fmt.Errorf(`invalid protocol %q, expected "tcp", "udp", or "icmp"`, proto)
	case proto == "icmp":
		if from != -1 || to != -1 {
			return Port{}, fmt.Errorf(`protocol "icmp" doesn't support any ports; got "%v"`, from)
		}
	case from > to:
		return Port{}, fmt.Errorf("invalid port range %s", p)
	case from < 0 || from > 65535 || to < 0 || to > 65535:
		return Port{}, fmt.Errorf("port range bounds must be between 0 and 65535, got %d-%d", from, to)
	}
	return p, nil
}

type portCmd struct {
	cmdBase
	hc         Context
	open       bool
	port       Port
	endpoints  string
	formatFlag string
}

const portFormat = "<port>[/<protocol>] or <from>-<to>[/<protocol>] or icmp"

func (c *portCmd) Info() *cmd.Info {
	if c.open {
		return info(cmd.Info{
			Name:    "open-port",
			Args:    portFormat,
			Purpose: "Register a request to open a port or port range.",
			Doc: `
open-port registers a request to open the specified port or port range.
This operation is transactional, so changes will not be made unless the
hook exits successfully.
`,
		})
	}
	return info(cmd.Info{
		Name:    "close-port",
		Args:    portFormat,
		Purpose: "Register a request to close a port or port range.",
		Doc: `
close-port registers a request to close the specified port or port range.
`,
	})
}

func (c *portCmd) SetFlags(f *gnuflag.FlagSet) {
	f.StringVar(&c.formatFlag, "format", "", "deprecated format flag")
	f.StringVar(&c.endpoints, "endpoints", "", "a comma-delimited list of application endpoints to target with this operation")
}

func (c *portCmd) Init(args []string) error {
	if len(args) == 0 {
		return errors.New("no port or range specified")
	}
	p, err := ParsePort(args[0])
	if err != nil {
		return err
	}
	c.port = p
	return cmd.CheckEmpty(args[1:])
}

func (c *portCmd) Run(ctx *cmd.Context) error {
	if c.formatFlag != "" {
		fmt.Fprintf(ctx.Stderr, "--format flag deprecated for command %q", c.Info().Name)
	}
	// jujulet's units are Kubernetes sidecar units, for which Juju opens single ports only.
	if c.port.From != c.port.To {
		return errors.New("port ranges are not supported for k8s applications, please specify a single port")
	}
	op := c.hc.ClosePort
	if c.open {
		op = c.hc.OpenPort
	}
	if c.endpoints == "" {
		return op(c.port)
	}
	for _, ep := range strings.Split(c.endpoints, ",") {
		p := c.port
		p.Endpoint = strings.TrimSpace(ep)
		if err := op(p); err != nil {
			return err
		}
	}
	return nil
}

type openedPortsCmd struct {
	cmdBase
	hc            Context
	showEndpoints bool
	out           cmd.Output
}

func (c *openedPortsCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "opened-ports",
		Purpose: "List all ports or port ranges opened by the unit.",
		Doc: `
opened-ports lists all ports or port ranges opened by a unit.

Opening ports is transactional (i.e. will take place on successfully exiting
the current hook), and therefore opened-ports will not return any values for
pending open-port operations run from within the same hook.
`,
	})
}

func (c *openedPortsCmd) SetFlags(f *gnuflag.FlagSet) {
	c.out.AddFlags(f, "smart", smartFormatters())
	f.BoolVar(&c.showEndpoints, "endpoints", false, "display the list of target application endpoints for each port range")
}

func (c *openedPortsCmd) Run(ctx *cmd.Context) error {
	ports, err := c.hc.OpenedPorts()
	if err != nil {
		return err
	}
	// One line per distinct range, sorted as Juju sorts them (protocol, from, to); with
	// --endpoints each names its endpoints, "*" when it is open for all of them.
	endpoints := map[Port][]string{}
	var ranges []Port
	for _, p := range ports {
		r := Port{Protocol: p.Protocol, From: p.From, To: p.To}
		if _, ok := endpoints[r]; !ok {
			ranges = append(ranges, r)
		}
		endpoints[r] = append(endpoints[r], p.Endpoint)
	}
	sort.Slice(ranges, func(i, j int) bool {
		a, b := ranges[i], ranges[j]
		if a.Protocol != b.Protocol {
			return a.Protocol < b.Protocol
		}
		if a.From != b.From {
			return a.From < b.From
		}
		return a.To < b.To
	})
	results := make([]string, 0, len(ranges))
	for _, r := range ranges {
		s := r.String()
		if c.showEndpoints {
			eps := endpoints[r]
			desc := "*"
			if !slices.Contains(eps, "") {
				sort.Strings(eps)
				desc = strings.Join(slices.Compact(eps), ", ")
			}
			s += " (" + desc + ")"
		}
		results = append(results, s)
	}
	return c.out.Write(ctx, results)
}

// Charm state

const (
	maxStateKeySize   = 256
	maxStateValueSize = 64 * 1024
)

type stateGetCmd struct {
	cmdBase
	hc     Context
	key    string
	strict bool
	out    cmd.Output
}

func (c *stateGetCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "state-get",
		Args:    "[<key>]",
		Purpose: "Print server-side-state value.",
		Doc: `
state-get prints the value of the server side state specified by key.
If no key is given, or if the key is "-", all keys and values will be printed.
`,
	})
}

func (c *stateGetCmd) SetFlags(f *gnuflag.FlagSet) {
	c.out.AddFlags(f, "smart", smartFormatters())
	f.BoolVar(&c.strict, "strict", false, "Return an error if the requested key does not exist")
}

func (c *stateGetCmd) Init(args []string) error {
	if len(args) > 0 {
		if c.key = args[0]; c.key == "-" {
			c.key = ""
		}
		args = args[1:]
	}
	return cmd.CheckEmpty(args)
}

func (c *stateGetCmd) Run(ctx *cmd.Context) error {
	state, err := c.hc.StateGet()
	if err != nil {
		return err
	}
	if state == nil {
		state = map[string]string{}
	}
	if c.key == "" {
		return c.out.Write(ctx, state)
	}
	v, ok := state[c.key]
	if !ok && c.strict {
		return fmt.Errorf("%q not found", c.key)
	}
	return c.out.Write(ctx, v)
}

type stateSetCmd struct {
	cmdBase
	hc     Context
	values map[string]string
	file   cmd.FileVar
}

func (c *stateSetCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "state-set",
		Args:    "key=value [key=value ...]",
		Purpose: "Set server-side-state values.",
		Doc: fmt.Sprintf(`
state-set sets the value of the server side state specified by key.

The --file option should be used when one or more key-value pairs
are too long to fit within the command length limit of the shell
or operating system. The file will contain a YAML map containing
the settings as strings.  Settings in the file will be overridden
by any duplicate key-value arguments. A value of "-" for the filename
means <stdin>.

The following fixed size limits apply:
- Length of stored keys cannot exceed %d bytes.
- Length of stored values cannot exceed %d bytes.
`, maxStateKeySize, maxStateValueSize),
	})
}

func (c *stateSetCmd) SetFlags(f *gnuflag.FlagSet) {
	c.file.SetStdin()
	f.Var(&c.file, "file", "file containing key-value pairs")
}

func (c *stateSetCmd) Init(args []string) (err error) {
	c.values, err = parseKeyValues(args)
	return err
}

func (c *stateSetCmd) Run(ctx *cmd.Context) error {
	values := c.values
	if c.file.Path != "" {
		fromFile, err := readFileVar(ctx, &c.file)
		if err != nil {
			return err
		}
		for k, v := range c.values {
			fromFile[k] = v
		}
		values = fromFile
	}
	set := map[string]string{}
	var deletes []string
	for k, v := range values {
		if len(k) > maxStateKeySize {
			return fmt.Errorf("max allowed key length (%d) exceeded", maxStateKeySize)
		}
		if len(v) > maxStateValueSize {
			return fmt.Errorf("max allowed value length (%d) exceeded", maxStateValueSize)
		}
		if v == "" {
			deletes = append(deletes, k)
			continue
		}
		set[k] = v
	}
	if len(set) > 0 {
		if err := c.hc.StateSet(set); err != nil {
			return err
		}
	}
	sort.Strings(deletes)
	for _, k := range deletes {
		if err := c.hc.StateDelete(k); err != nil {
			return err
		}
	}
	return nil
}

type stateDeleteCmd struct {
	cmdBase
	hc  Context
	key string
}

func (c *stateDeleteCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "state-delete",
		Args:    "<key>",
		Purpose: "Delete server-side-state key value pairs.",
		Doc:     "\nstate-delete deletes the value of the server side state specified by key.\n",
	})
}

func (c *stateDeleteCmd) Init(args []string) error {
	if len(args) == 0 {
		return nil // Juju: state-delete without a key does nothing
	}
	c.key = args[0]
	return cmd.CheckEmpty(args[1:])
}

func (c *stateDeleteCmd) Run(ctx *cmd.Context) error {
	if c.key == "" {
		return nil
	}
	return c.hc.StateDelete(c.key)
}

// Storage

var storageIDRE = regexp.MustCompile(`^[a-z][a-z0-9]*(?:-[a-z0-9]*[a-z][a-z0-9]*)*/[0-9]+$`)

// storageIDValue is the gnuflag.Value of storage-get -s.
type storageIDValue struct {
	hc     Context
	result *string
}

func (v *storageIDValue) String() string { return *v.result }

func (v *storageIDValue) Set(value string) error {
	if !storageIDRE.MatchString(value) {
		return fmt.Errorf("invalid storage ID %q", value)
	}
	ids, err := v.hc.StorageIDs()
	if err != nil {
		return err
	}
	for _, id := range ids {
		if id == value {
			*v.result = value
			return nil
		}
	}
	// Juju asks the controller for the unit's attachment of that storage.
	return fmt.Errorf("storage attachment %s:%s not found", value, v.hc.UnitName())
}

type storageGetCmd struct {
	cmdBase
	hc    Context
	id    string
	idVal *storageIDValue
	key   string
	out   cmd.Output
}

func newStorageGet(hc Context) *storageGetCmd {
	c := &storageGetCmd{hc: hc}
	c.idVal = &storageIDValue{hc: hc, result: &c.id}
	if sh, ok := hc.(StorageHookContext); ok {
		if id, ok := sh.HookStorageID(); ok {
			c.id = id
		}
	}
	return c
}

func (c *storageGetCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "storage-get",
		Args:    "[<key>]",
		Purpose: "Print information for the storage instance with the specified ID.",
		Doc: `
When no <key> is supplied, all keys values are printed.

storage-get obtains information about storage being attached
to, or detaching from, the unit.

If the executing hook is a storage hook, information about
the storage related to the hook will be reported; this may
be overridden by specifying the name of the storage as reported
by storage-list, and must be specified for non-storage hooks.
`,
	})
}

func (c *storageGetCmd) SetFlags(f *gnuflag.FlagSet) {
	c.out.AddFlags(f, "smart", smartFormatters())
	f.Var(c.idVal, "s", "specify a storage instance by id")
}

func (c *storageGetCmd) Init(args []string) error {
	if c.id == "" {
		return errors.New("no storage instance specified")
	}
	key, err := cmd.ZeroOrOneArgs(args)
	if err != nil {
		return err
	}
	c.key = key
	return nil
}

func (c *storageGetCmd) Run(ctx *cmd.Context) error {
	values := map[string]any{}
	for _, k := range []string{"kind", "location"} {
		v, err := c.hc.StorageAttribute(c.id, k)
		if err != nil {
			return err
		}
		values[k] = v
	}
	if c.key == "" {
		return c.out.Write(ctx, values)
	}
	if v, ok := values[c.key]; ok {
		return c.out.Write(ctx, v)
	}
	return fmt.Errorf("invalid storage attribute %q", c.key)
}

type storageListCmd struct {
	cmdBase
	hc   Context
	name string
	out  cmd.Output
}

func (c *storageListCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "storage-list",
		Args:    "[<storage-name>]",
		Purpose: "List storage attached to the unit.",
		Doc: `
storage-list will list the names of all storage instances
attached to the unit. These names can be passed to storage-get
via the "-s" flag to query the storage attributes.

A storage name may be specified, in which case only storage
instances for that named storage will be returned.
`,
	})
}

func (c *storageListCmd) SetFlags(f *gnuflag.FlagSet) {
	c.out.AddFlags(f, "smart", smartFormatters())
}

func (c *storageListCmd) Init(args []string) (err error) {
	c.name, err = cmd.ZeroOrOneArgs(args)
	return err
}

func (c *storageListCmd) Run(ctx *cmd.Context) error {
	ids, err := c.hc.StorageIDs()
	if err != nil {
		return err
	}
	out := []string{}
	for _, id := range ids {
		if c.name == "" || strings.SplitN(id, "/", 2)[0] == c.name {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return c.out.Write(ctx, out)
}
