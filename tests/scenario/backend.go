// Package scenario holds the end-to-end scenarios of the charm, written once against a small
// Backend interface so that the same checks run on jujulet (in `make test`) and on a real Juju
// controller (tests/juju, `make test-juju`).
package scenario

import (
	"context"
	"time"
)

// DeployOptions are the deploy flags the seed flow uses.
type DeployOptions struct {
	Channel string
	Base    string
	Trust   bool
	Config  map[string]string
	Units   int
}

// ActionResult is the outcome of one action on one unit.
type ActionResult struct {
	Unit    string
	Status  string // completed|failed|...
	Message string
	Results map[string]any
}

// Backend drives one controller. Models are addressed by name; every call has a deadline
// through ctx and fails fast with a clear error.
type Backend interface {
	// Name says which controller this is, for test logs.
	Name() string
	AddModel(ctx context.Context, model string) error
	Deploy(ctx context.Context, model, charm, app string, opts DeployOptions) error
	Offer(ctx context.Context, model, appEndpoint, offerName string) error
	Consume(ctx context.Context, model, offerURL, alias string) error
	Integrate(ctx context.Context, model, a, b string) error
	RemoveRelation(ctx context.Context, model, a, b string) error
	RunAction(ctx context.Context, model, unit, action string, params map[string]any) (ActionResult, error)
	Scale(ctx context.Context, model, app string, units int) error
	RemoveUnit(ctx context.Context, model, unit string) error
	Status(ctx context.Context, model string) (*Status, error)
	// UnitAddress is the address PostgreSQL of that unit listens on (port 5432).
	UnitAddress(ctx context.Context, model, unit string) (string, error)
}

// Status is the part of `juju status --format json` the scenarios read.
type Status struct {
	Model        StatusModel                  `json:"model"`
	Applications map[string]ApplicationStatus `json:"applications"`
}

// StatusModel names the model.
type StatusModel struct {
	Name string `json:"name"`
}

// ApplicationStatus is one application.
type ApplicationStatus struct {
	Charm             string                `json:"charm"`
	CharmChannel      string                `json:"charm-channel"`
	Scale             int                   `json:"scale"`
	ApplicationStatus StatusInfo            `json:"application-status"`
	Units             map[string]UnitStatus `json:"units"`
}

// UnitStatus is one unit.
type UnitStatus struct {
	WorkloadStatus StatusInfo `json:"workload-status"`
	JujuStatus     StatusInfo `json:"juju-status"`
	Leader         bool       `json:"leader"`
	Address        string     `json:"address"`
}

// StatusInfo is a status value with its message.
type StatusInfo struct {
	Current string    `json:"current"`
	Message string    `json:"message"`
	Since   string    `json:"since"`
	Time    time.Time `json:"-"`
}

// Leader returns the leader unit of app, or "".
func (s *Status) Leader(app string) string {
	for name, u := range s.Applications[app].Units {
		if u.Leader {
			return name
		}
	}
	return ""
}

// UnitNames returns the units of app.
func (s *Status) UnitNames(app string) []string {
	names := make([]string, 0, len(s.Applications[app].Units))
	for name := range s.Applications[app].Units {
		names = append(names, name)
	}
	return names
}

// PodController is implemented by backends that can make a unit's pod fail like a lost node:
// every process killed at once. KillPod lets the runtime bring it back right away (a pod
// restart); StopPod keeps it down until StartPod (an outage).
type PodController interface {
	KillPod(ctx context.Context, model, unit string) error
	StopPod(ctx context.Context, model, unit string) error
	StartPod(ctx context.Context, model, unit string) error
}
