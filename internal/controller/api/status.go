package api

// The status document. Its types mirror Juju 3.6's cmd/juju/status/formatted.go field for
// field and in the same order, with the same json and yaml tags, so that the CLI prints
// `juju status --format json|yaml` by marshalling them as they are.
type (
	// FullStatus is status's result: the model's status, and its relations, which only the
	// tabular `status --relations` shows.
	FullStatus struct {
		Status    Status           `json:"status"`
		Relations []RelationStatus `json:"relations,omitempty"`
	}

	// Status is `juju status --format json|yaml`'s document.
	Status struct {
		Model        ModelStatus                  `json:"model" yaml:"model"`
		Machines     map[string]struct{}          `json:"machines" yaml:"machines"`
		Applications map[string]ApplicationStatus `json:"applications" yaml:"applications"`
		SAAS         map[string]SAASStatus        `json:"application-endpoints,omitempty" yaml:"application-endpoints,omitempty"`
		Offers       map[string]OfferStatus       `json:"offers,omitempty" yaml:"offers,omitempty"`
		Controller   *ControllerStatus            `json:"controller,omitempty" yaml:"controller,omitempty"`
	}

	// ModelStatus is the model's part of the status.
	ModelStatus struct {
		Name        string     `json:"name" yaml:"name"`
		Type        string     `json:"type" yaml:"type"`
		Controller  string     `json:"controller" yaml:"controller"`
		Cloud       string     `json:"cloud" yaml:"cloud"`
		CloudRegion string     `json:"region,omitempty" yaml:"region,omitempty"`
		Version     string     `json:"version" yaml:"version"`
		Status      StatusInfo `json:"model-status,omitempty" yaml:"model-status,omitempty"`
		SLA         string     `json:"sla,omitempty" yaml:"sla,omitempty"`
	}

	// ControllerStatus carries the time the status was taken.
	ControllerStatus struct {
		Timestamp string `json:"timestamp,omitempty" yaml:"timestamp,omitempty"`
	}

	// StatusInfo is one status value (Juju's statusInfoContents).
	StatusInfo struct {
		Current string `json:"current,omitempty" yaml:"current,omitempty"`
		Message string `json:"message,omitempty" yaml:"message,omitempty"`
		Reason  string `json:"reason,omitempty" yaml:"reason,omitempty"`
		Since   string `json:"since,omitempty" yaml:"since,omitempty"`
		Version string `json:"version,omitempty" yaml:"version,omitempty"`
		Life    string `json:"life,omitempty" yaml:"life,omitempty"`
	}

	// Base is an application's base.
	Base struct {
		Name    string `json:"name" yaml:"name"`
		Channel string `json:"channel" yaml:"channel"`
	}

	// ApplicationStatus is one application. Scale and CharmChannel are omitted when empty, as
	// Juju does; Life only shows when the application is not alive.
	ApplicationStatus struct {
		Charm        string                           `json:"charm" yaml:"charm"`
		Base         *Base                            `json:"base,omitempty" yaml:"base,omitempty"`
		CharmOrigin  string                           `json:"charm-origin" yaml:"charm-origin"`
		CharmName    string                           `json:"charm-name" yaml:"charm-name"`
		CharmRev     int                              `json:"charm-rev" yaml:"charm-rev"`
		CharmChannel string                           `json:"charm-channel,omitempty" yaml:"charm-channel,omitempty"`
		Scale        int                              `json:"scale,omitempty" yaml:"scale,omitempty"`
		ProviderID   string                           `json:"provider-id,omitempty" yaml:"provider-id,omitempty"`
		Address      string                           `json:"address,omitempty" yaml:"address,omitempty"`
		Exposed      bool                             `json:"exposed" yaml:"exposed"`
		Life         string                           `json:"life,omitempty" yaml:"life,omitempty"`
		Status       StatusInfo                       `json:"application-status,omitempty" yaml:"application-status"`
		Relations    map[string][]ApplicationRelation `json:"relations,omitempty" yaml:"relations,omitempty"`
		Units        map[string]UnitStatus            `json:"units,omitempty" yaml:"units,omitempty"`
		Version      string                           `json:"version,omitempty" yaml:"version,omitempty"`
	}

	// ApplicationRelation is one relation of an application's endpoint.
	ApplicationRelation struct {
		Related   string `json:"related-application,omitempty" yaml:"related-application,omitempty"`
		Interface string `json:"interface,omitempty" yaml:"interface,omitempty"`
		Scope     string `json:"scope,omitempty" yaml:"scope,omitempty"`
	}

	// UnitStatus is one unit. A unit whose hook failed shows the error in its workload
	// status and an idle agent, as Juju shows it.
	UnitStatus struct {
		Workload   StatusInfo `json:"workload-status,omitempty" yaml:"workload-status,omitempty"`
		Agent      StatusInfo `json:"juju-status,omitempty" yaml:"juju-status,omitempty"`
		Leader     bool       `json:"leader,omitempty" yaml:"leader,omitempty"`
		OpenPorts  []string   `json:"open-ports,omitempty" yaml:"open-ports,omitempty"`
		Address    string     `json:"address,omitempty" yaml:"address,omitempty"`
		ProviderID string     `json:"provider-id,omitempty" yaml:"provider-id,omitempty"`
	}

	// Endpoint is an offered or consumed endpoint.
	Endpoint struct {
		Interface string `json:"interface" yaml:"interface"`
		Role      string `json:"role" yaml:"role"`
	}

	// SAASStatus is a consumed offer (Juju's remoteApplicationStatus): Relations maps each
	// endpoint to the applications related to it.
	SAASStatus struct {
		URL       string              `json:"url" yaml:"url"`
		Endpoints map[string]Endpoint `json:"endpoints,omitempty" yaml:"endpoints,omitempty"`
		Life      string              `json:"life,omitempty" yaml:"life,omitempty"`
		Status    StatusInfo          `json:"application-status,omitempty" yaml:"application-status"`
		Relations map[string][]string `json:"relations,omitempty" yaml:"relations,omitempty"`
	}

	// OfferStatus is one of the model's offers.
	OfferStatus struct {
		Application string              `json:"application" yaml:"application"`
		Charm       string              `json:"charm,omitempty" yaml:"charm,omitempty"`
		Total       int                 `json:"total-connected-count,omitempty" yaml:"total-connected-count,omitempty"`
		Active      int                 `json:"active-connected-count,omitempty" yaml:"active-connected-count,omitempty"`
		Endpoints   map[string]Endpoint `json:"endpoints" yaml:"endpoints"`
	}

	// RelationStatus is one relation as `status --relations` lists it: endpoints as
	// "app:endpoint" seen from the model, Type is peer or regular, Status joined (alive),
	// broken or suspended.
	RelationStatus struct {
		ID        int    `json:"id"`
		Provider  string `json:"provider"`
		Requirer  string `json:"requirer"`
		Interface string `json:"interface"`
		Type      string `json:"type"`
		Status    string `json:"status"`
		Message   string `json:"message,omitempty"`
	}
)

// Offer listing (`juju offers`).
type (
	// OffersParams select the model's offers: Name, if set, is one offer's name.
	OffersParams struct {
		Name string `json:"name,omitempty"`
	}
	// OfferDetails is one offer and who is connected to it.
	OfferDetails struct {
		Name        string              `json:"name"`
		Application string              `json:"application"`
		Charm       string              `json:"charm"`
		URL         string              `json:"url"`
		Endpoints   map[string]Endpoint `json:"endpoints"`
		Connections []OfferConnection   `json:"connections,omitempty"`
	}
	// OfferConnection is one relation to an offer from a consuming model.
	OfferConnection struct {
		SourceModelUUID string `json:"source-model-uuid"`
		Username        string `json:"username"`
		RelationID      int    `json:"relation-id"`
		Endpoint        string `json:"endpoint"`
		Status          string `json:"status"`
	}
)
