package cli

import (
	"os"
	"strings"
	"testing"
)

func TestHome(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if h, err := Home(env(map[string]string{"JUJULET_HOME": "/srv/j", "HOME": "/home/u"})); h != "/srv/j" || err != nil {
		t.Errorf("JUJULET_HOME: %q %v", h, err)
	}
	if os.Getuid() == 0 {
		t.Skip("root's default home does not depend on HOME")
	}
	if h, err := Home(env(map[string]string{"HOME": "/home/u"})); h != "/home/u/.local/share/jujulet" || err != nil {
		t.Errorf("HOME: %q %v", h, err)
	}
	if h, err := Home(env(nil)); err == nil || !strings.Contains(err.Error(), "HOME") {
		t.Errorf("neither set: %q %v, want an error", h, err)
	}
}
