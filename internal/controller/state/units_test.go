package state

import (
	"strings"
	"testing"
)

// TestAddUnitsBounds: add-unit -n, deploy -n and scale-application are refused, changing
// nothing, outside 1..MaxUnitsPerApp alive units.
func TestAddUnitsBounds(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Update(func(tx *Tx) error {
		tx.PutApp(&App{Model: "m", Name: "a", Life: "alive"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		op   func(tx *Tx, a *App) error
		err  string // "" for success
	}{
		{"zero", func(tx *Tx, a *App) error { _, err := tx.AddUnits(a, 0); return err }, "must be a positive integer"},
		{"negative", func(tx *Tx, a *App) error { _, err := tx.AddUnits(a, -3); return err }, "must be a positive integer"},
		{"too many at once", func(tx *Tx, a *App) error { _, err := tx.AddUnits(a, MaxUnitsPerApp+1); return err }, "at most 64 units"},
		{"huge", func(tx *Tx, a *App) error { _, err := tx.AddUnits(a, 1<<40); return err }, "at most 64 units"},
		{"scale past the bound", func(tx *Tx, a *App) error { return tx.Scale(a, MaxUnitsPerApp+1) }, "at most 64 units"},
		{"up to the bound", func(tx *Tx, a *App) error { _, err := tx.AddUnits(a, MaxUnitsPerApp); return err }, ""},
		{"one more", func(tx *Tx, a *App) error { _, err := tx.AddUnits(a, 1); return err }, "which has 64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before, after int
			err := s.Update(func(tx *Tx) error {
				a, err := tx.App("m", "a")
				if err != nil {
					return err
				}
				before = len(tx.Units("m", "a"))
				return tc.op(tx, a)
			})
			_ = s.View(func(tx *Tx) error { after = len(tx.Units("m", "a")); return nil })
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want %q", err, tc.err)
			case tc.err != "" && after != before:
				t.Errorf("refused, yet the units went from %d to %d", before, after)
			}
		})
	}
}
