package hooktools

import (
	"testing"
)

// addrFake adds the optional contexts to the fake.
type addrFake struct {
	*fakeCtx
	private, public string
	resources       map[string]string
	added           map[string]uint64
}

func (f *addrFake) PrivateAddress() (string, error) {
	if f.private == "" {
		return "", errNoAddress("private")
	}
	return f.private, nil
}
func (f *addrFake) PublicAddress() (string, error) { return f.public, nil }
func (f *addrFake) ResourcePath(name string) (string, error) {
	if p, ok := f.resources[name]; ok {
		return p, nil
	}
	return "", ErrResourceNotFound
}
func (f *addrFake) AddUnitStorage(c map[string]uint64) error { f.added = c; return nil }

func TestConfigGetIntegersAsJuju(t *testing.T) {
	big := func(f *fakeCtx) { f.config = map[string]any{"big": int64(1000000), "small": 5432, "ratio": 0.5} }
	runCases(t, []toolCase{
		{name: "smart key", setup: big, tool: "config-get", args: []string{"big"}, stdout: "1e+06\n"},
		{name: "yaml key", setup: big, tool: "config-get", args: []string{"big", "--format=yaml"}, stdout: "1e+06\n"},
		{name: "json key", setup: big, tool: "config-get", args: []string{"big", "--format=json"}, stdout: "1000000\n"},
		{name: "smart map", setup: big, tool: "config-get", stdout: "big: 1e+06\nratio: 0.5\nsmall: 5432\n"},
	})
}

func TestK8sSpecTools(t *testing.T) {
	spec := strp("containers: []\n")
	runCases(t, []toolCase{
		{name: "k8s-spec-get", tool: "k8s-spec-get", code: 1, stderr: "ERROR k8s spec for application pg not found\n"},
		{name: "pod-spec-get", tool: "pod-spec-get", code: 1, stderr: "ERROR k8s spec for application pg not found\n"},
		{name: "k8s-raw-get", tool: "k8s-raw-get", code: 1, stderr: "ERROR k8s spec for application pg not found\n"},
		{name: "set non-leader", setup: notLeader, tool: "k8s-spec-set", stdin: spec, code: 1, stderr: "ERROR this unit is not the leader\n"},
		{name: "set leader sidecar", tool: "pod-spec-set", stdin: spec, code: 1, stderr: "ERROR k8s spec is not supported for a sidecar charm\n"},
		{name: "set empty", tool: "k8s-spec-set", stdin: strp(""), code: 1,
			stderr: "ERROR no k8s spec specified: pipe k8s spec to command, or specify a file with --file\n"},
		{name: "raw set empty", tool: "k8s-raw-set", stdin: strp(""), code: 1,
			stderr: "ERROR no k8s raw spec specified: pipe k8s raw spec to command, or specify a file with --file\n"},
		{name: "raw has no k8s-resources", tool: "k8s-raw-set", args: []string{"--k8s-resources", "x"}, code: 2,
			stderr: "ERROR option provided but not defined: --k8s-resources\n"},
		{name: "set extra arg", tool: "k8s-spec-set", args: []string{"x"}, code: 2, stderr: "ERROR unrecognized args: [\"x\"]\n"},
	})
}

func TestUnitGetFallsBackToDefaultBinding(t *testing.T) {
	withDefault := func(f *fakeCtx) { f.networks[""] = f.networks["db"] }
	runCases(t, []toolCase{
		{name: "private from default binding", setup: withDefault, tool: "unit-get", args: []string{"private-address"}, stdout: "127.0.0.2\n"},
		{name: "public from ingress", setup: withDefault, tool: "unit-get", args: []string{"public-address"}, stdout: "127.0.0.2\n"},
		{name: "no binding", tool: "unit-get", args: []string{"public-address"}, code: 1, stderr: "ERROR public address not found\n"},
		{name: "unknown", tool: "unit-get", args: []string{"bogus"}, code: 2, stderr: "ERROR unknown setting \"bogus\"\n"},
		{name: "none", tool: "unit-get", code: 2, stderr: "ERROR no setting specified\n"},
	})
}

func TestOptionalContexts(t *testing.T) {
	f := &addrFake{fakeCtx: newFake(), private: "10.0.0.2", public: "1.2.3.4", resources: map[string]string{"img": "/r/img/content.yaml"}}
	cases := []struct {
		tool           string
		args           []string
		code           int
		stdout, stderr string
	}{
		{tool: "unit-get", args: []string{"private-address"}, stdout: "10.0.0.2\n"},
		{tool: "unit-get", args: []string{"public-address"}, stdout: "1.2.3.4\n"},
		{tool: "resource-get", args: []string{"img"}, stdout: "/r/img/content.yaml"},
		{tool: "resource-get", args: []string{"nope"}, code: 1, stderr: "ERROR could not download resource: resource \"nope\" not found\n"},
		{tool: "resource-get", code: 2, stderr: "ERROR missing required resource name\n"},
		{tool: "storage-add", args: []string{"pgdata=2", "logs"}},
		{tool: "storage-add", args: []string{"pgdata=ebs,2"}, code: 2, stderr: "ERROR only count can be specified for \"pgdata\"\n"},
		{tool: "storage-add", args: []string{"pgdata=0"}, code: 2,
			stderr: "ERROR cannot parse constraints for storage \"pgdata\": cannot parse count: count must be greater than zero, got \"0\"\n"},
		{tool: "storage-add", code: 2, stderr: "ERROR storage add requires a storage directive\n"},
	}
	for _, tc := range cases {
		resp := execute(t.Context(), f, Request{CommandName: tc.tool, Args: tc.args, Dir: "/"})
		if resp.Code != tc.code || string(resp.Stdout) != tc.stdout || string(resp.Stderr) != tc.stderr {
			t.Errorf("%s %q = %d %q %q, want %d %q %q", tc.tool, tc.args, resp.Code, resp.Stdout, resp.Stderr, tc.code, tc.stdout, tc.stderr)
		}
	}
	if f.added["pgdata"] != 2 || f.added["logs"] != 1 {
		t.Errorf("storage added %v, want pgdata=2 logs=1", f.added)
	}
	// Without the optional context, storage-add says it cannot, and changes nothing.
	resp := execute(t.Context(), newFake(), Request{CommandName: "storage-add", Args: []string{"pgdata"}, Dir: "/"})
	if resp.Code != 1 {
		t.Errorf("storage-add without support: code %d, %q", resp.Code, resp.Stderr)
	}
}
