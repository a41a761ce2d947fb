package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jujulet/postgresql-k8s/charm"
	"github.com/jujulet/postgresql-k8s/internal/controller/state"
	"github.com/jujulet/postgresql-k8s/tests/scenario"
	_ "modernc.org/sqlite" // the controller's state, read-only
)

// sharedSecrets reads, from the controller's state (read-only), the latest content of every
// secret labelled charm.ReplicationSecretLabel: what the other model is granted.
func sharedSecrets(t *testing.T, j *scenario.Jujulet) map[string]map[string]string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(j.Home, "state.db")+"?mode=ro&_pragma=busy_timeout(10000)")
	must(t, err)
	defer db.Close()
	rows, err := db.Query(`SELECT body FROM docs WHERE kind = 'secret'`)
	must(t, err)
	defer rows.Close()
	out := map[string]map[string]string{}
	for rows.Next() {
		var body []byte
		must(t, rows.Scan(&body))
		var s state.Secret
		must(t, json.Unmarshal(body, &s))
		if s.Label == charm.ReplicationSecretLabel {
			out[s.URI] = s.Revisions[s.Latest]
		}
	}
	must(t, rows.Err())
	return out
}

// checkLeastPrivilege: the secrets shared with the other model hold the replication and
// rewind passwords and the CA certificate only (no operator or monitoring password), and no
// unit's pg_hba.conf admits operator or monitoring from anywhere but the cluster's own units
// (and 127.0.0.1 on jujulet); the charm logs in as charm_admin by certificate only.
func checkLeastPrivilege(t *testing.T, ctx context.Context, j *scenario.Jujulet, clusters ...*scenario.Cluster) {
	t.Helper()
	shared := sharedSecrets(t, j)
	if len(shared) == 0 {
		t.Fatal("no shared replication secret found: the check checks nothing")
	}
	for uri, content := range shared {
		var keys []string
		for k := range content {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if want := []string{"ca-certificate", "replication-password", "rewind-password"}; !slices.Equal(keys, want) {
			t.Errorf("the shared secret %s holds %v, want %v", uri, keys, want)
		}
	}
	for _, c := range clusters {
		own := []string{"127.0.0.1"}
		for _, a := range c.Units {
			own = append(own, a)
		}
		for unit, addr := range c.Units {
			conn, err := scenario.Connect(ctx, addr, c.Password)
			must(t, err)
			rows, err := conn.Query(ctx, `SELECT type, array_to_string(user_name, ','), coalesce(address, ''), coalesce(netmask, ''), auth_method
				FROM pg_hba_file_rules WHERE user_name && ARRAY['operator', 'monitoring', 'charm_admin', 'all']`)
			must(t, err)
			n := 0
			for rows.Next() {
				var typ, users, address, netmask, method string
				must(t, rows.Scan(&typ, &users, &address, &netmask, &method))
				n++
				line := fmt.Sprintf("%s: %s %s %s/%s %s", unit, typ, users, address, netmask, method)
				if users == "all" || !slices.Contains(own, address) || net.ParseIP(netmask).String() != "255.255.255.255" {
					t.Errorf("%s admits a system user from beyond the cluster's own units", line)
				}
				if (users == "charm_admin") != (method == "cert") || typ != "hostssl" {
					t.Errorf("%s: charm_admin by certificate only, the others by password, over TLS only", line)
				}
			}
			must(t, rows.Err())
			rows.Close()
			conn.Close(ctx)
			if n == 0 {
				t.Errorf("%s: no pg_hba line for the system users", unit)
			}
			if strings.Contains(addr, ":") {
				t.Logf("%s is IPv6: the netmask check above expects IPv4 units (jujulet)", unit)
			}
		}
	}
}

// checkWhosePassword (rome primary again after a switchover there and back): every server of
// both clusters holds rome's roles, and rome took its own operator password back when it
// became primary again; lisbon's own operator password, which never left lisbon, logs in
// nowhere until lisbon is promoted, and get-password on lisbon says so.
func checkWhosePassword(t *testing.T, ctx context.Context, j *scenario.Jujulet, s *scenario.Seed) {
	t.Helper()
	rome, err := scenario.LoadCluster(ctx, j, s.Rome, s.DB1) // each its own password only
	must(t, err)
	lisbon, err := scenario.LoadCluster(ctx, j, s.Lisbon, s.DB2)
	must(t, err)
	if rome.Password == lisbon.Password {
		t.Fatal("both clusters have the same operator password: the check checks nothing")
	}
	for _, c := range []*scenario.Cluster{rome, lisbon} {
		for unit, addr := range c.Units {
			conn, err := scenario.Connect(ctx, addr, rome.Password)
			if err != nil {
				t.Errorf("%s/%s refuses the primary cluster's own operator password: %v", c.Model, unit, err)
			} else {
				conn.Close(ctx)
			}
			if conn, err := scenario.Connect(ctx, addr, lisbon.Password); err == nil {
				conn.Close(ctx)
				t.Errorf("%s/%s accepts the standby cluster's own operator password", c.Model, unit)
			} else if !strings.Contains(err.Error(), "28P01") {
				t.Errorf("%s/%s: %v", c.Model, unit, err)
			}
		}
	}
	res, err := j.RunAction(ctx, s.Lisbon, s.DB2+"/leader", "get-password", map[string]any{"username": "operator"})
	must(t, err)
	if msg, _ := res.Results["message"].(string); !strings.Contains(msg, "standby") {
		t.Errorf("get-password on the standby cluster does not say whose password it is: %v", res.Results)
	}
}
