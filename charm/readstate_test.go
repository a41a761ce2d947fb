package charm

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jujulet/postgresql-k8s/internal/hookenv"
	"github.com/jujulet/postgresql-k8s/internal/hookenv/hookenvtest"
)

// countingTools counts the relation-get and secret-get calls of a hook, and records the
// secret reads and the relation reads ("relation-get <id> <owner>", "relation-list <id>", "relation-list --app <id>").
type countingTools struct {
	hookenv.Tools
	mu                      sync.Mutex
	relationGets, secretGet int
	reads                   []string
	// secretReads are the secret-get URIs and secret-info-get labels, in call order.
	secretReads []string
}

func (c *countingTools) read(call string) {
	c.mu.Lock()
	c.reads = append(c.reads, call)
	c.mu.Unlock()
}

// readsOf returns the relation reads of relID so far, sorted, and forgets them.
func (c *countingTools) readsOf(relID string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, r := range c.reads {
		if strings.Contains(r, " "+relID) {
			out = append(out, r)
		}
	}
	c.reads = nil
	slices.Sort(out)
	return out
}

func (c *countingTools) RelationGet(ctx context.Context, relID, owner string, app bool) (map[string]string, error) {
	c.mu.Lock()
	c.relationGets++
	c.mu.Unlock()
	c.read("relation-get " + relID + " " + owner)
	return c.Tools.RelationGet(ctx, relID, owner, app)
}

func (c *countingTools) RelationList(ctx context.Context, relID string) ([]string, error) {
	c.read("relation-list " + relID)
	return c.Tools.RelationList(ctx, relID)
}

func (c *countingTools) RelationRemoteApp(ctx context.Context, relID string) (string, error) {
	c.read("relation-list --app " + relID)
	return c.Tools.RelationRemoteApp(ctx, relID)
}

func (c *countingTools) SecretGet(ctx context.Context, args hookenv.SecretGetArgs) (map[string]string, error) {
	c.mu.Lock()
	c.secretGet++
	c.secretReads = append(c.secretReads, "secret-get "+args.URI)
	c.mu.Unlock()
	return c.Tools.SecretGet(ctx, args)
}

func (c *countingTools) SecretInfoGet(ctx context.Context, label string) ([]hookenv.SecretInfo, error) {
	c.mu.Lock()
	c.secretReads = append(c.secretReads, "secret-info-get "+label)
	c.mu.Unlock()
	return c.Tools.SecretInfoGet(ctx, label)
}

// TestReadStateReadsAheadFromTheCache: the peers and the secret id the last hook saw let
// readState read the peer buckets and the passwords early; what it reads is what is there
// whether the cache is right, stale or absent.
func TestReadStateReadsAheadFromTheCache(t *testing.T) {
	passwords := func(pw string) map[string]string {
		m := map[string]string{}
		for _, u := range SystemUsers {
			m[passwordKey(u)] = pw + "-" + u
		}
		return m
	}
	const oldSecret, newSecret = "secret://m/old", "secret://m/new"
	for _, tc := range []struct {
		name          string
		local         map[string]string
		departing     string
		wantRelGets   int // app + own bucket + one per peer + the extra reads
		wantSecretGet int
	}{
		{"no cache", nil, "", 4, 1},
		{"cache right", map[string]string{localPeerRelation: peerRel, localPeers: "pg/1,pg/2", localSecretID: newSecret}, "", 4, 1},
		{"a peer joined since", map[string]string{localPeerRelation: peerRel, localPeers: "pg/1", localSecretID: newSecret}, "", 4, 1},
		{"a peer left since", map[string]string{localPeerRelation: peerRel, localPeers: "pg/1,pg/2,pg/3", localSecretID: newSecret}, "", 5, 1},
		{"cache of another relation", map[string]string{localPeerRelation: "database-peers:9", localPeers: "pg/1,pg/2,pg/3", localSecretID: newSecret}, "", 4, 1},
		{"secret replaced since", map[string]string{localPeerRelation: peerRel, localPeers: "pg/1,pg/2", localSecretID: oldSecret}, "", 4, 2},
		{"departing peer not read ahead", map[string]string{localPeerRelation: peerRel, localPeers: "pg/1,pg/2", localSecretID: newSecret}, "pg/2", 3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := hookenvtest.NewFake("pg/0")
			f.Address = "127.0.0.10"
			f.Config = map[string]any{"profile": "testing"}
			maps.Copy(f.State, tc.local)
			rel := f.AddRelation(peerRel, "pg", "pg/1", "pg/2")
			rel.Data["pg"] = map[string]string{"secret-id": newSecret, "primary": "pg/1"}
			rel.Data["pg/0"] = map[string]string{"address": "127.0.0.10"}
			rel.Data["pg/1"] = map[string]string{"address": "127.0.0.11"}
			rel.Data["pg/2"] = map[string]string{"address": "127.0.0.12"}
			rel.Data["pg/3"] = map[string]string{"address": "127.0.0.13"}
			f.Secrets[oldSecret] = &hookenvtest.FakeSecret{Owner: "application", Content: passwords("old"), Rev: 1}
			f.Secrets[newSecret] = &hookenvtest.FakeSecret{Owner: "application", Content: passwords("new"), Rev: 1}
			tools := &countingTools{Tools: f}
			c := New(hookenv.Env{UnitName: "pg/0", HookName: "update-status", DepartingUnit: tc.departing}, tools, nil, nil)
			st, err := c.readState(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			wantPeers := []string{"pg/1", "pg/2"}
			if tc.departing != "" {
				wantPeers = slices.DeleteFunc(wantPeers, func(u string) bool { return u == tc.departing })
			}
			if !slices.Equal(st.Peers, wantPeers) || !slices.Equal(slices.Sorted(maps.Keys(st.PeerData)), wantPeers) {
				t.Fatalf("peers %v, data of %v; want %v", st.Peers, slices.Sorted(maps.Keys(st.PeerData)), wantPeers)
			}
			for _, u := range wantPeers {
				if got, want := st.AddressOf(u), rel.Data[u]["address"]; got != want {
					t.Errorf("address of %s = %q, want %q", u, got, want)
				}
			}
			if st.Primary() != "pg/1" || st.MyData["address"] != "127.0.0.10" {
				t.Errorf("app data %v, own data %v", st.AppData, st.MyData)
			}
			if err := c.loadPasswords(t.Context(), st); err != nil {
				t.Fatal(err)
			}
			if st.Passwords["operator"] != "new-operator" {
				t.Errorf("operator password %q, want the current secret's", st.Passwords["operator"])
			}
			if tools.relationGets != tc.wantRelGets || tools.secretGet != tc.wantSecretGet {
				t.Errorf("relation-get ×%d, secret-get ×%d; want ×%d, ×%d", tools.relationGets, tools.secretGet, tc.wantRelGets, tc.wantSecretGet)
			}
			// What the next hook reads ahead.
			if err := c.flush(t.Context(), st); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{localPeerRelation: peerRel, localPeers: "pg/1,pg/2", localSecretID: newSecret}
			if tc.departing != "" {
				want[localPeers] = "pg/1"
			}
			if !maps.Equal(f.State, want) {
				t.Errorf("charm state %v, want %v", f.State, want)
			}
		})
	}
}

// TestSteadyHookSetsOnlyChangedStatuses: a reconcile that finds the statuses it would set
// sets none; one whose status changes, or that set another one on the way, sets it.
func TestSteadyHookSetsOnlyChangedStatuses(t *testing.T) {
	for _, tc := range []struct {
		name            string
		unit            string
		before          hookenvtest.Status // the unit status before the hook ("" as is)
		wantUnitWrites  int
		wantAppWrites   int
		wantUnitMessage string
	}{
		{"leader unchanged", "pg/0", hookenvtest.Status{}, 0, 0, "Primary"},
		{"leader's unit status changed", "pg/0", hookenvtest.Status{Status: "maintenance", Message: "x"}, 1, 0, "Primary"},
		{"replica unchanged", "pg/1", hookenvtest.Status{}, 0, 0, "Replica"},
		{"replica's status changed", "pg/1", hookenvtest.Status{Status: "waiting", Message: "y"}, 1, 0, "Replica"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := bootstrap(t, 2)
			w.app[keyPinnedPrimary] = "pg/0" // no hand-off of the primary: steady at once
			w.mustRun("pg/1", "database-peers-relation-joined")
			for _, u := range w.names() {
				w.mustRun(u, "update-status")
			}
			u := w.units[tc.unit]
			if tc.before.Status != "" {
				u.f.UnitStatus = tc.before
			}
			n := len(u.f.StatusHistory)
			u = w.mustRun(tc.unit, "update-status")
			var unitWrites, appWrites int
			for _, s := range u.f.StatusHistory[n:] {
				if s.App {
					appWrites++
				} else {
					unitWrites++
				}
			}
			wantStatus(t, u, "active", tc.wantUnitMessage)
			if unitWrites != tc.wantUnitWrites || appWrites != tc.wantAppWrites {
				t.Errorf("status-set: unit ×%d, app ×%d; want ×%d, ×%d (%v)", unitWrites, appWrites, tc.wantUnitWrites, tc.wantAppWrites, u.f.StatusHistory[n:])
			}
		})
	}
}
