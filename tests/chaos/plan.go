// Package chaos is the randomized fault drill of issue #9: two clusters of three units in
// cross-regional replication, a writer that follows the writable cluster, a prober that asks
// every unit every 150 ms whether it accepts writes, and rounds of faults drawn from a seed.
// After every round it checks the invariants (never two writable units, no acknowledged
// write lost but what a forced promotion said it could lose, convergence within a bound)
// and it prints a table of per-round outage, convergence time and losses. See docs/CHAOS.md.
package chaos

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"time"
)

// Fault is one kind of round.
type Fault int

const (
	// Planned is promote-to-primary scope=cluster on the standby cluster.
	Planned Fault = iota
	// SwitchoverKillOld is a planned switchover during which the old primary's pod is killed.
	SwitchoverKillOld
	// SwitchoverKillNew is a planned switchover during which the standby head's pod is killed.
	SwitchoverKillNew
	// Forced stops every pod of the primary cluster, promotes the standby cluster with
	// force=true, and starts the pods again later.
	Forced
	// UnitSwitchover is promote-to-primary scope=unit inside the primary cluster.
	UnitSwitchover
	// SetPassword rotates a system user's password on the primary cluster.
	SetPassword
	// ControllerKill SIGKILLs the controller and restarts it later.
	ControllerKill
	// Detach removes the cross-cluster relation, integrates it again and runs
	// create-replication.
	Detach
	numFaults
)

var faultNames = [numFaults]string{"planned", "switchover+kill-old", "switchover+kill-new", "forced",
	"unit-switchover", "set-password", "controller-kill", "detach"}

func (f Fault) String() string {
	if f < 0 || f >= numFaults {
		return fmt.Sprintf("fault(%d)", int(f))
	}
	return faultNames[f]
}

// Planned reports whether the round may lose no acknowledged write at all.
func (f Fault) Planned() bool { return f != Forced }

// Step is what the seed decides for one round: the fault, a number that picks the victim
// among the candidates the round finds (sorted by name), the moment of the fault in a
// handover, and how long a stopped pod or controller stays down.
type Step struct {
	Fault    Fault
	Pick     uint32
	Delay    time.Duration // 0-4 s
	Downtime time.Duration // 3-20 s
}

// Plan draws the first n steps of the seed. Every step draws the same numbers whatever its
// fault, so that a prefix of a plan is the plan of a shorter run.
func Plan(seed uint64, n int) []Step {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	steps := make([]Step, n)
	for i := range steps {
		steps[i] = Step{
			Fault:    Fault(rng.IntN(int(numFaults))),
			Pick:     rng.Uint32(),
			Delay:    time.Duration(rng.IntN(4000)) * time.Millisecond,
			Downtime: 3*time.Second + time.Duration(rng.IntN(17000))*time.Millisecond,
		}
	}
	return steps
}

// Profile is how long a drill runs.
type Profile struct {
	Name      string
	Seed      uint64
	Budget    time.Duration // no round starts after this much time since the drill began
	MaxRounds int           // 0: as many as the budget allows
	Converge  time.Duration // bound for a round to converge after its fault
}

// Profiles: "short" runs inside `make test` (about three minutes on a loaded 2-core
// machine: setup takes most of it), "long" is `make chaos`.
var profiles = map[string]Profile{
	"short": {Name: "short", Budget: 150 * time.Second, Converge: 4 * time.Minute},
	"long":  {Name: "long", Budget: 25 * time.Minute, Converge: 4 * time.Minute},
}

// ProfileFromEnv reads CHAOS_PROFILE (short|long, default short), CHAOS_SEED (default: from
// the clock), CHAOS_BUDGET, CHAOS_ROUNDS and CHAOS_CONVERGE. A bad value is an error.
func ProfileFromEnv(getenv func(string) string, now time.Time) (Profile, error) {
	name := getenv("CHAOS_PROFILE")
	if name == "" {
		name = "short"
	}
	p, ok := profiles[name]
	if !ok {
		return Profile{}, fmt.Errorf("CHAOS_PROFILE=%q: want short or long", name)
	}
	p.Seed = uint64(now.UnixNano()) % 1_000_000_000
	if v := getenv("CHAOS_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return Profile{}, fmt.Errorf("CHAOS_SEED=%q: want a non-negative integer", v)
		}
		p.Seed = seed
	}
	for _, d := range []struct {
		env string
		to  *time.Duration
	}{{"CHAOS_BUDGET", &p.Budget}, {"CHAOS_CONVERGE", &p.Converge}} {
		v := getenv(d.env)
		if v == "" {
			continue
		}
		dur, err := time.ParseDuration(v)
		if err != nil || dur <= 0 {
			return Profile{}, fmt.Errorf("%s=%q: want a positive duration such as 90s or 20m", d.env, v)
		}
		*d.to = dur
	}
	if v := getenv("CHAOS_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return Profile{}, fmt.Errorf("CHAOS_ROUNDS=%q: want a positive integer", v)
		}
		p.MaxRounds = n
	}
	return p, nil
}

// envProfile is ProfileFromEnv on the process environment.
func envProfile() (Profile, error) { return ProfileFromEnv(os.Getenv, time.Now()) }
