package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The Juju side of the suite is Juju's own jujuc package, whose commands live under
// internal/: only code inside the github.com/juju/juju module may import them. So the
// driver (testdata/jujucdriver) is built inside a copy of the pinned module tree. The copy
// lives in a stable directory and the build uses -trimpath, so that a second run hits Go's
// build cache instead of recompiling Juju's ~1100 packages.

const jujuModule = "github.com/juju/juju"

// driverPkg is where the driver goes inside the module copy.
const driverPkg = "cmd/jujulet-jujucdriver"

// requireBuild reports whether a driver that cannot be built fails the suite (make test)
// rather than skipping it.
func requireBuild() bool { return os.Getenv("JUJULET_REQUIRE_E2E") != "" }

// unavailable fails or skips the test when a driver cannot be built.
func unavailable(t *testing.T, err error) {
	t.Helper()
	if requireBuild() {
		t.Fatalf("conformance suite cannot run: %v", err)
	}
	t.Skipf("conformance suite skipped (set JUJULET_REQUIRE_E2E to fail instead): %v", err)
}

// goCmd runs the go command in dir and returns its combined output in the error.
func goCmd(dir string, env []string, args ...string) error {
	c := exec.Command("go", args...)
	c.Dir = dir
	c.Env = append(os.Environ(), env...)
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s in %s: %w\n%s", strings.Join(args, " "), dir, err, out)
	}
	return nil
}

// jujuModuleDir returns the pinned Juju module's directory in the module cache and its
// version, as this module (tests/juju) resolves it.
func jujuModuleDir() (dir, version string, err error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}} {{.Version}}", jujuModule).Output()
	if err != nil {
		return "", "", fmt.Errorf("locating %s: %w", jujuModule, err)
	}
	dir, version, ok := strings.Cut(strings.TrimSpace(string(out)), " ")
	if !ok || dir == "" {
		return "", "", fmt.Errorf("%s is not in the module cache (go list -m said %q)", jujuModule, out)
	}
	return dir, version, nil
}

// moduleCopy returns a writable copy of the module tree at src under cacheRoot/<version>,
// making it if absent. The copy is made beside it and renamed, so a copy that exists is
// complete.
func moduleCopy(src, cacheRoot, version string) (string, error) {
	dst := filepath.Join(cacheRoot, version, "src")
	if _, err := os.Stat(filepath.Join(dst, "go.mod")); err == nil {
		return dst, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", fmt.Errorf("module copy: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), "src.tmp")
	if err != nil {
		return "", fmt.Errorf("module copy: %w", err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(tmp, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			return copyFile(path, target)
		}
		return nil // the module cache holds no symlinks; skip anything odd
	})
	if err != nil {
		return "", fmt.Errorf("copying %s: %w", src, err)
	}
	if err := os.Rename(tmp, dst); err != nil && !errors.Is(err, fs.ErrExist) {
		// Another run may have won the race: its copy is as good as ours.
		if _, statErr := os.Stat(filepath.Join(dst, "go.mod")); statErr != nil {
			return "", fmt.Errorf("module copy: %w", err)
		}
	}
	return dst, nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// writeIfChanged writes data to path unless it already holds exactly that, so that an
// unchanged driver keeps its build-cache entry (mtimes do not matter to Go, but it saves
// a write on every run).
func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// buildJujuDriver builds testdata/jujucdriver inside the Juju module copy into dir and
// returns the binary's path and how long the build took.
func buildJujuDriver(dir string) (string, time.Duration, error) {
	modDir, version, err := jujuModuleDir()
	if err != nil {
		return "", 0, err
	}
	cacheRoot, err := os.UserCacheDir()
	if err != nil {
		return "", 0, fmt.Errorf("no cache directory for the Juju module copy: %w", err)
	}
	src, err := moduleCopy(modDir, filepath.Join(cacheRoot, "jujulet-conformance"), version)
	if err != nil {
		return "", 0, err
	}
	driver, err := os.ReadFile(filepath.Join("testdata", "jujucdriver", "main.go"))
	if err != nil {
		return "", 0, err
	}
	if err := writeIfChanged(filepath.Join(src, driverPkg, "main.go"), driver); err != nil {
		return "", 0, fmt.Errorf("installing the driver: %w", err)
	}
	bin := filepath.Join(dir, "jujucdriver")
	start := time.Now()
	// GOFLAGS=-mod=mod: the driver needs nothing outside Juju's own go.sum, but a module
	// missing from the local cache may then be fetched through the module proxy.
	err = goCmd(src, []string{"GOWORK=off", "GOFLAGS=-mod=mod"}, "build", "-trimpath", "-o", bin, "./"+driverPkg)
	return bin, time.Since(start), err
}

// buildJujuletDriver builds jujulet's half from the main module (two levels up), so that
// the tools link the same library versions as bin/jujulet.
func buildJujuletDriver(dir string) (string, error) {
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "hooktooldriver")
	return bin, goCmd(root, []string{"GOWORK=off"}, "build", "-o", bin, "./internal/hooktools/hooktoolstest/hooktooldriver")
}
