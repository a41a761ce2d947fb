package uniter

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
)

// TestHookContextKeepsWhatJujuCaches: within one hook, Juju's context keeps its list of
// relations from the start and caches config and relation settings at their first read; a
// change made meanwhile (by another unit, or the user) shows in the next hook only. The
// unit's own pending writes show at once.
func TestHookContextKeepsWhatJujuCaches(t *testing.T) {
	u := envUnit(t, nil)
	peers := st.RelEP{Model: "m", App: "a", Endpoint: "peers", Role: "peer"}
	require.NoError(t, u.store.Update(func(tx *st.Tx) error {
		tx.PutUnit(&st.Unit{Model: "m", App: "a", Name: "a/1", Life: st.Alive})
		tx.PutRelation(&st.Relation{ID: 1, EPs: []st.RelEP{peers}, Life: st.Alive, Peer: true})
		tx.WriteBucket(1, 0, "a/1", map[string]string{"k": "old"})
		app, err := tx.App("m", "a")
		require.NoError(t, err)
		app.Config = map[string]any{"x": "old"}
		tx.PutApp(app)
		return nil
	}))
	hc := u.newContext(&st.Hook{Name: "update-status", Kind: "update-status"}, nil)

	ids, err := hc.RelationIDs("peers")
	require.NoError(t, err)
	assert.Equal(t, []int{1}, ids)
	data, err := hc.ReadUnitSettings(1, "a/1")
	require.NoError(t, err)
	assert.Equal(t, "old", data["k"])
	cfg, err := hc.Config()
	require.NoError(t, err)
	assert.Equal(t, "old", cfg["x"])
	cfg["x"] = "mutated by the caller" // callers get copies
	data["k"] = "mutated by the caller"

	// Meanwhile: another unit writes, the user changes config, a relation is added.
	change := func() {
		require.NoError(t, u.store.Update(func(tx *st.Tx) error {
			tx.WriteBucket(1, 0, "a/1", map[string]string{"k": "new"})
			app, err := tx.App("m", "a")
			require.NoError(t, err)
			app.Config = map[string]any{"x": "new"}
			tx.PutApp(app)
			tx.PutRelation(&st.Relation{ID: 2, EPs: []st.RelEP{{Model: "m", App: "a", Endpoint: "peers2", Role: "peer"}}, Life: st.Alive, Peer: true})
			return nil
		}))
	}
	change()
	require.NoError(t, hc.WriteSettings(1, false, map[string]string{"mine": "v"}))

	ids, err = hc.RelationIDs("peers2")
	require.NoError(t, err)
	assert.Empty(t, ids, "relations are those of the hook's start")
	data, err = hc.ReadUnitSettings(1, "a/1")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"k": "old"}, data)
	cfg, err = hc.Config()
	require.NoError(t, err)
	assert.Equal(t, "old", cfg["x"])
	own, err := hc.ReadUnitSettings(1, "a/0")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"mine": "v"}, own, "the hook's own writes show at once")

	// The next hook sees it all.
	next := u.newContext(&st.Hook{Name: "update-status", Kind: "update-status"}, nil)
	ids, err = next.RelationIDs("peers2")
	require.NoError(t, err)
	assert.Equal(t, []int{2}, ids)
	data, err = next.ReadUnitSettings(1, "a/1")
	require.NoError(t, err)
	assert.Equal(t, "new", data["k"])
	cfg, err = next.Config()
	require.NoError(t, err)
	assert.Equal(t, "new", cfg["x"])
}
