// Command gocharm is a tiny Go charm for jujulet's tests: it uses only the Juju
// contract (JUJU_* environment and hook tools on PATH).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

func tool(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return "", fmt.Errorf("%s %v: %w: %s", name, args, err, ee.Stderr)
		}
		return "", fmt.Errorf("%s %v: %w", name, args, err)
	}
	return strings.TrimSpace(string(out)), nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	hook := os.Getenv("JUJU_HOOK_NAME")
	if hook == "" {
		hook = "action:" + os.Getenv("JUJU_ACTION_NAME")
	}
	unit := os.Getenv("JUJU_UNIT_NAME")
	if lf, err := tool("config-get", "log-file"); err == nil && lf != "" {
		f, err := os.OpenFile(lf, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		fmt.Fprintf(f, "%s %s rel=%s remote=%s app=%s departing=%s workload=\n", unit, hook,
			os.Getenv("JUJU_RELATION_ID"), os.Getenv("JUJU_REMOTE_UNIT"), os.Getenv("JUJU_REMOTE_APP"), os.Getenv("JUJU_DEPARTING_UNIT"))
		f.Close()
	}
	switch {
	case hook == "start":
		_, err := tool("status-set", "active", "go charm ready")
		return err
	case hook == "backend-relation-changed" && os.Getenv("JUJU_REMOTE_UNIT") != "":
		out, err := tool("relation-get", "--format=json", "-")
		if err != nil {
			return err
		}
		var data map[string]string
		if err := json.Unmarshal([]byte(out), &data); err != nil {
			return err
		}
		_, err = tool("relation-set", "from-go="+unit, "peer-unit="+data["unit"])
		return err
	case hook == "action:hello":
		name, err := tool("action-get", "name")
		if err != nil {
			return err
		}
		_, err = tool("action-set", "greeting=hello "+name)
		return err
	}
	return nil
}
