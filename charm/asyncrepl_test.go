package charm

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/jujulet/postgresql-k8s/internal/drprotocol"
	"github.com/jujulet/postgresql-k8s/internal/hookenv"
	"github.com/jujulet/postgresql-k8s/internal/hookenv/hookenvtest"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// drWorld is two clusters in two models ("a" offers replication-offer, "b" consumes it on
// replication), each a world of its own sharing one simulated network of servers. Between
// hooks it shows each side the other's published buckets, as Juju's cross-model relation
// does, under the remote names Juju uses.
type drWorld struct {
	t       *testing.T
	a, b    *world
	related bool
	appA    map[string]string // a's app bucket in the replication relation
	appB    map[string]string
	// relA and relB are the relation's ids on each side (new ids after re-integration).
	relA, relB string
	n          int
}

const (
	remoteOf = "remote-0123456789abcdef0123456789abcdef" // how a sees b
	offerAs  = "rome-offer"                              // how b sees a (saas alias)
)

// drWorkload copies the roles with the data in a base backup, as a physical copy does.
type drWorkload struct{ *fakeWorkload }

func (w drWorkload) BaseBackup(ctx context.Context, up postgres.Upstream) (string, error) {
	out, err := w.fakeWorkload.BaseBackup(ctx, up)
	if err == nil {
		w.s.roles = maps.Clone(w.fc.servers[up.Host].roles)
	}
	return out, err
}

// Rewind copies the source's roles too: pg_rewind copies the catalog with the data.
func (w drWorkload) Rewind(ctx context.Context, up postgres.Upstream) (string, error) {
	out, err := w.fakeWorkload.Rewind(ctx, up)
	if err == nil {
		w.s.roles = maps.Clone(w.fc.servers[up.Host].roles)
	}
	return out, err
}

func newDRWorld(t *testing.T, na, nb int) *drWorld {
	a := newWorld(t, 0)
	b := &world{t: t, fc: a.fc, units: map[string]*testUnit{}, app: map[string]string{},
		secrets: map[string]*hookenvtest.FakeSecret{}, leader: "pg/0", addrBase: 30}
	for _, w := range []*world{a, b} {
		w.open = func(unit, addr string) func(ctx context.Context, _ string) (Workload, error) {
			return func(ctx context.Context, _ string) (Workload, error) {
				wl, err := w.fc.open(addr)(ctx, addr)
				if err != nil {
					return nil, err
				}
				return drWorkload{wl.(*fakeWorkload)}, nil
			}
		}
		w.tweak = func(c *Charm) { EnableAsyncReplication(c) }
	}
	a.addrBase = 10
	d := &drWorld{t: t, a: a, b: b, appA: map[string]string{}, appB: map[string]string{}}
	for i := 0; i < na; i++ {
		d.addUnit("a", fmt.Sprintf("pg/%d", i))
	}
	for i := 0; i < nb; i++ {
		d.addUnit("b", fmt.Sprintf("pg/%d", i))
	}
	return d
}

func (d *drWorld) side(s string) (w *world, rel, remote string, other *world, otherRel, otherAs string) {
	if s == "a" {
		return d.a, d.relA, remoteOf, d.b, d.relB, offerAs
	}
	return d.b, d.relB, offerAs, d.a, d.relA, remoteOf
}

func (d *drWorld) addUnit(side, name string) *testUnit {
	w, rel, remote, _, _, _ := d.side(side)
	u := w.addUnit(name)
	u.f.ModelUUID = "model-" + side // secret URIs of the two models differ
	if d.related {
		u.f.AddRelation(rel, remote).RemoteModelUUID = "model-" + otherSide(side)
	}
	return u
}

func otherSide(s string) string {
	if s == "a" {
		return "b"
	}
	return "a"
}

// relate integrates the two clusters.
func (d *drWorld) relate() {
	d.related = true
	d.n++
	d.relA, d.relB = fmt.Sprintf("replication-offer:%d", 6+d.n), fmt.Sprintf("replication:%d", 8+d.n)
	for _, s := range []string{"a", "b"} {
		w, rel, remote, _, _, _ := d.side(s)
		for _, u := range w.units {
			u.f.AddRelation(rel, remote).RemoteModelUUID = "model-" + otherSide(s)
		}
	}
}

// unrelate removes the relation (after relation-broken has run on the units).
func (d *drWorld) unrelate() {
	d.related = false
	d.appA, d.appB = map[string]string{}, map[string]string{}
	for _, s := range []string{"a", "b"} {
		w, rel, _, _, _, _ := d.side(s)
		for _, u := range w.units {
			delete(u.f.Relations, rel)
		}
	}
}

// sync shows side s the other side's data.
func (d *drWorld) sync(s string) {
	w, rel, _, other, otherRel, _ := d.side(s)
	mine, theirs := d.appA, d.appB
	if s == "b" {
		mine, theirs = d.appB, d.appA
	}
	_, _, remote, _, _, _ := d.side(s)
	for _, u := range w.units {
		r := u.f.Relations[rel]
		if r == nil {
			continue
		}
		r.Units = nil
		r.Data[remote] = maps.Clone(theirs)
		r.Data["pg"] = maps.Clone(mine)
		for _, n := range other.names() {
			ru := remote + "/" + strings.TrimPrefix(n, "pg/")
			r.Units = append(r.Units, ru)
			if or := other.units[n].f.Relations[otherRel]; or != nil {
				r.Data[ru] = maps.Clone(or.Data[n])
			}
		}
	}
	// Secrets granted to the relation are readable by the other model by URI.
	for uri, sec := range other.secrets {
		if slices.Contains(sec.Grants, otherRel) {
			w.secrets[uri] = sec
		}
	}
}

// run runs a hook (or an action when params != nil) on a unit of side s.
func (d *drWorld) run(s, unit, hook string, params map[string]any) (*testUnit, error) {
	d.t.Helper()
	w, rel, remote, _, _, _ := d.side(s)
	d.sync(s)
	u, err := w.run(unit, hook, params, func(e *hookenv.Env) {
		ep, _, _ := strings.Cut(rel, ":")
		if strings.HasPrefix(hook, ep+"-relation-") {
			e.RelationName, e.RelationID, e.RemoteApp = ep, rel, remote
		}
	})
	if r := u.f.Relations[rel]; r != nil && u.f.Leader {
		if s == "a" {
			d.appA = maps.Clone(r.Data["pg"])
		} else {
			d.appB = maps.Clone(r.Data["pg"])
		}
	}
	return u, err
}

func changedHook(s string) string {
	if s == "a" {
		return "replication-offer-relation-changed"
	}
	return "replication-relation-changed"
}

func (d *drWorld) mustRun(s, unit, hook string) *testUnit {
	d.t.Helper()
	u, err := d.run(s, unit, hook, nil)
	if err != nil {
		d.t.Fatalf("%s on %s/%s: %v", hook, s, unit, err)
	}
	return u
}

func (d *drWorld) action(s, unit, name string, params map[string]any) *testUnit {
	d.t.Helper()
	if params == nil {
		params = map[string]any{}
	}
	u, err := d.run(s, unit, name, params)
	if err != nil {
		d.t.Fatalf("action %s on %s/%s: %v", name, s, unit, err)
	}
	return u
}

// bootstrapDR brings both clusters up standalone, relates them and lets every unit see the
// relation.
func bootstrapDR(t *testing.T) *drWorld {
	d := newDRWorld(t, 1, 1)
	for _, s := range []string{"a", "b"} {
		d.mustRun(s, "pg/0", "leader-elected")
		u := d.mustRun(s, "pg/0", "postgresql-pebble-ready")
		wantStatus(t, u, "active", "Primary")
	}
	d.relate()
	d.mustRun("a", "pg/0", "replication-offer-relation-created")
	d.mustRun("b", "pg/0", "replication-relation-created")
	d.mustRun("a", "pg/0", "replication-offer-relation-changed")
	return d
}

// replicating runs create-replication and the hooks that follow it.
func replicating(t *testing.T) *drWorld {
	d := bootstrapDR(t)
	u := d.action("a", "pg/0", "create-replication", nil)
	if u.f.IsFailed {
		t.Fatalf("create-replication failed: %s", u.f.Failed)
	}
	d.mustRun("b", "pg/0", "replication-relation-changed")
	d.mustRun("a", "pg/0", "replication-offer-relation-changed")
	return d
}

func TestUnitAddressPublishedAndRemoteAdmittedInHBA(t *testing.T) {
	d := bootstrapDR(t)
	ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
	if got := ub.f.Relations[d.relB].Data["pg/0"][drprotocol.KeyUnitAddress]; got != ub.s.addr {
		t.Fatalf("b's unit-address = %q, want %q", got, ub.s.addr)
	}
	want := "replication replication " + ub.s.addr + "/32"
	if !strings.Contains(fmt.Sprint(ua.s.hba), want) {
		t.Errorf("a's hba %v lacks %q", ua.s.hba, want)
	}
	// Nobody replicates before create-replication.
	if d.appA[drprotocol.KeyEpoch] != "" || d.appB[drprotocol.KeyEpoch] != "" {
		t.Errorf("epochs published before create-replication: %v %v", d.appA, d.appB)
	}
	wantStatus(t, ub, "active", "Primary")
}

func TestCreateReplicationSeedsTheStandbyCluster(t *testing.T) {
	d := replicating(t)
	ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
	if d.appA[drprotocol.KeyEpoch] != "1" || d.appA[drprotocol.KeyRole] != "primary" ||
		d.appA[drprotocol.KeyPrimaryEndpoint] != ua.s.addr+":5432" {
		t.Fatalf("a's bucket %v", d.appA)
	}
	sec := d.a.secrets[d.appA[drprotocol.KeySecretID]]
	if sec == nil || !slices.Contains(sec.Grants, d.relA) || sec.Content["replication-password"] != ua.s.roles["replication"] {
		t.Fatalf("replication secret %+v not granted to %s", sec, d.relA)
	}
	// No password in any relation data.
	for _, bucket := range []map[string]string{d.appA, d.appB, d.a.app, d.b.app} {
		for k, v := range bucket {
			for sk, pw := range sec.Content {
				if strings.HasSuffix(sk, "-password") && strings.Contains(v, pw) {
					t.Errorf("password in relation data key %s", k)
				}
			}
		}
	}
	// b stopped, moved its data aside and seeded from a's primary through its own slot.
	if !slices.Contains(ub.s.calls, "Stop") || !slices.Contains(ub.s.calls, "BaseBackup"+ua.s.addr) {
		t.Errorf("b's calls %v", ub.s.calls)
	}
	if up := ub.s.conf.Upstream; up == nil || up.Host != ua.s.addr || up.Slot != "dr_pg_0" || up.User != "replication" {
		t.Errorf("b's upstream %+v", ub.s.conf.Upstream)
	}
	// TLS across clusters: a shares its CA (secret and bucket); b verifies a's primary with it,
	// its own units with its own CA.
	caA := d.a.secrets[d.a.app["secret-id"]].Content[keyCACert]
	caB := d.b.secrets[d.b.app["secret-id"]].Content[keyCACert]
	if caA == "" || caB == "" || caA == caB {
		t.Fatalf("each cluster has its own CA: a %t, b %t, same %t", caA != "", caB != "", caA == caB)
	}
	if sec.Content[keyCACert] != caA || d.appA[drprotocol.KeyCACertificate] != caA || d.appB[drprotocol.KeyCACertificate] != caB {
		t.Errorf("a's CA not shared, or a bucket's ca-certificate is not its cluster's")
	}
	if up := ub.s.conf.Upstream; up == nil || !up.Remote {
		t.Errorf("b's upstream is not verified with the other cluster's CA: %+v", up)
	}
	if got := string(ub.s.tlsFiles[postgres.RemoteCAFile]); got != caA {
		t.Errorf("b's remote-ca.crt is not a's CA:\n%s", got)
	}
	if got := string(ub.s.tlsFiles[postgres.CAFile]); got != caB {
		t.Errorf("b's ca.crt is not its own CA:\n%s", got)
	}
	if ca, err := ub.s.trust(ua.s.addr); err != nil || string(ca) != caA {
		t.Errorf("b's connections to a's primary trust %q (%v), want a's CA", ca, err)
	}
	if ca, err := ua.s.trust(ub.s.addr); err != nil || string(ca) != caB {
		t.Errorf("a's connections to b's leader trust %q (%v), want b's CA", ca, err)
	}
	if !ua.s.slots["dr_pg_0"] || !ub.s.inRecovery {
		t.Errorf("slot on a %v, b in recovery %v", ua.s.slots, ub.s.inRecovery)
	}
	wantStatus(t, ub, "active", "Standby")
	if ub.f.AppStatus.Message != "Standby" || ua.f.AppStatus.Message != "Primary" {
		t.Errorf("app statuses a %+v b %+v", ua.f.AppStatus, ub.f.AppStatus)
	}
	wantStatus(t, ua, "active", "Primary")
	// a shares replication and rewind only; b copies them and keeps its own operator and
	// monitoring passwords (get-password on b says whose they are).
	for _, user := range SystemUsers {
		shared := slices.Contains(SharedUsers, user)
		if _, ok := sec.Content[user+"-password"]; ok != shared {
			t.Errorf("the shared secret has %s's password: %v, want %v", user, ok, shared)
		}
		if got := d.b.secrets[d.b.app["secret-id"]].Content[user+"-password"]; (got == d.a.secrets[d.a.app["secret-id"]].Content[user+"-password"]) != shared {
			t.Errorf("b's %s password is a's: %v, want %v", user, !shared, shared)
		}
	}
	gp := d.action("b", "pg/0", "get-password", map[string]any{"username": "operator"})
	if gp.f.Results["password"] != d.b.secrets[d.b.app["secret-id"]].Content["operator-password"] || !strings.Contains(gp.f.Results["message"], "this cluster's own") {
		t.Errorf("get-password on b = %v, want b's own with a message saying so", gp.f.Results)
	}
	gp = d.action("b", "pg/0", "get-password", map[string]any{"username": "replication"})
	if gp.f.Results["password"] != sec.Content["replication-password"] || !strings.Contains(gp.f.Results["message"], "shares") {
		t.Errorf("get-password replication on b = %v, want a's, shared", gp.f.Results)
	}
	// Idempotent: no re-seed on later hooks.
	before := len(ub.s.calls)
	d.mustRun("b", "pg/0", "update-status")
	if slices.Contains(ub.s.calls[before:], "BaseBackup"+ua.s.addr) || slices.Contains(ub.s.calls[before:], "Stop") {
		t.Errorf("update-status on b: %v", ub.s.calls[before:])
	}
	wantStatus(t, ub, "active", "Standby")
}

func TestStandbyClusterScalesByCascading(t *testing.T) {
	d := replicating(t)
	ub := d.b.units["pg/0"]
	n := d.addUnit("b", "pg/1")
	d.mustRun("b", "pg/0", "database-peers-relation-joined")
	u := d.mustRun("b", "pg/1", "database-peers-relation-joined")
	wantStatus(t, u, "active", "Replica")
	if up := n.s.conf.Upstream; up == nil || up.Host != ub.s.addr || up.Slot != "pg_1" {
		t.Errorf("b/1 upstream %+v, want the standby leader %s through slot pg_1", n.s.conf.Upstream, ub.s.addr)
	}
	if !ub.s.slots["pg_1"] || ub.s.slots[""] {
		t.Errorf("slots on the standby leader %v, want pg_1", ub.s.slots)
	}
	// The primary cluster admits the new remote unit.
	d.mustRun("b", "pg/1", "replication-relation-created")
	d.mustRun("a", "pg/0", "replication-offer-relation-joined")
	if !strings.Contains(fmt.Sprint(d.a.units["pg/0"].s.hba), n.s.addr+"/32") {
		t.Errorf("a's hba lacks b/1: %v", d.a.units["pg/0"].s.hba)
	}
}

func TestPlannedSwitchoverThereAndBack(t *testing.T) {
	d := replicating(t)
	ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
	for round, dir := range []struct{ to, from string }{{"b", "a"}, {"a", "b"}, {"b", "a"}} {
		to, from := d.b.units["pg/0"], d.a.units["pg/0"]
		if dir.to == "a" {
			to, from = ua, ub
		}
		from.s.received, to.s.replayed, to.s.received = postgres.LSN(1000*(round+1)), postgres.LSN(1000*(round+1)+1), postgres.LSN(1000*(round+1)+1)
		u := d.action(dir.to, "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"})
		if u.f.IsFailed || u.f.Results["request-id"] == "" {
			t.Fatalf("round %d: promote failed=%v %q results %v", round, u.f.IsFailed, u.f.Failed, u.f.Results)
		}
		if slices.Contains(to.s.calls, "Promote") && round == 0 {
			t.Fatal("promoted before the primary cluster shut down")
		}
		beforeFrom := len(from.s.calls)
		d.mustRun(dir.from, "pg/0", changedHook(dir.from))
		if from.s.running || !from.s.cleanStopped {
			t.Fatalf("round %d: old primary running=%v clean=%v", round, from.s.running, from.s.cleanStopped)
		}
		beforeTo := len(to.s.calls)
		d.mustRun(dir.to, "pg/0", changedHook(dir.to))
		if !slices.Contains(to.s.calls[beforeTo:], "Promote") || to.s.inRecovery {
			t.Fatalf("round %d: new primary not promoted: %v", round, to.s.calls[beforeTo:])
		}
		wantStatus(t, to, "active", "Primary")
		d.mustRun(dir.from, "pg/0", changedHook(dir.from))
		wantStatus(t, from, "active", "Standby")
		calls := from.s.calls[beforeFrom:]
		if slices.Contains(calls, "BaseBackup"+to.s.addr) || slices.Contains(calls, "Rewind"+to.s.addr) {
			t.Errorf("round %d: old primary re-cloned or rewound: %v", round, calls)
		}
		if up := from.s.conf.Upstream; up == nil || up.Host != to.s.addr || !from.s.inRecovery {
			t.Errorf("round %d: old primary upstream %+v in recovery %v", round, from.s.conf.Upstream, from.s.inRecovery)
		}
		toApp, fromApp := d.appA, d.appB
		if dir.to == "b" {
			toApp, fromApp = d.appB, d.appA
		}
		if toApp[drprotocol.KeyRole] != "primary" || fromApp[drprotocol.KeyRole] != "standby" {
			t.Errorf("round %d: roles %v / %v", round, toApp, fromApp)
		}
	}
	if d.appB[drprotocol.KeyEpoch] != "4" {
		t.Errorf("epoch after three switchovers = %s, want 4", d.appB[drprotocol.KeyEpoch])
	}
}

func TestSwitchoverWaitsForReplayAndRollsBack(t *testing.T) {
	d := replicating(t)
	ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
	ua.s.received, ub.s.replayed = 5000, 100
	d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"})
	d.mustRun("a", "pg/0", "replication-offer-relation-changed")
	u := d.mustRun("b", "pg/0", "replication-relation-changed")
	if slices.Contains(ub.s.calls, "Promote") {
		t.Fatal("promoted short of the demotion token's checkpoint")
	}
	wantStatus(t, u, "waiting", "switchover")
	// Past its bound the primary cluster withdraws its token, and rolls back once the standby
	// cluster's promotion bound has passed too; the standby stays a standby.
	d.a.elapsed += 2 * 60e9
	d.mustRun("a", "pg/0", "update-status")
	if ua.s.running || d.appA[drprotocol.KeyDemotion] != "" {
		t.Fatalf("a at its bound: running %v bucket %v", ua.s.running, d.appA)
	}
	d.a.elapsed += 2 * 60e9
	d.mustRun("a", "pg/0", "update-status")
	wantStatus(t, ua, "active", "Primary")
	if !ua.s.running || ua.s.inRecovery || d.appA[drprotocol.KeyEpoch] != "3" {
		t.Fatalf("a after rollback: running %v recovery %v bucket %v", ua.s.running, ua.s.inRecovery, d.appA)
	}
	d.mustRun("b", "pg/0", "replication-relation-changed")
	if slices.Contains(ub.s.calls, "Promote") || d.appB[drprotocol.KeySwitchover] != "" {
		t.Errorf("b after rollback: calls %v bucket %v", ub.s.calls, d.appB)
	}
	wantStatus(t, ub, "active", "Standby")
}

func TestForcedFailoverThenOldPrimaryFencesAndFollows(t *testing.T) {
	d := replicating(t)
	ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
	ub.s.received, ub.s.replayed = 900, 800
	ua.s.running = false               // a's pod is gone
	d.a.app[keyPinnedPrimary] = "pg/0" // an operator's earlier promote-to-primary scope=unit
	u := d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"})
	if !u.f.IsFailed || !strings.Contains(u.f.Failed, "force=true") {
		t.Fatalf("promote without force on an unreachable primary: failed=%v %q", u.f.IsFailed, u.f.Failed)
	}
	u = d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster", "force": true})
	if u.f.IsFailed {
		t.Fatalf("forced promote failed: %s", u.f.Failed)
	}
	if u.f.Results["received-lsn"] != "0/384" || u.f.Results["replayed-lsn"] != "0/320" || u.f.Results["unreplayed-bytes"] != "100" {
		t.Errorf("RPO report %v", u.f.Results)
	}
	if ub.s.inRecovery || d.appB[drprotocol.KeyRole] != "primary" || d.appB[drprotocol.KeyEpoch] != "2" {
		t.Fatalf("b not primary: recovery %v bucket %v", ub.s.inRecovery, d.appB)
	}
	d.mustRun("b", "pg/0", "update-status")
	wantStatus(t, ub, "active", "Primary")
	// a returns writable (its pod restarted): it fences at once, rewinds and follows b.
	ua.s.running, ua.s.cleanStopped = true, false
	ua.s.received = 5000 // it wrote past the point b promoted at
	before := len(ua.s.calls)
	d.mustRun("a", "pg/0", "upgrade-charm")
	calls := ua.s.calls[before:]
	if len(calls) == 0 || calls[0] != "Stop" || !slices.Contains(calls, "Rewind"+ub.s.addr) || !slices.Contains(calls, "FollowPrimary"+ub.s.addr) {
		t.Errorf("returning old primary calls %v", calls)
	}
	wantStatus(t, ua, "active", "Standby")
	if d.appA[drprotocol.KeyRole] != "standby" {
		t.Errorf("a's bucket %v", d.appA)
	}
	// Its pinned primary is gone: promoted again, its leader hands the primary off as usual.
	if pin := d.a.app[keyPinnedPrimary]; pin != "" {
		t.Errorf("a standby cluster keeps the pinned primary %q", pin)
	}
}

func TestDetachLeavesStandaloneReadOnlyUntilPromoted(t *testing.T) {
	d := replicating(t)
	ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
	d.mustRun("b", "pg/0", "replication-relation-broken")
	d.mustRun("a", "pg/0", "replication-offer-relation-broken")
	d.unrelate()
	u := d.mustRun("b", "pg/0", "update-status")
	wantStatus(t, u, "blocked", StandaloneMessage)
	if !ub.s.inRecovery || !ub.s.running {
		t.Errorf("standalone standby: running %v recovery %v", ub.s.running, ub.s.inRecovery)
	}
	d.mustRun("a", "pg/0", "update-status")
	wantStatus(t, ua, "active", "Primary")
	if strings.Contains(fmt.Sprint(ua.s.hba), ub.s.addr+"/32") {
		t.Errorf("a still admits b: %v", ua.s.hba)
	}
	u = d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"})
	if u.f.IsFailed || ub.s.inRecovery {
		t.Fatalf("promote standalone: failed %v %q recovery %v", u.f.IsFailed, u.f.Failed, ub.s.inRecovery)
	}
	d.mustRun("b", "pg/0", "update-status")
	wantStatus(t, ub, "active", "Primary")

	// Re-attach: create-replication re-seeds the other side.
	d.relate()
	d.mustRun("a", "pg/0", "replication-offer-relation-created")
	d.mustRun("b", "pg/0", "replication-relation-created")
	d.mustRun("a", "pg/0", "replication-offer-relation-changed") // b's unit-address: a admits it
	u = d.action("a", "pg/0", "create-replication", nil)
	if u.f.IsFailed {
		t.Fatalf("create-replication after re-attach: %s", u.f.Failed)
	}
	before := len(ub.s.calls)
	d.mustRun("b", "pg/0", "replication-relation-changed")
	if !slices.Contains(ub.s.calls[before:], "BaseBackup"+ua.s.addr) {
		t.Errorf("b not re-seeded: %v", ub.s.calls[before:])
	}
	wantStatus(t, ub, "active", "Standby")
}

func TestBadRemoteDataChangesNothing(t *testing.T) {
	tests := []struct {
		name  string
		key   string
		value string
		want  string
	}{
		{"malformed switchover JSON", drprotocol.KeySwitchover, `{"epoch":`, "malformed JSON"},
		{"non-numeric epoch", drprotocol.KeyEpoch, "ten", "not a non-negative integer"},
		{"endpoint not host:port", drprotocol.KeyPrimaryEndpoint, "10.0.0.1", "not host:port"},
		{"SQL in the endpoint", drprotocol.KeyPrimaryEndpoint, "x';DROP TABLE t;--:5432", "no valid host"},
		{"unknown role", drprotocol.KeyRole, "boss", "unknown role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := replicating(t)
			for _, s := range []string{"a", "b"} {
				w := d.a
				if s == "b" {
					w = d.b
				}
				u := w.units["pg/0"]
				before := slices.Clone(u.s.calls)
				bucket := maps.Clone(d.appA)
				if s == "a" {
					bucket = maps.Clone(d.appB)
				}
				bucket[tt.key] = tt.value
				if s == "a" {
					d.appB = bucket
				} else {
					d.appA = bucket
				}
				mine := maps.Clone(d.appA)
				if s == "b" {
					mine = maps.Clone(d.appB)
				}
				wasRunning, wasRecovery := u.s.running, u.s.inRecovery
				d.mustRun(s, "pg/0", changedHook(s))
				// The app status says what is wrong on both sides; so does a standby's unit.
				if st := u.f.AppStatus; st.Status != "waiting" || !strings.HasPrefix(st.Message, "replication paused, the other cluster's data is invalid") ||
					!strings.Contains(st.Message, tt.want) {
					t.Errorf("%s app status %+v does not say %q", s, st, tt.want)
				}
				if s == "b" {
					wantStatus(t, u, "waiting", "replication paused, the other cluster's data is invalid")
				}
				if !slices.Equal(before, u.s.calls) || u.s.running != wasRunning || u.s.inRecovery != wasRecovery {
					t.Errorf("%s's workload touched: %v", s, u.s.calls[len(before):])
				}
				got := d.appA
				if s == "b" {
					got = d.appB
				}
				if !maps.Equal(got, mine) {
					t.Errorf("%s republished %v, was %v", s, got, mine)
				}
			}
		})
	}
}

func TestUnreadableSecretWaits(t *testing.T) {
	d := bootstrapDR(t)
	d.action("a", "pg/0", "create-replication", nil)
	// The grant did not reach the other model: b cannot read the secret.
	for _, sec := range d.a.secrets {
		sec.Grants = nil
	}
	ub := d.b.units["pg/0"]
	before := len(ub.s.calls)
	u := d.mustRun("b", "pg/0", "replication-relation-changed")
	wantStatus(t, u, "waiting", "cannot read the other cluster's replication secret")
	if len(ub.s.calls) != before || !ub.s.running || ub.s.inRecovery {
		t.Errorf("b touched: %v", ub.s.calls[before:])
	}
}

func TestSharedPasswordWithLineBreakWaits(t *testing.T) {
	d := bootstrapDR(t)
	d.action("a", "pg/0", "create-replication", nil)
	// The other model is untrusted: a line break would add entries to the passfile.
	for _, sec := range d.a.secrets {
		if _, ok := sec.Content["replication-password"]; ok {
			sec.Content["replication-password"] = "pw\n*:*:*:operator:x"
		}
	}
	ub := d.b.units["pg/0"]
	before := len(ub.s.calls)
	u := d.mustRun("b", "pg/0", "replication-relation-changed")
	wantStatus(t, u, "waiting", "the other cluster's replication secret")
	if !strings.HasSuffix(u.f.UnitStatus.Message, "has an invalid replication-password") {
		t.Errorf("status %q", u.f.UnitStatus.Message)
	}
	if len(ub.s.calls) != before || !ub.s.running || ub.s.inRecovery {
		t.Errorf("b touched: %v", ub.s.calls[before:])
	}
}

func TestActionFailures(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T) *drWorld
		side   string
		unit   string
		action string
		params map[string]any
		want   string
	}{
		{"create without relation", func(t *testing.T) *drWorld {
			d := newDRWorld(t, 1, 1)
			d.mustRun("a", "pg/0", "leader-elected")
			d.mustRun("a", "pg/0", "postgresql-pebble-ready")
			return d
		}, "a", "pg/0", "create-replication", nil, "no replication relation"},
		{"create twice", replicating, "a", "pg/0", "create-replication", nil, "already the primary cluster"},
		{"create with SQL in the name", bootstrapDR, "a", "pg/0", "create-replication", map[string]any{"name": "x'); DROP TABLE t; --"}, "name must be"},
		{"create on a non-leader", func(t *testing.T) *drWorld {
			d := bootstrapDR(t)
			d.addUnit("a", "pg/1")
			return d
		}, "a", "pg/1", "create-replication", nil, "must run on the leader"},
		{"promote on the primary cluster", replicating, "a", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"}, "already the primary cluster"},
		{"promote without relation", func(t *testing.T) *drWorld {
			d := newDRWorld(t, 1, 1)
			d.mustRun("b", "pg/0", "leader-elected")
			d.mustRun("b", "pg/0", "postgresql-pebble-ready")
			return d
		}, "b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"}, "no replication relation"},
		{"promote before create-replication", bootstrapDR, "b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"}, "not a standby"},
		{"promote from a non-leader", func(t *testing.T) *drWorld {
			d := replicating(t)
			d.addUnit("b", "pg/1")
			return d
		}, "b", "pg/1", "promote-to-primary", map[string]any{"scope": "cluster"}, "must run on the leader"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.setup(t)
			params := tt.params
			if params == nil {
				params = map[string]any{}
			}
			u := d.action(tt.side, tt.unit, tt.action, params)
			if !u.f.IsFailed || !strings.Contains(u.f.Failed, tt.want) {
				t.Fatalf("%s: failed=%v %q, want a failure saying %q", tt.action, u.f.IsFailed, u.f.Failed, tt.want)
			}
		})
	}
}

func TestNoUnitPromotionInsideAStandbyCluster(t *testing.T) {
	d := replicating(t)
	d.addUnit("b", "pg/1")
	d.mustRun("b", "pg/1", "database-peers-relation-joined")
	u := d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "unit", "unit": "pg/1"})
	if !u.f.IsFailed || !strings.Contains(u.f.Failed, "scope=cluster") {
		t.Fatalf("scope=unit in a standby cluster: failed=%v %q", u.f.IsFailed, u.f.Failed)
	}
	if d.b.app["switchover"] != "" || slices.Contains(d.b.units["pg/1"].s.calls, "Promote") {
		t.Errorf("in-cluster switchover started: %v", d.b.app)
	}
}

func TestPlannedSwitchoverRefusedWhenTooFarBehind(t *testing.T) {
	d := replicating(t)
	ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
	ub.s.replayed, ub.s.received = 100, 100
	// The fake primary reports its current position as Received; put it far ahead.
	ua.s.received = 100 + MaxSwitchoverLag + 1
	d.b.open = func(unit, addr string) func(ctx context.Context, _ string) (Workload, error) {
		return func(ctx context.Context, _ string) (Workload, error) {
			wl, err := d.b.fc.open(addr)(ctx, addr)
			if err != nil {
				return nil, err
			}
			return &fakeCurrent{Workload: drWorkload{wl.(*fakeWorkload)}}, nil
		}
	}
	u := d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"})
	if !u.f.IsFailed || !strings.Contains(u.f.Failed, "MiB behind") {
		t.Fatalf("promote while far behind: failed=%v %q", u.f.IsFailed, u.f.Failed)
	}
	if d.appB[drprotocol.KeySwitchover] != "" {
		t.Errorf("switchover requested anyway: %v", d.appB)
	}
}

// fakeCurrent makes a primary's Positions report Current (the fake leaves it zero).
type fakeCurrent struct{ Workload }

func (f *fakeCurrent) Connect(ctx context.Context, host string, l postgres.Login) (DB, error) {
	db, err := f.Workload.Connect(ctx, host, l)
	if err != nil {
		return nil, err
	}
	return currentDB{db}, nil
}

type currentDB struct{ DB }

func (d currentDB) Positions(ctx context.Context) (postgres.Positions, error) {
	p, err := d.DB.Positions(ctx)
	if !p.InRecovery {
		p.Current = p.Received
	}
	return p, err
}

func TestStandaloneHeadStartsReadOnlyAfterRestart(t *testing.T) {
	d := replicating(t)
	ub := d.b.units["pg/0"]
	d.mustRun("b", "pg/0", "replication-relation-broken")
	d.unrelate()
	d.mustRun("b", "pg/0", "update-status")
	// The pod restarts: the server is down and the old primary cluster is gone.
	ub.s.running, ub.s.inRecovery = false, false
	d.a.units["pg/0"].s.running = false
	u := d.mustRun("b", "pg/0", "postgresql-pebble-ready")
	wantStatus(t, u, "blocked", StandaloneMessage)
	if !ub.s.running || !ub.s.inRecovery {
		t.Errorf("standalone head after restart: running %v in recovery %v", ub.s.running, ub.s.inRecovery)
	}
}

func TestSwitchoverLeavesNoCrossClusterSlotOnTheNewStandby(t *testing.T) {
	d := replicating(t)
	ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
	ua.s.received, ub.s.replayed = 10, 11
	d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"})
	d.mustRun("a", "pg/0", changedHook("a"))
	d.mustRun("b", "pg/0", changedHook("b"))
	d.mustRun("a", "pg/0", changedHook("a"))
	d.mustRun("a", "pg/0", "update-status")
	if ua.s.slots["dr_pg_0"] {
		t.Errorf("a (now standby) keeps the slot it served b from: %v", ua.s.slots)
	}
	if !ub.s.slots["dr_pg_0"] {
		t.Errorf("b (now primary) has no slot for a: %v", ub.s.slots)
	}
}

// TestSetPasswordReachesTheStandbyCluster: a shared user's new password reaches the standby
// cluster; operator's and monitoring's stay in the primary cluster.
func TestSetPasswordReachesTheStandbyCluster(t *testing.T) {
	d := replicating(t)
	for user, pw := range map[string]string{"replication": "New-Replication-Pw-1", "monitoring": "New-Monitoring-Pw-1"} {
		if u := d.action("a", "pg/0", "set-password", map[string]any{"username": user, "password": pw}); u.f.IsFailed {
			t.Fatalf("set-password %s: %s", user, u.f.Failed)
		}
	}
	d.mustRun("a", "pg/0", "update-status")
	d.mustRun("b", "pg/0", "update-status")
	if gp := d.action("b", "pg/0", "get-password", map[string]any{"username": "replication"}); gp.f.Results["password"] != "New-Replication-Pw-1" {
		t.Errorf("get-password replication on the standby cluster = %q", gp.f.Results["password"])
	}
	if gp := d.action("b", "pg/0", "get-password", map[string]any{"username": "monitoring"}); gp.f.Results["password"] == "New-Monitoring-Pw-1" {
		t.Error("the primary cluster's monitoring password reached the standby cluster")
	}
	for k := range d.a.secrets[d.appA[drprotocol.KeySecretID]].Content {
		if k == "operator-password" || k == "monitoring-password" {
			t.Errorf("the shared secret holds %s", k)
		}
	}
}

func TestPrimaryDropsStaleCrossClusterSlots(t *testing.T) {
	d := replicating(t)
	ua := d.a.units["pg/0"]
	if d.appB[drprotocol.KeySlot] != "dr_pg_0" {
		t.Fatalf("b does not name its standby leader's slot: %v", d.appB)
	}
	d.a.open = func(unit, addr string) func(ctx context.Context, _ string) (Workload, error) {
		return func(ctx context.Context, _ string) (Workload, error) {
			wl, err := d.a.fc.open(addr)(ctx, addr)
			if err != nil {
				return nil, err
			}
			return &fakeCurrent{Workload: drWorkload{wl.(*fakeWorkload)}}, nil
		}
	}
	// A slot of a former standby leader, far behind, and the current one (as far behind:
	// disconnected, but still named by the standby cluster).
	ua.s.slots["dr_pg_9"] = true
	ua.s.received = StaleSlotLag + 1
	d.mustRun("a", "pg/0", "update-status")
	if ua.s.slots["dr_pg_9"] || !ua.s.slots["dr_pg_0"] {
		t.Errorf("slots on the primary %v: want the stale dr_pg_9 dropped, dr_pg_0 kept", ua.s.slots)
	}
}

func TestRelationRemovedDuringSwitchover(t *testing.T) {
	tests := []struct {
		name          string
		publishToken  bool // a's head shut down and published its token before the removal
		wantStatus    string
		wantMsg       string
		wantRecovery  bool
		wantAppStatus string
	}{
		{"before the handover: stays primary", false, "active", "Primary", false, "Primary"},
		// Read-only with nothing to follow, until promoted.
		{"after the token: read-only", true, "blocked", StandaloneMessage, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := replicating(t)
			ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
			ua.s.received, ub.s.replayed = 10, 11
			d.action("b", "pg/0", "promote-to-primary", map[string]any{"scope": "cluster"})
			if tt.publishToken {
				d.mustRun("a", "pg/0", changedHook("a"))
				if ua.s.running {
					t.Fatal("a did not shut down")
				}
			} else {
				// a's leader saw the request but its head has not stopped yet.
				d.a.app[keyMode] = string(modeDemoting)
				d.a.app[keySwitch] = (&drSwitch{ID: "x", Epoch: 2, Since: 1_700_000_000}).encode()
				ua.s.running = true
			}
			d.mustRun("a", "pg/0", "replication-offer-relation-broken")
			d.unrelate()
			u := d.mustRun("a", "pg/0", "update-status")
			wantStatus(t, u, tt.wantStatus, tt.wantMsg)
			if !ua.s.running || ua.s.inRecovery != tt.wantRecovery {
				t.Errorf("a running %v in recovery %v, want recovery %v", ua.s.running, ua.s.inRecovery, tt.wantRecovery)
			}
			if tt.wantAppStatus != "" && u.f.AppStatus.Message != tt.wantAppStatus {
				t.Errorf("app status %+v", u.f.AppStatus)
			}
		})
	}
}

// histWorkload serves timeline histories from a table (the fake's are too simple to fork).
type histWorkload struct {
	Workload
	hist         map[string]map[int][]postgres.HistoryEntry // by server address, then timeline
	noCheckpoint bool                                       // CHECKPOINT fails (a server shutting down)
}

func (h histWorkload) Connect(ctx context.Context, host string, l postgres.Login) (DB, error) {
	db, err := h.Workload.Connect(ctx, host, l)
	if err != nil {
		return nil, err
	}
	return histDB{db, h.hist[host], h.noCheckpoint}, nil
}

type histDB struct {
	DB
	hist         map[int][]postgres.HistoryEntry
	noCheckpoint bool
}

func (d histDB) Checkpoint(ctx context.Context) error {
	if d.noCheckpoint {
		return errors.New("FATAL: terminating connection due to administrator command (SQLSTATE 57P01)")
	}
	return d.DB.Checkpoint(ctx)
}

func (d histDB) TimelineHistory(_ context.Context, tli int) ([]postgres.HistoryEntry, error) {
	if tli <= 1 {
		return nil, nil
	}
	h, ok := d.hist[tli]
	if !ok {
		return nil, fmt.Errorf("timeline %d: %w", tli, postgres.ErrNoHistory)
	}
	if h == nil {
		return nil, fmt.Errorf("timeline %d: terminating connection due to administrator command", tli)
	}
	return h, nil
}

func TestStandbyLeaderAheadOfAFailedOverPrimaryRewinds(t *testing.T) {
	type H = []postgres.HistoryEntry
	tests := []struct {
		name       string
		standby    map[int][]postgres.HistoryEntry // the standby leader's history files
		standbyTLI int
		standbyLSN postgres.LSN
		primary    map[int][]postgres.HistoryEntry
		primaryTLI int
		wantRewind bool
		// noCheckpoint: the primary cannot checkpoint (it is shutting down for a switchover
		// back): the standby leader keeps running and rewinds in a later hook.
		noCheckpoint bool
	}{
		{"the primary's history continues ours", map[int]H{3: {{TLI: 1, SwitchLSN: 100}, {TLI: 2, SwitchLSN: 200}}}, 3, 300,
			map[int]H{3: {{TLI: 1, SwitchLSN: 100}, {TLI: 2, SwitchLSN: 200}}, 4: {{TLI: 1, SwitchLSN: 100}, {TLI: 2, SwitchLSN: 200}, {TLI: 3, SwitchLSN: 350}}}, 4, false, false},
		{"the primary forked off behind us", map[int]H{3: {{TLI: 1, SwitchLSN: 100}, {TLI: 2, SwitchLSN: 200}}}, 3, 300,
			map[int]H{3: {{TLI: 1, SwitchLSN: 100}, {TLI: 2, SwitchLSN: 200}}, 4: {{TLI: 1, SwitchLSN: 100}, {TLI: 2, SwitchLSN: 200}, {TLI: 3, SwitchLSN: 250}}}, 4, true, false},
		{"same timeline id, another history", map[int]H{2: {{TLI: 1, SwitchLSN: 100}}, 3: {{TLI: 1, SwitchLSN: 100}, {TLI: 2, SwitchLSN: 200}}}, 3, 300,
			map[int]H{2: {{TLI: 1, SwitchLSN: 100}}, 3: {{TLI: 1, SwitchLSN: 100}, {TLI: 2, SwitchLSN: 150}}}, 3, true, false},
		{"the primary is on an older timeline", map[int]H{2: {{TLI: 1, SwitchLSN: 100}}, 3: {{TLI: 1, SwitchLSN: 100}, {TLI: 2, SwitchLSN: 200}}}, 3, 300,
			map[int]H{2: {{TLI: 1, SwitchLSN: 100}}}, 2, true, false},
		// A nil entry: the history read fails (the primary shutting down, as in a switchover
		// back): that is no fork, and nothing is rewound on it.
		{"the primary's history cannot be read", map[int]H{3: {{TLI: 1, SwitchLSN: 100}, {TLI: 2, SwitchLSN: 200}}}, 3, 300,
			map[int]H{3: nil}, 3, false, false},
		{"a later history of the primary cannot be read", map[int]H{3: {{TLI: 1, SwitchLSN: 100}, {TLI: 2, SwitchLSN: 200}}}, 3, 300,
			map[int]H{3: {{TLI: 1, SwitchLSN: 100}, {TLI: 2, SwitchLSN: 200}}, 4: nil}, 3, false, false},
		{"forked, and the primary cannot checkpoint", map[int]H{3: {{TLI: 1, SwitchLSN: 100}, {TLI: 2, SwitchLSN: 200}}}, 3, 300,
			map[int]H{3: {{TLI: 1, SwitchLSN: 100}, {TLI: 2, SwitchLSN: 200}}, 4: {{TLI: 1, SwitchLSN: 100}, {TLI: 2, SwitchLSN: 200}, {TLI: 3, SwitchLSN: 250}}}, 4, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := replicating(t)
			ua, ub := d.a.units["pg/0"], d.b.units["pg/0"]
			ua.s.timeline, ub.s.timeline = tt.primaryTLI, tt.standbyTLI
			ub.s.received, ub.s.replayed = tt.standbyLSN, tt.standbyLSN
			hist := map[string]map[int][]postgres.HistoryEntry{ua.s.addr: tt.primary, ub.s.addr: tt.standby}
			d.b.open = func(unit, addr string) func(ctx context.Context, _ string) (Workload, error) {
				return func(ctx context.Context, _ string) (Workload, error) {
					wl, err := d.b.fc.open(addr)(ctx, addr)
					if err != nil {
						return nil, err
					}
					return histWorkload{drWorkload{wl.(*fakeWorkload)}, hist, tt.noCheckpoint}, nil
				}
			}
			before := len(ub.s.calls)
			u := d.mustRun("b", "pg/0", "update-status")
			calls := ub.s.calls[before:]
			if got := slices.Contains(calls, "Rewind"+ua.s.addr); got != tt.wantRewind {
				t.Fatalf("rewind = %v, want %v (calls %v)", got, tt.wantRewind, calls)
			}
			wantStatus(t, u, "active", "Standby")
			if !ub.s.running || !ub.s.inRecovery {
				t.Errorf("standby leader running %v in recovery %v", ub.s.running, ub.s.inRecovery)
			}
		})
	}
}
