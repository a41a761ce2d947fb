package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/jujulet/postgresql-k8s/internal/controller/api"
)

func sampleStatus() api.Status {
	return api.Status{
		Model: api.ModelStatus{Name: "lisbon", Type: "caas", Controller: "jujulet", Cloud: "jujulet",
			CloudRegion: "localhost", Version: "3.6.11", Status: api.StatusInfo{Current: "available"}, SLA: "unsupported"},
		Machines: map[string]struct{}{},
		Applications: map[string]api.ApplicationStatus{"db2": {
			Charm: "local:postgresql-k8s-0", Base: &api.Base{Name: "ubuntu", Channel: "22.04"}, CharmOrigin: "local",
			CharmName: "postgresql-k8s", CharmRev: 0, Scale: 1, ProviderID: "db2",
			Status:    api.StatusInfo{Current: "active"},
			Relations: map[string][]api.ApplicationRelation{"replication-offer": {{Related: "db1", Interface: "pg-async", Scope: "global"}}},
			Units: map[string]api.UnitStatus{"db2/0": {Workload: api.StatusInfo{Current: "error", Message: `hook failed: "start"`},
				Agent: api.StatusInfo{Current: "idle", Version: "3.6.11"}, Leader: true, OpenPorts: []string{"5432/tcp"},
				Address: "127.9.0.2", ProviderID: "db2-0"}},
		}},
		SAAS: map[string]api.SAASStatus{"db1": {URL: "admin/rome.db1", Endpoints: map[string]api.Endpoint{"replication-offer": {Interface: "pg-async", Role: "provider"}},
			Status: api.StatusInfo{Current: "active"}, Relations: map[string][]string{"replication-offer": {"db2"}}}},
		Controller: &api.ControllerStatus{Timestamp: "10:00:00Z"},
	}
}

// TestStatusYAML: `status --format yaml` is Juju's: fields in formatted.go's order, lists
// as yaml.v2 indents them, empty charm-channel omitted and no trust field, the local charm
// as local:name-rev, SAAS relations as endpoint: [apps], a unit in error idle.
func TestStatusYAML(t *testing.T) {
	var out bytes.Buffer
	if err := yamlOut(&out, sampleStatus()); err != nil {
		t.Fatal(err)
	}
	want := `model:
  name: lisbon
  type: caas
  controller: jujulet
  cloud: jujulet
  region: localhost
  version: 3.6.11
  model-status:
    current: available
  sla: unsupported
machines: {}
applications:
  db2:
    charm: local:postgresql-k8s-0
    base:
      name: ubuntu
      channel: "22.04"
    charm-origin: local
    charm-name: postgresql-k8s
    charm-rev: 0
    scale: 1
    provider-id: db2
    exposed: false
    application-status:
      current: active
    relations:
      replication-offer:
      - related-application: db1
        interface: pg-async
        scope: global
    units:
      db2/0:
        workload-status:
          current: error
          message: 'hook failed: "start"'
        juju-status:
          current: idle
          version: 3.6.11
        leader: true
        open-ports:
        - 5432/tcp
        address: 127.9.0.2
        provider-id: db2-0
application-endpoints:
  db1:
    url: admin/rome.db1
    endpoints:
      replication-offer:
        interface: pg-async
        role: provider
    application-status:
      current: active
    relations:
      replication-offer:
      - db2
controller:
  timestamp: 10:00:00Z
`
	if out.String() != want {
		t.Errorf("status yaml:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestStatusJSON: the JSON has Juju's key order and omissions.
func TestStatusJSON(t *testing.T) {
	var out bytes.Buffer
	if err := jsonOut(&out, sampleStatus()); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	order := []string{`"model":`, `"machines":{}`, `"applications":`, `"charm":"local:postgresql-k8s-0"`, `"base":`,
		`"charm-origin":`, `"charm-name":`, `"charm-rev":0`, `"scale":1`, `"provider-id":"db2"`, `"exposed":false`,
		`"application-status":`, `"relations":`, `"units":`, `"application-endpoints":`, `"controller":{"timestamp"`}
	last := -1
	for _, k := range order {
		i := strings.Index(s, k)
		if i < 0 || i < last {
			t.Fatalf("%s missing or out of Juju's order in %s", k, s)
		}
		last = i
	}
	for _, absent := range []string{`"trust"`, `"charm-channel"`, `"life"`, `"offers"`} {
		if strings.Contains(s, absent) {
			t.Errorf("%s present in %s", absent, s)
		}
	}
	if !strings.Contains(s, `"relations":{"replication-offer":["db2"]}`) {
		t.Errorf("SAAS relations not endpoint: [apps] in %s", s)
	}
}

// TestStatusRelationsTable: --relations adds Juju's Integration section.
func TestStatusRelationsTable(t *testing.T) {
	d := sampleStatus()
	var out bytes.Buffer
	rels := []api.RelationStatus{
		{ID: 2, Provider: "db2:database-peers", Requirer: "db2:database-peers", Interface: "postgresql_peers", Type: "peer", Status: "joined"},
		{ID: 5, Provider: "db1:replication-offer", Requirer: "db2:replication", Interface: "pg-async", Type: "regular", Status: "broken"},
	}
	if err := renderTabular(&out, &d, rels); err != nil {
		t.Fatal(err)
	}
	want := "\nIntegration provider   Requirer            Interface         Type     Message\n" +
		"db1:replication-offer  db2:replication     pg-async          regular  broken\n" +
		"db2:database-peers     db2:database-peers  postgresql_peers  peer     \n"
	if !strings.HasSuffix(out.String(), want) {
		t.Errorf("tabular with relations:\n%s\nwant it to end with:\n%s", out.String(), want)
	}
	out.Reset()
	if err := renderTabular(&out, &d, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "Integration provider") {
		t.Errorf("relations shown without --relations:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "db2/0*  error     idle   127.9.0.2  5432/tcp  hook failed: \"start\"") {
		t.Errorf("unit row:\n%s", out.String())
	}
}
