package charm

// The database relation (interface postgresql_client), provider side, as Canonical's
// data_platform_libs data_interfaces v0 (DatabaseProvides / DatabaseRequires) defines it, so
// that any requirer built on that library works unchanged.
//
// Requirer application bucket (read):
//
//	database           name of the database to create and use
//	extra-user-roles   comma-separated extra roles (only clientRoleAllowed ones are granted)
//	requested-secrets  JSON list of the fields to get through a secret instead of the bucket
//	data               the library's own bookkeeping (ignored)
//
// Provider application bucket (written by the leader):
//
//	database, endpoints, read-only-endpoints (with replicas), version
//	secret-user        URI of the secret (labelled database.<id>.user.secret, granted to the
//	                   relation) holding those of username, password, uris, read-only-uris that
//	                   the requirer listed in requested-secrets
//	username, password, uris, read-only-uris  the fields it did not list (all of them for a
//	                   requirer that asks for no secrets: the library's old path)
//	tls, tls-ca        "True" and the CA certificates (PEM) that sign the servers'
//	                   certificates: the server always serves TLS (tls.go)
//	secret-tls         URI of the secret (database.<id>.tls.secret) holding those of tls,
//	                   tls-ca the requirer listed in requested-secrets
//
// A relation gets the login role relation_id_<N>, allowed in pg_hba only to its database and
// only from the requirer's units' ingress-address. The leader records the grants it applied
// under "clients" in the peer application bucket, and drops the role of a relation that is
// gone or whose request went away. An invalid request is a blocked status and changes
// nothing (a relation that was served keeps what it had).

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/hookenv"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// ClientEndpoint is the provides endpoint of interface postgresql_client (metadata.yaml).
const ClientEndpoint = "database"

// clientUserPrefix prefixes the login role of each client relation: relation_id_<N>.
const clientUserPrefix = "relation_id_"

// keyClients (peer app bucket): JSON map of relation number to the clientGrant applied.
const keyClients = "clients"

// clientRoleAttributes are the extra-user-roles granted as role attributes, clientRoleGrants
// those granted as membership of a predefined role. Anything else (SUPERUSER, REPLICATION,
// CREATEROLE, BYPASSRLS, any other role of the cluster) is refused.
var (
	clientRoleAttributes = map[string]string{"createdb": "CREATEDB"}
	clientRoleGrants     = []string{"pg_monitor", "pg_read_all_data", "pg_read_all_settings", "pg_read_all_stats", "pg_stat_scan_tables", "pg_write_all_data"}
)

// clientReservedDatabases are never handed to a client.
var clientReservedDatabases = []string{"postgres", "template0", "template1"}

// clientRelationNumber is the <N> of a relation_id_<N> role the charm made.
var clientRelationNumber = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]{1,10}$`) })

// clientDatabaseName is what the charm accepts as a database name: an identifier that needs
// no escaping in pg_hba.conf nor in a URI.
var clientDatabaseName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,62}$`) })

// The fields of the user and tls secret groups, in data_interfaces' terms.
var (
	clientUserFields = []string{"username", "password", "uris", "read-only-uris"}
	clientTLSFields  = []string{"tls", "tls-ca"}
)

// Keys of the provider bucket the charm manages (everything else there is left alone).
var clientManagedKeys = []string{"database", "endpoints", "read-only-endpoints", "version", "secret-user",
	"username", "password", "uris", "read-only-uris", "secret-tls", "tls", "tls-ca"}

// clientRel is one database relation as this hook sees it.
type clientRel struct {
	ID        string // database:N
	Num       int
	RemoteApp string
	Request   map[string]string // the requirer's application bucket
	Addrs     []string          // the requirer units' ingress addresses, sorted
	Mine      map[string]string // this application's bucket (read by the leader only)
}

// clientUser is relation r's login role: the one the leader recorded for it, else
// relation_id_<N>; under cross-regional replication relation_id_<N>_<model>, so that the two
// clusters' relations (whose roles share the replicated data) never take the same name.
func (c *Charm) clientUser(st *State, num int) string {
	if u := recordedGrants(st)[strconv.Itoa(num)].User; u != "" {
		return u
	}
	name := clientUserPrefix + strconv.Itoa(num)
	if modeOf(st) != modeNone {
		sum := sha256.Sum256([]byte(c.Env.ModelUUID))
		name += "_" + hex.EncodeToString(sum[:4])
	}
	return name
}

// clientRequest is a requirer's valid request.
type clientRequest struct {
	Database   string
	Attributes []string // role attributes (CREATEDB)
	Roles      []string // predefined roles to be a member of
	// Secrets are the fields the requirer wants in secrets (requested-secrets).
	Secrets map[string]bool
}

// clientGrant is what the leader applied for a relation (peer app bucket, keyClients).
type clientGrant struct {
	User     string   `json:"user,omitempty"`
	Database string   `json:"database"`
	Roles    []string `json:"roles,omitempty"`
}

// errNoRequest: the requirer has not asked for a database (yet, or any more).
var errNoRequest = errors.New("no database requested")

// parseClientRequest validates a requirer's bucket; errNoRequest when it asks for nothing.
func parseClientRequest(d map[string]string) (clientRequest, error) {
	var req clientRequest
	db, ok := d["database"]
	if !ok || db == "" {
		return req, errNoRequest
	}
	if !clientDatabaseName().MatchString(db) {
		return req, fmt.Errorf("database name %q is not a valid identifier (a letter or _, then letters, digits, _ or -, at most 63)", db)
	}
	if slices.Contains(clientReservedDatabases, db) {
		return req, fmt.Errorf("database %q is reserved", db)
	}
	req.Database = db
	var refused []string
	for r := range strings.SplitSeq(d["extra-user-roles"], ",") {
		r = strings.ToLower(strings.TrimSpace(r))
		switch {
		case r == "":
		case clientRoleAttributes[r] != "":
			req.Attributes = append(req.Attributes, clientRoleAttributes[r])
		case slices.Contains(clientRoleGrants, r):
			req.Roles = append(req.Roles, r)
		default:
			refused = append(refused, r)
		}
	}
	if len(refused) > 0 {
		return req, fmt.Errorf("extra-user-roles not allowed: %s", strings.Join(refused, ", "))
	}
	slices.Sort(req.Attributes)
	req.Attributes = slices.Compact(req.Attributes)
	slices.Sort(req.Roles)
	req.Roles = slices.Compact(req.Roles)
	req.Secrets = map[string]bool{}
	if raw := d["requested-secrets"]; raw != "" {
		var fields []string
		if err := json.Unmarshal([]byte(raw), &fields); err != nil {
			return req, fmt.Errorf("requested-secrets is not a JSON list of strings: %v", err)
		}
		for _, f := range fields {
			req.Secrets[f] = true
		}
	}
	return req, nil
}

// grant is what the leader applies for req.
func (req clientRequest) grant() clientGrant {
	return clientGrant{Database: req.Database, Roles: slices.Concat(req.Attributes, req.Roles)}
}

// readClients reads the database relations: the requirers' buckets (every unit needs them
// for pg_hba) and, on the leader, this application's buckets. A relation being broken is
// left out: its role goes.
func (c *Charm) readClients(ctx context.Context, st *State) error {
	ids, err := c.RelationIDs(ctx, st, ClientEndpoint)
	if err != nil {
		return fmt.Errorf("relation-ids %s: %w", ClientEndpoint, err)
	}
	broken := ""
	if c.Env.HookName == ClientEndpoint+"-relation-broken" {
		broken = c.Env.RelationID
	}
	var rels []clientRel
	for _, id := range ids {
		_, n, _ := strings.Cut(id, ":")
		num, err := strconv.Atoi(n)
		if err != nil || id == broken {
			continue
		}
		rels = append(rels, clientRel{ID: id, Num: num})
	}
	if len(rels) == 0 {
		st.clients = nil
		return c.readClientsDR(ctx, st)
	}
	units := make([][]string, len(rels))
	var fns []func() error
	for i := range rels {
		r := &rels[i]
		fns = append(fns,
			func() (err error) {
				if units[i], err = c.Tools.RelationList(ctx, r.ID); err != nil {
					return fmt.Errorf("relation-list -r %s: %w", r.ID, err)
				}
				// A departing unit is still listed in some runtimes' departed hooks.
				units[i] = slices.DeleteFunc(units[i], func(u string) bool { return u == c.Env.DepartingUnit })
				return nil
			},
			func() (err error) {
				if r.RemoteApp, err = c.Tools.RelationRemoteApp(ctx, r.ID); err != nil {
					return fmt.Errorf("relation-list --app -r %s: %w", r.ID, err)
				}
				return nil
			})
	}
	if err := parallel(fns...); err != nil {
		return err
	}
	addrs := make([][]string, len(rels))
	fns = nil
	for i := range rels {
		r := &rels[i]
		if r.RemoteApp != "" {
			fns = append(fns, func() (err error) {
				if r.Request, err = c.Tools.RelationGet(ctx, r.ID, r.RemoteApp, true); err != nil {
					return fmt.Errorf("relation-get -r %s --app %s: %w", r.ID, r.RemoteApp, err)
				}
				return nil
			})
		}
		if st.Leader {
			fns = append(fns, func() (err error) {
				if r.Mine, err = c.Tools.RelationGet(ctx, r.ID, st.App, true); err != nil {
					return fmt.Errorf("relation-get -r %s --app %s: %w", r.ID, st.App, err)
				}
				return nil
			})
		}
		addrs[i] = make([]string, len(units[i]))
		for j, u := range units[i] {
			fns = append(fns, func() error {
				d, err := c.Tools.RelationGet(ctx, r.ID, u, false)
				if err != nil {
					return fmt.Errorf("relation-get -r %s %s: %w", r.ID, u, err)
				}
				addrs[i][j] = cmp.Or(d["ingress-address"], d["private-address"])
				return nil
			})
		}
	}
	if err := parallel(fns...); err != nil {
		return err
	}
	for i := range rels {
		a := slices.DeleteFunc(addrs[i], func(s string) bool { return net.ParseIP(s) == nil })
		slices.Sort(a)
		rels[i].Addrs = slices.Compact(a)
		if rels[i].Mine == nil {
			rels[i].Mine = map[string]string{}
		}
	}
	st.clients = rels
	return c.readClientsDR(ctx, st)
}

// clientHBA admits each relation's role to its own database only, from its units' addresses.
// A relation whose request turned invalid keeps the database the leader granted it.
func (c *Charm) clientHBA(st *State) []postgres.HBARule {
	var rules []postgres.HBARule
	for _, r := range st.clients {
		req, err := parseClientRequest(r.Request)
		if errors.Is(err, errNoRequest) {
			continue
		}
		if err != nil {
			if req.Database = recordedGrants(st)[strconv.Itoa(r.Num)].Database; req.Database == "" {
				continue
			}
		}
		rules = append(rules, hbaFor(req.Database, c.clientUser(st, r.Num), r.Addrs)...)
	}
	return append(rules, remoteClientHBA(st)...)
}

// hbaFor admits user to database (quoted: a database named like a keyword, "all" or
// "replication", is that database) from addrs.
func hbaFor(database, user string, addrs []string) []postgres.HBARule {
	addrs = slices.Clone(addrs)
	// On one host (jujulet) connections between loopback addresses leave from 127.0.0.1.
	if slices.ContainsFunc(addrs, func(a string) bool { return strings.HasPrefix(a, "127.") }) && !slices.Contains(addrs, "127.0.0.1") {
		addrs = append(addrs, "127.0.0.1")
	}
	var rules []postgres.HBARule
	for _, a := range addrs {
		cidr := a + "/32"
		if strings.Contains(a, ":") {
			cidr = a + "/128"
		}
		rules = append(rules, postgres.HBARule{Type: "hostssl", Database: `"` + database + `"`, User: user, Address: cidr, Method: "scram-sha-256"})
	}
	return rules
}

// clientHosts are the hosts clients connect to, primary first: on Kubernetes the stable
// names Juju's headless service gives the pods, elsewhere (jujulet) the units' addresses.
func (c *Charm) clientHosts(st *State) (primary string, replicas []string) {
	host := func(unit string) string {
		if c.Env.ContainersDir != "" {
			return st.AddressOf(unit)
		}
		app, n, _ := strings.Cut(unit, "/")
		return fmt.Sprintf("%s-%s.%s-endpoints.%s.svc.cluster.local", app, n, app, c.Env.ModelName)
	}
	units := append([]string{st.Unit}, st.Peers...)
	slices.SortFunc(units, func(a, b string) int { return cmp.Compare(unitNumber(a), unitNumber(b)) })
	for _, u := range units {
		h := host(u)
		switch {
		case h == "":
		case u == st.Primary():
			primary = h
		default:
			replicas = append(replicas, h)
		}
	}
	return primary, replicas
}

func unitNumber(unit string) int {
	_, n, _ := strings.Cut(unit, "/")
	i, _ := strconv.Atoi(n)
	return i
}

func hostPorts(hosts []string) string {
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = net.JoinHostPort(h, strconv.Itoa(PGPort))
	}
	return strings.Join(out, ",")
}

// clientURI is a libpq multi-host URI: the client library tries the hosts in order and keeps
// the first whose session matches attrs, so it finds the primary again after a failover.
func clientURI(user, password, database string, hosts []string, attrs string) string {
	u := url.URL{Scheme: "postgresql", User: url.UserPassword(user, password), Host: hostPorts(hosts),
		Path: "/" + database, RawQuery: "target_session_attrs=" + attrs}
	return u.String()
}

// ClientAdmin is SQL on the primary for the database relation (leader).
type ClientAdmin interface {
	InRecovery(ctx context.Context) (bool, error)
	ServerVersion(ctx context.Context) (string, error)
	// RolesWithPrefix lists the roles whose names start with prefix (relation_id_).
	RolesWithPrefix(ctx context.Context, prefix string) ([]string, error)
	EnsureClientUser(ctx context.Context, u postgres.ClientUser, revokeRoles []string) error
	DropClientUser(ctx context.Context, user string) error
	// HasClientUser: user exists, may log in, and has password (a standby answers it once
	// the role has replayed).
	HasClientUser(ctx context.Context, user, password string) (bool, error)
	Close(ctx context.Context)
}

// ClientAdminOpener is implemented by a Workload that can open a ClientAdmin on host.
type ClientAdminOpener interface {
	OpenClientAdmin(ctx context.Context, host string, l postgres.Login) (ClientAdmin, error)
}

// serveClients is the leader's part: roles and databases on the primary, then each
// relation's answer. Problems with a request are a blocked status naming the relation; the
// request changes nothing until it is fixed.
func (c *Charm) serveClients(ctx context.Context, st *State, w Workload) error {
	if !st.Leader {
		return nil
	}
	recorded := recordedGrants(st)
	dr := st.clientsDR
	if len(st.clients) == 0 && len(recorded) == 0 && dr == nil {
		return nil
	}
	p, err := c.planClients(ctx, st, dr, recorded)
	if err != nil {
		return err
	}
	version, pending := "", 0
	if modeOf(st) == modeStandby && dr != nil {
		version, pending, err = c.clientsOnStandby(ctx, st, w, dr, p, recorded)
	} else {
		version, err = c.clientsOnPrimary(ctx, st, w, p, recorded)
	}
	if err != nil {
		return err
	}
	for _, wk := range p.serve {
		if err := c.publishClient(ctx, st, dr, wk, cmp.Or(version, wk.rel.Mine["version"])); err != nil {
			return err
		}
	}
	if err := c.revokeClients(ctx, st, p.revoke); err != nil {
		return err
	}
	if err := recordClients(st, recorded); err != nil {
		return err
	}
	if err := c.syncDRClients(ctx, st, w, dr, recorded); err != nil {
		return err
	}
	if len(p.problems) > 0 {
		c.clientBlocked(st, strings.Join(p.problems, "; "))
	}
	if pending > 0 {
		return waiting("database relation: %d user(s) not created by the primary cluster (or not replayed) yet", pending)
	}
	return nil
}

// clientPlan is what the leader does for the database relations in this hook.
type clientPlan struct {
	serve    []*clientUserWork // relations with a valid request: their users and answers
	problems []string          // bad requests, for the blocked status
	live     map[string]bool   // relation numbers whose users stay
	revoke   []clientRel       // live relations whose credentials go (request withdrawn)
	drop     []string          // recorded relation numbers whose users go, sorted
}

// planClients reads each relation's request against what was recorded: who is served (with
// which password), who is revoked, whose user is dropped.
func (c *Charm) planClients(ctx context.Context, st *State, dr *drClientView, recorded map[string]clientGrant) (*clientPlan, error) {
	p := &clientPlan{live: map[string]bool{}}
	for _, r := range st.clients {
		req, err := parseClientRequest(r.Request)
		if err != nil && !errors.Is(err, errNoRequest) {
			// Bad input changes nothing: what an earlier valid request got stays as it was.
			p.problems = append(p.problems, fmt.Sprintf("%s (%s): %v", r.ID, r.RemoteApp, err))
			p.live[strconv.Itoa(r.Num)] = true
			continue
		}
		if err != nil {
			// The requirer withdrew its request: its user goes.
			if r.Mine["secret-user"] != "" || r.Mine["username"] != "" || r.Mine["endpoints"] != "" {
				p.revoke = append(p.revoke, r)
			}
			continue
		}
		p.live[strconv.Itoa(r.Num)] = true
		pw, err := c.clientPassword(ctx, r)
		if err != nil {
			return nil, err
		}
		if pw == "" && dr != nil {
			pw = dr.passwords[drSecretKey(r.Num)] // asked of the primary cluster already
		}
		wk := &clientUserWork{rel: r, req: req, user: c.clientUser(st, r.Num), password: pw}
		fresh := pw == "" // no credentials published yet: a new password
		if fresh {
			if wk.password, err = GeneratePassword(); err != nil {
				return nil, fmt.Errorf("generate password: %w", err)
			}
		}
		g, ok := recorded[strconv.Itoa(r.Num)]
		wk.apply = fresh || !ok || g.Database != req.Database || !slices.Equal(g.Roles, req.grant().Roles)
		p.serve = append(p.serve, wk)
	}
	for n := range recorded {
		if !p.live[n] {
			p.drop = append(p.drop, n)
		}
	}
	slices.Sort(p.drop)
	return p, nil
}

// clientsOnStandby: a standby cluster cannot write, so the primary cluster creates the roles
// (carried by the replication relation), and a relation is answered once its role has
// replayed. It returns the server version and how many users are still awaited.
func (c *Charm) clientsOnStandby(ctx context.Context, st *State, w Workload, dr *drClientView, p *clientPlan, recorded map[string]clientGrant) (string, int, error) {
	version, pending, err := c.clientsFromPrimaryCluster(ctx, st, w, dr, p.serve)
	if err != nil {
		return "", 0, err
	}
	p.serve = slices.DeleteFunc(p.serve, func(wk *clientUserWork) bool { return wk.apply })
	for _, wk := range p.serve {
		recorded[strconv.Itoa(wk.rel.Num)] = wk.grant()
	}
	for _, n := range p.drop {
		delete(recorded, n)
	}
	return version, pending, nil
}

// clientsOnPrimary creates, changes and drops the users and databases on this cluster's
// primary, when anything is to be done there; it returns the server version ("" when no SQL
// ran).
func (c *Charm) clientsOnPrimary(ctx context.Context, st *State, w Workload, p *clientPlan, recorded map[string]clientGrant) (string, error) {
	needSQL := len(p.drop) > 0
	for _, wk := range p.serve {
		needSQL = needSQL || wk.apply || wk.rel.Mine["version"] == ""
	}
	if !needSQL {
		return "", nil
	}
	done, version, err := c.clientSQL(ctx, st, w, p.serve, p.live, p.drop, recorded)
	if err != nil {
		return "", err
	}
	if !done {
		// The primary is in recovery (e.g. in the middle of a cross-cluster switchover):
		// nothing new is answered meanwhile.
		p.serve = slices.DeleteFunc(p.serve, func(wk *clientUserWork) bool { return wk.apply })
		return version, nil
	}
	for _, n := range p.drop {
		delete(recorded, n)
		if !slices.ContainsFunc(st.clients, func(r clientRel) bool { return strconv.Itoa(r.Num) == n }) {
			c.removeClientSecret(ctx, clientSecretLabel(n))
			c.removeClientSecret(ctx, clientGroupSecretLabel(n, "tls"))
			st.SetLocal(localClientTLS+n, "")
		}
	}
	for _, wk := range p.serve {
		recorded[strconv.Itoa(wk.rel.Num)] = wk.grant()
	}
	return version, nil
}

// revokeClients withdraws the answer (and the credentials' secret) of relations whose
// requirer withdrew its request.
func (c *Charm) revokeClients(ctx context.Context, st *State, revoke []clientRel) error {
	for _, r := range revoke {
		del := map[string]string{}
		for _, k := range clientManagedKeys {
			if r.Mine[k] != "" {
				del[k] = ""
			}
		}
		if err := c.Tools.RelationSet(ctx, r.ID, true, del); err != nil {
			return fmt.Errorf("relation-set -r %s: %w", r.ID, err)
		}
		c.removeClientSecret(ctx, clientSecretLabel(strconv.Itoa(r.Num)))
		c.removeClientSecret(ctx, clientGroupSecretLabel(strconv.Itoa(r.Num), "tls"))
		st.SetLocal(localClientTLS+strconv.Itoa(r.Num), "")
	}
	return nil
}

// recordClients keeps the grants applied in the peer application bucket.
func recordClients(st *State, recorded map[string]clientGrant) error {
	raw := ""
	if len(recorded) > 0 {
		b, err := json.Marshal(recorded)
		if err != nil {
			return fmt.Errorf("%s record: %w", keyClients, err)
		}
		raw = string(b)
	}
	st.SetApp(keyClients, raw)
	return nil
}

// recordedGrants is the leader's record of what it applied, by relation number. Only the
// charm's leaders write it; an unreadable one counts as empty (everything is re-applied).
func recordedGrants(st *State) map[string]clientGrant {
	recorded := map[string]clientGrant{}
	if raw := st.AppData[keyClients]; raw != "" {
		if json.Unmarshal([]byte(raw), &recorded) != nil {
			return map[string]clientGrant{}
		}
	}
	return recorded
}

// clientUserWork is one relation the leader serves.
type clientUserWork struct {
	rel      clientRel
	req      clientRequest
	user     string
	password string
	apply    bool // the role and database need SQL
}

func (wk *clientUserWork) grant() clientGrant {
	g := wk.req.grant()
	g.User = wk.user
	return g
}

// clientSQL applies the roles on the primary: drops first (the relations gone, and any
// relation_id_ role no live relation has, e.g. after a hook lost its record), then creates.
// done is false when the primary is in recovery (nothing applied).
func (c *Charm) clientSQL(ctx context.Context, st *State, w Workload, users []*clientUserWork, live map[string]bool, drop []string, recorded map[string]clientGrant) (done bool, version string, err error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	admin, err := c.openClientAdmin(cctx, st, w)
	if err != nil {
		return false, "", err
	}
	defer admin.Close(ctx)
	rec, err := admin.InRecovery(cctx)
	if err != nil {
		return false, "", err
	}
	if rec {
		return false, "", nil
	}
	existing, err := admin.RolesWithPrefix(cctx, clientUserPrefix)
	if err != nil {
		return false, "", err
	}
	gone := map[string]bool{}
	for _, n := range drop {
		gone[cmp.Or(recorded[n].User, clientUserPrefix+n)] = true
	}
	// Roles no record names (a hook that created one failed before recording it) are found
	// by name, but only outside cross-regional replication: there the other cluster's
	// relations have their roles in the same data.
	for _, u := range existing {
		// Only relation_id_<number>: a role an operator named alike is not the charm's.
		n, ok := strings.CutPrefix(u, clientUserPrefix)
		if ok && !live[n] && clientRelationNumber().MatchString(n) && modeOf(st) == modeNone {
			gone[u] = true
		}
	}
	for _, u := range slices.Sorted(maps.Keys(gone)) {
		if err := admin.DropClientUser(cctx, u); err != nil {
			return false, "", err
		}
		c.logf(ctx, slog.LevelInfo, "database relation: dropped user %s", u)
	}
	for _, u := range users {
		if !u.apply && slices.Contains(existing, u.user) {
			continue
		}
		cu := postgres.ClientUser{Name: u.user, Password: u.password, Database: u.req.Database,
			Attributes: u.req.Attributes, Roles: u.req.Roles}
		if err := admin.EnsureClientUser(cctx, cu, revokedRoles(u.req.Roles)); err != nil {
			return false, "", err
		}
		c.logf(ctx, slog.LevelInfo, "database relation %s: user %s for database %s", u.rel.ID, cu.Name, cu.Database)
	}
	v, err := admin.ServerVersion(cctx)
	if err != nil {
		return false, "", err
	}
	return true, v, nil
}

// openClientAdmin connects to the cluster's primary (on a standby cluster, its head).
func (c *Charm) openClientAdmin(ctx context.Context, st *State, w Workload) (ClientAdmin, error) {
	opener, ok := w.(ClientAdminOpener)
	if !ok {
		return nil, fmt.Errorf("the workload cannot administer client roles")
	}
	primary := st.PrimaryAddress()
	if primary == "" {
		return nil, waiting("database relation: waiting for a primary")
	}
	admin, err := opener.OpenClientAdmin(ctx, primary, selfLogin(st))
	if err != nil {
		return nil, waiting("database relation: waiting for the primary to accept connections: %v", err)
	}
	return admin, nil
}

// revokedRoles are the allowed roles not in roles: memberships to take back.
func revokedRoles(roles []string) []string {
	var out []string
	for _, r := range clientRoleGrants {
		if !slices.Contains(roles, r) {
			out = append(out, r)
		}
	}
	return out
}

// clientPassword is the password already published to r ("" when none is).
func (c *Charm) clientPassword(ctx context.Context, r clientRel) (string, error) {
	if uri := r.Mine["secret-user"]; uri != "" {
		content, err := c.Tools.SecretGet(ctx, hookenv.SecretGetArgs{URI: uri})
		if err != nil {
			if errors.Is(err, hookenv.ErrNotFound) {
				return "", nil
			}
			return "", fmt.Errorf("secret-get %s: %w", r.ID, err)
		}
		if pw := content["password"]; pw != "" {
			return pw, nil
		}
	}
	return r.Mine["password"], nil
}

// clientTLS are the tls and tls-ca fields, as data_interfaces' set_tls/set_tls_ca write
// them: "True" and the trust bundle (the CAs that sign this cluster's server certificates).
// With the other cluster's units among the endpoints, its CA is in the bundle too.
func (c *Charm) clientTLS(st *State, withRemote bool) map[string]string {
	if st.tls == nil || len(st.tls.trust) == 0 {
		return nil
	}
	ca := st.tls.trust
	if withRemote {
		ca = bundle(ca, c.remoteCA(st))
	}
	return map[string]string{"tls": "True", "tls-ca": string(ca)}
}

// publishClient writes r's answer: endpoints, version, and the credentials in a secret (the
// fields the requirer asked for as secrets) or in the bucket.
func (c *Charm) publishClient(ctx context.Context, st *State, dr *drClientView, wk *clientUserWork, version string) error {
	primary, replicas := c.clientHosts(st)
	if primary == "" {
		return nil // no primary yet: nothing a client could use
	}
	r, req, password, user := wk.rel, wk.req, wk.password, wk.user
	// Read-write: every unit of this cluster, then (cross-regional replication) the other
	// cluster's, so that a client finds the primary after a switchover of either kind.
	rw := append([]string{primary}, replicas...)
	withRemote := dr != nil && !st.Config.ClientEndpointsLocalOnly
	if withRemote {
		rw = append(rw, dr.remoteAddrs...)
	}
	fields := map[string]string{"username": user, "password": password,
		"uris": clientURI(user, password, req.Database, rw, "read-write")}
	want := map[string]string{"database": req.Database, "endpoints": hostPorts(rw), "version": version}
	if len(replicas) > 0 {
		want["read-only-endpoints"] = hostPorts(replicas)
		fields["read-only-uris"] = clientURI(user, password, req.Database, append(slices.Clone(replicas), primary), "prefer-standby")
	}
	maps.Copy(fields, c.clientTLS(st, withRemote))
	for _, g := range []struct {
		name   string
		fields []string
	}{{"user", clientUserFields}, {"tls", clientTLSFields}} {
		secret := map[string]string{}
		for _, k := range g.fields {
			if fields[k] == "" {
				continue
			}
			if req.Secrets[k] {
				secret[k] = fields[k]
			} else {
				want[k] = fields[k]
			}
		}
		if len(secret) > 0 {
			// The tls group changes only with the CA: the leader remembers what it wrote,
			// so that a steady hook does not read that secret back.
			key, sum := localClientTLS+strconv.Itoa(r.Num), contentSum(secret)
			if uri := r.Mine["secret-"+g.name]; g.name == "tls" && uri != "" && st.Local[key] == sum {
				want["secret-"+g.name] = uri
				continue
			}
			uri, err := c.ensureClientSecret(ctx, r, g.name, secret)
			if err != nil {
				return err
			}
			want["secret-"+g.name] = uri
			if g.name == "tls" {
				st.SetLocal(key, sum)
			}
		}
	}
	set := map[string]string{}
	for _, k := range clientManagedKeys {
		if r.Mine[k] != want[k] {
			set[k] = want[k]
		}
	}
	if len(set) == 0 {
		return nil
	}
	if err := c.Tools.RelationSet(ctx, r.ID, true, set); err != nil {
		return fmt.Errorf("relation-set -r %s: %w", r.ID, err)
	}
	return nil
}

// ensureClientSecret creates the relation's secret of a group (user, tls) and grants it to
// the relation, or updates its content when it changed; it returns the secret's URI.
func (c *Charm) ensureClientSecret(ctx context.Context, r clientRel, group string, content map[string]string) (string, error) {
	if uri := r.Mine["secret-"+group]; uri != "" {
		cur, err := c.Tools.SecretGet(ctx, hookenv.SecretGetArgs{URI: uri})
		if err == nil {
			if !maps.Equal(cur, content) {
				if err := c.Tools.SecretSet(ctx, uri, content); err != nil {
					return "", fmt.Errorf("secret-set %s: %w", r.ID, err)
				}
			}
			return uri, nil
		}
		if !errors.Is(err, hookenv.ErrNotFound) {
			return "", fmt.Errorf("secret-get %s: %w", r.ID, err)
		}
	}
	label := clientSecretLabel(strconv.Itoa(r.Num))
	desc := "credentials of " + r.RemoteApp + " on " + ClientEndpoint
	if group != "user" {
		label, desc = clientGroupSecretLabel(strconv.Itoa(r.Num), group), group+" of "+r.RemoteApp+" on "+ClientEndpoint
	}
	uri, err := c.Tools.SecretAdd(ctx, hookenv.SecretAddArgs{Content: content, Label: label,
		Description: desc, Owner: "application"})
	if err != nil {
		return "", fmt.Errorf("secret-add %s: %w", r.ID, err)
	}
	if err := c.Tools.SecretGrant(ctx, uri, r.ID, ""); err != nil {
		return "", fmt.Errorf("secret-grant %s: %w", r.ID, err)
	}
	return uri, nil
}

// clientSecretLabel labels relation n's user secret, as data_interfaces names it.
func clientSecretLabel(n string) string { return clientGroupSecretLabel(n, "user") }

// localClientTLS+<N> (the leader's charm state) is the digest of what relation N's tls
// secret holds.
const localClientTLS = "client-tls-"

// contentSum is a digest of a secret's content, to tell whether it changed.
func contentSum(content map[string]string) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(content)) {
		fmt.Fprintf(h, "%d:%s=%d:%s;", len(k), k, len(content[k]), content[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// clientGroupSecretLabel labels relation n's secret of a group (user, tls).
func clientGroupSecretLabel(n, group string) string {
	return ClientEndpoint + "." + n + "." + group + ".secret"
}

// removeClientSecret removes the user secret of a relation that lost its user. It is
// cleanup: the credentials it holds no longer log in, so a failure is only logged.
func (c *Charm) removeClientSecret(ctx context.Context, label string) {
	infos, err := c.Tools.SecretInfoGet(ctx, label)
	if err != nil {
		c.logf(ctx, slog.LevelInfo, "no secret %s to remove: %v", label, err)
		return
	}
	for _, i := range infos {
		if i.Label != label {
			continue
		}
		if err := c.Tools.SecretRemove(ctx, i.ID); err != nil {
			c.logf(ctx, slog.LevelWarn, "secret-remove %s (%s): %v", i.ID, label, err)
		}
	}
}

// clientBlocked turns the unit's running status into blocked with the relations' problems.
func (c *Charm) clientBlocked(st *State, problems string) {
	for i, s := range st.statuses {
		if !s.app && s.status == "active" {
			st.statuses[i] = statusWrite{status: "blocked", message: s.message + "; " + problems}
			return
		}
	}
	st.statuses = append(st.statuses, statusWrite{status: "blocked", message: problems})
}
