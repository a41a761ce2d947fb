package charm

import (
	"testing"

	"github.com/jujulet/postgresql-k8s/internal/hookenv"
)

// A unit being removed stops its server at its own peer departure and no later hook of it
// (storage-detaching, leader-settings-changed, update-status...) starts it again: a departing
// primary must not accept writes once the leader has promoted a replica.
func TestLeavingUnitNeverRestarts(t *testing.T) {
	for _, later := range []string{"pgdata-storage-detaching", "update-status", "leader-settings-changed", "config-changed", "postgresql-pebble-ready"} {
		t.Run(later, func(t *testing.T) {
			w := bootstrap(t, 2)
			w.mustRun("pg/1", "postgresql-pebble-ready")
			// The primary is not the leader: nobody has recorded another primary yet when the
			// departing unit's later hooks run.
			w.leader = "pg/1"
			p := w.units["pg/0"]
			if _, err := w.run("pg/0", "database-peers-relation-departed", nil, func(e *hookenv.Env) {
				e.RemoteUnit, e.DepartingUnit = "pg/1", "pg/0"
			}); err != nil {
				t.Fatal(err)
			}
			if p.s.running {
				t.Fatalf("departing primary still running after its departure hook")
			}
			if _, err := w.run("pg/0", later, nil, nil); err != nil {
				t.Fatal(err)
			}
			if p.s.running {
				t.Fatalf("%s restarted the server of a departing unit (calls %v)", later, p.s.calls)
			}
		})
	}
}

// Juju removes a unit with storage-detaching first, before its peer departure, and a
// relation-changed owed to a unit that just joined may still come: it must not start the
// server that storage-detaching stopped.
func TestStorageDetachingMarksLeaving(t *testing.T) {
	w := bootstrap(t, 2)
	w.mustRun("pg/1", "postgresql-pebble-ready")
	w.leader = "pg/1"
	p := w.units["pg/0"]
	w.mustRun("pg/0", "pgdata-storage-detaching")
	if p.s.running {
		t.Fatalf("server still running after storage-detaching")
	}
	if _, err := w.run("pg/0", "database-peers-relation-changed", nil, func(e *hookenv.Env) { e.RemoteUnit = "pg/1" }); err != nil {
		t.Fatal(err)
	}
	if p.s.running {
		t.Fatalf("relation-changed after storage-detaching restarted the server (calls %v)", p.s.calls)
	}
}

// A leaving leader that is the primary hands the role to the most advanced replica, which it
// reaches over verified TLS like any other connection (found when every connection came to
// need the cluster CA: this path opens its own workload).
func TestLeavingLeaderPrimaryHandsOver(t *testing.T) {
	w := bootstrap(t, 2)
	w.mustRun("pg/1", "postgresql-pebble-ready")
	if w.app["primary"] != "pg/0" {
		t.Fatalf("primary %q, want pg/0", w.app["primary"])
	}
	if _, err := w.run("pg/0", "database-peers-relation-departed", nil, func(e *hookenv.Env) {
		e.RemoteUnit, e.DepartingUnit = "pg/1", "pg/0"
	}); err != nil {
		t.Fatal(err)
	}
	if w.app["primary"] != "pg/1" {
		t.Fatalf("the leaving primary leader recorded %q as primary, want pg/1", w.app["primary"])
	}
}
