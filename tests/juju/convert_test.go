package juju

import (
	"archive/zip"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/juju/charm/v12"
	"github.com/juju/juju/api/base"
	actionapi "github.com/juju/juju/api/client/action"
	apicharm "github.com/juju/juju/api/common/charm"
	"github.com/juju/juju/core/model"
	coreresources "github.com/juju/juju/core/resources"
	"github.com/juju/juju/rpc/params"
	yamlv2 "gopkg.in/yaml.v2"

	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

func TestAppConfig(t *testing.T) {
	tests := []struct {
		name string
		opts scenario.DeployOptions
		want map[string]string
	}{
		{"nothing", scenario.DeployOptions{}, nil},
		{"trust only", scenario.DeployOptions{Trust: true}, map[string]string{"trust": "true"}},
		{"seed", scenario.SeedDeploy(), map[string]string{"profile": "testing", "trust": "true"}},
		{"config without trust", scenario.DeployOptions{Config: map[string]string{"a": "1"}}, map[string]string{"a": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AppConfig(tt.opts); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLocalOrigin(t *testing.T) {
	manifest := &charm.Manifest{Bases: []charm.Base{{Name: "ubuntu", Channel: charm.Channel{Track: "24.04", Risk: charm.Stable}}}}
	tests := []struct {
		name      string
		rev       int
		base      string
		manifest  *charm.Manifest
		arch      string
		wantBase  string
		wantArch  string
		errSubstr string
	}{
		{name: "base flag", rev: 3, base: "ubuntu@22.04", manifest: manifest, wantBase: "ubuntu@22.04/stable", wantArch: "amd64"},
		{name: "manifest base", rev: 0, manifest: manifest, arch: "arm64", wantBase: "ubuntu@24.04/stable", wantArch: "arm64"},
		{name: "bad base flag", base: "ubuntu", errSubstr: `base "ubuntu"`},
		{name: "no base at all", errSubstr: "no base"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := LocalOrigin(tt.rev, tt.base, tt.manifest, tt.arch)
			if tt.errSubstr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSubstr) {
					t.Fatalf("err = %v, want %q", err, tt.errSubstr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.Source != apicharm.OriginLocal || o.Architecture != tt.wantArch || o.Base.String() != tt.wantBase {
				t.Errorf("origin %+v base %s", o, o.Base)
			}
			if o.Revision == nil || *o.Revision != tt.rev {
				t.Errorf("revision %v, want %d", o.Revision, tt.rev)
			}
			if o.Risk != "" || o.Track != nil {
				t.Errorf("local origin has a channel: %+v", o)
			}
		})
	}
}

func TestBuildDeployArgs(t *testing.T) {
	origin, err := LocalOrigin(7, "ubuntu@22.04", nil, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		opts      scenario.DeployOptions
		wantUnits int
		wantCfg   map[string]string
	}{
		{"seed deploy", scenario.SeedDeploy(), 1, map[string]string{"profile": "testing", "trust": "true"}},
		{"three units", scenario.DeployOptions{Units: 3}, 3, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids := map[string]string{"postgresql-image": "pending-1"}
			a := BuildDeployArgs("local:postgresql-k8s-7", origin, "db1", tt.opts, ids)
			if a.ApplicationName != "db1" || a.NumUnits != tt.wantUnits || a.CharmID.URL != "local:postgresql-k8s-7" ||
				!reflect.DeepEqual(a.CharmID.Origin, origin) || !reflect.DeepEqual(a.CharmOrigin, origin) ||
				!reflect.DeepEqual(a.Config, tt.wantCfg) || !reflect.DeepEqual(a.Resources, ids) {
				t.Errorf("args %+v", a)
			}
		})
	}
}

func TestOCIImages(t *testing.T) {
	repoMeta, err := os.ReadFile("../../metadata.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		yaml      string
		want      map[string]string
		errSubstr string
	}{
		{name: "the charm's metadata", yaml: string(repoMeta), want: map[string]string{"postgresql-image": "ghcr.io/canonical/charmed-postgresql:14-22.04"}},
		{name: "file resources ignored", yaml: "resources:\n  f: {type: file, filename: x}\n  img: {type: oci-image, upstream-source: 'r/i:1'}\n", want: map[string]string{"img": "r/i:1"}},
		{name: "no resources", yaml: "name: x\n", want: map[string]string{}},
		{name: "image without upstream-source", yaml: "resources:\n  img: {type: oci-image}\n", errSubstr: `"img" has no upstream-source`},
		{name: "not yaml", yaml: "resources: [", errSubstr: "parse metadata.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := OCIImages([]byte(tt.yaml))
			if tt.errSubstr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSubstr) {
					t.Fatalf("err = %v, want %q", err, tt.errSubstr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.name == "the charm's metadata" {
				// The default image may change; it must be there, whatever it is.
				if got["postgresql-image"] == "" || len(got) != 1 {
					t.Errorf("got %v", got)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReadMetadataYAML(t *testing.T) {
	dir := t.TempDir()
	md := []byte("name: x\n")
	charmDir := filepath.Join(dir, "x")
	if err := os.MkdirAll(charmDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(charmDir, "metadata.yaml"), md, 0o644); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "x.charm")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	w, err := zw.Create("metadata.yaml")
	if err != nil {
		t.Fatal(err)
	}
	w.Write(md)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	empty := filepath.Join(dir, "empty.charm")
	f, _ = os.Create(empty)
	zip.NewWriter(f).Close()
	f.Close()

	for _, tc := range []struct {
		name, path string
		ok         bool
	}{{"directory", charmDir, true}, {"archive", archive, true}, {"archive without metadata", empty, false}, {"missing", filepath.Join(dir, "nope.charm"), false}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadMetadataYAML(tc.path)
			if tc.ok != (err == nil) || (tc.ok && string(got) != string(md)) {
				t.Errorf("got %q, %v", got, err)
			}
		})
	}
}

func TestOCIResourceBody(t *testing.T) {
	for _, image := range []string{"ghcr.io/canonical/charmed-postgresql:14-22.04", "postgres:16"} {
		b, err := OCIResourceBody(image)
		if err != nil {
			t.Fatal(err)
		}
		var d coreresources.DockerImageDetails
		if err := yamlv2.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		if d.RegistryPath != image || d.IsPrivate() {
			t.Errorf("%s: body %q reads back as %+v", image, b, d)
		}
	}
	if _, err := OCIResourceBody(""); err == nil {
		t.Error("empty image accepted")
	}
}

func TestNormalizeOfferURL(t *testing.T) {
	tests := []struct {
		in, user, want string
		ok             bool
	}{
		{"rome.replication-offer", "admin", "admin/rome.replication-offer", true},
		{"bob/rome.replication-offer", "admin", "bob/rome.replication-offer", true},
		{"ctrl:admin/rome.replication-offer", "admin", "ctrl:admin/rome.replication-offer", true},
		{"rome.replication-offer:replication-offer", "admin", "", false},
		{"not an offer", "admin", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			u, err := NormalizeOfferURL(tt.in, tt.user)
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v", err)
			}
			if tt.ok && u.String() != tt.want {
				t.Errorf("got %s, want %s", u, tt.want)
			}
		})
	}
}

func TestConsumeArgs(t *testing.T) {
	offer := &params.ApplicationOfferDetailsV5{OfferURL: "admin/rome.replication-offer", OfferName: "replication-offer"}
	tests := []struct {
		name      string
		d         params.ConsumeOfferDetails
		source    string
		alias     string
		wantURL   string
		wantCtrl  bool
		errSubstr string
	}{
		{name: "same controller", d: params.ConsumeOfferDetails{Offer: offer}, wantURL: "admin/rome.replication-offer"},
		{name: "with source and alias", d: params.ConsumeOfferDetails{Offer: offer}, source: "mk8s", alias: "primary", wantURL: "mk8s:admin/rome.replication-offer"},
		{name: "external controller", d: params.ConsumeOfferDetails{Offer: offer, ControllerInfo: &params.ExternalControllerInfo{
			ControllerTag: "controller-3f4a1e1c-5b4d-4c4e-8f5e-1d2c3b4a5f6e", Addrs: []string{"10.0.0.1:17070"}, CACert: "ca"}},
			wantURL: "admin/rome.replication-offer", wantCtrl: true},
		{name: "bad controller tag", d: params.ConsumeOfferDetails{Offer: offer, ControllerInfo: &params.ExternalControllerInfo{ControllerTag: "nope"}}, errSubstr: "offer controller"},
		{name: "no offer", errSubstr: "no offer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ConsumeArgs(tt.d, tt.source, tt.alias)
			if tt.errSubstr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSubstr) {
					t.Fatalf("err = %v, want %q", err, tt.errSubstr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Offer.OfferURL != tt.wantURL || a.ApplicationAlias != tt.alias || (a.ControllerInfo != nil) != tt.wantCtrl {
				t.Errorf("args %+v", a)
			}
			if offer.OfferURL != "admin/rome.replication-offer" {
				t.Errorf("input offer modified: %s", offer.OfferURL)
			}
		})
	}
}

func TestLeaderTarget(t *testing.T) {
	for _, tt := range []struct {
		unit, app string
		ok        bool
	}{{"db1/leader", "db1", true}, {"db1/0", "db1", false}, {"db1", "db1", false}} {
		if app, ok := LeaderTarget(tt.unit); app != tt.app || ok != tt.ok {
			t.Errorf("%s: %s %v", tt.unit, app, ok)
		}
	}
}

func TestActionDone(t *testing.T) {
	for status, done := range map[string]bool{"pending": false, "running": false, "aborting": false,
		"completed": true, "failed": true, "cancelled": true, "aborted": true, "error": true} {
		if ActionDone(status) != done {
			t.Errorf("%s: done = %v", status, !done)
		}
	}
}

func TestActionResultFrom(t *testing.T) {
	tests := []struct {
		name string
		in   actionapi.ActionResult
		want scenario.ActionResult
	}{{
		name: "completed with results",
		in: actionapi.ActionResult{Action: &actionapi.Action{ID: "7", Receiver: "unit-db1-0", Name: "get-password"}, Status: "completed",
			Output: map[string]any{"password": "pw", "return-code": 0, "stdout": "", "stderr": ""}},
		want: scenario.ActionResult{Unit: "db1/0", Status: "completed", Results: map[string]any{"password": "pw", "return-code": 0}},
	}, {
		name: "failed with message",
		in:   actionapi.ActionResult{Action: &actionapi.Action{Receiver: "unit-db2-1"}, Status: "failed", Message: "not the leader"},
		want: scenario.ActionResult{Unit: "db2/1", Status: "failed", Message: "not the leader"},
	}, {
		name: "error without message",
		in:   actionapi.ActionResult{Status: "error", Error: errors.New("unit gone")},
		want: scenario.ActionResult{Unit: "db1/2", Status: "error", Message: "unit gone"},
	}, {
		name: "nested results kept",
		in:   actionapi.ActionResult{Status: "completed", Output: map[string]any{"a": map[string]any{"b": "c"}, "stdout": "hi"}},
		want: scenario.ActionResult{Unit: "db1/2", Status: "completed", Results: map[string]any{"a": map[string]any{"b": "c"}, "stdout": "hi"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ActionResultFrom("db1/2", tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestPickModel(t *testing.T) {
	models := []base.UserModel{
		{Name: "rome", UUID: "u1", Owner: "admin", Type: model.CAAS},
		{Name: "lisbon", UUID: "u2", Owner: "bob", Type: model.CAAS},
		{Name: "lisbon", UUID: "u3", Owner: "carol", Type: model.CAAS},
		{Name: "paris", UUID: "u4", Owner: "bob", Type: model.IAAS},
	}
	tests := []struct {
		name, model, user, wantUUID, errSubstr string
	}{
		{name: "own model", model: "rome", user: "admin", wantUUID: "u1"},
		{name: "shared model, one owner", model: "paris", user: "admin", wantUUID: "u4"},
		{name: "own among several", model: "lisbon", user: "carol", wantUUID: "u3"},
		{name: "ambiguous", model: "lisbon", user: "admin", errSubstr: "ambiguous"},
		{name: "unknown", model: "madrid", user: "admin", errSubstr: `model "madrid" not found (models: admin/rome, bob/lisbon, bob/paris, carol/lisbon)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := PickModel(models, tt.model, tt.user)
			if tt.errSubstr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSubstr) {
					t.Fatalf("err = %v, want %q", err, tt.errSubstr)
				}
				return
			}
			if err != nil || m.UUID != tt.wantUUID {
				t.Errorf("got %+v, %v", m, err)
			}
		})
	}
}

func TestCharmName(t *testing.T) {
	for in, want := range map[string]string{
		"local:postgresql-k8s-3":          "postgresql-k8s",
		"ch:amd64/postgresql-k8s-281":     "postgresql-k8s",
		"postgresql-k8s":                  "postgresql-k8s",
		"":                                "",
		"local:jammy/postgresql-k8s-0":    "postgresql-k8s",
		"ch:arm64/jammy/postgresql-k8s-1": "postgresql-k8s",
	} {
		if got := CharmName(in); got != want {
			t.Errorf("CharmName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConvertStatus(t *testing.T) {
	since := time.Date(2026, 11, 26, 13, 0, 0, 0, time.FixedZone("x", 3600))
	fs := &params.FullStatus{
		Model: params.ModelStatusInfo{Name: "rome"},
		Applications: map[string]params.ApplicationStatus{
			"db1": {
				Charm: "local:postgresql-k8s-0", Scale: 2,
				Status: params.DetailedStatus{Status: "active", Info: "Primary", Since: &since},
				Units: map[string]params.UnitStatus{
					"db1/0": {WorkloadStatus: params.DetailedStatus{Status: "active", Info: "Primary"}, AgentStatus: params.DetailedStatus{Status: "idle"},
						Leader: true, Address: "10.1.2.3", PublicAddress: "10.152.0.1"},
					"db1/1": {WorkloadStatus: params.DetailedStatus{Status: "maintenance", Info: "cloning"}, AgentStatus: params.DetailedStatus{Status: "executing", Info: "running start hook"},
						PublicAddress: "10.152.0.2"},
				},
			},
			"empty": {Charm: "ch:amd64/foo-1", Status: params.DetailedStatus{Status: "waiting"}},
		},
		RemoteApplications: map[string]params.RemoteApplicationStatus{"replication-offer": {}},
	}
	s := ConvertStatus(fs)
	if s.Model.Name != "rome" || len(s.Applications) != 2 {
		t.Fatalf("status %+v", s)
	}
	db1 := s.Applications["db1"]
	if db1.Charm != "postgresql-k8s" || db1.Scale != 2 || db1.ApplicationStatus.Current != "active" || db1.ApplicationStatus.Message != "Primary" ||
		db1.ApplicationStatus.Since != "2026-11-26T12:00:00Z" || !db1.ApplicationStatus.Time.Equal(since) {
		t.Errorf("db1 %+v", db1)
	}
	tests := []struct {
		unit                     string
		workload, message, agent string
		leader                   bool
		address                  string
	}{
		{"db1/0", "active", "Primary", "idle", true, "10.1.2.3"},
		{"db1/1", "maintenance", "cloning", "executing", false, "10.152.0.2"},
	}
	for _, tt := range tests {
		u, ok := db1.Units[tt.unit]
		if !ok || u.WorkloadStatus.Current != tt.workload || u.WorkloadStatus.Message != tt.message || u.JujuStatus.Current != tt.agent ||
			u.Leader != tt.leader || u.Address != tt.address {
			t.Errorf("%s: %+v", tt.unit, u)
		}
	}
	if s.Leader("db1") != "db1/0" {
		t.Errorf("leader %q", s.Leader("db1"))
	}
	// The scenario conditions read the converted status as they read jujulet's.
	if err := scenario.AppSettled("db1", 2, "Primary")(s); err == nil || !strings.Contains(err.Error(), "db1/1 is maintenance") {
		t.Errorf("AppSettled: %v", err)
	}
	if e := s.Applications["empty"]; e.Charm != "foo" || len(e.Units) != 0 || e.Scale != 0 {
		t.Errorf("empty %+v", e)
	}
}

func TestCAASRemoval(t *testing.T) {
	units := []string{"db1/0", "db1/1", "db1/2", "db2/7"}
	tests := []struct {
		unit, wantApp, errSubstr string
	}{
		{unit: "db1/2", wantApp: "db1"},
		{unit: "db2/7", wantApp: "db2"},
		{unit: "db1/1", errSubstr: "cannot remove db1/1 while db1/2 exists"},
		{unit: "db1/9", errSubstr: "not found"},
		{unit: "db1", errSubstr: "want app/N"},
		{unit: "db1/x", errSubstr: "want app/N"},
	}
	for _, tt := range tests {
		t.Run(tt.unit, func(t *testing.T) {
			app, err := CAASRemoval(tt.unit, units)
			if tt.errSubstr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSubstr) {
					t.Fatalf("err = %v, want %q", err, tt.errSubstr)
				}
				return
			}
			if err != nil || app != tt.wantApp {
				t.Errorf("got %q, %v", app, err)
			}
		})
	}
}
