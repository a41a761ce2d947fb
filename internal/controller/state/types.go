package state

import (
	"time"

	"github.com/jujulet/postgresql-k8s/internal/controller/storage"

	"github.com/juju/charm/v12/hooks"
)

// Life is the life of a model, application, unit or relation, as Juju's core/life.
type Life string

// Lives.
const (
	Alive Life = "alive"
	Dying Life = "dying"
)

// ResolveMode is how `resolve` asked a unit to get out of a hook error.
type ResolveMode string

// Resolve modes (Juju's retry-hooks and no-hooks).
const (
	ResolveNone    ResolveMode = ""
	ResolveRetry   ResolveMode = "retry"
	ResolveNoRetry ResolveMode = "no-retry"
)

// Document kinds.
const (
	kMeta     = "meta"
	kModel    = "model"
	kApp      = "app"
	kUnit     = "unit"
	kRelation = "relation"
	kBucket   = "bucket"
	kOffer    = "offer"
	kAction   = "action"
	kSecret   = "secret"
	kConsumer = "secret-consumer"
)

// Meta is the controller-wide singleton.
type Meta struct {
	NextID   int `json:"next-id"`
	NextAddr int `json:"next-addr"`
	// AddrBlock is this controller's second octet in 127.0.0.0/8, drawn at random when the
	// first unit is added, so that controllers running side by side (tests, a demo next to a
	// developer's controller) do not hand out the same unit addresses.
	AddrBlock    int    `json:"addr-block"`
	CurrentModel string `json:"current-model"`
}

// Model is a Juju model.
type Model struct {
	UUID    string            `json:"uuid"`
	Name    string            `json:"name"`
	Config  map[string]string `json:"config"`
	Life    Life              `json:"life"`
	Created time.Time         `json:"created"`
	// Storage is what destroy-model does with the model's storage.
	Storage storage.Mode `json:"storage,omitempty"`
}

// Status is a workload/agent/application status.
type Status struct {
	Status  string         `json:"status"`
	Message string         `json:"message,omitempty"`
	Data    map[string]any `json:"data,omitempty"`
	Since   time.Time      `json:"since"`
}

// App is an application (or, with SAAS set, a consumed offer).
type App struct {
	Model     string `json:"model"`
	Name      string `json:"name"`
	CharmDir  string `json:"charm-dir"`
	CharmName string `json:"charm-name"`
	Revision  int    `json:"revision"`
	// CharmVersion counts refreshes; units run upgrade-charm when theirs is behind.
	CharmVersion   int               `json:"charm-version,omitempty"`
	Channel        string            `json:"channel"`
	Base           string            `json:"base"`
	Trust          bool              `json:"trust"`
	Config         map[string]any    `json:"config"`
	ConfigVersion  int               `json:"config-version"`
	NextUnit       int               `json:"next-unit"`
	Leader         string            `json:"leader"`
	LeaseExpiry    time.Time         `json:"lease-expiry"`
	LeaderSettings map[string]string `json:"leader-settings"`
	LeaderVersion  int               `json:"leader-version"`
	Status         Status            `json:"status"`
	Version        string            `json:"version"`
	Life           Life              `json:"life"`
	Resources      map[string]string `json:"resources,omitempty"`
	// SAAS: the consumed offer.
	SAAS      bool       `json:"saas,omitempty"`
	OfferURL  string     `json:"offer-url,omitempty"`
	OfferRef  *OfferRef  `json:"offer-ref,omitempty"`
	Endpoints []Endpoint `json:"endpoints,omitempty"`
}

// OfferRef points at an offer.
type OfferRef struct {
	Model string `json:"model"`
	Name  string `json:"name"`
}

// Endpoint is an application endpoint.
type Endpoint struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	Interface string `json:"interface"`
	Limit     int    `json:"limit"`
}

// Port is an opened port range.
type Port struct {
	Protocol string `json:"protocol"`
	From     int    `json:"from"`
	To       int    `json:"to"`
	// Endpoint is the application endpoint the range is open for; "" means all of them.
	Endpoint string `json:"endpoint,omitempty"`
}

// Hook identifies one hook execution.
type Hook struct {
	Kind       hooks.Kind `json:"kind"` // the hook name without prefixes, e.g. relation-joined, pebble-ready
	Name       string     `json:"name"` // the full hook name
	RelID      int        `json:"rel-id,omitempty"`
	Endpoint   string     `json:"endpoint,omitempty"`
	RemoteUnit string     `json:"remote-unit,omitempty"` // as this unit sees it
	RemoteApp  string     `json:"remote-app,omitempty"`
	Departing  string     `json:"departing,omitempty"`
	Container  string     `json:"container,omitempty"`
	BootID     string     `json:"boot-id,omitempty"`
	Check      string     `json:"check,omitempty"`
	// NoticeID, NoticeType and NoticeKey: the Pebble notice of a pebble-custom-notice hook.
	NoticeID   string `json:"notice-id,omitempty"`
	NoticeType string `json:"notice-type,omitempty"`
	NoticeKey  string `json:"notice-key,omitempty"`
	// Event is the workload event (Unit.WorkloadEvents) the hook runs for; 0 for other hooks.
	Event     int    `json:"event,omitempty"`
	SecretURI string `json:"secret-uri,omitempty"`
	SecretLbl string `json:"secret-label,omitempty"`
	SecretRev int    `json:"secret-rev,omitempty"`
	Storage   string `json:"storage,omitempty"` // storage id name/N
	// Version seen of the remote bucket (changed hooks) or config.
	Version int `json:"version,omitempty"`
}

// RelLocal is a unit's local view of one relation.
type RelLocal struct {
	Created    bool           `json:"created"`
	Units      map[string]int `json:"units"` // remote unit (as seen) -> bucket version seen
	AppVersion int            `json:"app-version"`
	Broken     bool           `json:"broken"`
}

// Local is what a unit agent has done (Juju's uniter local state).
type Local struct {
	Installed     bool              `json:"installed"`
	CharmVersion  int               `json:"charm-version,omitempty"`
	Started       bool              `json:"started"`
	ConfigVersion int               `json:"config-version"`
	Leader        bool              `json:"leader"`
	LeaderVersion int               `json:"leader-version"`
	Rels          map[int]*RelLocal `json:"rels"`
	Boot          map[string]string `json:"boot"`
	SecretRevs    map[string]int    `json:"secret-revs"`
	// SecretRemoved: the obsolete revisions of owned secrets secret-remove ran for.
	SecretRemoved map[string][]int `json:"secret-removed,omitempty"`
	// SecretExpireRetry: when secret-expired runs again for a revision (by secret URI,
	// then revision) the charm did not remove, as Juju's expiry worker retries.
	SecretExpireRetry map[string]map[int]time.Time `json:"secret-expire-retry,omitempty"`
	Storage           map[string]bool              `json:"storage,omitempty"` // attached storage names
	Stopped           bool                         `json:"stopped"`
	// Removed: the remove hook has run; only the unit's files and record are left to delete.
	Removed bool `json:"removed,omitempty"`
	// PodRecreated: the pod came back after a loss; upgrade-charm and config-changed follow.
	PodRecreated bool      `json:"pod-recreated,omitempty"`
	LastUpdate   time.Time `json:"last-update-status"`
}

// Unit is a unit of an application.
type Unit struct {
	Model      string       `json:"model"`
	App        string       `json:"app"`
	Name       string       `json:"name"`
	ID         int          `json:"id"`
	Addr       string       `json:"addr"`
	Life       Life         `json:"life"`
	Workload   Status       `json:"workload"`
	Agent      Status       `json:"agent"`
	Scopes     map[int]bool `json:"scopes"`
	Local      Local        `json:"local"`
	InProgress *Hook        `json:"in-progress,omitempty"`
	Error      *Hook        `json:"error,omitempty"`
	Resolve    ResolveMode  `json:"resolve,omitempty"`
	// ErrorAt and ErrorRetries drive Juju's automatic retry of a failed hook (model config
	// automatically-retry-hooks): the hook is re-run after a backoff that doubles each time.
	ErrorAt            time.Time         `json:"error-at,omitzero"`
	ErrorRetries       int               `json:"error-retries,omitempty"`
	Ports              []Port            `json:"ports"`
	CharmState         map[string]string `json:"charm-state"`
	WorkloadSetByCharm bool              `json:"workload-set"`
	PodDown            time.Time         `json:"pod-down,omitzero"`
	PrevWorkload       *Status           `json:"prev-workload,omitempty"`
	// PodStopped: `jujulet pod stop` took the pod down and it stays down.
	PodStopped bool `json:"pod-stopped,omitempty"`
	// OnRemoval is what the unit's removal does with its storage (detach: keep it).
	OnRemoval storage.Mode `json:"on-removal,omitempty"`
	// WorkloadEvents are the hooks made from Pebble notices and not yet committed, in the
	// order the notices arrived; NoticeCursors says, per container, how far the notices
	// were read. Both move in one transaction, so a controller crash neither loses nor
	// repeats a notice.
	WorkloadEvents []*Hook                 `json:"workload-events,omitempty"`
	NoticeCursors  map[string]NoticeCursor `json:"notice-cursors,omitempty"`
	LastEvent      int                     `json:"last-event,omitempty"`
}

// NoticeCursor is the last Pebble notice of one container that was turned into a
// workload event (or ignored).
type NoticeCursor struct {
	// LastRepeated is the notice's last-repeated time: the next read asks Pebble for
	// notices repeated after it.
	LastRepeated time.Time `json:"last-repeated"`
	// ID, Type and Key name the notice, so that a Pebble whose notices no longer hold it
	// (its state was replaced) can be told apart from one that has nothing new.
	ID   string `json:"id"`
	Type string `json:"type"`
	Key  string `json:"key"`
}

// EnqueueWorkloadEvents appends events (hooks whose Event the call numbers) and moves
// container c's notice cursor; the caller puts the unit in the same transaction.
func (u *Unit) EnqueueWorkloadEvents(c string, cursor NoticeCursor, events []*Hook) {
	for _, h := range events {
		u.LastEvent++
		h.Event = u.LastEvent
		u.WorkloadEvents = append(u.WorkloadEvents, h)
	}
	if u.NoticeCursors == nil {
		u.NoticeCursors = map[string]NoticeCursor{}
	}
	u.NoticeCursors[c] = cursor
}

// DropWorkloadEvent removes workload event id (its hook was committed or resolved).
func (u *Unit) DropWorkloadEvent(id int) {
	for i, h := range u.WorkloadEvents {
		if h.Event == id {
			u.WorkloadEvents = append(u.WorkloadEvents[:i:i], u.WorkloadEvents[i+1:]...)
			return
		}
	}
}

// RelEP is one side of a relation.
type RelEP struct {
	Model     string `json:"model"`
	App       string `json:"app"`
	Endpoint  string `json:"endpoint"`
	Role      string `json:"role"`
	Interface string `json:"interface"`
	// Alias is how App appears to the other side (App itself unless cross-model).
	Alias string `json:"alias"`
	// SAASApp is the name of the SAAS application standing for this side in the other model.
	SAASApp string `json:"saas-app,omitempty"`
}

// Relation is a relation between two endpoints (one for peers).
type Relation struct {
	ID    int     `json:"id"`
	EPs   []RelEP `json:"eps"`
	Life  Life    `json:"life"`
	Peer  bool    `json:"peer"`
	Cross bool    `json:"cross"`
}

// Bucket is relation settings.
type Bucket struct {
	Data    map[string]string `json:"data"`
	Version int               `json:"version"`
}

// Offer is an application offer.
type Offer struct {
	Model    string `json:"model"`
	Name     string `json:"name"`
	App      string `json:"app"`
	Endpoint string `json:"endpoint"`
	UUID     string `json:"uuid"`
}

// Action is one action run.
type Action struct {
	ID int `json:"id"`
	// Operation is the id of the `juju run` that queued the action (0 for older records).
	Operation int            `json:"operation,omitempty"`
	Model     string         `json:"model"`
	Unit      string         `json:"unit"`
	Name      string         `json:"name"`
	Params    map[string]any `json:"params"`
	Status    string         `json:"status"`
	Message   string         `json:"message,omitempty"`
	Results   map[string]any `json:"results,omitempty"`
	Log       []ActionLog    `json:"log,omitempty"`
	Enqueued  time.Time      `json:"enqueued"`
	Started   time.Time      `json:"started,omitzero"`
	Completed time.Time      `json:"completed,omitzero"`
}

// ActionLog is one action-log line.
type ActionLog struct {
	Timestamp time.Time `json:"timestamp"`
	Message   string    `json:"message"`
}

// Secret is a Juju secret.
type Secret struct {
	URI         string                    `json:"uri"`
	Model       string                    `json:"model"`
	OwnerApp    string                    `json:"owner-app"`
	OwnerUnit   string                    `json:"owner-unit,omitempty"`
	Label       string                    `json:"label,omitempty"`
	Description string                    `json:"description,omitempty"`
	Expire      *time.Time                `json:"expire,omitempty"`
	Rotate      string                    `json:"rotate,omitempty"`
	Latest      int                       `json:"latest"`
	Revisions   map[int]map[string]string `json:"revisions"`
	Grants      []Grant                   `json:"grants,omitempty"`
	// NextRotate is when the owner runs secret-rotate next (nil: never).
	NextRotate *time.Time `json:"next-rotate,omitempty"`
	// RevExpire is when each revision given an expiry expires (secret-expired).
	RevExpire map[int]time.Time `json:"rev-expire,omitempty"`
}

// Grant gives the remote side of a relation (or one unit of it) access to a secret.
type Grant struct {
	RelID int    `json:"rel-id"`
	Unit  string `json:"unit,omitempty"`
}

// Consumer is a unit's pin of a secret.
type Consumer struct {
	URI      string `json:"uri"`
	Model    string `json:"model"`
	Unit     string `json:"unit"`
	Revision int    `json:"revision"`
	Label    string `json:"label,omitempty"`
}

// LogEntry is one debug-log line.
type LogEntry struct {
	ID      int64     `json:"id"`
	Time    time.Time `json:"time"`
	Model   string    `json:"model"`
	Entity  string    `json:"entity"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
}
