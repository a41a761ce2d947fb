package charm

import (
	"fmt"
	"net"
	"slices"
	"testing"
)

// TestSystemUsersAdmittedOnlyFromOwnUnits: pg_hba.conf admits operator and monitoring from
// the cluster's own units only (and 127.0.0.1 when they are loopback addresses, as on
// jujulet), never from everywhere nor from the other cluster; the other cluster's units get
// replication (streaming, and its charm's SQL in the postgres database) and rewind only.
func TestSystemUsersAdmittedOnlyFromOwnUnits(t *testing.T) {
	tests := []struct {
		name   string
		own    []string // this unit's address, then its peers'
		remote []string // the other cluster's units (cross-regional replication)
		want   []string // addresses operator and monitoring are admitted from
	}{
		{"pod addresses", []string{"10.1.0.5", "10.1.0.6", "10.1.0.7"}, nil, []string{"10.1.0.5", "10.1.0.6", "10.1.0.7"}},
		{"loopback units", []string{"127.0.0.11", "127.0.0.10"}, nil, []string{"127.0.0.10", "127.0.0.11", "127.0.0.1"}},
		{"IPv6", []string{"fd00::5"}, nil, []string{"fd00::5"}},
		{"related to another cluster", []string{"10.1.0.5", "10.1.0.6"}, []string{"10.2.0.8", "10.2.0.9"}, []string{"10.1.0.5", "10.1.0.6"}},
		{"loopback clusters related", []string{"127.0.0.10"}, []string{"127.0.0.30"}, []string{"127.0.0.10", "127.0.0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &State{Unit: "pg/0", App: "pg", Address: tt.own[0], PeerData: map[string]map[string]string{}}
			for i, a := range tt.own[1:] {
				u := fmt.Sprintf("pg/%d", i+1)
				st.Peers = append(st.Peers, u)
				st.PeerData[u] = map[string]string{"address": a}
			}
			c := &Charm{}
			if tt.remote != nil {
				c.ext = &asyncRepl{view: &drView{relID: "replication:9", remoteAddrs: tt.remote}}
			}
			rules := c.hbaRules(st)
			for _, user := range []string{"operator", "monitoring"} {
				var from []string
				for _, r := range rules {
					if r.User != user && r.User != "all" {
						continue
					}
					if _, n, err := net.ParseCIDR(r.Address); err != nil || n.IP.IsUnspecified() {
						t.Errorf("%s admitted from everywhere: %+v", user, r)
						continue
					}
					from = append(from, r.Address)
				}
				var want []string
				for _, a := range tt.want {
					want = append(want, hostCIDR(a))
				}
				if !slices.Equal(from, want) {
					t.Errorf("%s admitted from %v, want %v", user, from, want)
				}
			}
			for _, a := range tt.remote {
				var users []string
				for _, r := range rules {
					if r.Address == hostCIDR(a) {
						users = append(users, r.Database+"/"+r.User)
					}
				}
				if want := []string{"replication/replication", "postgres/rewind", "postgres/replication"}; !slices.Equal(users, want) {
					t.Errorf("the other cluster's %s is admitted as %v, want %v", a, users, want)
				}
			}
		})
	}
}

// TestCrossClusterSQLLogsInAsReplication: through create-replication, a planned switchover
// there and back, every connection the charm of one cluster opens to the other cluster's
// servers logs in as replication (the fake refuses superuser-only SQL to it, and admits it
// only as pg_hba.conf says).
func TestCrossClusterSQLLogsInAsReplication(t *testing.T) {
	d := replicating(t)
	d.mustRun("b", "pg/0", "update-status")
	d.switchToB()
	d.mustRun("a", "pg/0", "update-status")
	d.mustRun("b", "pg/0", "update-status")
	ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
	ub.s.received, ua.s.replayed = 20, 21 // a has replayed b's shutdown checkpoint
	if u := d.action("a", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"}); u.f.IsFailed {
		t.Fatalf("switch back: %s", u.f.Failed)
	}
	for i := 0; i < 4 && d.appA["role"] != "primary"; i++ {
		d.mustRun("b", "pg/0", changedHook("b"))
		d.mustRun("a", "pg/0", changedHook("a"))
	}
	if d.appA["role"] != "primary" {
		t.Fatalf("a did not become primary again: %v", d.appA)
	}
	cross := 0
	for _, pair := range [][2]*testUnit{{ua, ub}, {ub, ua}} {
		server, other := pair[0], pair[1]
		for _, l := range server.s.logins {
			if l.from != other.s.addr {
				continue
			}
			cross++
			if l.user != "replication" {
				t.Errorf("%s logged in to the other cluster's %s as %s", l.from, server.s.addr, l.user)
			}
		}
	}
	if cross == 0 {
		t.Fatal("no cross-cluster connection seen: the test checks nothing")
	}
}

// TestPromotedClusterSetsItsOwnPasswords: a standby cluster's servers hold the primary
// cluster's roles (a copy of its data), while its secret keeps its own operator and
// monitoring passwords; once it becomes primary (planned switchover, forced promotion, or a
// standalone one promoted), its servers take its own, and the switch back gives the other
// cluster its own again.
func TestPromotedClusterSetsItsOwnPasswords(t *testing.T) {
	own := func(w *world, user string) string { return w.secrets[w.app["secret-id"]].Content[user+"-password"] }
	check := func(t *testing.T, what string, w *world, u *testUnit) {
		t.Helper()
		for _, user := range SystemUsers {
			if got := u.s.roles[user]; got != own(w, user) {
				t.Errorf("%s: %s's password in the database is not its own secret's", what, user)
			}
		}
	}
	t.Run("planned switchover and back", func(t *testing.T) {
		d := replicating(t)
		ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
		if ub.s.roles["operator"] != own(d.a, "operator") || own(d.b, "operator") == own(d.a, "operator") {
			t.Fatal("the standby's database does not hold the primary cluster's operator (the test checks nothing)")
		}
		d.switchToB()
		d.mustRun("b", "pg/0", "update-status")
		check(t, "b after the switchover", d.b, ub)
		ub.s.received, ua.s.replayed = 20, 21
		if u := d.action("a", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"}); u.f.IsFailed {
			t.Fatalf("switch back: %s", u.f.Failed)
		}
		for i := 0; i < 4 && d.appA["role"] != "primary"; i++ {
			d.mustRun("b", "pg/0", changedHook("b"))
			d.mustRun("a", "pg/0", changedHook("a"))
		}
		d.mustRun("a", "pg/0", "update-status")
		if ua.s.roles["operator"] != own(d.a, "operator") {
			t.Error("a did not take its own operator password back after the switch back")
		}
		check(t, "a after the switch back", d.a, ua)
	})
	t.Run("forced promotion", func(t *testing.T) {
		d := replicating(t)
		ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
		ua.s.running = false
		if u := d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster", "force": true}); u.f.IsFailed {
			t.Fatalf("forced promote: %s", u.f.Failed)
		}
		d.mustRun("b", "pg/0", "update-status")
		check(t, "b after a forced promotion", d.b, ub)
	})
	t.Run("standalone promoted", func(t *testing.T) {
		d := replicating(t)
		ub := d.b.units["pg/0"]
		d.mustRun("b", "pg/0", "replication-relation-broken")
		d.mustRun("a", "pg/0", "replication-offer-relation-broken")
		d.unrelate()
		d.mustRun("b", "pg/0", "update-status")
		if u := d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"}); u.f.IsFailed {
			t.Fatalf("promote standalone: %s", u.f.Failed)
		}
		d.mustRun("b", "pg/0", "update-status")
		check(t, "b promoted standalone", d.b, ub)
	})
}

// TestClusterWithoutCharmAdminCreatesIt: a cluster initialised before charm_admin existed
// (its bootstrap superuser is operator) gets the role on its primary, created once as
// operator, and the charm logs in as charm_admin from then on.
func TestClusterWithoutCharmAdminCreatesIt(t *testing.T) {
	w := bootstrap(t, 1)
	p := w.units["pg/0"]
	delete(p.s.roles, AdminUser) // as an older charm's initdb left it
	u := w.mustRun("pg/0", "upgrade-charm")
	wantStatus(t, u, "active", "Primary")
	if _, ok := p.s.roles[AdminUser]; !ok || !slices.Contains(p.s.calls, "EnsureCertRole "+AdminUser) {
		t.Fatalf("%s not created: roles %v", AdminUser, p.s.roles)
	}
	before := len(p.s.logins)
	w.mustRun("pg/0", "update-status")
	for _, l := range p.s.logins[before:] {
		if l.user != AdminUser {
			t.Errorf("the charm logged in to its own server as %s", l.user)
		}
	}
}
