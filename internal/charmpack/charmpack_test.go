package charmpack_test

import (
	"archive/zip"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/juju/charm/v12"
	"github.com/stretchr/testify/require"

	"github.com/jujulet/postgresql-k8s/internal/charmpack"
)

func writeCharmDir(t *testing.T, dispatchMode fs.FileMode) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "metadata.yaml"), []byte(
		"name: tiny\nsummary: s\ndescription: d\ncontainers:\n  app:\n    resource: app-image\nresources:\n  app-image:\n    type: oci-image\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "actions.yaml"), []byte("hello:\n  params:\n    who: {type: string}\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("options:\n  x: {type: int, default: 1}\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dispatch"), []byte("#!/bin/sh\nexit 0\n"), dispatchMode))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "hooks"), 0o755))
	require.NoError(t, os.Symlink("../dispatch", filepath.Join(dir, "hooks", "install")))
	return dir
}

func TestPackIsReadByJujuCharm(t *testing.T) {
	src := writeCharmDir(t, 0o755)
	out := t.TempDir()
	path, err := charmpack.Pack(src, out, charmpack.Options{Bases: []charmpack.Base{
		{Name: "ubuntu", Channel: "22.04", Architectures: []string{"amd64"}},
		{Name: "ubuntu", Channel: "24.04", Architectures: []string{"amd64"}},
	}})
	require.NoError(t, err)
	require.Equal(t, filepath.Join(out, "tiny_ubuntu@22.04-amd64_ubuntu@24.04-amd64.charm"), path)

	archive, err := charm.ReadCharmArchive(path)
	require.NoError(t, err)
	require.Equal(t, "tiny", archive.Meta().Name)
	require.Contains(t, archive.Actions().ActionSpecs, "hello")
	require.Contains(t, archive.Config().Options, "x")
	require.NotNil(t, archive.Manifest())
	require.Len(t, archive.Manifest().Bases, 2)
	require.Equal(t, "ubuntu", archive.Manifest().Bases[0].Name)
	require.Equal(t, "22.04", archive.Manifest().Bases[0].Channel.Track)

	zr, err := zip.OpenReader(path)
	require.NoError(t, err)
	defer zr.Close()
	modes := map[string]fs.FileMode{}
	for _, f := range zr.File {
		modes[f.Name] = f.Mode()
	}
	require.NotZero(t, modes["dispatch"]&0o100, "dispatch must stay executable")
	require.NotZero(t, modes["hooks/install"]&fs.ModeSymlink, "hooks are symlinks to dispatch")
	require.Contains(t, modes, "manifest.yaml")

	// Juju expands the archive and runs dispatch from the expanded dir.
	expanded := t.TempDir()
	require.NoError(t, archive.ExpandTo(expanded))
	st, err := os.Stat(filepath.Join(expanded, "dispatch"))
	require.NoError(t, err)
	require.NotZero(t, st.Mode()&0o100)
}

func TestPackRejectsBrokenCharmDirs(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) string
		want  string
	}{
		{"no metadata", func(t *testing.T) string {
			d := writeCharmDir(t, 0o755)
			require.NoError(t, os.Remove(filepath.Join(d, "metadata.yaml")))
			return d
		}, "metadata.yaml"},
		{"dispatch not executable", func(t *testing.T) string { return writeCharmDir(t, 0o644) }, "dispatch is not executable"},
		{"no dispatch", func(t *testing.T) string {
			d := writeCharmDir(t, 0o755)
			require.NoError(t, os.Remove(filepath.Join(d, "dispatch")))
			return d
		}, "dispatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			_, err := charmpack.Pack(tc.setup(t), out, charmpack.Options{})
			require.ErrorContains(t, err, tc.want)
			entries, err := os.ReadDir(out)
			require.NoError(t, err)
			require.Empty(t, entries, "a failed pack leaves nothing behind")
		})
	}
}
