package uniter

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/jujulet/postgresql-k8s/internal/hooktools"
)

func TestLinkTools(t *testing.T) {
	cases := []struct {
		name    string
		before  string // what the tools link to beforehand ("" for none)
		target  string
		wantErr bool
	}{
		{name: "fresh unit", target: "/opt/bin/jujuc"},
		{name: "unit set up before jujuc was installed", before: "/opt/bin/jujulet", target: "/opt/bin/jujuc"},
		{name: "jujuc removed again", before: "/opt/bin/jujuc", target: "/opt/bin/jujulet"},
		{name: "already linked", before: "/opt/bin/jujuc", target: "/opt/bin/jujuc"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.before != "" {
				if err := linkTools(dir, tc.before); err != nil {
					t.Fatal(err)
				}
			}
			if err := linkTools(dir, tc.target); err != nil {
				t.Fatal(err)
			}
			for _, name := range hooktools.ToolNames() {
				if got, err := os.Readlink(filepath.Join(dir, name)); err != nil || got != tc.target {
					t.Errorf("%s -> %q (%v), want %q", name, got, err, tc.target)
				}
			}
		})
	}
}

func TestLinkToolsReplacesAFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "is-leader")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := linkTools(dir, "/opt/bin/jujuc"); err != nil {
		t.Fatal(err)
	}
	if got, err := os.Readlink(p); err != nil || got != "/opt/bin/jujuc" {
		t.Errorf("is-leader -> %q (%v)", got, err)
	}
}
