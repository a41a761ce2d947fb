// Package hookenv is the charm's side of the Juju contract: typed access to the JUJU_*
// environment of one hook or action execution, and the hook tools run with --format=json.
//
// Handlers use the Tools interface; Exec implements it by running the real tools found on
// PATH (Juju puts its tools directory first), hookenvtest.Fake implements it in memory for tests.
package hookenv

import (
	"path"
	"strings"
)

// Env is the JUJU_* environment of one hook or action execution.
type Env struct {
	DispatchPath    string // JUJU_DISPATCH_PATH: hooks/<hook> or actions/<action>
	HookName        string // JUJU_HOOK_NAME (empty for actions)
	ActionName      string // JUJU_ACTION_NAME
	ActionUUID      string // JUJU_ACTION_UUID
	ActionTag       string // JUJU_ACTION_TAG
	UnitName        string // JUJU_UNIT_NAME, e.g. postgresql-k8s/0
	ModelName       string // JUJU_MODEL_NAME
	ModelUUID       string // JUJU_MODEL_UUID
	CharmDir        string // JUJU_CHARM_DIR (or CHARM_DIR)
	ContextID       string // JUJU_CONTEXT_ID
	Version         string // JUJU_VERSION
	RelationName    string // JUJU_RELATION (endpoint)
	RelationID      string // JUJU_RELATION_ID, e.g. database-peers:3
	RemoteUnit      string // JUJU_REMOTE_UNIT (empty for app-bucket changes, created, broken)
	RemoteApp       string // JUJU_REMOTE_APP
	DepartingUnit   string // JUJU_DEPARTING_UNIT (relation-departed only)
	WorkloadName    string // JUJU_WORKLOAD_NAME (pebble-* hooks)
	NoticeID        string // JUJU_NOTICE_ID
	NoticeType      string // JUJU_NOTICE_TYPE
	NoticeKey       string // JUJU_NOTICE_KEY
	PebbleCheckName string // JUJU_PEBBLE_CHECK_NAME
	SecretID        string // JUJU_SECRET_ID
	SecretLabel     string // JUJU_SECRET_LABEL
	SecretRevision  string // JUJU_SECRET_REVISION

	// ContainersDir is JUJULET_CONTAINERS_DIR: set only by jujulet (see docs/SEAMS.md).
	ContainersDir string
}

// FromEnviron reads the environment through getenv (os.Getenv in production).
func FromEnviron(getenv func(string) string) Env {
	e := Env{
		DispatchPath:    getenv("JUJU_DISPATCH_PATH"),
		HookName:        getenv("JUJU_HOOK_NAME"),
		ActionName:      getenv("JUJU_ACTION_NAME"),
		ActionUUID:      getenv("JUJU_ACTION_UUID"),
		ActionTag:       getenv("JUJU_ACTION_TAG"),
		UnitName:        getenv("JUJU_UNIT_NAME"),
		ModelName:       getenv("JUJU_MODEL_NAME"),
		ModelUUID:       getenv("JUJU_MODEL_UUID"),
		CharmDir:        getenv("JUJU_CHARM_DIR"),
		ContextID:       getenv("JUJU_CONTEXT_ID"),
		Version:         getenv("JUJU_VERSION"),
		RelationName:    getenv("JUJU_RELATION"),
		RelationID:      getenv("JUJU_RELATION_ID"),
		RemoteUnit:      getenv("JUJU_REMOTE_UNIT"),
		RemoteApp:       getenv("JUJU_REMOTE_APP"),
		DepartingUnit:   getenv("JUJU_DEPARTING_UNIT"),
		WorkloadName:    getenv("JUJU_WORKLOAD_NAME"),
		NoticeID:        getenv("JUJU_NOTICE_ID"),
		NoticeType:      getenv("JUJU_NOTICE_TYPE"),
		NoticeKey:       getenv("JUJU_NOTICE_KEY"),
		PebbleCheckName: getenv("JUJU_PEBBLE_CHECK_NAME"),
		SecretID:        getenv("JUJU_SECRET_ID"),
		SecretLabel:     getenv("JUJU_SECRET_LABEL"),
		SecretRevision:  getenv("JUJU_SECRET_REVISION"),
		ContainersDir:   getenv("JUJULET_CONTAINERS_DIR"),
	}
	if e.CharmDir == "" {
		e.CharmDir = getenv("CHARM_DIR")
	}
	// Older dispatchers (hooks/<name> symlinks run without JUJU_DISPATCH_PATH) and
	// JUJU_HOOK_NAME-less environments: derive the event from the dispatch path.
	if e.HookName == "" && e.ActionName == "" && e.DispatchPath != "" {
		dir, base := path.Split(e.DispatchPath)
		switch strings.TrimSuffix(dir, "/") {
		case "hooks":
			e.HookName = base
		case "actions":
			e.ActionName = base
		}
	}
	return e
}

// IsAction reports whether this execution is an action.
func (e Env) IsAction() bool { return e.ActionName != "" }

// Event is the hook name, or the action name for actions.
func (e Env) Event() string {
	if e.IsAction() {
		return e.ActionName
	}
	return e.HookName
}

// AppName is the application part of the unit name.
func (e Env) AppName() string { return AppOf(e.UnitName) }

// UnitNumber is the number part of the unit name ("" when malformed).
func (e Env) UnitNumber() string {
	_, n, ok := strings.Cut(e.UnitName, "/")
	if !ok {
		return ""
	}
	return n
}

// AppOf returns the application of a unit name ("app/3" → "app"); an app name is returned as is.
func AppOf(unit string) string {
	app, _, _ := strings.Cut(unit, "/")
	return app
}
