package charm

import (
	"context"
	"encoding/json"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/hookenv"
	"github.com/jujulet/postgresql-k8s/internal/hookenv/hookenvtest"
	"github.com/jujulet/postgresql-k8s/internal/pki"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

func TestParseClientRequest(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      map[string]string
		want    clientRequest
		wantErr string // "" ok; errNoRequest when "none"
	}{
		{name: "minimal", in: map[string]string{"database": "app"}, want: clientRequest{Database: "app", Secrets: map[string]bool{}}},
		{name: "library request with secrets and roles", in: map[string]string{"database": "my-app_1", "extra-user-roles": "CREATEDB, pg_monitor,createdb",
			"requested-secrets": `["username","password","tls","tls-ca","uris","read-only-uris"]`, "data": `{"x":"y"}`},
			want: clientRequest{Database: "my-app_1", Attributes: []string{"CREATEDB"}, Roles: []string{"pg_monitor"},
				Secrets: map[string]bool{"username": true, "password": true, "tls": true, "tls-ca": true, "uris": true, "read-only-uris": true}}},
		{name: "nothing asked", in: map[string]string{"extra-user-roles": "createdb"}, wantErr: "none"},
		{name: "empty name", in: map[string]string{"database": ""}, wantErr: "none"},
		{name: "reserved postgres", in: map[string]string{"database": "postgres"}, wantErr: `database "postgres" is reserved`},
		{name: "reserved template1", in: map[string]string{"database": "template1"}, wantErr: "reserved"},
		{name: "reserved template0", in: map[string]string{"database": "template0"}, wantErr: "reserved"},
		{name: "quote", in: map[string]string{"database": `a"b`}, wantErr: "not a valid identifier"},
		{name: "sql", in: map[string]string{"database": "x; DROP DATABASE postgres; --"}, wantErr: "not a valid identifier"},
		{name: "leading digit", in: map[string]string{"database": "1app"}, wantErr: "not a valid identifier"},
		{name: "too long", in: map[string]string{"database": strings.Repeat("a", 64)}, wantErr: "not a valid identifier"},
		{name: "superuser", in: map[string]string{"database": "app", "extra-user-roles": "SUPERUSER"}, wantErr: "extra-user-roles not allowed: superuser"},
		{name: "unknown roles named", in: map[string]string{"database": "app", "extra-user-roles": "createdb,replication,charmed_admin"},
			wantErr: "extra-user-roles not allowed: replication, charmed_admin"},
		{name: "bad requested-secrets", in: map[string]string{"database": "app", "requested-secrets": "username"}, wantErr: "requested-secrets is not a JSON list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseClientRequest(tc.in)
			switch {
			case tc.wantErr == "none":
				if err != errNoRequest {
					t.Fatalf("err = %v, want errNoRequest", err)
				}
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			default:
				if got.Database != tc.want.Database || !slices.Equal(got.Attributes, tc.want.Attributes) ||
					!slices.Equal(got.Roles, tc.want.Roles) || !maps.Equal(got.Secrets, tc.want.Secrets) {
					t.Fatalf("got %+v, want %+v", got, tc.want)
				}
			}
		})
	}
}

// clientState is a three-unit cluster seen from the leader pg/0, pg/1 being the primary.
func clientState(leader bool) *State {
	return &State{
		Unit: "pg/0", App: "pg", Leader: leader, Address: "127.0.0.10",
		PeerRelID: peerRel, Peers: []string{"pg/1", "pg/2"},
		PeerData: map[string]map[string]string{"pg/1": {"address": "127.0.0.11"}, "pg/2": {"address": "127.0.0.12"}},
		AppData:  map[string]string{"primary": "pg/1"}, MyData: map[string]string{},
		Passwords: map[string]string{"operator": "op"},
		appWrites: map[string]string{}, myWrites: map[string]string{}, localWrites: map[string]string{},
		statuses: []statusWrite{{status: "active", message: "Replica"}},
	}
}

func TestClientHBA(t *testing.T) {
	st := clientState(false)
	st.clients = []clientRel{
		{ID: "database:3", Num: 3, Request: map[string]string{"database": "all"}, Addrs: []string{"127.0.0.20", "127.0.0.21"}},
		{ID: "database:4", Num: 4, Request: map[string]string{"database": "postgres"}, Addrs: []string{"10.0.0.1"}},
		{ID: "database:5", Num: 5, Request: map[string]string{}, Addrs: []string{"10.0.0.2"}},
		{ID: "database:6", Num: 6, Request: map[string]string{"database": "b"}, Addrs: []string{"10.1.2.3", "fd00::1"}},
	}
	c := &Charm{}
	var got []string
	for _, r := range c.hbaRules(st) {
		if strings.HasPrefix(r.User, clientUserPrefix) {
			got = append(got, strings.Join([]string{r.Type, r.Database, r.User, r.Address, r.Method}, " "))
		}
	}
	want := []string{
		`hostssl "all" relation_id_3 127.0.0.20/32 scram-sha-256`,
		`hostssl "all" relation_id_3 127.0.0.21/32 scram-sha-256`,
		`hostssl "all" relation_id_3 127.0.0.1/32 scram-sha-256`,
		`hostssl "b" relation_id_6 10.1.2.3/32 scram-sha-256`,
		`hostssl "b" relation_id_6 fd00::1/128 scram-sha-256`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("client rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// fakeAdmin is SQL on the primary as serveClients sees it.
type fakeAdmin struct {
	recovery bool
	users    map[string]postgres.ClientUser
	dbs      map[string]bool
	dropped  []string
	ensured  int
}

func newFakeAdmin() *fakeAdmin {
	return &fakeAdmin{users: map[string]postgres.ClientUser{}, dbs: map[string]bool{}}
}

func (a *fakeAdmin) InRecovery(context.Context) (bool, error)      { return a.recovery, nil }
func (a *fakeAdmin) ServerVersion(context.Context) (string, error) { return "16.4", nil }
func (a *fakeAdmin) RolesWithPrefix(_ context.Context, _ string) ([]string, error) {
	return slices.Sorted(maps.Keys(a.users)), nil
}
func (a *fakeAdmin) EnsureClientUser(_ context.Context, u postgres.ClientUser, _ []string) error {
	a.ensured++
	a.users[u.Name] = u
	a.dbs[u.Database] = true
	return nil
}
func (a *fakeAdmin) DropClientUser(_ context.Context, user string) error {
	delete(a.users, user)
	a.dropped = append(a.dropped, user)
	return nil
}
func (a *fakeAdmin) HasClientUser(_ context.Context, user, password string) (bool, error) {
	u, ok := a.users[user]
	return ok && u.Password == password, nil
}
func (a *fakeAdmin) Close(context.Context) {}

type adminWorkload struct {
	Workload
	admin *fakeAdmin
}

func (w adminWorkload) OpenClientAdmin(context.Context, string, string, string) (ClientAdmin, error) {
	return w.admin, nil
}

var librarySecrets = `["username","password","tls","tls-ca","uris","read-only-uris"]`

// clientHook runs readClients and serveClients on the leader, as a hook would.
func clientHook(t *testing.T, f *hookenvtest.Fake, env hookenv.Env, st *State, a *fakeAdmin) error {
	t.Helper()
	env.ContainersDir = cmpOr(env.ContainersDir, "/c")
	c := &Charm{Env: env, Tools: f}
	if err := c.readClients(context.Background(), st); err != nil {
		return err
	}
	return c.serveClients(context.Background(), st, adminWorkload{admin: a})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func newClientFake() *hookenvtest.Fake {
	f := hookenvtest.NewFake("pg/0")
	f.Leader = true
	f.AddRelation(peerRel, "pg", "pg/1", "pg/2")
	return f
}

func addClient(f *hookenvtest.Fake, id, app string, request map[string]string, units map[string]string) {
	var names []string
	for u := range units {
		names = append(names, u)
	}
	slices.Sort(names)
	f.AddRelation(id, app, names...)
	maps.Copy(f.Bucket(id, app), request)
	for u, a := range units {
		f.Bucket(id, u)["ingress-address"] = a
	}
}

func TestServeClientsSecretPath(t *testing.T) {
	f := newClientFake()
	addClient(f, "database:7", "app", map[string]string{"database": "appdb", "requested-secrets": librarySecrets},
		map[string]string{"app/0": "127.0.0.30"})
	a := newFakeAdmin()
	st := clientState(true)
	if err := clientHook(t, f, hookenv.Env{}, st, a); err != nil {
		t.Fatal(err)
	}
	u, ok := a.users["relation_id_7"]
	if !ok || u.Database != "appdb" || len(u.Password) < 24 {
		t.Fatalf("user not created as asked: %+v", a.users)
	}
	mine := f.Bucket("database:7", "pg")
	for _, k := range []string{"username", "password", "uris", "read-only-uris"} {
		if _, ok := mine[k]; ok {
			t.Errorf("%s in the relation data although the requirer asked for it as a secret", k)
		}
	}
	if strings.Contains(strings.Join(slices.Collect(maps.Values(mine)), " "), u.Password) {
		t.Fatalf("password in relation data: %v", mine)
	}
	want := map[string]string{"database": "appdb", "endpoints": "127.0.0.11:5432,127.0.0.10:5432,127.0.0.12:5432",
		"read-only-endpoints": "127.0.0.10:5432,127.0.0.12:5432", "version": "16.4", "secret-user": mine["secret-user"]}
	if !maps.Equal(mine, want) {
		t.Fatalf("provider bucket:\n%v\nwant\n%v", mine, want)
	}
	s := f.Secrets[mine["secret-user"]]
	if s == nil || s.Label != "database.7.user.secret" || !slices.Contains(s.Grants, "database:7") {
		t.Fatalf("secret-user %q not a granted user secret: %+v", mine["secret-user"], s)
	}
	if s.Content["username"] != "relation_id_7" || s.Content["password"] != u.Password {
		t.Fatalf("secret content: %v", s.Content)
	}
	rw, err := url.Parse(s.Content["uris"])
	if err != nil {
		t.Fatal(err)
	}
	if rw.Host != "127.0.0.11:5432,127.0.0.10:5432,127.0.0.12:5432" || rw.Path != "/appdb" || rw.Query().Get("target_session_attrs") != "read-write" {
		t.Fatalf("uris: %s", s.Content["uris"])
	}
	if pw, _ := rw.User.Password(); pw != u.Password || rw.User.Username() != "relation_id_7" {
		t.Fatalf("uris credentials: %s", s.Content["uris"])
	}
	ro, _ := url.Parse(s.Content["read-only-uris"])
	if ro == nil || ro.Host != "127.0.0.10:5432,127.0.0.12:5432,127.0.0.11:5432" || ro.Query().Get("target_session_attrs") != "prefer-standby" {
		t.Fatalf("read-only-uris: %s", s.Content["read-only-uris"])
	}
	var rec map[string]clientGrant
	if err := json.Unmarshal([]byte(st.appWrites[keyClients]), &rec); err != nil || rec["7"].Database != "appdb" {
		t.Fatalf("clients record: %q (%v)", st.appWrites[keyClients], err)
	}

	// The next hook changes nothing: same password, no SQL, no new secret.
	st2 := clientState(true)
	st2.AppData[keyClients] = st.appWrites[keyClients]
	ensured, secrets := a.ensured, len(f.Secrets)
	if err := clientHook(t, f, hookenv.Env{}, st2, a); err != nil {
		t.Fatal(err)
	}
	if a.ensured != ensured || len(f.Secrets) != secrets || a.users["relation_id_7"].Password != u.Password {
		t.Fatalf("a quiet hook redid the work: ensured %d→%d, secrets %d→%d", ensured, a.ensured, secrets, len(f.Secrets))
	}

	// A replica goes: read-only endpoints and the URIs follow, in the secret too.
	st3 := clientState(true)
	st3.AppData[keyClients] = st.appWrites[keyClients]
	st3.Peers = []string{"pg/1"}
	if err := clientHook(t, f, hookenv.Env{}, st3, a); err != nil {
		t.Fatal(err)
	}
	if got := f.Bucket("database:7", "pg")["read-only-endpoints"]; got != "127.0.0.10:5432" {
		t.Fatalf("read-only-endpoints after scale-down: %q", got)
	}
	if got := f.Secrets[mine["secret-user"]].Content["uris"]; strings.Contains(got, "127.0.0.12") {
		t.Fatalf("uris still name the unit that left: %s", got)
	}
}

func TestServeClientsDatabagPath(t *testing.T) {
	f := newClientFake()
	addClient(f, "database:2", "legacy", map[string]string{"database": "legacy"}, map[string]string{"legacy/0": "10.0.0.5"})
	a := newFakeAdmin()
	st := clientState(true)
	st.Peers = []string{"pg/1"} // no replica but the leader: one read-only endpoint
	if err := clientHook(t, f, hookenv.Env{}, st, a); err != nil {
		t.Fatal(err)
	}
	mine := f.Bucket("database:2", "pg")
	if mine["username"] != "relation_id_2" || mine["password"] != a.users["relation_id_2"].Password || mine["secret-user"] != "" {
		t.Fatalf("old path: credentials not in the bucket: %v", mine)
	}
	if !strings.HasPrefix(mine["uris"], "postgresql://relation_id_2:") || len(f.Secrets) != 0 {
		t.Fatalf("old path: uris %q, secrets %d", mine["uris"], len(f.Secrets))
	}
}

func TestServeClientsKubernetesNames(t *testing.T) {
	f := newClientFake()
	addClient(f, "database:2", "app", map[string]string{"database": "d", "requested-secrets": librarySecrets}, map[string]string{"app/0": "10.0.0.5"})
	st := clientState(true)
	c := &Charm{Env: hookenv.Env{ModelName: "prod"}, Tools: f}
	if err := c.readClients(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	if err := c.serveClients(context.Background(), st, adminWorkload{admin: newFakeAdmin()}); err != nil {
		t.Fatal(err)
	}
	want := "pg-1.pg-endpoints.prod.svc.cluster.local:5432,pg-0.pg-endpoints.prod.svc.cluster.local:5432,pg-2.pg-endpoints.prod.svc.cluster.local:5432"
	if got := f.Bucket("database:2", "pg")["endpoints"]; got != want {
		t.Fatalf("endpoints %q, want %q", got, want)
	}
}

func TestServeClientsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name    string
		request map[string]string
		status  string
	}{
		{"reserved database", map[string]string{"database": "template1"}, `database:4 (app): database "template1" is reserved`},
		{"invalid identifier", map[string]string{"database": `x"; DROP ROLE operator; --`}, "not a valid identifier"},
		{"superuser", map[string]string{"database": "ok", "extra-user-roles": "superuser"}, "extra-user-roles not allowed: superuser"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newClientFake()
			addClient(f, "database:4", "app", tc.request, map[string]string{"app/0": "10.0.0.5"})
			a := newFakeAdmin()
			st := clientState(true)
			if err := clientHook(t, f, hookenv.Env{}, st, a); err != nil {
				t.Fatal(err)
			}
			if a.ensured != 0 || len(a.dbs) != 0 {
				t.Fatalf("bad request created something: %+v", a.users)
			}
			if len(f.Bucket("database:4", "pg")) != 0 || len(f.Secrets) != 0 {
				t.Fatalf("bad request answered: %v", f.Bucket("database:4", "pg"))
			}
			if s := st.statuses[0]; s.status != "blocked" || !strings.Contains(s.message, tc.status) || !strings.HasPrefix(s.message, "Replica; ") {
				t.Fatalf("status %+v, want blocked with %q", s, tc.status)
			}
			if len((&Charm{}).clientHBA(st)) != 0 {
				t.Fatalf("bad request admitted in pg_hba: %v", (&Charm{}).clientHBA(st))
			}
		})
	}
}

func TestServeClientsRevoke(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(f *hookenvtest.Fake) hookenv.Env
	}{
		{"request removed", func(f *hookenvtest.Fake) hookenv.Env {
			delete(f.Bucket("database:5", "app"), "database")
			return hookenv.Env{HookName: "database-relation-changed", RelationID: "database:5"}
		}},
		{"relation broken", func(*hookenvtest.Fake) hookenv.Env {
			return hookenv.Env{HookName: "database-relation-broken", RelationName: "database", RelationID: "database:5"}
		}},
		{"relation gone while the leader was away", func(f *hookenvtest.Fake) hookenv.Env {
			delete(f.Relations, "database:5")
			return hookenv.Env{HookName: "update-status"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newClientFake()
			addClient(f, "database:5", "app", map[string]string{"database": "shared", "requested-secrets": librarySecrets}, map[string]string{"app/0": "10.0.0.5"})
			addClient(f, "database:6", "other", map[string]string{"database": "shared", "requested-secrets": librarySecrets}, map[string]string{"other/0": "10.0.0.6"})
			a := newFakeAdmin()
			st := clientState(true)
			if err := clientHook(t, f, hookenv.Env{}, st, a); err != nil {
				t.Fatal(err)
			}
			if len(a.users) != 2 || a.users["relation_id_5"].Database != "shared" || a.users["relation_id_6"].Database != "shared" {
				t.Fatalf("two relations on one database: %+v", a.users)
			}
			env := tc.change(f)
			st2 := clientState(true)
			st2.AppData[keyClients] = st.appWrites[keyClients]
			if err := clientHook(t, f, env, st2, a); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a.dropped, []string{"relation_id_5"}) || a.users["relation_id_6"].Name == "" {
				t.Fatalf("dropped %v, left %v", a.dropped, slices.Sorted(maps.Keys(a.users)))
			}
			if r := f.Relations["database:5"]; r != nil && env.HookName != "database-relation-broken" {
				if mine := r.Data["pg"]; mine["password"] != "" || mine["username"] != "" || mine["endpoints"] != "" {
					t.Fatalf("revoked relation still answered: %v", mine)
				}
			}
			for uri, sec := range f.Secrets {
				if sec.Label == "database.5.user.secret" {
					t.Fatalf("the revoked relation's secret %s is still there", uri)
				}
			}
			if len(f.Secrets) != 1 {
				t.Fatalf("secrets left: %d, want the other relation's", len(f.Secrets))
			}
			var rec map[string]clientGrant
			_ = json.Unmarshal([]byte(st2.AppData[keyClients]), &rec)
			if _, ok := rec["5"]; ok || rec["6"].Database != "shared" {
				t.Fatalf("record after revoke: %q", st2.AppData[keyClients])
			}
		})
	}
}

func TestServeClientsStandbyCreatesNothing(t *testing.T) {
	f := newClientFake()
	addClient(f, "database:2", "app", map[string]string{"database": "d"}, map[string]string{"app/0": "10.0.0.5"})
	a := newFakeAdmin()
	a.recovery = true
	st := clientState(true)
	if err := clientHook(t, f, hookenv.Env{}, st, a); err != nil {
		t.Fatal(err)
	}
	if a.ensured != 0 || len(f.Bucket("database:2", "pg")) != 0 || st.appWrites[keyClients] != "" {
		t.Fatalf("a server in recovery: ensured %d, bucket %v", a.ensured, f.Bucket("database:2", "pg"))
	}
}

func TestReadClientsNonLeader(t *testing.T) {
	f := hookenvtest.NewFake("pg/2")
	addClient(f, "database:1", "app", map[string]string{"database": "d"}, map[string]string{"app/0": "127.0.0.40", "app/1": "127.0.0.41"})
	f.Bucket("database:1", "pg")["password"] = "not for non-leaders"
	st := clientState(false)
	c := &Charm{Env: hookenv.Env{HookName: "database-relation-departed", DepartingUnit: "app/1"}, Tools: f}
	if err := c.readClients(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	if len(st.clients) != 1 {
		t.Fatalf("clients: %+v", st.clients)
	}
	r := st.clients[0]
	if r.RemoteApp != "app" || r.Request["database"] != "d" || !slices.Equal(r.Addrs, []string{"127.0.0.40"}) || len(r.Mine) != 0 {
		t.Fatalf("read %+v", r)
	}
	if err := c.serveClients(context.Background(), st, nil); err != nil || len(st.appWrites) != 0 {
		t.Fatalf("a non-leader served: %v %v", err, st.appWrites)
	}
}

func TestServeClientsOrphanRoles(t *testing.T) {
	for _, tc := range []struct {
		name     string
		drMode   drMode
		existing []string
		dropped  []string
	}{
		{"an unrecorded role of a gone relation goes", "", []string{"relation_id_3", "relation_id_app", "relation_id_9"}, []string{"relation_id_9"}},
		{"cross-regional replication: the other cluster's roles stay", modePrimary, []string{"relation_id_3", "relation_id_9"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newClientFake()
			addClient(f, "database:3", "app", map[string]string{"database": "d"}, map[string]string{"app/0": "10.0.0.5"})
			a := newFakeAdmin()
			for _, u := range tc.existing {
				a.users[u] = postgres.ClientUser{Name: u}
			}
			st := clientState(true)
			if tc.drMode != "" {
				st.AppData[keyMode] = string(tc.drMode)
			}
			if err := clientHook(t, f, hookenv.Env{}, st, a); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a.dropped, tc.dropped) {
				t.Fatalf("dropped %v, want %v", a.dropped, tc.dropped)
			}
		})
	}
}

// A served relation whose request turns invalid is blocked and keeps what it had: its user,
// its answer and its pg_hba rules.
func TestServeClientsInvalidChangeKeepsGrant(t *testing.T) {
	f := newClientFake()
	addClient(f, "database:5", "app", map[string]string{"database": "shared", "requested-secrets": librarySecrets}, map[string]string{"app/0": "10.0.0.5"})
	a := newFakeAdmin()
	st := clientState(true)
	if err := clientHook(t, f, hookenv.Env{}, st, a); err != nil {
		t.Fatal(err)
	}
	before := maps.Clone(f.Bucket("database:5", "pg"))
	f.Bucket("database:5", "app")["database"] = "template0"
	st2 := clientState(true)
	st2.AppData[keyClients] = st.appWrites[keyClients]
	if err := clientHook(t, f, hookenv.Env{HookName: "database-relation-changed", RelationID: "database:5"}, st2, a); err != nil {
		t.Fatal(err)
	}
	if len(a.dropped) != 0 || a.users["relation_id_5"].Database != "shared" || a.ensured != 1 {
		t.Fatalf("an invalid change touched the user: dropped %v, users %v, ensured %d", a.dropped, a.users, a.ensured)
	}
	if !maps.Equal(before, f.Bucket("database:5", "pg")) {
		t.Fatalf("an invalid change touched the answer: %v → %v", before, f.Bucket("database:5", "pg"))
	}
	if s := st2.statuses[0]; s.status != "blocked" || !strings.Contains(s.message, `database "template0" is reserved`) {
		t.Fatalf("status %+v", s)
	}
	rules := (&Charm{}).clientHBA(st2)
	if len(rules) != 1 || rules[0].Database != `"shared"` || rules[0].User != "relation_id_5" {
		t.Fatalf("pg_hba after an invalid change: %+v", rules)
	}
}

// drSide is one cluster's leader in TestClientsAcrossClusters.
type drSide struct {
	f     *hookenvtest.Fake
	env   hookenv.Env
	admin *fakeAdmin
	mode  drMode
	rel   string // its end of the replication relation
	other *drSide
	st    *State
	local bool // client_endpoints_local_only
	// hba is what the hook's pg_hba would admit: the rules as they are before the role is
	// applied (after the reads, before the leader's answers).
	hba []postgres.HBARule
}

// hook runs the client part of a leader hook, with the other side's replication bucket as
// Juju would show it, and what this side published copied over for the other.
func (d *drSide) hook(t *testing.T) error {
	t.Helper()
	maps.Copy(d.f.Bucket(d.rel, "other"), d.other.f.Bucket(d.other.rel, "pg"))
	for k := range d.f.Bucket(d.rel, "other") {
		if _, ok := d.other.f.Bucket(d.other.rel, "pg")[k]; !ok {
			delete(d.f.Bucket(d.rel, "other"), k)
		}
	}
	st := clientState(true)
	st.AppData[keyMode] = string(d.mode)
	st.Config.ClientEndpointsLocalOnly = d.local
	if d.st != nil {
		st.AppData[keyClients] = d.st.AppData[keyClients]
		st.AppData[keyClientsRemote] = d.st.AppData[keyClientsRemote]
	}
	d.st = st
	c := &Charm{Env: d.env, Tools: d.f}
	// The clients take the replication relation from what the extension's step read.
	EnableAsyncReplication(c)
	a := c.ext.(*asyncRepl)
	v, err := a.load(context.Background(), c, st)
	if err != nil {
		return err
	}
	a.view = v
	if err := c.readClients(context.Background(), st); err != nil {
		return err
	}
	d.hba = c.clientHBA(st)
	return c.serveClients(context.Background(), st, adminWorkload{admin: d.admin})
}

func TestClientsAcrossClusters(t *testing.T) {
	secrets := map[string]*hookenvtest.FakeSecret{}
	side := func(uuid string, mode drMode, rel, otherAddr string) *drSide {
		f := newClientFake()
		f.Secrets = secrets
		r := f.AddRelation(rel, "other", "other/0")
		r.Data["other/0"] = map[string]string{"unit-address": otherAddr}
		return &drSide{f: f, env: hookenv.Env{ModelUUID: uuid, ContainersDir: "/c"}, admin: newFakeAdmin(), mode: mode, rel: rel}
	}
	primary := side("uuid-rome", modePrimary, "replication-offer:9", "10.9.0.1")
	standby := side("uuid-lisbon", modeStandby, "replication:2", "10.8.0.1")
	primary.other, standby.other = standby, primary
	addClient(standby.f, "database:4", "app", map[string]string{"database": "sdb", "requested-secrets": librarySecrets}, map[string]string{"app/0": "10.2.0.5"})

	// The standby cluster asks; it cannot answer yet.
	if err := standby.hook(t); err == nil || !strings.Contains(err.Error(), "not created by the primary cluster") {
		t.Fatalf("standby, before the primary cluster created the user: %v", err)
	}
	if standby.admin.ensured != 0 || len(standby.f.Bucket("database:4", "pg")) != 0 {
		t.Fatalf("the standby cluster wrote or answered: %v", standby.f.Bucket("database:4", "pg"))
	}
	var asked []drClient
	must(t, json.Unmarshal([]byte(standby.f.Bucket("replication:2", "pg")[keyDRClientUsers]), &asked))
	if len(asked) != 1 || !strings.HasPrefix(asked[0].User, "relation_id_4_") || asked[0].Key != "relation-4" || asked[0].Database != "sdb" {
		t.Fatalf("client-users: %+v", asked)
	}
	user := asked[0].User
	for k, v := range standby.f.Bucket("replication:2", "pg") {
		if strings.Contains(v, secrets[standby.f.Bucket("replication:2", "pg")[keyDRClientSecret]].Content["relation-4"]) {
			t.Fatalf("a password in the replication relation's %s", k)
		}
	}

	// The primary cluster creates it, admits its client, and says so.
	must(t, primary.hook(t))
	if u := primary.admin.users[user]; u.Database != "sdb" || u.Password == "" {
		t.Fatalf("primary cluster's users: %+v", primary.admin.users)
	}
	if !strings.Contains(primary.f.Bucket("replication-offer:9", "pg")[keyDRClientApplied], user) {
		t.Fatalf("client-applied: %v", primary.f.Bucket("replication-offer:9", "pg"))
	}
	// In the same hook: no later hook of the primary cluster's leader may be needed.
	if rules := primary.hba; len(rules) != 1 || rules[0].User != user || rules[0].Address != "10.2.0.5/32" || rules[0].Database != `"sdb"` {
		t.Fatalf("primary cluster's rules for the standby's client: %+v", rules)
	}

	// Replayed on the standby cluster: it answers, its units first, then the primary cluster's.
	standby.admin = primary.admin
	must(t, standby.hook(t))
	mine := standby.f.Bucket("database:4", "pg")
	if mine["endpoints"] != "127.0.0.11:5432,127.0.0.10:5432,127.0.0.12:5432,10.8.0.1:5432" || mine["read-only-endpoints"] != "127.0.0.10:5432,127.0.0.12:5432" {
		t.Fatalf("standby's answer: %v", mine)
	}
	if got := secrets[mine["secret-user"]].Content; got["username"] != user || got["password"] != primary.admin.users[user].Password {
		t.Fatalf("standby's user secret: %v", got)
	}
	if rules := (&Charm{}).clientHBA(standby.st); len(rules) != 1 || rules[0].User != user {
		t.Fatalf("standby's own client rules: %+v", rules)
	}
	standby.local = true
	must(t, standby.hook(t))
	if got := standby.f.Bucket("database:4", "pg")["endpoints"]; got != "127.0.0.11:5432,127.0.0.10:5432,127.0.0.12:5432" {
		t.Fatalf("client_endpoints_local_only: %q", got)
	}

	// The relation goes on the standby cluster: the primary cluster drops the user.
	delete(standby.f.Relations, "database:4")
	must(t, standby.hook(t))
	must(t, primary.hook(t))
	if _, ok := primary.admin.users[user]; ok || !slices.Contains(primary.admin.dropped, user) {
		t.Fatalf("user %s not dropped: %+v", user, primary.admin.dropped)
	}
	// Only a standby's own suffixed users are created: never one the primary cluster names
	// relation_id_<N>, nor any other role.
	standby.f.Bucket("replication:2", "pg")[keyDRClientUsers] = `[{"user":"relation_id_4","database":"x","key":"relation-4"},{"user":"operator","database":"x","key":"relation-5"},{"user":"relation_id_5_0123abcd","database":"postgres","key":"relation-5"}]`
	ensured := primary.admin.ensured
	must(t, primary.hook(t))
	if primary.admin.ensured != ensured {
		t.Fatalf("the primary cluster created a user the other model named: %+v", primary.admin.users)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestServeClientsTLS: tls and tls-ca as data_interfaces writes them, in the tls secret
// group when the requirer asks for them as secrets, in the bucket otherwise; a quiet hook
// does not read the tls secret back.
func TestServeClientsTLS(t *testing.T) {
	ca, err := pki.NewCA("pg cluster CA", time.Unix(1_700_000_000, 0))
	if err != nil {
		t.Fatal(err)
	}
	withTLS := func() *State {
		st := clientState(true)
		st.Local = map[string]string{}
		st.tls = &tlsState{ca: ca, trust: ca.CertPEM}
		return st
	}
	f := newClientFake()
	addClient(f, "database:7", "app", map[string]string{"database": "appdb", "requested-secrets": librarySecrets},
		map[string]string{"app/0": "127.0.0.30"})
	addClient(f, "database:2", "legacy", map[string]string{"database": "legacy"}, map[string]string{"legacy/0": "10.0.0.5"})
	a := newFakeAdmin()
	st := withTLS()
	if err := clientHook(t, f, hookenv.Env{}, st, a); err != nil {
		t.Fatal(err)
	}
	mine := f.Bucket("database:7", "pg")
	if mine["tls"] != "" || mine["tls-ca"] != "" || mine["secret-tls"] == "" {
		t.Fatalf("secret path: tls fields in the bucket, or no secret-tls: %v", mine)
	}
	s := f.Secrets[mine["secret-tls"]]
	if s == nil || s.Label != "database.7.tls.secret" || !slices.Contains(s.Grants, "database:7") {
		t.Fatalf("secret-tls %q is not a granted tls secret: %+v", mine["secret-tls"], s)
	}
	if s.Content["tls"] != "True" || s.Content["tls-ca"] != string(ca.CertPEM) || len(s.Content) != 2 {
		t.Fatalf("tls secret content: %v", s.Content)
	}
	legacy := f.Bucket("database:2", "pg")
	if legacy["tls"] != "True" || legacy["tls-ca"] != string(ca.CertPEM) || legacy["secret-tls"] != "" {
		t.Fatalf("bucket path: tls %q, tls-ca %d bytes, secret-tls %q", legacy["tls"], len(legacy["tls-ca"]), legacy["secret-tls"])
	}

	// A quiet hook: the digest the leader kept says the tls secret holds this already.
	st2 := withTLS()
	st2.AppData[keyClients] = st.appWrites[keyClients]
	st2.Local = maps.Clone(st.Local)
	maps.Copy(st2.Local, st.localWrites)
	delete(f.Secrets[mine["secret-tls"]].Content, "tls") // a read would notice and rewrite
	if err := clientHook(t, f, hookenv.Env{}, st2, a); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Secrets[mine["secret-tls"]].Content["tls"]; ok {
		t.Error("a quiet hook read the tls secret back and rewrote it")
	}
	// A new CA is published.
	ca2, _ := pki.NewCA("pg cluster CA", time.Unix(1_700_000_000, 0))
	st3 := withTLS()
	st3.AppData[keyClients] = st.appWrites[keyClients]
	st3.Local = maps.Clone(st2.Local)
	st3.tls.trust = ca2.CertPEM
	if err := clientHook(t, f, hookenv.Env{}, st3, a); err != nil {
		t.Fatal(err)
	}
	if got := f.Secrets[mine["secret-tls"]].Content["tls-ca"]; got != string(ca2.CertPEM) {
		t.Error("the tls secret does not follow a new CA")
	}
}
