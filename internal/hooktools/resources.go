package hooktools

import (
	"errors"
	"fmt"

	"github.com/juju/cmd/v3"
)

// ResourceContext is optionally implemented by a Context whose application has resources
// (deploy --resource name=path): ResourcePath returns the unit-readable path of the named
// resource's file, or an error wrapping ErrResourceNotFound.
type ResourceContext interface {
	ResourcePath(name string) (string, error)
}

// ErrResourceNotFound: the application has no resource of that name.
var ErrResourceNotFound = errors.New("resource not found")

type resourceGetCmd struct {
	cmdBase
	hc   Context
	name string
}

func (c *resourceGetCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "resource-get",
		Args:    "<resource name>",
		Purpose: "Get the path to the locally cached resource file.",
		Doc: `
"resource-get" is used while a hook is running to get the local path
to the file for the identified resource. This file is an fs-local copy,
unique to the unit for which the hook is running.

Note that "resource-get" only provides an FS path to the resource file.
It does not provide any information about the resource (e.g. revision).
`,
		Examples: `
    # resource-get software
    /var/lib/juju/agents/unit-resources-example-0/resources/software/software.zip
`,
	})
}

func (c *resourceGetCmd) Init(args []string) error {
	if len(args) < 1 {
		return errors.New("missing required resource name")
	}
	if err := cmd.CheckEmpty(args[1:]); err != nil {
		return err
	}
	c.name = args[0]
	return nil
}

func (c *resourceGetCmd) Run(ctx *cmd.Context) error {
	rc, ok := c.hc.(ResourceContext)
	if !ok {
		return fmt.Errorf("could not download resource: resource %q not found", c.name)
	}
	path, err := rc.ResourcePath(c.name)
	if errors.Is(err, ErrResourceNotFound) {
		return fmt.Errorf("could not download resource: resource %q not found", c.name)
	}
	if err != nil {
		return fmt.Errorf("could not download resource: %w", err)
	}
	if _, err := fmt.Fprint(ctx.Stdout, path); err != nil {
		return fmt.Errorf("could not write resource path to stdout: %w", err)
	}
	return nil
}
