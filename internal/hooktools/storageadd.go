package hooktools

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/juju/cmd/v3"
)

// StorageAddContext is optionally implemented by a Context that can add storage instances
// to its unit; counts are keyed by the charm's storage name.
type StorageAddContext interface {
	AddUnitStorage(counts map[string]uint64) error
}

// The three kinds of field of a Juju storage directive ("name=pool,count,size"): storage-add
// accepts a count only, but recognises the others to reject them as Juju does.
var (
	storagePoolRE  = regexp.MustCompile(`^[a-zA-Z]+[-?a-zA-Z0-9]*$`)
	storageCountRE = regexp.MustCompile(`^-?[0-9]+$`)
	storageSizeRE  = regexp.MustCompile(`^-?[0-9]+(?:\.[0-9]+)?[MGTPEZY](?:i?B)?$`)
)

type storageAddCmd struct {
	cmdBase
	hc     Context
	counts map[string]uint64
}

func (c *storageAddCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "storage-add",
		Args:    "<charm storage name>[=count] ...",
		Purpose: "Add storage instances.",
		Doc: `
Storage add adds storage instances to unit using provided storage directives.
A storage directive consists of a storage name as per charm specification
and optional storage COUNT.

COUNT is a positive integer indicating how many instances
of the storage to create. If unspecified, COUNT defaults to 1.

Further details:
storage-add adds storage volumes to the unit.
storage-add takes the name of the storage volume (as defined in the
charm metadata), and optionally the number of storage instances to add.
By default, it will add a single storage instance of the name.
`,
		Examples: `
    storage-add database-storage=1
`,
	})
}

func (c *storageAddCmd) Init(args []string) error {
	if len(args) < 1 {
		return errors.New("storage add requires a storage directive")
	}
	c.counts = map[string]uint64{}
	for _, kv := range args {
		parts := strings.Split(kv, "=")
		name := parts[0]
		if len(parts) > 2 || name == "" {
			return fmt.Errorf(`expected "name=constraints" or "name", got %q`, kv)
		}
		if _, dup := c.counts[name]; dup {
			return fmt.Errorf("storage %q specified more than once", name)
		}
		directive := "1"
		if len(parts) == 2 {
			directive = parts[1]
		}
		count, countOnly, err := parseStorageDirective(directive)
		if err != nil {
			return fmt.Errorf("cannot parse constraints for storage %q: %w", name, err)
		}
		if !countOnly {
			return fmt.Errorf("only count can be specified for %q", name)
		}
		c.counts[name] = count
	}
	return nil
}

// parseStorageDirective parses "pool,count,size" fields in any order, as Juju does, and
// reports the count and whether nothing but a count was given.
func parseStorageDirective(s string) (count uint64, countOnly bool, err error) {
	var pool string
	var size bool
	for _, field := range strings.Split(s, ",") {
		switch {
		case field == "":
		case storagePoolRE.MatchString(field):
			if pool != "" {
				return 0, false, fmt.Errorf("pool name is already set to %q, new value %q not valid", pool, field)
			}
			pool = field
		case storageCountRE.MatchString(field):
			n, perr := strconv.ParseUint(field, 10, 64)
			if field[0] == '-' || (perr == nil && n == 0) {
				return 0, false, fmt.Errorf("cannot parse count: count must be greater than zero, got %q", field)
			}
			if perr != nil {
				return 0, false, fmt.Errorf("unrecognized storage constraint %q not valid", field)
			}
			if count != 0 {
				return 0, false, fmt.Errorf("storage instance count is already set to %d, new value %d not valid", count, n)
			}
			count = n
		case storageSizeRE.MatchString(field):
			size = true
		default:
			return 0, false, fmt.Errorf("unrecognized storage constraint %q not valid", field)
		}
	}
	if count == 0 && !size && pool == "" {
		return 0, false, errors.New("storage constraints require at least one field to be specified")
	}
	if count == 0 {
		count = 1
	}
	return count, pool == "" && !size, nil
}

func (c *storageAddCmd) Run(*cmd.Context) error {
	sc, ok := c.hc.(StorageAddContext)
	if !ok {
		return errors.New("adding storage is not supported by this unit's model")
	}
	return sc.AddUnitStorage(c.counts)
}
