package conformance

import "testing"

// TestJujuDriverBuilds builds Juju's side alone and reports how long it took: the cost the
// suite adds to make test (cold: first run on a machine; warm: Go's build cache hit).
func TestJujuDriverBuilds(t *testing.T) {
	_, took, err := buildJujuDriver()
	if err != nil {
		unavailable(t, err)
	}
	t.Logf("Juju jujuc driver built in %v", took)
}
