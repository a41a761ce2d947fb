package scenario

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// DataIdentity says which copy of the database a unit serves: a re-clone (pg_basebackup into
// a fresh directory, the old one moved aside) keeps the system identifier but changes the
// data directory's inode and leaves a moved-aside sibling behind. pg_rewind does neither.
type DataIdentity struct {
	SystemID string
	DataDir  string // host path of PGDATA
	Inode    uint64
	Aside    int // moved-aside data directories next to it (pgdata.old-*)
}

// DataIdentities reads the identity of every unit of the clusters (keyed model:unit). It
// runs on the machine that hosts the units (jujulet), as root or as their owner.
func DataIdentities(ctx context.Context, clusters ...*Cluster) (map[string]DataIdentity, error) {
	ids := map[string]DataIdentity{}
	for _, c := range clusters {
		for unit, addr := range c.Units {
			id, err := dataIdentity(ctx, addr, c.Password)
			if err != nil {
				return nil, fmt.Errorf("%s:%s: %w", c.Model, unit, err)
			}
			ids[c.Model+":"+unit] = id
		}
	}
	return ids, nil
}

func dataIdentity(ctx context.Context, addr, password string) (DataIdentity, error) {
	conn, err := Connect(ctx, addr, password)
	if err != nil {
		return DataIdentity{}, err
	}
	defer conn.Close(context.Background())
	var id DataIdentity
	if err := conn.QueryRow(ctx, "SELECT system_identifier::text, current_setting('data_directory') FROM pg_control_system()").Scan(&id.SystemID, &id.DataDir); err != nil {
		return DataIdentity{}, fmt.Errorf("read system identifier: %w", err)
	}
	fi, err := os.Stat(id.DataDir)
	if err != nil {
		return DataIdentity{}, fmt.Errorf("data directory: %w", err)
	}
	sys, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return DataIdentity{}, fmt.Errorf("data directory %s: no inode on this platform", id.DataDir)
	}
	id.Inode = sys.Ino
	aside, err := filepath.Glob(filepath.Clean(id.DataDir) + ".old-*")
	if err != nil {
		return DataIdentity{}, err
	}
	id.Aside = len(aside)
	return id, nil
}

// Recloned names the units whose data was replaced between two DataIdentities (another
// system id, another data directory, or a new moved-aside copy), and the units missing
// from after.
func Recloned(before, after map[string]DataIdentity) []string {
	var out []string
	for unit, b := range before {
		a, ok := after[unit]
		switch {
		case !ok:
			out = append(out, unit+": not read afterwards")
		case a.SystemID != b.SystemID:
			out = append(out, fmt.Sprintf("%s: system id %s → %s", unit, b.SystemID, a.SystemID))
		case a.Inode != b.Inode || a.DataDir != b.DataDir || a.Aside != b.Aside:
			out = append(out, fmt.Sprintf("%s: data directory replaced (inode %d → %d, %d → %d moved-aside copies): a base backup", unit, b.Inode, a.Inode, b.Aside, a.Aside))
		}
	}
	sort.Strings(out)
	return out
}

// RecloneError is nil when Recloned finds nothing.
func RecloneError(before, after map[string]DataIdentity) error {
	if r := Recloned(before, after); len(r) > 0 {
		return fmt.Errorf("re-cloned: %s", strings.Join(r, "; "))
	}
	return nil
}
