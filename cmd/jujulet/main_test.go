package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestJujucBeside(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, jujuc string)
		found bool
	}{
		{name: "installed", found: true, setup: func(t *testing.T, p string) { write(t, p, 0o755) }},
		{name: "missing", setup: func(*testing.T, string) {}},
		{name: "not executable", setup: func(t *testing.T, p string) { write(t, p, 0o644) }},
		{name: "a directory", setup: func(t *testing.T, p string) {
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			jujuc := filepath.Join(dir, "jujuc")
			tc.setup(t, jujuc)
			want := ""
			if tc.found {
				want = jujuc
			}
			if got := jujucBeside(filepath.Join(dir, "jujulet")); got != want {
				t.Errorf("jujucBeside = %q, want %q", got, want)
			}
		})
	}
}

func write(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
		t.Fatal(err)
	}
}
