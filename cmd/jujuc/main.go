// Command jujuc is what jujulet's hook tools are symlinks to: invoked as a tool's name
// (relation-get, is-leader, ...), it forwards the call to the unit agent and prints its
// answer, like Juju's own jujuc. It links only the standard library so that a tool call
// starts in a fraction of the time the jujulet multi-call binary takes; the agent checks
// the tool name. `jujuc TOOL [ARGS...]` runs TOOL the same way.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/jujulet/postgresql-k8s/internal/hooktools/toolclient"
)

func main() {
	name, args := filepath.Base(os.Args[0]), os.Args[1:]
	if name == "jujuc" {
		if len(args) == 0 || args[0] == "" || args[0][0] == '-' {
			fmt.Fprintln(os.Stderr, "usage: jujuc TOOL [ARGS...] (or run it as a symlink named after the hook tool)")
			os.Exit(2)
		}
		name, args = args[0], args[1:]
	}
	os.Exit(toolclient.Main(name, args))
}
