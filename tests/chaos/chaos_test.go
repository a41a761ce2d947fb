package chaos

import (
	"context"
	"testing"
	"time"
)

// TestChaos is the drill: the short profile inside `make test`, the long one with `make
// chaos` (CHAOS_PROFILE=long). The seed is printed; CHAOS_SEED=N replays its choices.
func TestChaos(t *testing.T) {
	prof, err := envProfile()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	t.Logf("chaos: seed %d, profile %s (rounds start until %v has passed), replay with CHAOS_SEED=%d make chaos", prof.Seed, prof.Name, prof.Budget, prof.Seed)
	ctx, cancel := context.WithTimeout(context.Background(), prof.Budget+20*time.Minute)
	defer cancel()
	d := Setup(t, ctx, prof)
	t.Logf("chaos: setup took %v", time.Since(start).Round(time.Second))
	results := d.Run(ctx, start)
	t.Logf("chaos: seed %d, %d round(s) in %v\n%s", prof.Seed, len(results), time.Since(start).Round(time.Second), Table(results))
	t.Logf("chaos: prober: %v", d.Probe())
	t.Logf("chaos: replay: %s", Replay(prof, len(results)))
	if msg := Failure(prof, results); msg != "" {
		t.Logf("chaos: state after the broken invariant:\n%s", d.Diagnose(ctx))
		t.Fatalf("%s\nreplay: CHAOS_SEED=%d CHAOS_ROUNDS=%d make chaos", msg, prof.Seed, len(results))
	}
	if len(results) == 0 {
		t.Fatal("chaos: no round ran")
	}
	// Never two writable units over the whole drill, and probes that reached every unit.
	if err := d.Probe().Err(); err != nil {
		t.Fatalf("chaos seed %d: %v\nreplay: CHAOS_SEED=%d make chaos", prof.Seed, err, prof.Seed)
	}
}
