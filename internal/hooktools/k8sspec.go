package hooktools

import (
	"errors"
	"fmt"

	"github.com/juju/cmd/v3"
	"github.com/juju/gnuflag"
)

// The Kubernetes spec tools (k8s-spec-*, its deprecated pod-spec-* names, k8s-raw-*) belong
// to podspec charms. jujulet runs sidecar charms only, for which Juju keeps no spec: the
// get tools fail as Juju's state does ("k8s spec for application X not found") and the set
// tools read and check their input as Juju's do, then fail as Juju fails a non-leader, or,
// on the leader, with the reason the spec cannot apply (Juju would accept it and never use
// it: a sidecar application has no pod spec).

// errSidecarSpec is the set tools' answer on the leader.
var errSidecarSpec = errors.New("k8s spec is not supported for a sidecar charm")

type k8sSpecGetCmd struct {
	cmdBase
	hc   Context
	name string
	raw  bool
}

func (c *k8sSpecGetCmd) Info() *cmd.Info {
	purpose := "Get k8s spec information."
	if c.raw {
		purpose = "Get k8s raw spec information."
	} else if c.name == "pod-spec-get" {
		purpose += " (deprecated)"
	}
	return info(cmd.Info{
		Name:    c.name,
		Purpose: purpose,
		Doc: `
Gets configuration data used to set up k8s resources.
`,
	})
}

func (c *k8sSpecGetCmd) Run(*cmd.Context) error {
	return fmt.Errorf("k8s spec for application %s not found", unitApplication(c.hc.UnitName()))
}

type k8sSpecSetCmd struct {
	cmdBase
	hc        Context
	name      string
	raw       bool
	spec      cmd.FileVar
	resources cmd.FileVar
}

func (c *k8sSpecSetCmd) Info() *cmd.Info {
	if c.raw {
		return info(cmd.Info{
			Name:    c.name,
			Args:    "--file <core spec file>",
			Purpose: "Set k8s raw spec information.",
			Doc: `
Sets configuration data in k8s raw format to use for k8s resources.
The spec applies to all units for the application.
`,
		})
	}
	purpose := "Set k8s spec information."
	if c.name == "pod-spec-set" {
		purpose += " (deprecated)"
	}
	return info(cmd.Info{
		Name:    c.name,
		Args:    "--file <core spec file> [--k8s-resources <k8s spec file>]",
		Purpose: purpose,
		Doc: `
Sets configuration data to use for k8s resources.
The spec applies to all units for the application.
`,
		Examples: fmt.Sprintf(`
    %s [options] --file <core spec file> [--k8s-resources <k8s spec file>]"
`, c.name),
	})
}

func (c *k8sSpecSetCmd) SetFlags(f *gnuflag.FlagSet) {
	c.spec.SetStdin()
	c.spec.Path = "-"
	if c.raw {
		f.Var(&c.spec, "file", "file containing k8s raw spec")
		return
	}
	f.Var(&c.spec, "file", "file containing pod spec")
	f.Var(&c.resources, "k8s-resources", "file containing k8s specific resources not yet modelled by Juju")
}

func (c *k8sSpecSetCmd) Init(args []string) error { return cmd.CheckEmpty(args) }

func (c *k8sSpecSetCmd) Run(ctx *cmd.Context) error {
	data, err := c.spec.Read(ctx)
	if err != nil {
		return err
	}
	if len(data) == 0 {
		if c.raw {
			return errors.New("no k8s raw spec specified: pipe k8s raw spec to command, or specify a file with --file")
		}
		return errors.New("no k8s spec specified: pipe k8s spec to command, or specify a file with --file")
	}
	if !c.raw && c.resources.Path != "" {
		if _, err := c.resources.Read(ctx); err != nil {
			return err
		}
	}
	leader, err := c.hc.IsLeader()
	if err != nil {
		return fmt.Errorf("cannot determine leadership: %w", err)
	}
	if !leader {
		return errIsNotLeader
	}
	return errSidecarSpec
}
