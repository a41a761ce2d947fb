package chaos

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPlanIsDeterminedBySeed(t *testing.T) {
	a, b := Plan(42, 50), Plan(42, 50)
	if !slices.Equal(a, b) {
		t.Fatal("two plans of seed 42 differ")
	}
	if !slices.Equal(Plan(42, 7), a[:7]) {
		t.Fatal("a shorter plan is not a prefix of the longer one: CHAOS_ROUNDS would not replay")
	}
	if slices.Equal(Plan(43, 50), a) {
		t.Fatal("seeds 42 and 43 give the same plan")
	}
	seen := map[Fault]bool{}
	for _, s := range Plan(1, 400) {
		seen[s.Fault] = true
		if s.Delay < 0 || s.Delay >= 4*time.Second || s.Downtime < 3*time.Second || s.Downtime >= 20*time.Second {
			t.Fatalf("step %+v out of range", s)
		}
	}
	if len(seen) != int(numFaults) {
		t.Fatalf("400 steps drew %d of %d faults", len(seen), numFaults)
	}
}

func TestProfileFromEnv(t *testing.T) {
	now := time.Unix(1_700_000_123, 456)
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    Profile
		wantErr string
	}{
		{"default is short with a clock seed", nil, Profile{Name: "short", Seed: uint64(now.UnixNano()) % 1_000_000_000, Budget: 150 * time.Second, Converge: 4 * time.Minute}, ""},
		{"long with seed and rounds", map[string]string{"CHAOS_PROFILE": "long", "CHAOS_SEED": "77", "CHAOS_ROUNDS": "3"},
			Profile{Name: "long", Seed: 77, Budget: 25 * time.Minute, MaxRounds: 3, Converge: 4 * time.Minute}, ""},
		{"budget and converge", map[string]string{"CHAOS_SEED": "0", "CHAOS_BUDGET": "90s", "CHAOS_CONVERGE": "2m"},
			Profile{Name: "short", Seed: 0, Budget: 90 * time.Second, Converge: 2 * time.Minute}, ""},
		{"unknown profile", map[string]string{"CHAOS_PROFILE": "medium"}, Profile{}, `CHAOS_PROFILE="medium"`},
		{"negative seed", map[string]string{"CHAOS_SEED": "-1"}, Profile{}, `CHAOS_SEED="-1"`},
		{"seed not a number", map[string]string{"CHAOS_SEED": "abc"}, Profile{}, `CHAOS_SEED="abc"`},
		{"budget without unit", map[string]string{"CHAOS_BUDGET": "90"}, Profile{}, `CHAOS_BUDGET="90"`},
		{"zero converge", map[string]string{"CHAOS_CONVERGE": "0s"}, Profile{}, `CHAOS_CONVERGE="0s"`},
		{"zero rounds", map[string]string{"CHAOS_ROUNDS": "0"}, Profile{}, `CHAOS_ROUNDS="0"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ProfileFromEnv(func(k string) string { return tc.env[k] }, now)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestTableAndFailure(t *testing.T) {
	p := Profile{Name: "short", Seed: 9}
	ok := Result{Round: 1, Step: Step{Fault: Planned}, Detail: "db1 → db2", Outage: 1500 * time.Millisecond, Converge: 20 * time.Second, Acked: 300, Probes: "90/100"}
	bad := Result{Round: 2, Step: Step{Fault: Forced}, Detail: "db2 down", Allowed: "acks after 0/3000000", Lost: 4}
	bad.violate("a forced round loses no more than the promotion's RPO", errAt("2 inserts"))
	if msg := Failure(p, []Result{ok}); msg != "" {
		t.Fatalf("Failure of a good run: %q", msg)
	}
	msg := Failure(p, []Result{ok, bad})
	for _, want := range []string{"seed 9", "round 2", "forced", "RPO", "2 inserts"} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure %q does not say %q", msg, want)
		}
	}
	table := Table([]Result{ok, bad})
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 4 {
		t.Fatalf("table has %d lines, want header, rule and 2 rows:\n%s", len(lines), table)
	}
	for i, want := range []string{"outage", "---", "1.5s", "VIOLATED"} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d %q lacks %q", i, lines[i], want)
		}
	}
	// A round that failed before measuring shows "-", not a zero that looks measured.
	if !strings.Contains(lines[3], "| -") {
		t.Errorf("unmeasured outage not shown as -: %q", lines[3])
	}
	if r := Replay(p, 3); !strings.HasPrefix(r, "CHAOS_SEED=9 make chaos") || !strings.Contains(r, "CHAOS_ROUNDS=3") {
		t.Errorf("replay line %q", r)
	}
}

type errAt string

func (e errAt) Error() string { return string(e) }
