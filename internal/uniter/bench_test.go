package uniter

import (
	"fmt"
	"testing"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
)

// BenchmarkLoadViewOwnedSecrets measures what a unit agent's step costs to read when its
// application owns many secrets with many consumers (the leader looks for due rotations,
// expiries and obsolete revisions on every step).
func BenchmarkLoadViewOwnedSecrets(b *testing.B) {
	for _, n := range []int{0, 10, 100} {
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			u := envUnit(b, nil)
			err := u.store.Update(func(tx *st.Tx) error {
				tx.PutModel(&st.Model{UUID: "m", Name: "m", Life: st.Alive, Config: map[string]string{}})
				tx.PutUnit(&st.Unit{Model: "m", App: "a", Name: "a/0", Life: st.Alive, Local: started()})
				for i := range n {
					uri := fmt.Sprintf("secret://m/s%04d", i)
					tx.PutSecret(&st.Secret{URI: uri, Model: "m", OwnerApp: "a", Latest: 3,
						Revisions: map[int]map[string]string{1: {"p": "1"}, 2: {"p": "2"}, 3: {"p": "3"}}})
					for j := range 3 {
						tx.PutConsumer(&st.Consumer{URI: uri, Model: "m", Unit: fmt.Sprintf("b/%d", j), Revision: 2 + j%2})
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if err := u.store.View(func(tx *st.Tx) error {
					v, err := u.loadView(tx)
					if err == nil && len(v.obsolete) != n {
						return fmt.Errorf("%d obsolete revisions, want %d", len(v.obsolete), n)
					}
					return err
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
