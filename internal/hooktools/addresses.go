package hooktools

import (
	"errors"
	"fmt"

	"github.com/juju/cmd/v3"
	"github.com/juju/gnuflag"
)

// AddressContext is optionally implemented by a Context that knows the unit's addresses
// apart from its bindings' network info. unit-get asks the default binding's network info
// first, as Juju does, and falls back to these.
type AddressContext interface {
	PrivateAddress() (string, error)
	PublicAddress() (string, error)
}

// errNoAddress is Juju's wording when the unit has no such address.
func errNoAddress(kind string) error { return fmt.Errorf("%s address not found", kind) }

type unitGetCmd struct {
	cmdBase
	hc  Context
	key string
	out cmd.Output
}

func (c *unitGetCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "unit-get",
		Args:    "<setting>",
		Purpose: "Print public-address or private-address.",
		Doc: `
Further details:
unit-get returns the IP address of the unit.

It accepts a single argument, which must be
private-address or public-address. It is not
affected by context.

Note that if a unit has been deployed with
--bind space then the address returned from
unit-get private-address will get the address
from this space, not the ‘default’ space.
`,
	})
}

func (c *unitGetCmd) SetFlags(f *gnuflag.FlagSet) {
	c.out.AddFlags(f, "smart", smartFormatters())
}

func (c *unitGetCmd) Init(args []string) error {
	if args == nil {
		return errors.New("no setting specified")
	}
	if args[0] != "private-address" && args[0] != "public-address" {
		return fmt.Errorf("unknown setting %q", args[0])
	}
	c.key = args[0]
	return cmd.CheckEmpty(args[1:])
}

func (c *unitGetCmd) Run(ctx *cmd.Context) error {
	v, err := c.address()
	if err != nil {
		return err
	}
	return c.out.Write(ctx, v)
}

// address follows Juju: the private address is the default binding's first address (its
// host name when it has one); either address otherwise comes from the unit itself.
func (c *unitGetCmd) address() (string, error) {
	ac, hasAddrs := c.hc.(AddressContext)
	if c.key == "public-address" {
		if hasAddrs {
			return ac.PublicAddress()
		}
		return c.ingress("public")
	}
	if ni, err := c.hc.NetworkInfo("", -1); err == nil && len(ni.BindAddresses) > 0 && len(ni.BindAddresses[0].Addresses) > 0 {
		a := ni.BindAddresses[0].Addresses[0]
		if a.Hostname != "" {
			return a.Hostname, nil
		}
		return a.Address, nil
	}
	if hasAddrs {
		return ac.PrivateAddress()
	}
	return c.ingress("private")
}

// ingress is the fallback for a Context without AddressContext: on jujulet's single
// machine a unit's public and private addresses are its default binding's ingress address.
func (c *unitGetCmd) ingress(kind string) (string, error) {
	ni, err := c.hc.NetworkInfo("", -1)
	if err != nil || len(ni.IngressAddresses) == 0 {
		return "", errNoAddress(kind)
	}
	return ni.IngressAddresses[0], nil
}
