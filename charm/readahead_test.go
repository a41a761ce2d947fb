package charm

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/jujulet/postgresql-k8s/internal/drprotocol"
	"github.com/jujulet/postgresql-k8s/internal/hookenv"
)

// TestLoadReadsTheReplicationRelationAhead: readState reads the replication relation ahead
// with the peer relation, from what the last hook saw, so that load reads nothing more in a
// steady hook and only what changed otherwise; what load sees is what is there whether the
// record is right, stale, damaged or absent.
func TestLoadReadsTheReplicationRelationAhead(t *testing.T) {
	for _, tc := range []struct {
		name   string
		leader bool
		record func(d *drWorld, rec aheadRecord) string // the record as the hook finds it
		// wantLoadReads are load's own relation reads, after readState.
		wantLoadReads []string
	}{
		{"steady leader", true, func(_ *drWorld, rec aheadRecord) string { return rec.encode() }, nil},
		{"steady non-leader", false, func(_ *drWorld, rec aheadRecord) string { return rec.encode() }, nil},
		{"no record", true, func(*drWorld, aheadRecord) string { return "" },
			[]string{"relation-get R " + remoteOf, "relation-get R " + remoteOf + "/0", "relation-get R " + remoteOf + "/1"}},
		{"no record non-leader", false, func(*drWorld, aheadRecord) string { return "" },
			[]string{"relation-get R " + remoteOf, "relation-get R " + remoteOf + "/0", "relation-get R " + remoteOf + "/1"}},
		{"damaged record", true, func(*drWorld, aheadRecord) string { return "{" },
			[]string{"relation-get R " + remoteOf, "relation-get R " + remoteOf + "/0", "relation-get R " + remoteOf + "/1"}},
		{"record of an older relation", true, func(_ *drWorld, rec aheadRecord) string {
			rec.Rel = "replication-offer:1"
			return rec.encode()
		}, []string{"relation-get R " + remoteOf, "relation-get R " + remoteOf + "/0", "relation-get R " + remoteOf + "/1"}},
		{"a remote unit joined since", true, func(_ *drWorld, rec aheadRecord) string {
			rec.Units = rec.Units[:1]
			return rec.encode()
		}, []string{"relation-get R " + remoteOf + "/1"}},
		{"a remote unit left since", true, func(_ *drWorld, rec aheadRecord) string {
			rec.Units = append(rec.Units, remoteOf+"/7")
			return rec.encode()
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := replicating(t)
			d.addUnit("b", "pg/1")
			d.mustRun("b", "pg/1", "replication-relation-joined")
			d.mustRun("a", "pg/0", "update-status")
			u := d.a.units["pg/0"]
			rec := parseAheadRecord(u.f.State[aheadKey(OfferEndpoint)])
			wantRec := aheadRecord{Rel: d.relA, App: remoteOf, Units: []string{remoteOf + "/0", remoteOf + "/1"}}
			if !reflect.DeepEqual(rec, wantRec) {
				t.Fatalf("record after update-status %+v, want %+v", rec, wantRec)
			}
			if _, ok := u.f.State[aheadKey(ReplicationEndpoint)]; ok {
				t.Errorf("a record of %s, which has no relation: %v", ReplicationEndpoint, u.f.State)
			}
			d.sync("a")
			u.f.Leader = tc.leader
			if r := tc.record(d, rec); r != "" {
				u.f.State[aheadKey(OfferEndpoint)] = r
			} else {
				delete(u.f.State, aheadKey(OfferEndpoint))
			}
			view := func(ahead bool) (*drView, []string) {
				tools := &countingTools{Tools: u.f}
				c := New(hookenv.Env{UnitName: "pg/0", HookName: "update-status"}, tools, nil, nil)
				EnableAsyncReplication(c)
				st, err := c.readState(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if !ahead {
					st.relAhead = map[string]*relationAhead{}
				}
				tools.readsOf(d.relA)
				v, err := c.extension().(*asyncRepl).load(t.Context(), c, st)
				if err != nil {
					t.Fatal(err)
				}
				reads := tools.readsOf(d.relA)
				for i := range reads {
					reads[i] = strings.Replace(reads[i], d.relA, "R", 1)
				}
				return v, reads
			}
			got, reads := view(true)
			if !slices.Equal(reads, tc.wantLoadReads) {
				t.Errorf("load's own reads %q, want %q", reads, tc.wantLoadReads)
			}
			want, _ := view(false)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("view read ahead %+v, want %+v", got, want)
			}
			if got.relID != d.relA || got.remoteApp != remoteOf || len(got.remoteAddrs) != 2 || got.remote.Role == "" {
				t.Errorf("view %+v", got)
			}
			if tc.leader != (got.localRaw != nil) || (tc.leader && !maps.Equal(got.localRaw, d.appA)) {
				t.Errorf("own app bucket %v, want %v (leader %v)", got.localRaw, d.appA, tc.leader)
			}
		})
	}
}

// TestSteadyHookReadsTheReplicationRelationOnce: in a steady update-status every bucket of the
// replication relation is read once, ahead, and nothing is read again.
func TestSteadyHookReadsTheReplicationRelationOnce(t *testing.T) {
	d := replicating(t)
	d.mustRun("a", "pg/0", "update-status")
	var tools *countingTools
	d.a.tweak = func(c *Charm) {
		EnableAsyncReplication(c)
		tools = &countingTools{Tools: c.Tools}
		c.Tools = tools
	}
	d.mustRun("a", "pg/0", "update-status")
	got := tools.readsOf(d.relA)
	want := []string{
		"relation-get " + d.relA + " pg", "relation-get " + d.relA + " pg/0",
		"relation-get " + d.relA + " " + remoteOf, "relation-get " + d.relA + " " + remoteOf + "/0",
		"relation-list " + d.relA, "relation-list --app " + d.relA,
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("reads of the replication relation %q, want %q", got, want)
	}
}

// TestPrimaryLeaderReadsTheSharedSecretOnce: the primary cluster's leader checks the secret
// it shares with the standby cluster once a hook, by the id the last hook kept (read ahead
// with the peer relation), without looking it up by label; when the secret no longer holds
// the passwords it is repaired, and the next hook is steady again.
func TestPrimaryLeaderReadsTheSharedSecretOnce(t *testing.T) {
	d := replicating(t)
	d.mustRun("a", "pg/0", "update-status")
	uri := d.appA[drprotocol.KeySecretID]
	if uri == "" || d.a.secrets[uri] == nil {
		t.Fatalf("no shared secret %q published", uri)
	}
	want := maps.Clone(d.a.secrets[uri].Content)
	cases := []struct {
		name  string
		stale bool // the secret's content differs from the passwords before the hook
		reads []string
	}{
		{name: "steady", reads: []string{"secret-get " + uri}},
		{name: "stale content", stale: true,
			reads: []string{"secret-get " + uri, "secret-info-get " + ReplicationSecretLabel}},
		{name: "steady after the repair", reads: []string{"secret-get " + uri}},
	}
	for _, tc := range cases {
		if tc.stale {
			d.a.secrets[uri].Content["replication-password"] = "stale"
		}
		var tools *countingTools
		d.a.tweak = func(c *Charm) {
			EnableAsyncReplication(c)
			tools = &countingTools{Tools: c.Tools}
			c.Tools = tools
		}
		u := d.mustRun("a", "pg/0", "update-status")
		var got []string
		for _, r := range tools.secretReads {
			if strings.HasSuffix(r, " "+uri) || strings.HasSuffix(r, " "+ReplicationSecretLabel) {
				got = append(got, r)
			}
		}
		if !slices.Equal(got, tc.reads) {
			t.Errorf("%s: shared secret reads %q, want %q", tc.name, got, tc.reads)
		}
		if c := d.a.secrets[uri].Content; !maps.Equal(c, want) {
			t.Errorf("%s: shared secret holds %v, want %v", tc.name, c, want)
		}
		if rec := u.f.State[localDRShared]; rec != uri {
			t.Errorf("%s: read-ahead record %q, want %q", tc.name, rec, uri)
		}
	}
	// The standby cluster's leader shares nothing: it looks nothing up, and keeps no record.
	var tools *countingTools
	d.b.tweak = func(c *Charm) {
		EnableAsyncReplication(c)
		tools = &countingTools{Tools: c.Tools}
		c.Tools = tools
	}
	u := d.mustRun("b", "pg/0", "update-status")
	for _, r := range tools.secretReads {
		if strings.HasPrefix(r, "secret-info-get") {
			t.Errorf("standby leader read %q", r)
		}
	}
	if rec, ok := u.f.State[localDRShared]; ok {
		t.Errorf("standby leader keeps read-ahead record %q", rec)
	}
}

// TestBrokenRelationIsNotReadAhead: in relation-broken the relation is as if gone: nothing of
// it is read, and the next hook has no record to read ahead from.
func TestBrokenRelationIsNotReadAhead(t *testing.T) {
	d := replicating(t)
	d.mustRun("a", "pg/0", "update-status")
	if d.a.units["pg/0"].f.State[aheadKey(OfferEndpoint)] == "" {
		t.Fatal("no record after a steady hook")
	}
	var tools *countingTools
	d.a.tweak = func(c *Charm) {
		EnableAsyncReplication(c)
		tools = &countingTools{Tools: c.Tools}
		c.Tools = tools
	}
	u := d.mustRun("a", "pg/0", "replication-offer-relation-broken")
	if got := tools.readsOf(d.relA); len(got) != 0 {
		t.Errorf("the broken relation was read: %q", got)
	}
	if rec, ok := u.f.State[aheadKey(OfferEndpoint)]; ok {
		t.Errorf("record %q left after relation-broken", rec)
	}
}
