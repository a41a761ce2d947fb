// Package conformance runs Juju's own hook-tool commands (built from the pinned Juju module)
// and jujulet's hook tools on the same scenarios and compares what they print, byte for
// byte. The tests are the package; see conformance_test.go and README.md.
package conformance
