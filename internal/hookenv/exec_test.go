package hookenv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTools writes shell scripts named after hook tools that log their arguments (and, for
// --file, the file's content) and print canned output.
func fakeTools(t *testing.T, outputs map[string]string) (Exec, string) {
	t.Helper()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "calls.log")
	for tool, out := range outputs {
		script := "#!/bin/sh\necho \"$(basename $0) $*\" >> " + logPath + "\n" +
			"prev=''; for a in \"$@\"; do if [ \"$prev\" = --file ]; then echo \"FILE $(cat $a)\" >> " + logPath + "; fi; prev=$a; done\n"
		if strings.HasPrefix(out, "FAIL:") {
			script += "echo 'ERROR " + strings.TrimPrefix(out, "FAIL:") + "' >&2\nexit 1\n"
		} else {
			script += "cat <<'EOT'\n" + out + "\nEOT\n"
		}
		if err := os.WriteFile(filepath.Join(dir, tool), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return Exec{Dir: dir}, logPath
}

func TestExecTools(t *testing.T) {
	ctx := context.Background()
	x, logPath := fakeTools(t, map[string]string{
		"is-leader":       "true",
		"relation-get":    `{"private-address":"127.0.0.5","n":3}`,
		"relation-ids":    `["database-peers:1"]`,
		"relation-list":   `["pg/1","pg/2"]`,
		"relation-set":    "",
		"network-get":     `{"bind-addresses":[{"mac-address":"","interface-name":"eth0","addresses":[{"hostname":"","value":"127.0.0.7","cidr":"127.0.0.0/8"}]}],"egress-subnets":["127.0.0.7/32"],"ingress-addresses":["127.0.0.7"]}`,
		"secret-add":      "secret://uuid/abcdefghijklmnopqrst",
		"secret-get":      "FAIL:secret \"x\" not found",
		"secret-info-get": `{"abc":{"revision":2,"label":"pw","owner":"application","rotation":"never"}}`,
		"config-get":      `{"profile":"testing","experimental_max_connections":100}`,
		"state-get":       "null",
		"secret-remove":   "",
	})
	leader, err := x.IsLeader(ctx)
	if err != nil || !leader {
		t.Fatalf("IsLeader = %v, %v", leader, err)
	}
	data, err := x.RelationGet(ctx, "database-peers:1", "pg/1", false)
	if err != nil || data["private-address"] != "127.0.0.5" || data["n"] != "3" {
		t.Fatalf("RelationGet = %v, %v", data, err)
	}
	ids, err := x.RelationIDs(ctx, "database-peers")
	if err != nil || len(ids) != 1 {
		t.Fatalf("RelationIDs = %v, %v", ids, err)
	}
	units, err := x.RelationList(ctx, "database-peers:1")
	if err != nil || len(units) != 2 {
		t.Fatalf("RelationList = %v, %v", units, err)
	}
	if err := x.RelationSet(ctx, "database-peers:1", true, map[string]string{"primary": "pg/0", "gone": ""}); err != nil {
		t.Fatal(err)
	}
	n, err := x.NetworkGet(ctx, "database-peers")
	if err != nil || n.BindAddress() != "127.0.0.7" {
		t.Fatalf("NetworkGet = %+v, %v", n, err)
	}
	uri, err := x.SecretAdd(ctx, SecretAddArgs{Label: "pw", Content: map[string]string{"operator-password": "s3cret"}})
	if err != nil || uri != "secret://uuid/abcdefghijklmnopqrst" {
		t.Fatalf("SecretAdd = %q, %v", uri, err)
	}
	_, err = x.SecretGet(ctx, SecretGetArgs{URI: "secret:x"})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("SecretGet err = %v, want ErrNotFound", err)
	}
	infos, err := x.SecretInfoGet(ctx, "pw")
	if err != nil || len(infos) != 1 || infos[0].ID != "abc" || infos[0].Revision != 2 {
		t.Fatalf("SecretInfoGet = %+v, %v", infos, err)
	}
	if err := x.SecretRemove(ctx, "abc"); err != nil {
		t.Fatal(err)
	}
	cfg, err := x.ConfigGet(ctx)
	if err != nil || cfg["profile"] != "testing" || cfg["experimental_max_connections"] != float64(100) {
		t.Fatalf("ConfigGet = %v, %v", cfg, err)
	}
	st, err := x.StateGet(ctx)
	if err != nil || len(st) != 0 {
		t.Fatalf("StateGet = %v, %v", st, err)
	}

	logData, _ := os.ReadFile(logPath)
	log := string(logData)
	for _, want := range []string{
		"is-leader --format=json",
		"relation-get --format=json -r database-peers:1 - pg/1",
		"relation-set -r database-peers:1 --app --file ",
		`FILE {"primary":"pg/0"}`,
		" gone=",
		"secret-add --label pw --file ",
		`FILE {"operator-password":"s3cret"}`,
		"config-get --format=json --all",
		"secret-remove abc",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("calls log lacks %q:\n%s", want, log)
		}
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.HasPrefix(line, "secret-add") && strings.Contains(line, "s3cret") {
			t.Errorf("secret on a command line: %s", line)
		}
	}
}

func TestFromEnviron(t *testing.T) {
	tests := []struct {
		env        map[string]string
		wantEvent  string
		wantAction bool
	}{
		{map[string]string{"JUJU_DISPATCH_PATH": "hooks/install", "JUJU_HOOK_NAME": "install"}, "install", false},
		{map[string]string{"JUJU_DISPATCH_PATH": "actions/get-primary", "JUJU_ACTION_NAME": "get-primary"}, "get-primary", true},
		{map[string]string{"JUJU_DISPATCH_PATH": "hooks/database-peers-relation-changed"}, "database-peers-relation-changed", false},
	}
	for _, tt := range tests {
		e := FromEnviron(func(k string) string { return tt.env[k] })
		if e.Event() != tt.wantEvent || e.IsAction() != tt.wantAction {
			t.Errorf("%v: Event=%q IsAction=%v", tt.env, e.Event(), e.IsAction())
		}
	}
	e := FromEnviron(func(k string) string {
		return map[string]string{"JUJU_UNIT_NAME": "postgresql-k8s/3"}[k]
	})
	if e.AppName() != "postgresql-k8s" || e.UnitNumber() != "3" {
		t.Errorf("AppName=%q UnitNumber=%q", e.AppName(), e.UnitNumber())
	}
}

// The key=value tools get sorted key=value arguments and are not run without values; the
// JSON-object tools turn any value into a string.
func TestExecKeyValueTools(t *testing.T) {
	ctx := context.Background()
	x, logPath := fakeTools(t, map[string]string{
		"state-set":  "",
		"leader-set": "",
		"action-set": "",
		"leader-get": `{"a":"x","n":2,"gone":null}`,
		"state-get":  `{"peers":"pg/1,pg/2"}`,
	})
	for _, tc := range []struct {
		tool string
		set  func(map[string]string) error
	}{
		{"state-set", func(v map[string]string) error { return x.StateSet(ctx, v) }},
		{"leader-set", func(v map[string]string) error { return x.LeaderSet(ctx, v) }},
		{"action-set", func(v map[string]string) error { return x.ActionSet(ctx, v) }},
	} {
		if err := tc.set(map[string]string{"b": "2", "a": "1"}); err != nil {
			t.Fatalf("%s: %v", tc.tool, err)
		}
		if err := tc.set(nil); err != nil {
			t.Fatalf("%s without values: %v", tc.tool, err)
		}
	}
	lg, err := x.LeaderGet(ctx)
	if err != nil || len(lg) != 2 || lg["a"] != "x" || lg["n"] != "2" {
		t.Fatalf("LeaderGet = %v, %v", lg, err)
	}
	sg, err := x.StateGet(ctx)
	if err != nil || sg["peers"] != "pg/1,pg/2" {
		t.Fatalf("StateGet = %v, %v", sg, err)
	}
	logData, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	want := "state-set a=1 b=2\nleader-set a=1 b=2\naction-set a=1 b=2\nleader-get --format=json\nstate-get --format=json\n"
	if string(logData) != want {
		t.Errorf("calls:\n%s\nwant:\n%s", logData, want)
	}
}
