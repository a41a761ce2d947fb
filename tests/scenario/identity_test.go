package scenario

import (
	"strings"
	"testing"
)

func TestRecloned(t *testing.T) {
	base := map[string]DataIdentity{
		"rome:db1/0":   {SystemID: "7", DataDir: "/s/0/pgdata", Inode: 10},
		"lisbon:db2/0": {SystemID: "7", DataDir: "/s/1/pgdata", Inode: 20, Aside: 1},
	}
	with := func(unit string, f func(*DataIdentity)) map[string]DataIdentity {
		m := map[string]DataIdentity{}
		for k, v := range base {
			m[k] = v
		}
		v := m[unit]
		f(&v)
		m[unit] = v
		return m
	}
	for _, tc := range []struct {
		name  string
		after map[string]DataIdentity
		want  string // "" : no re-clone
	}{
		{"unchanged", base, ""},
		{"new inode: a base backup", with("rome:db1/0", func(d *DataIdentity) { d.Inode = 11 }), "rome:db1/0: data directory replaced"},
		{"a copy moved aside", with("lisbon:db2/0", func(d *DataIdentity) { d.Aside = 2 }), "lisbon:db2/0: data directory replaced"},
		{"another system id", with("rome:db1/0", func(d *DataIdentity) { d.SystemID = "8" }), "system id 7 → 8"},
		{"unit not read", map[string]DataIdentity{"rome:db1/0": base["rome:db1/0"]}, "lisbon:db2/0: not read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := RecloneError(base, tc.after)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
