package toolclient_test

import (
	"go/build"
	"strings"
	"testing"
)

// TestStandardLibraryOnly guards jujuc's start cost: every hook tool call runs this package
// and cmd/jujuc, so neither may link anything outside the standard library (whose packages
// import only the standard library too).
func TestStandardLibraryOnly(t *testing.T) {
	for _, dir := range []string{".", "../../../cmd/jujuc"} {
		pkg, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range pkg.Imports {
			first, _, _ := strings.Cut(imp, "/")
			if strings.Contains(first, ".") && imp != "github.com/jujulet/postgresql-k8s/internal/hooktools/toolclient" {
				t.Errorf("%s imports %s", dir, imp)
			}
		}
	}
}
