package juju

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/juju/charm/v12"
	charmresource "github.com/juju/charm/v12/resource"
	"github.com/juju/juju/api/base"
	actionapi "github.com/juju/juju/api/client/action"
	"github.com/juju/juju/api/client/application"
	apicharm "github.com/juju/juju/api/common/charm"
	corebase "github.com/juju/juju/core/base"
	corecharm "github.com/juju/juju/core/charm"
	"github.com/juju/juju/core/crossmodel"
	coreresources "github.com/juju/juju/core/resources"
	"github.com/juju/juju/rpc/params"
	"github.com/juju/names/v5"
	yamlv2 "gopkg.in/yaml.v2"
	"gopkg.in/yaml.v3"

	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// AppConfig is the application config the deploy call carries: the charm options and, as
// `juju deploy --trust` does, trust=true.
func AppConfig(opts scenario.DeployOptions) map[string]string {
	cfg := make(map[string]string, len(opts.Config)+1)
	for k, v := range opts.Config {
		cfg[k] = v
	}
	if opts.Trust {
		cfg["trust"] = "true"
	}
	if len(cfg) == 0 {
		return nil
	}
	return cfg
}

// LocalOrigin is the origin of an uploaded local charm, as `juju deploy ./x.charm` makes it:
// source local, the assigned revision, the base from --base (else the charm's first base),
// the architecture (else amd64). Channels do not apply to local charms and are ignored.
func LocalOrigin(revision int, baseFlag string, manifest *charm.Manifest, arch string) (apicharm.Origin, error) {
	if arch == "" {
		arch = "amd64"
	}
	o := apicharm.Origin{Source: apicharm.OriginLocal, Architecture: arch}
	if revision >= 0 {
		o.Revision = &revision
	}
	switch {
	case baseFlag != "":
		b, err := corebase.ParseBaseFromString(baseFlag)
		if err != nil {
			return o, fmt.Errorf("base %q: %w", baseFlag, err)
		}
		o.Base = b
	case manifest != nil && len(manifest.Bases) > 0:
		b, err := corebase.ParseBase(manifest.Bases[0].Name, manifest.Bases[0].Channel.String())
		if err != nil {
			return o, fmt.Errorf("charm manifest base %v: %w", manifest.Bases[0], err)
		}
		o.Base = b
	default:
		return o, fmt.Errorf("no base: pass DeployOptions.Base or pack the charm with a manifest")
	}
	return o, nil
}

// BuildDeployArgs is the Application.Deploy call for an uploaded charm.
func BuildDeployArgs(charmURL string, origin apicharm.Origin, app string, opts scenario.DeployOptions, resourceIDs map[string]string) application.DeployArgs {
	n := opts.Units
	if n < 1 {
		n = 1
	}
	return application.DeployArgs{
		CharmID:         application.CharmID{URL: charmURL, Origin: origin},
		CharmOrigin:     origin,
		ApplicationName: app,
		NumUnits:        n,
		Config:          AppConfig(opts),
		Resources:       resourceIDs,
	}
}

// ReadMetadataYAML returns metadata.yaml of a packed charm (.charm zip) or a charm directory.
func ReadMetadataYAML(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return os.ReadFile(filepath.Join(path, "metadata.yaml"))
	}
	z, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("open charm archive %s: %w", path, err)
	}
	defer z.Close()
	f, err := z.Open("metadata.yaml")
	if err != nil {
		return nil, fmt.Errorf("charm archive %s: %w", path, err)
	}
	defer f.Close()
	return io.ReadAll(f)
}

// OCIImages maps each oci-image resource of the charm's metadata.yaml to its
// upstream-source (what `juju deploy --resource name=image` would be given).
func OCIImages(metadataYAML []byte) (map[string]string, error) {
	var md struct {
		Resources map[string]struct {
			Type           string `yaml:"type"`
			UpstreamSource string `yaml:"upstream-source"`
		} `yaml:"resources"`
	}
	if err := yaml.Unmarshal(metadataYAML, &md); err != nil {
		return nil, fmt.Errorf("parse metadata.yaml: %w", err)
	}
	images := map[string]string{}
	for name, r := range md.Resources {
		if r.Type != charmresource.TypeContainerImage.String() {
			continue
		}
		if r.UpstreamSource == "" {
			return nil, fmt.Errorf("oci-image resource %q has no upstream-source", name)
		}
		images[name] = r.UpstreamSource
	}
	return images, nil
}

// OCIResourceBody is the upload body of an oci-image resource, as the juju CLI sends it for
// `--resource name=registry/path:tag`.
func OCIResourceBody(image string) ([]byte, error) {
	if image == "" {
		return nil, fmt.Errorf("no image")
	}
	// Byte for byte what cmd/juju/resource.OpenResource uploads (it uses yaml.v2 too).
	return yamlv2.Marshal(coreresources.DockerImageDetails{RegistryPath: image})
}

// SplitEndpoint splits "app:endpoint" ("app" alone: no endpoint).
func SplitEndpoint(s string) (app, endpoint string) {
	app, endpoint, _ = strings.Cut(s, ":")
	return app, endpoint
}

// NormalizeOfferURL fills in the owner the CLI assumes for "model.offer": the logged-in
// user. An endpoint in the URL is refused as `juju consume` does.
func NormalizeOfferURL(offerURL, user string) (*crossmodel.OfferURL, error) {
	u, err := crossmodel.ParseOfferURL(offerURL)
	if err != nil {
		return nil, fmt.Errorf("offer URL %q: %w", offerURL, err)
	}
	if u.HasEndpoint() {
		return nil, fmt.Errorf("offer URL %q must not name an endpoint", offerURL)
	}
	if u.User == "" {
		u.User = user
	}
	return u, nil
}

// ConsumeArgs builds the Application.Consume call from the offering side's consume details.
func ConsumeArgs(d params.ConsumeOfferDetails, source, alias string) (crossmodel.ConsumeApplicationArgs, error) {
	if d.Offer == nil {
		return crossmodel.ConsumeApplicationArgs{}, fmt.Errorf("consume details carry no offer")
	}
	offer := *d.Offer
	u, err := crossmodel.ParseOfferURL(offer.OfferURL)
	if err != nil {
		return crossmodel.ConsumeApplicationArgs{}, fmt.Errorf("offer URL %q: %w", offer.OfferURL, err)
	}
	u.Source = source
	offer.OfferURL = u.String()
	args := crossmodel.ConsumeApplicationArgs{Offer: offer, ApplicationAlias: alias, Macaroon: d.Macaroon}
	if ci := d.ControllerInfo; ci != nil {
		tag, err := names.ParseControllerTag(ci.ControllerTag)
		if err != nil {
			return args, fmt.Errorf("offer controller: %w", err)
		}
		args.ControllerInfo = &crossmodel.ControllerInfo{ControllerTag: tag, Alias: ci.Alias, Addrs: ci.Addrs, CACert: ci.CACert}
	}
	return args, nil
}

// LeaderTarget reports whether unit is "app/leader" and returns app.
func LeaderTarget(unit string) (app string, ok bool) {
	app, rest, found := strings.Cut(unit, "/")
	return app, found && rest == "leader"
}

// ActionDone reports whether an action status is final.
func ActionDone(status string) bool {
	switch status {
	case "completed", "failed", "cancelled", "aborted", "error":
		return true
	}
	return false
}

// ActionResultFrom maps one action result to the scenario's, as `juju run --format json`
// shows it: results are the action's output less the empty stdout/stderr; a result error
// becomes the message when the action has none.
func ActionResultFrom(unit string, r actionapi.ActionResult) scenario.ActionResult {
	out := scenario.ActionResult{Unit: unit, Status: r.Status, Message: r.Message}
	if r.Action != nil {
		if t, err := names.ParseUnitTag(r.Action.Receiver); err == nil {
			out.Unit = t.Id()
		}
	}
	if r.Error != nil && out.Message == "" {
		out.Message = r.Error.Error()
	}
	if len(r.Output) > 0 {
		out.Results = make(map[string]any, len(r.Output))
		for k, v := range r.Output {
			if s, ok := v.(string); ok && s == "" && (k == "stdout" || k == "stderr") {
				continue
			}
			out.Results[k] = v
		}
	}
	return out
}

// PickModel finds the model named name among the user's models, preferring one owned by
// user; the error lists what exists.
func PickModel(models []base.UserModel, name, user string) (base.UserModel, error) {
	var found []base.UserModel
	for _, m := range models {
		if m.Name == name {
			found = append(found, m)
		}
	}
	for _, m := range found {
		if m.Owner == user {
			return m, nil
		}
	}
	if len(found) == 1 {
		return found[0], nil
	}
	if len(found) > 1 {
		return base.UserModel{}, fmt.Errorf("model %q is ambiguous: %d owners, none is %s", name, len(found), user)
	}
	have := make([]string, 0, len(models))
	for _, m := range models {
		have = append(have, m.Owner+"/"+m.Name)
	}
	sort.Strings(have)
	return base.UserModel{}, fmt.Errorf("model %q not found (models: %s)", name, strings.Join(have, ", "))
}

// CharmName returns the charm name of a charm URL ("local:postgresql-k8s-3" → postgresql-k8s),
// or s unchanged when it is not a URL.
func CharmName(s string) string {
	if u, err := charm.ParseURL(s); err == nil {
		return u.Name
	}
	return s
}

func statusInfo(d params.DetailedStatus) scenario.StatusInfo {
	si := scenario.StatusInfo{Current: d.Status, Message: d.Info}
	if d.Since != nil {
		si.Time = d.Since.UTC()
		si.Since = si.Time.Format(time.RFC3339)
	}
	return si
}

// ConvertStatus maps FullStatus to the part of `juju status --format json` the scenarios read.
// The unit address is the unit's (pod) address, else its public address.
func ConvertStatus(fs *params.FullStatus) *scenario.Status {
	s := &scenario.Status{
		Model:        scenario.StatusModel{Name: fs.Model.Name},
		Applications: make(map[string]scenario.ApplicationStatus, len(fs.Applications)),
	}
	for name, a := range fs.Applications {
		as := scenario.ApplicationStatus{
			Charm:             CharmName(a.Charm),
			CharmChannel:      a.CharmChannel,
			Scale:             a.Scale,
			ApplicationStatus: statusInfo(a.Status),
			Units:             make(map[string]scenario.UnitStatus, len(a.Units)),
		}
		if as.Scale == 0 {
			as.Scale = len(a.Units)
		}
		for un, u := range a.Units {
			addr := u.Address
			if addr == "" {
				addr = u.PublicAddress
			}
			as.Units[un] = scenario.UnitStatus{
				WorkloadStatus: statusInfo(u.WorkloadStatus),
				JujuStatus:     statusInfo(u.AgentStatus),
				Leader:         u.Leader,
				Address:        addr,
			}
		}
		s.Applications[name] = as
	}
	return s
}

// UnitOrdinal returns the number of "app/N".
func UnitOrdinal(unit string) (app string, n int, err error) {
	app, num, ok := strings.Cut(unit, "/")
	if !ok {
		return "", 0, fmt.Errorf("unit %q: want app/N", unit)
	}
	n, err = strconv.Atoi(num)
	if err != nil || n < 0 {
		return "", 0, fmt.Errorf("unit %q: want app/N", unit)
	}
	return app, n, nil
}

// CAASRemoval checks that removing unit from a Kubernetes model, where Juju can only scale
// an application down (removing its highest-numbered unit), removes that very unit.
func CAASRemoval(unit string, units []string) (app string, err error) {
	app, n, err := UnitOrdinal(unit)
	if err != nil {
		return "", err
	}
	highest, found := -1, false
	for _, u := range units {
		a, m, err := UnitOrdinal(u)
		if err != nil || a != app {
			continue
		}
		if m == n {
			found = true
		}
		if m > highest {
			highest = m
		}
	}
	if !found {
		return "", fmt.Errorf("unit %s not found", unit)
	}
	if n != highest {
		return "", fmt.Errorf("kubernetes models remove the highest-numbered unit only: cannot remove %s while %s/%d exists", unit, app, highest)
	}
	return app, nil
}

// LocalCharm is a local charm read and checked before anything is sent to the controller.
type LocalCharm struct {
	Path   string
	Charm  charm.Charm
	URL    *charm.URL        // local:<name>-<revision>, as the CLI uploads it
	Images map[string]string // oci-image resource → upstream-source
	Origin apicharm.Origin   // revision set by the upload
}

// PrepareLocalCharm reads a packed .charm or a charm directory the way `juju deploy ./path`
// does, and works out the origin and the image of every resource. Only oci-image resources
// are supported (they are what a sidecar charm has).
func PrepareLocalCharm(path, baseFlag, arch string) (*LocalCharm, error) {
	ch, curl, err := corecharm.NewCharmAtPath(path)
	if err != nil {
		return nil, fmt.Errorf("charm %q: the Juju backend deploys a local charm, give the path of the .charm built by `make charm`: %w", path, err)
	}
	if ch.Meta().Name == "" {
		return nil, fmt.Errorf("charm %s: metadata has no name", path)
	}
	md, err := ReadMetadataYAML(path)
	if err != nil {
		return nil, err
	}
	images, err := OCIImages(md)
	if err != nil {
		return nil, fmt.Errorf("charm %s: %w", path, err)
	}
	for name, meta := range ch.Meta().Resources {
		if meta.Type != charmresource.TypeContainerImage {
			return nil, fmt.Errorf("charm %s: resource %q of type %s: only oci-image resources are supported", path, name, meta.Type)
		}
		if images[name] == "" {
			return nil, fmt.Errorf("charm %s: resource %q has no upstream-source", path, name)
		}
	}
	origin, err := LocalOrigin(-1, baseFlag, ch.Manifest(), arch)
	if err != nil {
		return nil, fmt.Errorf("charm %s: %w", path, err)
	}
	return &LocalCharm{Path: path, Charm: ch, URL: curl, Images: images, Origin: origin}, nil
}

// ResourceNames returns the charm's resources, sorted.
func (lc *LocalCharm) ResourceNames() []string {
	names := make([]string, 0, len(lc.Charm.Meta().Resources))
	for name := range lc.Charm.Meta().Resources {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
