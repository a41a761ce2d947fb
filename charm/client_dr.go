package charm

// The database relation under cross-regional replication. A client may integrate with either
// cluster. A standby cluster cannot write, so the primary cluster creates its relations' roles,
// which reach it by replication; and each cluster admits the other's clients in pg_hba, so
// that the endpoints (this cluster's units, then the other's, target_session_attrs=read-write)
// keep working after a switchover between the clusters.
//
// Replication relation, application bucket of each leader (the other model reads it and
// parses it strictly, entry by entry; drprotocol ignores these keys):
//
//	client-users    JSON list of drClient: this cluster's relations (user, database, roles,
//	                the requirer units' addresses; key: the password's key in client-secret,
//	                on a standby cluster, whose roles the primary cluster creates)
//	client-secret   URI of a secret granted to the relation: the passwords (standby cluster)
//	client-applied  JSON map user → clientGrant: the other cluster's roles this (primary)
//	                cluster created; a change wakes the other side up
//
// Peer application bucket: clients-remote, the other cluster's client-users as validated
// (user, database, addresses) for every unit's pg_hba.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/hookenv"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

const (
	keyDRClientUsers    = "client-users"
	keyDRClientSecret   = "client-secret"
	keyDRClientApplied  = "client-applied"
	keyClientsRemote    = "clients-remote"
	drClientSecretLabel = "postgresql-k8s-client-passwords"
	// maxDRClients bounds what the other model may ask for.
	maxDRClients = 500
)

// drClient is one relation of a cluster as the other cluster sees it.
type drClient struct {
	User     string   `json:"user"`
	Database string   `json:"database"`
	Roles    []string `json:"roles,omitempty"`
	Addrs    []string `json:"addrs,omitempty"`
	Key      string   `json:"key,omitempty"`
}

// drClientView is the replication relation as the client code needs it (leader only).
type drClientView struct {
	relID       string
	remote      map[string]string // the other cluster's application bucket
	mine        map[string]string // this cluster's
	remoteAddrs []string          // the other cluster's unit addresses, sorted
	remoteUsers []drClient        // the other cluster's valid client-users
	passwords   map[string]string // this cluster's client-secret content
	secretURI   string            // this cluster's client-secret
}

var (
	// Roles created for the other cluster carry its model's suffix (clientUser).
	drCreatableUser = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^relation_id_[0-9]{1,10}_[0-9a-f]{8}$`) })
	drClientUser    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^relation_id_[0-9]{1,10}(_[0-9a-f]{8})?$`) })
	drSecretKeyRe   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^relation-[0-9]{1,10}$`) })
)

func drSecretKey(num int) string { return "relation-" + strconv.Itoa(num) }

// parseDRClients reads the other cluster's client-users. Entries that are not well formed
// are left out (and said); a list that does not parse is empty.
func parseDRClients(raw string) ([]drClient, []string) {
	if raw == "" {
		return nil, nil
	}
	var list []drClient
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&list); err != nil {
		return nil, []string{fmt.Sprintf("%s is not a list of clients: %v", keyDRClientUsers, err)}
	}
	if len(list) > maxDRClients {
		return nil, []string{fmt.Sprintf("%s has %d entries (at most %d)", keyDRClientUsers, len(list), maxDRClients)}
	}
	var out []drClient
	var bad []string
	seen := map[string]bool{}
	for _, d := range list {
		if err := validDRClient(d); err != nil || seen[d.User] {
			bad = append(bad, fmt.Sprintf("client %q: %v", d.User, cmpErr(err, "listed twice")))
			continue
		}
		seen[d.User] = true
		out = append(out, d)
	}
	return out, bad
}

func cmpErr(err error, msg string) string {
	if err != nil {
		return err.Error()
	}
	return msg
}

func validDRClient(d drClient) error {
	if !drClientUser().MatchString(d.User) {
		return fmt.Errorf("not a client user name")
	}
	if !clientDatabaseName().MatchString(d.Database) || slices.Contains(clientReservedDatabases, d.Database) {
		return fmt.Errorf("database %q not allowed", d.Database)
	}
	for _, r := range d.Roles {
		if !slices.Contains(slices.Collect(maps.Values(clientRoleAttributes)), r) && !slices.Contains(clientRoleGrants, r) {
			return fmt.Errorf("role %q not allowed", r)
		}
	}
	for _, a := range d.Addrs {
		if net.ParseIP(a) == nil {
			return fmt.Errorf("address %q is not an IP address", a)
		}
	}
	if d.Key != "" && (!drSecretKeyRe().MatchString(d.Key) || !drCreatableUser().MatchString(d.User)) {
		return fmt.Errorf("key %q: only a standby cluster's own users are created for it", d.Key)
	}
	return nil
}

// readDRClients takes what the cross-cluster extension read of the replication relation
// this hook (nothing is read twice), and the client-secret's content; nil when this cluster
// does not replicate.
func (c *Charm) readDRClients(ctx context.Context, st *State) (*drClientView, error) {
	if modeOf(st) == modeNone {
		return nil, nil
	}
	link := c.extension().replicationLink()
	if link == nil {
		return nil, nil
	}
	v := &drClientView{relID: link.relID, mine: link.mine, remote: link.remote}
	if uri := v.mine[keyDRClientSecret]; uri != "" {
		if content, err := c.Tools.SecretGet(ctx, hookenv.SecretGetArgs{URI: uri}); err == nil {
			v.passwords, v.secretURI = content, uri
		} // not there any more: made again
	}
	addrs := slices.Clone(link.remoteAddrs)
	slices.Sort(addrs)
	v.remoteAddrs = slices.Compact(addrs)
	var bad []string
	v.remoteUsers, bad = parseDRClients(v.remote[keyDRClientUsers])
	for _, b := range bad {
		c.logf(ctx, slog.LevelWarn, "ignoring the other cluster's %s", b)
	}
	if v.mine == nil {
		v.mine = map[string]string{}
	}
	return v, nil
}

// clientsFromPrimaryCluster is the standby cluster leader's part: it shares the passwords of
// its relations' users with the primary cluster, and marks answerable (apply=false) those
// whose role the primary cluster created and that have replayed here with that password.
func (c *Charm) clientsFromPrimaryCluster(ctx context.Context, st *State, w Workload, dr *drClientView, serve []*clientUserWork) (version string, pending int, err error) {
	content := map[string]string{}
	for _, wk := range serve {
		content[drSecretKey(wk.rel.Num)] = wk.password
	}
	if err := c.ensureDRClientSecret(ctx, dr, content); err != nil {
		return "", 0, err
	}
	applied := map[string]clientGrant{}
	if raw := dr.remote[keyDRClientApplied]; raw != "" && json.Unmarshal([]byte(raw), &applied) != nil {
		applied = map[string]clientGrant{}
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var admin ClientAdmin // opened when there is something to look at
	for _, wk := range serve {
		if !wk.apply {
			continue
		}
		g, want := applied[wk.user], wk.grant()
		if g.Database != want.Database || !slices.Equal(g.Roles, want.Roles) {
			pending++
			continue
		}
		if admin == nil {
			if admin, err = c.openClientAdmin(cctx, st, w); err != nil {
				return "", 0, err
			}
			defer admin.Close(ctx)
		}
		ok, err := admin.HasClientUser(cctx, wk.user, wk.password)
		if err != nil {
			return "", 0, err
		}
		if !ok {
			pending++ // created there, not replayed here yet
			continue
		}
		wk.apply = false
	}
	if admin != nil {
		if version, err = admin.ServerVersion(cctx); err != nil {
			return "", 0, err
		}
	}
	return version, pending, nil
}

// ensureDRClientSecret keeps this cluster's client-secret at content, granted to the
// replication relation.
func (c *Charm) ensureDRClientSecret(ctx context.Context, dr *drClientView, content map[string]string) error {
	if len(content) == 0 && dr.secretURI == "" {
		return nil
	}
	if dr.secretURI != "" {
		if !maps.Equal(dr.passwords, content) {
			if err := c.Tools.SecretSet(ctx, dr.secretURI, content); err != nil {
				return fmt.Errorf("secret-set client passwords: %w", err)
			}
			dr.passwords = content
		}
		return nil
	}
	uri, err := c.Tools.SecretAdd(ctx, hookenv.SecretAddArgs{Content: content, Label: drClientSecretLabel,
		Description: "passwords of this cluster's client users, for the primary cluster to create them", Owner: "application"})
	if err != nil {
		return fmt.Errorf("secret-add client passwords: %w", err)
	}
	if err := c.Tools.SecretGrant(ctx, uri, dr.relID, ""); err != nil {
		return fmt.Errorf("secret-grant client passwords: %w", err)
	}
	dr.secretURI, dr.passwords = uri, content
	return nil
}

// syncDRClients publishes this cluster's relations to the other cluster, creates (primary
// cluster) the other cluster's users, and mirrors the other cluster's clients for pg_hba.
func (c *Charm) syncDRClients(ctx context.Context, st *State, w Workload, dr *drClientView, recorded map[string]clientGrant) error {
	if dr == nil {
		st.SetApp(keyClientsRemote, "")
		return nil
	}
	standby := modeOf(st) == modeStandby
	own := map[string]bool{}
	var mine []drClient
	for _, r := range st.clients {
		req, err := parseClientRequest(r.Request)
		if err != nil {
			continue
		}
		d := drClient{User: c.clientUser(st, r.Num), Database: req.Database, Roles: req.grant().Roles, Addrs: r.Addrs}
		if standby {
			d.Key = drSecretKey(r.Num)
		}
		own[d.User] = true
		mine = append(mine, d)
	}
	for _, g := range recorded {
		own[g.User] = true
	}
	// client-applied is the primary cluster's: in any other mode (a switchover under way, a
	// standby) it is left as it was, so that the users it lists can still be dropped later.
	want := map[string]string{keyDRClientUsers: "", keyDRClientSecret: ""}
	if len(mine) > 0 {
		want[keyDRClientUsers] = toJSON(mine)
	}
	if standby {
		want[keyDRClientSecret] = dr.secretURI
	}
	if modeOf(st) == modePrimary {
		applied, err := c.createDRClients(ctx, st, w, dr, own)
		if err != nil {
			return err
		}
		want[keyDRClientApplied] = ""
		if len(applied) > 0 {
			want[keyDRClientApplied] = toJSON(applied)
		}
	}
	set := map[string]string{}
	for k, v := range want {
		if dr.mine[k] != v {
			set[k] = v
		}
	}
	if len(set) > 0 {
		if err := c.Tools.RelationSet(ctx, dr.relID, true, set); err != nil {
			return fmt.Errorf("relation-set --app %s: %w", dr.relID, err)
		}
	}
	return nil
}

// readClientsDR reads the replication relation (leader) and mirrors the other cluster's
// clients for pg_hba: before the role is applied, so that this very hook admits them.
func (c *Charm) readClientsDR(ctx context.Context, st *State) error {
	if !st.Leader {
		return nil
	}
	dr, err := c.readDRClients(ctx, st)
	if err != nil {
		return err
	}
	st.clientsDR = dr
	if dr == nil {
		st.SetApp(keyClientsRemote, "")
		return nil
	}
	own := map[string]bool{}
	for _, r := range st.clients {
		own[c.clientUser(st, r.Num)] = true
	}
	for _, g := range recordedGrants(st) {
		own[g.User] = true
	}
	var hba []drClient
	for _, d := range dr.remoteUsers {
		if !own[d.User] { // never the other cluster's word on this cluster's own users
			hba = append(hba, drClient{User: d.User, Database: d.Database, Addrs: d.Addrs})
		}
	}
	raw := ""
	if len(hba) > 0 {
		raw = toJSON(hba)
	}
	st.SetApp(keyClientsRemote, raw)
	return nil
}

// createDRClients (primary cluster) creates the users the standby cluster asked for and drops
// those it no longer lists; it returns what is applied.
func (c *Charm) createDRClients(ctx context.Context, st *State, w Workload, dr *drClientView, own map[string]bool) (map[string]clientGrant, error) {
	applied := map[string]clientGrant{}
	if raw := dr.mine[keyDRClientApplied]; raw != "" && json.Unmarshal([]byte(raw), &applied) != nil {
		applied = map[string]clientGrant{}
	}
	wanted := map[string]drClient{}
	for _, d := range dr.remoteUsers {
		if d.Key != "" && !own[d.User] {
			wanted[d.User] = d
		}
	}
	var todo []drClient
	for _, d := range wanted {
		if g := applied[d.User]; g.Database != d.Database || !slices.Equal(g.Roles, d.Roles) {
			todo = append(todo, d)
		}
	}
	var gone []string
	for u := range applied {
		if _, ok := wanted[u]; !ok {
			gone = append(gone, u)
		}
	}
	if len(todo) == 0 && len(gone) == 0 {
		return applied, nil
	}
	var passwords map[string]string
	if len(todo) > 0 {
		uri := dr.remote[keyDRClientSecret]
		if uri == "" {
			return applied, nil // the other side has not shared them yet
		}
		var err error
		if passwords, err = c.Tools.SecretGet(ctx, hookenv.SecretGetArgs{URI: uri, Refresh: true}); err != nil {
			return nil, fmt.Errorf("secret-get the other cluster's client passwords: %w", err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	admin, err := c.openClientAdmin(cctx, st, w)
	if err != nil {
		return nil, err
	}
	defer admin.Close(ctx)
	if rec, err := admin.InRecovery(cctx); err != nil || rec {
		return applied, err
	}
	slices.Sort(gone)
	for _, u := range gone {
		if err := admin.DropClientUser(cctx, u); err != nil {
			return nil, err
		}
		delete(applied, u)
		c.logf(ctx, slog.LevelInfo, "database relation of the other cluster: dropped user %s", u)
	}
	slices.SortFunc(todo, func(a, b drClient) int { return strings.Compare(a.User, b.User) })
	for _, d := range todo {
		pw := passwords[d.Key]
		if pw == "" {
			continue
		}
		cu := postgres.ClientUser{Name: d.User, Password: pw, Database: d.Database}
		for _, r := range d.Roles {
			if slices.Contains(clientRoleGrants, r) {
				cu.Roles = append(cu.Roles, r)
			} else {
				cu.Attributes = append(cu.Attributes, r)
			}
		}
		if err := admin.EnsureClientUser(cctx, cu, revokedRoles(cu.Roles)); err != nil {
			return nil, err
		}
		applied[d.User] = clientGrant{User: d.User, Database: d.Database, Roles: d.Roles}
		c.logf(ctx, slog.LevelInfo, "database relation of the other cluster: user %s for database %s", d.User, d.Database)
	}
	return applied, nil
}

func toJSON(v any) string {
	b, _ := json.Marshal(v) // plain structs and maps of strings: cannot fail
	return string(b)
}

// remoteClientHBA admits the other cluster's clients, as its leader's mirror lists them.
func remoteClientHBA(st *State) []postgres.HBARule {
	var list []drClient
	if raw := st.AppData[keyClientsRemote]; raw == "" || json.Unmarshal([]byte(raw), &list) != nil {
		return nil
	}
	var rules []postgres.HBARule
	for _, d := range list {
		if validDRClient(d) != nil {
			continue
		}
		rules = append(rules, hbaFor(d.Database, d.User, d.Addrs)...)
	}
	return rules
}
