package hookenv

import (
	"context"
	"errors"
)

// ErrNotFound is returned by SecretGet when the secret does not exist or is not visible.
var ErrNotFound = errors.New("not found")

// SecretAddArgs are the arguments of secret-add. Content is passed through a private file,
// never on the command line.
type SecretAddArgs struct {
	Content     map[string]string
	Label       string
	Description string
	Owner       string // "application" (default) or "unit"
}

// SecretGetArgs select a secret by URI and/or label and the revision policy of secret-get.
type SecretGetArgs struct {
	URI     string
	Label   string
	Peek    bool
	Refresh bool
}

// SecretInfo is one entry of secret-info-get.
type SecretInfo struct {
	ID       string `json:"-"`
	Label    string `json:"label"`
	Owner    string `json:"owner"`
	Revision int    `json:"revision"`
	Rotation string `json:"rotation"`
}

// Network is the network-get result of one binding.
type Network struct {
	BindAddresses []struct {
		InterfaceName string `json:"interface-name"`
		Addresses     []struct {
			Value string `json:"value"`
			CIDR  string `json:"cidr"`
		} `json:"addresses"`
	} `json:"bind-addresses"`
	IngressAddresses []string `json:"ingress-addresses"`
	EgressSubnets    []string `json:"egress-subnets"`
}

// BindAddress returns the first bind address ("" when none).
func (n Network) BindAddress() string {
	for _, b := range n.BindAddresses {
		for _, a := range b.Addresses {
			if a.Value != "" {
				return a.Value
			}
		}
	}
	if len(n.IngressAddresses) > 0 {
		return n.IngressAddresses[0]
	}
	return ""
}

// Tools are the hook tools the charm uses. Relation ids are Juju's strings ("endpoint:N").
// Writes to relation data, secrets, state and ports take effect when the hook exits 0.
type Tools interface {
	IsLeader(ctx context.Context) (bool, error)

	// RelationIDs lists the relation ids of an endpoint.
	RelationIDs(ctx context.Context, endpoint string) ([]string, error)
	// RelationList lists the remote units in scope of a relation.
	RelationList(ctx context.Context, relID string) ([]string, error)
	// RelationRemoteApp is the application at the other end (relation-list --app).
	RelationRemoteApp(ctx context.Context, relID string) (string, error)
	// RelationModelUUID is the uuid of the model the remote application lives in
	// (relation-model-get).
	RelationModelUUID(ctx context.Context, relID string) (string, error)
	// RelationGet reads a unit bucket, or an application bucket when app is true.
	RelationGet(ctx context.Context, relID, unitOrApp string, app bool) (map[string]string, error)
	// RelationSet writes this unit's bucket, or its app's (leader) when app is true; an empty
	// value deletes the key.
	RelationSet(ctx context.Context, relID string, app bool, values map[string]string) error

	LeaderGet(ctx context.Context) (map[string]string, error)
	LeaderSet(ctx context.Context, values map[string]string) error

	ConfigGet(ctx context.Context) (map[string]any, error)

	ActionGet(ctx context.Context) (map[string]any, error)
	// ActionSet sets results; dotted keys nest. Values are visible on the command line of
	// the tool: never pass anything more secret than what the action exists to return.
	ActionSet(ctx context.Context, values map[string]string) error
	ActionFail(ctx context.Context, message string) error
	ActionLog(ctx context.Context, message string) error

	// StatusSet sets the unit status, or the application's (leader only) when app is true.
	StatusSet(ctx context.Context, app bool, status, message string) error
	// StatusGet returns the unit status, or with app (leader only) the application's with
	// its units' in Units.
	StatusGet(ctx context.Context, app bool) (StatusInfo, error)
	// JujuLog writes a line in the unit's log (level DEBUG, INFO, WARNING, ERROR...).
	JujuLog(ctx context.Context, level, message string) error

	NetworkGet(ctx context.Context, binding string) (Network, error)

	SecretAdd(ctx context.Context, args SecretAddArgs) (string, error)
	// SecretGet returns the content; ErrNotFound when the secret does not exist.
	SecretGet(ctx context.Context, args SecretGetArgs) (map[string]string, error)
	// SecretSet replaces the content of an owned secret (new revision).
	SecretSet(ctx context.Context, uri string, content map[string]string) error
	// SecretGrant lets the remote side of relID (or one unit of it when unit != "") read.
	SecretGrant(ctx context.Context, uri, relID, unit string) error
	// SecretRemove removes an owned secret (all its revisions).
	SecretRemove(ctx context.Context, uri string) error
	SecretIDs(ctx context.Context) ([]string, error)
	// SecretInfoGet describes owned secrets; ErrNotFound when none has that URI or label.
	SecretInfoGet(ctx context.Context, uriOrLabel string) ([]SecretInfo, error)

	StateGet(ctx context.Context) (map[string]string, error)
	StateSet(ctx context.Context, values map[string]string) error

	OpenPort(ctx context.Context, port int, protocol string) error
	ApplicationVersionSet(ctx context.Context, version string) error
}

// StatusInfo is a status as status-get --include-data reports it.
type StatusInfo struct {
	Status  string                `json:"status"`
	Message string                `json:"message"`
	Units   map[string]StatusInfo `json:"units,omitempty"`
}
