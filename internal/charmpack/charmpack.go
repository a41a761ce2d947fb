// Package charmpack packs a built charm directory into a .charm archive the way charmcraft
// does, for machines without charmcraft: a zip holding the charm definition, a manifest.yaml
// naming the bases, the dispatch binary (executable) and hooks/ symlinks to it.
package charmpack

import (
	"archive/zip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Base is one ubuntu release the packed charm runs on.
type Base struct {
	Name          string   `yaml:"name"`
	Channel       string   `yaml:"channel"`
	Architectures []string `yaml:"architectures"`
}

// Options control what the manifest says.
type Options struct {
	Bases []Base
	// Now stamps the manifest; zero means time.Now().
	Now time.Time
	// Version is recorded as charmcraft-version.
	Version string
}

// DefaultBases are the releases named in charmcraft.yaml, for the architecture of this build.
func DefaultBases() []Base {
	arch := runtime.GOARCH
	return []Base{
		{Name: "ubuntu", Channel: "22.04", Architectures: []string{arch}},
		{Name: "ubuntu", Channel: "24.04", Architectures: []string{arch}},
	}
}

// required are the files a charm archive cannot do without.
var required = []string{"metadata.yaml", "dispatch"}

// ArchiveName is charmcraft's file name for a charm built for the given bases.
func ArchiveName(charmName string, bases []Base) string {
	parts := make([]string, 0, len(bases))
	for _, b := range bases {
		for _, a := range b.Architectures {
			parts = append(parts, fmt.Sprintf("%s@%s-%s", b.Name, b.Channel, a))
		}
	}
	return charmName + "_" + strings.Join(parts, "_") + ".charm"
}

// Pack writes the archive of srcDir (a built charm dir) into outDir and returns its path.
func Pack(srcDir, outDir string, opts Options) (string, error) {
	for _, f := range required {
		if _, err := os.Lstat(filepath.Join(srcDir, f)); err != nil {
			return "", fmt.Errorf("pack %s: %w", srcDir, err)
		}
	}
	st, err := os.Stat(filepath.Join(srcDir, "dispatch"))
	if err != nil {
		return "", fmt.Errorf("pack %s: %w", srcDir, err)
	}
	if st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("pack %s: dispatch is not executable", srcDir)
	}
	name, err := charmName(filepath.Join(srcDir, "metadata.yaml"))
	if err != nil {
		return "", fmt.Errorf("pack %s: %w", srcDir, err)
	}
	if len(opts.Bases) == 0 {
		opts.Bases = DefaultBases()
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	manifest, err := renderManifest(opts)
	if err != nil {
		return "", fmt.Errorf("pack %s: %w", srcDir, err)
	}

	out := filepath.Join(outDir, ArchiveName(name, opts.Bases))
	tmp, err := os.CreateTemp(outDir, ".charmpack-*")
	if err != nil {
		return "", fmt.Errorf("pack %s: %w", srcDir, err)
	}
	defer os.Remove(tmp.Name())
	zw := zip.NewWriter(tmp)
	if err := addTree(zw, srcDir, opts.Now); err != nil {
		tmp.Close()
		return "", fmt.Errorf("pack %s: %w", srcDir, err)
	}
	if err := addBytes(zw, "manifest.yaml", manifest, 0o644, opts.Now); err != nil {
		tmp.Close()
		return "", fmt.Errorf("pack %s: %w", srcDir, err)
	}
	if err := zw.Close(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("pack %s: %w", srcDir, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("pack %s: %w", srcDir, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", fmt.Errorf("pack %s: %w", srcDir, err)
	}
	return out, nil
}

func charmName(metadataPath string) (string, error) {
	data, err := os.ReadFile(metadataPath)
	if err != nil {
		return "", err
	}
	var meta struct {
		Name string `yaml:"name"`
	}
	if err := yaml.Unmarshal(data, &meta); err != nil {
		return "", fmt.Errorf("read metadata.yaml: %w", err)
	}
	if meta.Name == "" {
		return "", fmt.Errorf("metadata.yaml has no name")
	}
	return meta.Name, nil
}

// renderManifest writes manifest.yaml in the shape charmcraft gives it.
func renderManifest(opts Options) ([]byte, error) {
	version := opts.Version
	if version == "" {
		version = "3.0.0"
	}
	doc := struct {
		Analysis struct {
			Attributes []map[string]string `yaml:"attributes"`
		} `yaml:"analysis"`
		Bases             []Base `yaml:"bases"`
		CharmcraftStarted string `yaml:"charmcraft-started-at"`
		CharmcraftVersion string `yaml:"charmcraft-version"`
	}{Bases: opts.Bases, CharmcraftStarted: opts.Now.UTC().Format("2006-01-02T15:04:05.000000Z"), CharmcraftVersion: version}
	doc.Analysis.Attributes = []map[string]string{
		{"name": "language", "result": "unknown"},
		{"name": "framework", "result": "unknown"},
	}
	return yaml.Marshal(doc)
}

// addTree adds every file and symlink under dir, in a stable order.
func addTree(zw *zip.Writer, dir string, now time.Time) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "manifest.yaml" {
			return nil // always generated
		}
		paths = append(paths, rel)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	for _, rel := range paths {
		p := filepath.Join(dir, rel)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.IsDir():
			hdr := &zip.FileHeader{Name: filepath.ToSlash(rel) + "/", Modified: now}
			hdr.SetMode(fs.ModeDir | 0o755)
			if _, err := zw.CreateHeader(hdr); err != nil {
				return err
			}
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := addBytes(zw, rel, []byte(target), fs.ModeSymlink|0o777, now); err != nil {
				return err
			}
		case info.Mode().IsRegular():
			if err := addFile(zw, p, rel, info.Mode().Perm(), now); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: unsupported file type %s", rel, info.Mode().Type())
		}
	}
	return nil
}

func addFile(zw *zip.Writer, path, rel string, perm fs.FileMode, now time.Time) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	hdr := &zip.FileHeader{Name: filepath.ToSlash(rel), Method: zip.Deflate, Modified: now}
	hdr.SetMode(perm)
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, f)
	return err
}

func addBytes(zw *zip.Writer, rel string, data []byte, mode fs.FileMode, now time.Time) error {
	hdr := &zip.FileHeader{Name: filepath.ToSlash(rel), Method: zip.Deflate, Modified: now}
	hdr.SetMode(mode)
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}
