// Package hooktools implements Juju's hook tools (relation-get, secret-add, ...) for jujulet.
//
// The tools run inside the unit agent: the multi-call client (a symlink named after the
// tool) forwards its arguments over the unit's unix socket, the server parses them with
// juju/cmd + gnuflag exactly as Juju's jujuc does and runs them against the Context of the
// hook or action identified by JUJU_CONTEXT_ID.
package hooktools

import (
	"errors"
	"time"
)

// Errors a Context returns that the tools turn into Juju's messages.
var (
	// ErrNotLeader: an operation reserved to the leader was attempted by another unit.
	ErrNotLeader = errors.New("not the leader")
	// ErrRelationNotFound: the relation id is unknown to this unit.
	ErrRelationNotFound = errors.New("relation not found")
	// ErrPermissionDenied: e.g. a non-leader reading its own app bucket of a non-peer relation.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrNotAction: an action tool was used in a hook.
	ErrNotAction = errors.New("not running an action")
	// ErrSecretNotFound: no such secret, or not visible to this unit.
	ErrSecretNotFound = errors.New("secret not found")
	// ErrNoNetwork: network-get for an unknown binding.
	ErrNoNetwork = errors.New("no network config found for binding")
	// ErrNoTrust: credential-get on an application that is not trusted.
	ErrNoTrust = errors.New("charm does not have trust")
)

// Status is a workload status as status-set writes and status-get reads it.
type Status struct {
	Status  string         // maintenance|blocked|waiting|active|unknown|error
	Message string         // free text
	Data    map[string]any // status-data
	Since   time.Time
}

// AppStatus is the application status and, for status-get --application, its units'.
type AppStatus struct {
	Application Status
	Units       map[string]Status
}

// SecretArgs carries what secret-add and secret-set may change. Nil fields are left alone.
type SecretArgs struct {
	Owner       string            // "application" (default) or "unit"; secret-add only
	Label       *string           //
	Description *string           //
	Expire      *time.Time        //
	Rotate      *string           // never|hourly|daily|weekly|monthly|quarterly|yearly
	Content     map[string]string // values already base64 when the key ends in #base64 is resolved by the tool: plain text here
}

// SecretGetArgs selects a secret by URI (full or bare id) and/or label, and a revision policy.
type SecretGetArgs struct {
	URI     string
	Label   string
	Peek    bool // read the latest revision without moving the pin
	Refresh bool // move the pin to the latest revision and read it
}

// SecretMetadata is what secret-info-get shows for one secret this unit owns.
type SecretMetadata struct {
	URI         string
	Label       string
	Description string
	Owner       string
	Revision    int
	Rotation    string
	Expiry      *time.Time
	Access      []SecretAccess
}

// SecretAccess is one grant of a secret.
type SecretAccess struct {
	Target string // relation key "app:endpoint remote-app:endpoint" or unit/app tag
	Scope  string // "relation-<id>" as Juju shows it
	Role   string // "view"
}

// NetworkInfo is the network-get result for one binding.
type NetworkInfo struct {
	BindAddresses    []BindAddress `json:"bind-addresses" yaml:"bind-addresses"`
	EgressSubnets    []string      `json:"egress-subnets" yaml:"egress-subnets"`
	IngressAddresses []string      `json:"ingress-addresses" yaml:"ingress-addresses"`
}

// BindAddress is one interface of a binding.
type BindAddress struct {
	MACAddress    string           `json:"mac-address" yaml:"mac-address"`
	InterfaceName string           `json:"interface-name" yaml:"interface-name"`
	Addresses     []InterfaceAddrs `json:"addresses" yaml:"addresses"`
}

// InterfaceAddrs is one address of an interface.
type InterfaceAddrs struct {
	Hostname string `json:"hostname" yaml:"hostname"`
	Address  string `json:"value" yaml:"value"`
	CIDR     string `json:"cidr" yaml:"cidr"`
}

// Port is an opened port range: "5432/tcp", "8000-8010/udp", "icmp", opened for one
// application endpoint, or for all of them when Endpoint is "" (open-port without
// --endpoints). The same range may be open for several endpoints.
type Port struct {
	Protocol string
	From, To int
	Endpoint string
}

// StorageHookContext is optionally implemented by a Context whose hook is a storage
// hook (<name>-storage-attached/-detaching): storage-get then defaults to that
// instance ("name/N") when -s is not given.
type StorageHookContext interface {
	HookStorageID() (id string, ok bool)
}

// Context is one hook or action execution of one unit, as the tools see it. Writes to
// relation settings, secrets, unit state and ports are buffered by the implementation and
// committed only when the hook exits 0; status, leader settings and logs take effect at once.
// Methods return the sentinel errors above where they apply; other errors are shown as is.
type Context interface {
	UnitName() string
	ModelUUID() string
	ModelName() string

	// IsLeader reports whether this unit holds the application's leadership lease.
	IsLeader() (bool, error)
	LeaderSettings() (map[string]string, error)
	// WriteLeaderSettings merges values (empty value deletes); ErrNotLeader for non-leaders.
	WriteLeaderSettings(values map[string]string) error

	// Config returns every charm config key, nil for unset keys without default.
	Config() (map[string]any, error)

	// HookRelationID is the relation of a relation hook; ok is false in other hooks.
	HookRelationID() (id int, ok bool)
	// RemoteUnitName and RemoteAppName are JUJU_REMOTE_UNIT / JUJU_REMOTE_APP of this hook.
	RemoteUnitName() string
	RemoteAppName() string
	// RelationIDs lists the relation ids of an endpoint (unsorted is fine; the tool sorts).
	RelationIDs(endpoint string) ([]int, error)
	// RelationEndpoint returns the local endpoint name of a relation (ErrRelationNotFound).
	RelationEndpoint(relID int) (string, error)
	// RelationRemoteApp is the application at the other end of the relation.
	RelationRemoteApp(relID int) (string, error)
	// RelationUnits lists the remote units in scope, excluding a departing one in -departed.
	RelationUnits(relID int) ([]string, error)
	// RelationModelUUID is the uuid of the model the remote application lives in.
	RelationModelUUID(relID int) (string, error)
	// ReadUnitSettings returns a unit bucket; for the local unit, with this hook's pending writes.
	ReadUnitSettings(relID int, unit string) (map[string]string, error)
	// ReadAppSettings returns an application bucket; for the local app, with pending writes,
	// ErrPermissionDenied for a non-leader on a non-peer relation.
	ReadAppSettings(relID int, app string) (map[string]string, error)
	// WriteSettings buffers changes to the local unit (app=false) or app bucket (app=true,
	// ErrNotLeader for non-leaders). An empty value deletes the key. The tool checks
	// leadership first (IsLeader) for --app.
	WriteSettings(relID int, app bool, values map[string]string) error

	// ActionParams returns the validated parameters with defaults (ErrNotAction in hooks).
	ActionParams() (map[string]any, error)
	// UpdateActionResults deep-merges results (nested maps, string leaves).
	UpdateActionResults(results map[string]any) error
	// FailAction marks the running action failed with the message.
	FailAction(message string) error
	// LogAction appends a line to the action's log at once.
	LogAction(message string) error

	SetUnitStatus(s Status) error
	UnitStatus() (Status, error)
	// SetAppStatus and AppStatus return ErrNotLeader for non-leaders.
	SetAppStatus(s Status) error
	AppStatus() (AppStatus, error)
	SetApplicationVersion(version string) error

	// Log writes a juju-log line (level TRACE|DEBUG|INFO|WARNING|ERROR|CRITICAL, already
	// normalised; in relation hooks the message already carries the "<ep>:<id>: " prefix).
	Log(level, message string) error

	// NetworkInfo is network-get's data for a binding (endpoint) name, relID -1 when
	// neither -r nor a relation hook names one; ErrNoNetwork for unknown bindings.
	NetworkInfo(binding string, relID int) (NetworkInfo, error)

	OpenPort(p Port) error
	ClosePort(p Port) error
	OpenedPorts() ([]Port, error)

	// StateGet returns the unit's charm state with this hook's pending changes applied.
	StateGet() (map[string]string, error)
	// StateSet gets only non-empty values (the tool has checked the 256 B key and
	// 64 KiB value limits); state-set's empty values arrive as StateDelete calls.
	StateSet(values map[string]string) error
	StateDelete(key string) error

	// Secret URIs passed to these methods are "secret://<model-uuid>/<xid>" when the
	// charm named a model, else the bare 20-char xid (from "secret:<xid>" or "<xid>").

	// AddSecret buffers the creation and returns the URI at once (secret://<model-uuid>/<xid>).
	// args.Owner is "application" (leader only: ErrNotLeader) or "unit".
	AddSecret(args SecretArgs) (string, error)
	// GetSecret returns the content of the revision selected by args.
	GetSecret(args SecretGetArgs) (map[string]string, error)
	UpdateSecret(uri string, args SecretArgs) error
	// RemoveSecret removes one revision, or the whole secret when revision is nil.
	RemoveSecret(uri string, revision *int) error
	// GrantSecret gives the remote side of relID (or one unit of it) read access.
	GrantSecret(uri string, relID int, unit string) error
	// RevokeSecret revokes what GrantSecret gave: with relID >= 0 the relation's remote
	// application (or only unit, when set); with relID -1, target is a unit name
	// ("app/3") or an application name ("app", every unit of it).
	RevokeSecret(uri string, relID int, target string) error
	// SecretIDs lists the ids (bare xids) of secrets this unit owns or its app owns.
	// ErrSecretNotFound from any secret method prints `secret "<id or label>" not found`.
	SecretIDs() ([]string, error)
	// SecretInfo describes owned secrets selected by uri or label (both empty: all owned);
	// SecretMetadata.URI may be full or bare, the tool shows the xid.
	SecretInfo(uri, label string) ([]SecretMetadata, error)

	// StorageIDs lists attached storage instances as "name/N"; StorageAttribute returns
	// "location" or "kind" of one.
	StorageIDs() ([]string, error)
	StorageAttribute(id, key string) (string, error)

	// GoalState returns the goal-state document (units and relations with their status).
	GoalState() (map[string]any, error)
	// Credential returns the cloud credential spec for trusted applications (ErrNoTrust).
	Credential() (map[string]any, error)
}
