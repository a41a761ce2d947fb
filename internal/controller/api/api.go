// Package api is the controller's wire protocol: the envelope every call travels in, the
// method names, and one params type and one result type per method.
//
// A call is POST /call on the controller's unix socket with a [Request] as its body; the
// reply is a [Response]. The controller (internal/controller) serves the protocol and
// internal/controller/client speaks it; nothing else should build requests by hand.
//
// Params are decoded strictly: an unknown field, a value of the wrong type or trailing data
// is a bad request, and so is a missing required field (each params type's Validate says
// which fields are required).
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Path is the one HTTP path of the API.
const Path = "/call"

// Request is one call.
type Request struct {
	Method string `json:"method"`
	// Model names the model a model-scoped method works in ("" is the current model).
	// Methods that are not model-scoped refuse a model.
	Model  string          `json:"model,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
}

// Response is the reply to a call: a Result, or an Error (with its Kind).
type Response struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
	Kind   ErrorKind       `json:"kind,omitempty"`
}

// ErrorKind classifies an error reply. The HTTP status says the same: 400 for a bad
// request or a failed operation, 404 for an unknown method, 500 for an internal error.
type ErrorKind string

const (
	// KindFailed: the request was well formed but the operation failed (the model or
	// application does not exist, a name is taken...).
	KindFailed ErrorKind = "failed"
	// KindBadRequest: the envelope or the params could not be decoded, had unknown fields
	// or lacked required ones.
	KindBadRequest ErrorKind = "bad-request"
	// KindUnknownMethod: no such method.
	KindUnknownMethod ErrorKind = "unknown-method"
	// KindInternal: the controller failed while serving the call (a bug).
	KindInternal ErrorKind = "internal"
)

// The methods.
const (
	MethodPing         = "ping"
	MethodKill         = "kill"
	MethodAddModel     = "add-model"
	MethodModels       = "models"
	MethodSwitch       = "switch"
	MethodCurrentModel = "current-model"
	MethodDestroyModel = "destroy-model"
	MethodModelConfig  = "model-config"

	MethodDeploy            = "deploy"
	MethodRefresh           = "refresh"
	MethodRemoveApplication = "remove-application"
	MethodConfig            = "config"
	MethodTrust             = "trust"
	MethodAddUnit           = "add-unit"
	MethodScale             = "scale"

	MethodRemoveUnit = "remove-unit"
	MethodShowUnit   = "show-unit"
	MethodResolve    = "resolve"
	MethodPod        = "pod"
	MethodUnitInfo   = "unit-info"

	MethodIntegrate      = "integrate"
	MethodRemoveRelation = "remove-relation"

	MethodOffer   = "offer"
	MethodOffers  = "offers"
	MethodConsume = "consume"

	MethodRun       = "run"
	MethodAction    = "action"
	MethodOperation = "operation"

	MethodStatus = "status"
	MethodLogs   = "logs"
)

// Validator is implemented by params that have required fields or bounds.
type Validator interface {
	Validate() error
}

// None is the params of a method that takes none: absent, null or {}.
type None struct{}

func required(field, value string) error {
	if value == "" {
		return fmt.Errorf("missing required field %q", field)
	}
	return nil
}

// Model params and results.
type (
	// AddModelParams are add-model's.
	AddModelParams struct {
		Name string `json:"name"`
	}
	// SwitchParams are switch's.
	SwitchParams struct {
		Name string `json:"name"`
	}
	// DestroyModelParams are destroy-model's. A model with storage is only destroyed when
	// one of DestroyStorage and ReleaseStorage is set, as Juju requires.
	DestroyModelParams struct {
		Name           string `json:"name"`
		DestroyStorage bool   `json:"destroy-storage,omitempty"`
		ReleaseStorage bool   `json:"release-storage,omitempty"`
	}
	// ModelConfigParams are model-config's: keys to set (none: just read the config).
	ModelConfigParams struct {
		Set map[string]string `json:"set,omitempty"`
	}
	// ModelConfig is model-config's result: the model's whole config.
	ModelConfig map[string]string

	// Model describes a model.
	Model struct {
		Name   string            `json:"name"`
		UUID   string            `json:"uuid"`
		Life   string            `json:"life"`
		Config map[string]string `json:"config"`
	}
	// Models is models' result: every model (dying ones included), by name.
	Models struct {
		Models  []Model `json:"models"`
		Current string  `json:"current"`
	}
	// CurrentModel is current-model's and switch's result.
	CurrentModel struct {
		Name string `json:"name"`
	}
)

// Validate implements Validator.
func (p AddModelParams) Validate() error { return required("name", p.Name) }

// Validate implements Validator.
func (p SwitchParams) Validate() error { return required("name", p.Name) }

// Validate implements Validator.
func (p DestroyModelParams) Validate() error {
	if p.DestroyStorage && p.ReleaseStorage {
		return errors.New("--destroy-storage and --release-storage cannot both be specified")
	}
	return required("name", p.Name)
}

// Application params and results.
type (
	// DeployParams are deploy's. Charm is a charm directory or .charm file on the
	// controller's machine; Name defaults to the charm's name, NumUnits to 1, Base to
	// ubuntu@22.04.
	DeployParams struct {
		Name       string            `json:"name,omitempty"`
		Charm      string            `json:"charm"`
		Channel    string            `json:"channel,omitempty"`
		Base       string            `json:"base,omitempty"`
		Trust      bool              `json:"trust,omitempty"`
		NumUnits   int               `json:"num-units,omitempty"`
		Config     map[string]string `json:"config,omitempty"`
		ConfigYAML []string          `json:"config-yaml,omitempty"`
		Resources  map[string]string `json:"resources,omitempty"`
	}
	// Deployed is deploy's result.
	Deployed struct {
		Application string `json:"application"`
		Charm       string `json:"charm"`
		Revision    int    `json:"revision"`
		Base        string `json:"base"`
	}
	// RefreshParams are refresh's: switch App to the local charm at Charm.
	RefreshParams struct {
		App   string `json:"app"`
		Charm string `json:"charm"`
	}
	// Refreshed is refresh's result.
	Refreshed struct {
		Charm    string `json:"charm"`
		Revision int    `json:"revision"`
	}
	// AppParams name one application (remove-application); DestroyStorage destroys its
	// units' storage instead of detaching (keeping) it.
	AppParams struct {
		App            string `json:"app"`
		DestroyStorage bool   `json:"destroy-storage,omitempty"`
	}
	// Removal is what a remove-unit (per unit) or remove-application takes away, as Juju's
	// DestroyUnitInfo and DestroyApplicationInfo say it: the units, and the storage ids
	// ("name/N") whose data it keeps (detaches) or destroys.
	Removal struct {
		Units            []string `json:"units,omitempty"`
		DetachedStorage  []string `json:"detached-storage,omitempty"`
		DestroyedStorage []string `json:"destroyed-storage,omitempty"`
	}
	// ConfigParams are config's: set, reset and YAML files to apply (none: just read).
	ConfigParams struct {
		App   string            `json:"app"`
		Set   map[string]string `json:"set,omitempty"`
		Reset []string          `json:"reset,omitempty"`
		Files []string          `json:"files,omitempty"`
	}
	// Config is config's result: the application's settings as `juju config` shows them.
	Config struct {
		Application string                   `json:"application"`
		Charm       string                   `json:"charm"`
		Settings    map[string]ConfigSetting `json:"settings"`
		Trust       bool                     `json:"trust"`
	}
	// ConfigSetting is one charm option (fields in `juju config`'s order).
	ConfigSetting struct {
		Default     any    `json:"default,omitempty" yaml:"default,omitempty"`
		Description string `json:"description" yaml:"description"`
		Source      string `json:"source" yaml:"source"`
		Type        string `json:"type" yaml:"type"`
		Value       any    `json:"value,omitempty" yaml:"value,omitempty"`
	}
	// TrustParams are trust's.
	TrustParams struct {
		App    string `json:"app"`
		Remove bool   `json:"remove,omitempty"`
	}
	// AddUnitParams are add-unit's: N (at least 1) more units.
	AddUnitParams struct {
		App string `json:"app"`
		N   int    `json:"n"`
	}
	// ScaleParams are scale's: N alive units. N is required: 0 is a valid scale, so an
	// absent N must not mean it.
	ScaleParams struct {
		App string `json:"app"`
		N   *int   `json:"n"`
	}
)

// Validate implements Validator.
func (p DeployParams) Validate() error {
	if p.NumUnits < 0 {
		return errors.New("num-units must not be negative")
	}
	return required("charm", p.Charm)
}

// Validate implements Validator.
func (p RefreshParams) Validate() error {
	return errors.Join(required("app", p.App), required("charm", p.Charm))
}

// Validate implements Validator.
func (p AppParams) Validate() error { return required("app", p.App) }

// Validate implements Validator.
func (p ConfigParams) Validate() error { return required("app", p.App) }

// Validate implements Validator.
func (p TrustParams) Validate() error { return required("app", p.App) }

// Validate implements Validator.
func (p AddUnitParams) Validate() error {
	if err := required("app", p.App); err != nil {
		return err
	}
	if p.N < 1 {
		return errors.New("--num-units must be a positive integer")
	}
	return nil
}

// Validate implements Validator.
func (p ScaleParams) Validate() error {
	if err := required("app", p.App); err != nil {
		return err
	}
	if p.N == nil {
		return errors.New(`missing required field "n"`)
	}
	if *p.N < 0 {
		return errors.New("scale must be a non-negative integer")
	}
	return nil
}

// Unit params and results.
type (
	// UnitsParams name units (remove-unit, show-unit).
	UnitsParams struct {
		Units []string `json:"units"`
	}
	// UnitParams name one unit (unit-info).
	UnitParams struct {
		Unit string `json:"unit"`
	}
	// ResolveParams are resolve's.
	ResolveParams struct {
		Unit    string `json:"unit"`
		NoRetry bool   `json:"no-retry,omitempty"`
	}
	// PodParams are pod's: Op is kill, stop or start.
	PodParams struct {
		Unit string `json:"unit"`
		Op   string `json:"op"`
	}
	// UnitInfo locates a unit's pod (for ssh).
	UnitInfo struct {
		ContainersDir string   `json:"containers-dir"`
		Containers    []string `json:"containers"`
	}
	// ShowUnit is show-unit's result: `juju show-unit`'s document for each unit, by name.
	ShowUnit map[string]map[string]any
)

// The pod operations.
const (
	PodKill  = "kill"
	PodStop  = "stop"
	PodStart = "start"
)

// Validate implements Validator.
func (p UnitsParams) Validate() error {
	if len(p.Units) == 0 {
		return errors.New(`missing required field "units"`)
	}
	return nil
}

// Validate implements Validator.
func (p UnitParams) Validate() error { return required("unit", p.Unit) }

// Validate implements Validator.
func (p ResolveParams) Validate() error { return required("unit", p.Unit) }

// Validate implements Validator.
func (p PodParams) Validate() error {
	if err := required("unit", p.Unit); err != nil {
		return err
	}
	switch p.Op {
	case PodKill, PodStop, PodStart:
		return nil
	}
	return fmt.Errorf("unknown pod operation %q (want kill, stop or start)", p.Op)
}

// Relation params.
type (
	// IntegrateParams are integrate's: two endpoints, "app" or "app:endpoint".
	IntegrateParams struct {
		Endpoints []string `json:"endpoints"`
	}
	// RemoveRelationParams are remove-relation's: one or two endpoints.
	RemoveRelationParams struct {
		Endpoints []string `json:"endpoints"`
	}
)

// Validate implements Validator.
func (p IntegrateParams) Validate() error {
	if len(p.Endpoints) != 2 {
		return errors.New("a relation must involve two applications")
	}
	return nil
}

// Validate implements Validator.
func (p RemoveRelationParams) Validate() error {
	if len(p.Endpoints) < 1 || len(p.Endpoints) > 2 {
		return errors.New("a relation must involve two applications")
	}
	return nil
}

// Offer params and results.
type (
	// OfferParams are offer's: Endpoint is "app:endpoint"; Name defaults to the app's.
	OfferParams struct {
		Endpoint string `json:"endpoint"`
		Name     string `json:"name,omitempty"`
	}
	// Offered is offer's result.
	Offered struct {
		Application string `json:"application"`
		Endpoint    string `json:"endpoint"`
		URL         string `json:"url"`
	}
	// ConsumeParams are consume's: URL is "[owner/]model.offer"; Alias defaults to the
	// offer's name.
	ConsumeParams struct {
		URL   string `json:"url"`
		Alias string `json:"alias,omitempty"`
	}
	// Consumed is consume's result: the SAAS application standing for the offer.
	Consumed struct {
		Application string `json:"application"`
		URL         string `json:"url"`
	}
)

// Validate implements Validator.
func (p OfferParams) Validate() error { return required("endpoint", p.Endpoint) }

// Validate implements Validator.
func (p ConsumeParams) Validate() error { return required("url", p.URL) }

// Action params and results.
type (
	// RunParams enqueue an action on units ("app/N" or "app/leader").
	RunParams struct {
		Targets []string       `json:"targets"`
		Action  string         `json:"action"`
		Params  map[string]any `json:"params,omitempty"`
	}
	// Task is one queued action (run's result is one per target). Operation is the id of
	// the run that queued it; operations and tasks share one sequence, as in Juju.
	Task struct {
		Unit      string `json:"unit"`
		ID        int    `json:"id"`
		Operation int    `json:"operation,omitempty"`
	}
	// ActionParams name an action (task), or an operation, by id.
	ActionParams struct {
		ID int `json:"id"`
	}
	// Operation is one `juju run`: its summary (Juju's "NAME run on RECEIVERS") and its
	// tasks.
	Operation struct {
		ID      int      `json:"id"`
		Summary string   `json:"summary"`
		Tasks   []Action `json:"tasks"`
	}
	// Action is an action's state and results.
	Action struct {
		ID        int            `json:"id"`
		Operation int            `json:"operation,omitempty"`
		Unit      string         `json:"unit"`
		Name      string         `json:"name"`
		Params    map[string]any `json:"params,omitempty"`
		Status    string         `json:"status"`
		Message   string         `json:"message,omitempty"`
		Results   map[string]any `json:"results,omitempty"`
		Log       []ActionLog    `json:"log,omitempty"`
		Enqueued  time.Time      `json:"enqueued"`
		Started   time.Time      `json:"started,omitzero"`
		Completed time.Time      `json:"completed,omitzero"`
	}
	// ActionLog is one action-log line.
	ActionLog struct {
		Timestamp time.Time `json:"timestamp"`
		Message   string    `json:"message"`
	}
)

// Validate implements Validator.
func (p RunParams) Validate() error {
	if len(p.Targets) == 0 {
		return errors.New(`missing required field "targets"`)
	}
	return required("action", p.Action)
}

// Validate implements Validator.
func (p ActionParams) Validate() error {
	if p.ID <= 0 {
		return errors.New(`missing required field "id" (a positive task id)`)
	}
	return nil
}

// Status and log params and results.
type (
	// LogsParams select a model's log lines: those after id After, at most the last Limit
	// of them (0: all).
	LogsParams struct {
		After int64 `json:"after,omitempty"`
		Limit int   `json:"limit,omitempty"`
	}
	// LogEntry is one debug-log line.
	LogEntry struct {
		ID      int64     `json:"id"`
		Time    time.Time `json:"time"`
		Entity  string    `json:"entity"`
		Level   string    `json:"level"`
		Message string    `json:"message"`
	}
)

// Validate implements Validator.
func (p LogsParams) Validate() error {
	if p.After < 0 || p.Limit < 0 {
		return errors.New("after and limit must not be negative")
	}
	return nil
}
