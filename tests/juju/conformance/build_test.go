package conformance

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The Juju side of the suite is Juju's own jujuc package, whose commands live under
// github.com/juju/juju/internal/. In module mode Go decides who may import an internal
// package by import path, not by directory: a module whose path lies under
// github.com/juju/juju may import it. So the driver (testdata/jujucdriver) is built as its
// own small module, github.com/juju/juju/jujuletconformance, that requires the pinned Juju
// and nothing else: no copy of Juju's tree is needed, Juju's packages compile from the
// module cache exactly as this module (tests/juju) compiles them, and Go's build cache
// serves both. The module lives in a stable directory so that its go.mod, resolved once,
// is reused.

const jujuModule = "github.com/juju/juju"

// driverModule is the driver's module path: under jujuModule, for the internal rule.
const driverModule = jujuModule + "/jujuletconformance"

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

// goCmd runs the go command in dir and returns its output, or an error carrying it.
func goCmd(dir string, env []string, args ...string) ([]byte, error) {
	c := exec.Command("go", args...)
	c.Dir = dir
	c.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s in %s: %w\n%s", strings.Join(args, " "), dir, err, stderr.Bytes())
	}
	return out, nil
}

// jujuModuleInfo returns the pinned Juju module's directory in the module cache and its
// version, as this module (tests/juju) resolves it.
func jujuModuleInfo() (dir, version string, err error) {
	out, err := goCmd(".", nil, "list", "-m", "-f", "{{.Dir}} {{.Version}}", jujuModule)
	if err != nil {
		return "", "", fmt.Errorf("locating %s: %w", jujuModule, err)
	}
	dir, version, ok := strings.Cut(strings.TrimSpace(string(out)), " ")
	if !ok || dir == "" {
		return "", "", fmt.Errorf("%s is not in the module cache (go list -m said %q)", jujuModule, out)
	}
	return dir, version, nil
}

// driverGoMod is the driver module's go.mod: Juju at version, with Juju's own replace
// directives (a dependency's replaces do not apply to the main module, so they are
// repeated here, as tests/juju's go.mod does).
func driverGoMod(jujuGoMod []byte, version string) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "module %s\n\n", driverModule)
	var goLine string
	for _, line := range strings.Split(string(jujuGoMod), "\n") {
		if strings.HasPrefix(line, "go ") {
			goLine = line
		}
	}
	if goLine == "" {
		return nil, fmt.Errorf("juju's go.mod has no go directive")
	}
	fmt.Fprintf(&b, "%s\n\nrequire %s %s\n", goLine, jujuModule, version)
	for _, line := range strings.Split(string(jujuGoMod), "\n") {
		if strings.HasPrefix(line, "replace ") {
			fmt.Fprintf(&b, "\n%s\n", line)
		}
	}
	return b.Bytes(), nil
}

// writeIfChanged writes data to path unless it already holds exactly that.
func writeIfChanged(path string, data []byte) (changed bool, err error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, err
	}
	return true, os.WriteFile(path, data, 0o644)
}

// buildJujuDriver builds testdata/jujucdriver against the pinned Juju and returns the
// binary's path (in the driver module's directory) and how long the build took.
func buildJujuDriver() (string, time.Duration, error) {
	modDir, err := driverModDir()
	if err != nil {
		return "", 0, err
	}
	driver, err := os.ReadFile(filepath.Join("testdata", "jujucdriver", "main.go"))
	if err != nil {
		return "", 0, err
	}
	if _, err := writeIfChanged(filepath.Join(modDir, "main.go"), driver); err != nil {
		return "", 0, fmt.Errorf("installing the driver: %w", err)
	}
	start := time.Now()
	bin, err := installInDriverModule(modDir, ".")
	return bin, time.Since(start), err
}

// buildJujuJujuc builds Juju's own hook-tool client, cmd/jujuc, at the pinned version.
func buildJujuJujuc() (string, error) {
	modDir, err := driverModDir()
	if err != nil {
		return "", err
	}
	return installInDriverModule(modDir, jujuModule+"/cmd/jujuc")
}

// installInDriverModule installs pkg from the driver module into its bin directory and
// returns the binary's path. go install, not go build: it relinks only when the binary is
// stale, and linking the ~1,100 packages is most of a warm build. -mod=mod completes go.mod
// from Juju's requirements (Juju's go.sum covers them; a module missing from the local
// cache is fetched through the module proxy).
func installInDriverModule(modDir, pkg string) (string, error) {
	gobin := filepath.Join(modDir, "bin")
	_, err := goCmd(modDir, []string{"GOWORK=off", "GOFLAGS=-mod=mod", "GOBIN=" + gobin}, "install", pkg)
	name := filepath.Base(pkg)
	if pkg == "." {
		name = filepath.Base(driverModule)
	}
	return filepath.Join(gobin, name), err
}

// driverModDir prepares the driver module's directory (go.mod and go.sum from the pinned
// Juju's, rewritten only when they change) and returns it.
func driverModDir() (string, error) {
	jujuDir, version, err := jujuModuleInfo()
	if err != nil {
		return "", err
	}
	cacheRoot, err := os.UserCacheDir()
	if err != nil {
		// No $HOME or $XDG_CACHE_HOME (a bare CI runner): a stable path all the same.
		cacheRoot = os.TempDir()
	}
	modDir := filepath.Join(cacheRoot, "jujulet-conformance", version)
	jujuGoMod, err := os.ReadFile(filepath.Join(jujuDir, "go.mod"))
	if err != nil {
		return "", err
	}
	goMod, err := driverGoMod(jujuGoMod, version)
	if err != nil {
		return "", err
	}
	// go.mod.in is what go.mod was generated from: the build completes go.mod (-mod=mod),
	// so the generated form is compared, not go.mod itself.
	changed, err := writeIfChanged(filepath.Join(modDir, "go.mod.in"), goMod)
	if err != nil {
		return "", fmt.Errorf("driver module: %w", err)
	}
	if _, statErr := os.Stat(filepath.Join(modDir, "go.mod")); changed || statErr != nil {
		if err := os.WriteFile(filepath.Join(modDir, "go.mod"), goMod, 0o644); err != nil {
			return "", fmt.Errorf("driver module: %w", err)
		}
		jujuSum, err := os.ReadFile(filepath.Join(jujuDir, "go.sum"))
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(modDir, "go.sum"), jujuSum, 0o644); err != nil {
			return "", fmt.Errorf("driver module: %w", err)
		}
	}
	return modDir, nil
}

// buildJujuletDriver builds jujulet's half from the main module (two levels up), so that
// the tools link the same library versions as bin/jujulet.
func buildJujuletDriver(dir string) (string, error) {
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "hooktooldriver")
	_, err = goCmd(root, []string{"GOWORK=off"}, "build", "-o", bin, "./internal/hooktools/hooktoolstest/hooktooldriver")
	return bin, err
}
