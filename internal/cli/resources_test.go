package cli

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseResources(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pg.tar"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	got, err := parseResources([]string{"bin=pg.tar", "image=ghcr.io/x/pg:14", "empty="})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"bin": filepath.Join(dir, "pg.tar"), "image": "ghcr.io/x/pg:14", "empty": ""}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, err := parseResources([]string{"noequals"}); err == nil {
		t.Error("a resource without = was accepted")
	}
}
