package uniter

import (
	"errors"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
	"github.com/jujulet/postgresql-k8s/internal/hooktools"
)

var _ hooktools.AddressContext = (*hookCtx)(nil)

// PrivateAddress serves unit-get private-address: the unit's pod address (jujulet's units
// have one address, which is also what network-get reports for every binding).
func (c *hookCtx) PrivateAddress() (string, error) { return c.address("private") }

// PublicAddress serves unit-get public-address: on Kubernetes, Juju's public address of a
// sidecar unit is its pod address too.
func (c *hookCtx) PublicAddress() (string, error) { return c.address("public") }

func (c *hookCtx) address(kind string) (string, error) {
	var addr string
	err := c.view(func(_ *st.Tx, unit *st.Unit, _ *st.App) error {
		addr = unit.Addr
		return nil
	})
	if err != nil {
		return "", err
	}
	if addr == "" {
		// Juju's words when the unit has none yet.
		return "", errors.New(kind + " address not found")
	}
	return addr, nil
}
