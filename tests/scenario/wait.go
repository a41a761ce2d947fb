package scenario

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// PollInterval is how often WaitFor looks at status.
const PollInterval = 500 * time.Millisecond

// Condition reports why status is not yet what the scenario waits for (nil: it is).
type Condition func(*Status) error

// WaitFor polls the model's status until cond holds or ctx ends; the error then says what
// was still missing.
func WaitFor(ctx context.Context, b Backend, model, what string, cond Condition) error {
	var last error
	for {
		s, err := b.Status(ctx, model)
		if err == nil {
			if last = cond(s); last == nil {
				return nil
			}
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting in %s for %s: %w (last: %v)", model, what, ctx.Err(), last)
		case <-time.After(PollInterval):
		}
	}
}

// AppSettled holds when app has n units, all active and idle, and the application status
// message is appMessage (empty: any).
func AppSettled(app string, n int, appMessage string) Condition {
	return func(s *Status) error {
		a, ok := s.Applications[app]
		if !ok {
			return fmt.Errorf("no application %s", app)
		}
		if len(a.Units) != n {
			return fmt.Errorf("%s has %d units, want %d", app, len(a.Units), n)
		}
		for name, u := range a.Units {
			if u.WorkloadStatus.Current != "active" {
				return fmt.Errorf("%s is %s: %s", name, u.WorkloadStatus.Current, u.WorkloadStatus.Message)
			}
			if u.JujuStatus.Current != "idle" && u.JujuStatus.Current != "executing" {
				return fmt.Errorf("%s agent is %s: %s", name, u.JujuStatus.Current, u.JujuStatus.Message)
			}
		}
		if appMessage != "" && a.ApplicationStatus.Message != appMessage {
			return fmt.Errorf("%s application status is %q, want %q", app, a.ApplicationStatus.Message, appMessage)
		}
		if s.Leader(app) == "" {
			return fmt.Errorf("%s has no leader", app)
		}
		return nil
	}
}

// UnitMessages holds when the units' workload messages are exactly the given multiset,
// e.g. {"Primary":1,"Replica":2}.
func UnitMessages(app string, want map[string]int) Condition {
	return func(s *Status) error {
		got := map[string]int{}
		for _, u := range s.Applications[app].Units {
			got[u.WorkloadStatus.Message]++
		}
		for msg, n := range want {
			if got[msg] != n {
				return fmt.Errorf("%s unit messages %v, want %v", app, got, want)
			}
		}
		total := 0
		for _, n := range want {
			total += n
		}
		if len(s.Applications[app].Units) != total {
			return fmt.Errorf("%s unit messages %v, want %v", app, got, want)
		}
		return nil
	}
}

// All holds when every condition holds.
func All(conds ...Condition) Condition {
	return func(s *Status) error {
		var errs []string
		for _, c := range conds {
			if err := c(s); err != nil {
				errs = append(errs, err.Error())
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("%s", strings.Join(errs, "; "))
		}
		return nil
	}
}

// UnitBlocked reports whether some unit of app is blocked with message.
func UnitBlocked(s *Status, app, message string) error {
	for _, u := range s.Applications[app].Units {
		if u.WorkloadStatus.Current == "blocked" && u.WorkloadStatus.Message == message {
			return nil
		}
	}
	return fmt.Errorf("no unit of %s is blocked with %q", app, message)
}

// PrimaryOffLeader holds when the unit whose message is "Primary" is not app's leader, in an
// application of two units or more: the charm hands the primary off its leader (docs/HA.md),
// so a cluster is settled only once that hand-off is done. It does not hold while an
// operator's promote-to-primary keeps the leader primary: scenarios that do that do not use it.
func PrimaryOffLeader(app string) Condition {
	return func(s *Status) error {
		units := s.Applications[app].Units
		if len(units) < 2 {
			return nil
		}
		for name, u := range units {
			if u.WorkloadStatus.Message == "Primary" && u.Leader {
				return fmt.Errorf("%s: the leader %s is still the primary", app, name)
			}
		}
		return nil
	}
}
