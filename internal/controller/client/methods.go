package client

import (
	"context"

	"github.com/jujulet/postgresql-k8s/internal/controller/api"
)

// The methods, in package api's order. Model-scoped ones take the model ("" for the
// current one) after the context.

// Ping checks that the controller is up and serving.
func (c *Client) Ping(ctx context.Context) error {
	return c.Call(ctx, api.MethodPing, "", nil, nil)
}

// Kill asks the controller to stop its unit agents and pods and exit. It returns once
// the controller has the request, not once it has stopped.
func (c *Client) Kill(ctx context.Context) error {
	return c.Call(ctx, api.MethodKill, "", nil, nil)
}

// AddModel creates a model and makes it current.
func (c *Client) AddModel(ctx context.Context, name string) (api.Model, error) {
	var out api.Model
	err := c.Call(ctx, api.MethodAddModel, "", api.AddModelParams{Name: name}, &out)
	return out, err
}

// Models lists the models (dying ones included) and names the current one.
func (c *Client) Models(ctx context.Context) (api.Models, error) {
	var out api.Models
	err := c.Call(ctx, api.MethodModels, "", nil, &out)
	return out, err
}

// Switch makes a model current and returns its name.
func (c *Client) Switch(ctx context.Context, name string) (string, error) {
	var out api.CurrentModel
	err := c.Call(ctx, api.MethodSwitch, "", api.SwitchParams{Name: name}, &out)
	return out.Name, err
}

// CurrentModel names the current model ("" if none).
func (c *Client) CurrentModel(ctx context.Context) (string, error) {
	var out api.CurrentModel
	err := c.Call(ctx, api.MethodCurrentModel, "", nil, &out)
	return out.Name, err
}

// DestroyModel starts destroying a model.
func (c *Client) DestroyModel(ctx context.Context, p api.DestroyModelParams) error {
	return c.Call(ctx, api.MethodDestroyModel, "", p, nil)
}

// ModelConfig sets the keys in set (if any) and returns the model's config.
func (c *Client) ModelConfig(ctx context.Context, model string, set map[string]string) (api.ModelConfig, error) {
	var out api.ModelConfig
	err := c.Call(ctx, api.MethodModelConfig, model, api.ModelConfigParams{Set: set}, &out)
	return out, err
}

// Deploy deploys a local charm.
func (c *Client) Deploy(ctx context.Context, model string, p api.DeployParams) (api.Deployed, error) {
	var out api.Deployed
	err := c.Call(ctx, api.MethodDeploy, model, p, &out)
	return out, err
}

// Refresh switches an application to a local charm.
func (c *Client) Refresh(ctx context.Context, model string, p api.RefreshParams) (api.Refreshed, error) {
	var out api.Refreshed
	err := c.Call(ctx, api.MethodRefresh, model, p, &out)
	return out, err
}

// RemoveApplication removes an application (or a SAAS one).
func (c *Client) RemoveApplication(ctx context.Context, model string, p api.AppParams) (api.Removal, error) {
	var out api.Removal
	err := c.Call(ctx, api.MethodRemoveApplication, model, p, &out)
	return out, err
}

// Config applies config changes (if any) and returns the application's settings.
func (c *Client) Config(ctx context.Context, model string, p api.ConfigParams) (api.Config, error) {
	var out api.Config
	err := c.Call(ctx, api.MethodConfig, model, p, &out)
	return out, err
}

// Trust grants (remove: revokes) an application's trust.
func (c *Client) Trust(ctx context.Context, model, app string, remove bool) error {
	return c.Call(ctx, api.MethodTrust, model, api.TrustParams{App: app, Remove: remove}, nil)
}

// AddUnit adds n units to an application.
func (c *Client) AddUnit(ctx context.Context, model, app string, n int) error {
	return c.Call(ctx, api.MethodAddUnit, model, api.AddUnitParams{App: app, N: n}, nil)
}

// Scale sets the number of an application's units.
func (c *Client) Scale(ctx context.Context, model, app string, n int) error {
	return c.Call(ctx, api.MethodScale, model, api.ScaleParams{App: app, N: &n}, nil)
}

// RemoveUnits removes units.
func (c *Client) RemoveUnits(ctx context.Context, model string, units []string) ([]api.Removal, error) {
	var out []api.Removal
	err := c.Call(ctx, api.MethodRemoveUnit, model, api.UnitsParams{Units: units}, &out)
	return out, err
}

// ShowUnits is `juju show-unit` for each unit.
func (c *Client) ShowUnits(ctx context.Context, model string, units []string) (api.ShowUnit, error) {
	var out api.ShowUnit
	err := c.Call(ctx, api.MethodShowUnit, model, api.UnitsParams{Units: units}, &out)
	return out, err
}

// Resolve retries (noRetry: skips) a unit's failed hook.
func (c *Client) Resolve(ctx context.Context, model, unit string, noRetry bool) error {
	return c.Call(ctx, api.MethodResolve, model, api.ResolveParams{Unit: unit, NoRetry: noRetry}, nil)
}

// Pod kills, stops or starts a unit's pod (op is api.PodKill, PodStop or PodStart).
func (c *Client) Pod(ctx context.Context, model, unit, op string) error {
	return c.Call(ctx, api.MethodPod, model, api.PodParams{Unit: unit, Op: op}, nil)
}

// UnitInfo locates a unit's pod.
func (c *Client) UnitInfo(ctx context.Context, model, unit string) (api.UnitInfo, error) {
	var out api.UnitInfo
	err := c.Call(ctx, api.MethodUnitInfo, model, api.UnitParams{Unit: unit}, &out)
	return out, err
}

// Integrate relates two endpoints.
func (c *Client) Integrate(ctx context.Context, model, ep1, ep2 string) error {
	return c.Call(ctx, api.MethodIntegrate, model, api.IntegrateParams{Endpoints: []string{ep1, ep2}}, nil)
}

// RemoveRelation removes the relation between the endpoints (one or two).
func (c *Client) RemoveRelation(ctx context.Context, model string, endpoints []string) error {
	return c.Call(ctx, api.MethodRemoveRelation, model, api.RemoveRelationParams{Endpoints: endpoints}, nil)
}

// Offer offers an endpoint ("app:endpoint") to other models.
func (c *Client) Offer(ctx context.Context, model string, p api.OfferParams) (api.Offered, error) {
	var out api.Offered
	err := c.Call(ctx, api.MethodOffer, model, p, &out)
	return out, err
}

// Offers lists a model's offers (p.Name: just that one) with their connections.
func (c *Client) Offers(ctx context.Context, model string, p api.OffersParams) ([]api.OfferDetails, error) {
	var out []api.OfferDetails
	err := c.Call(ctx, api.MethodOffers, model, p, &out)
	return out, err
}

// Consume adds a SAAS application for another model's offer.
func (c *Client) Consume(ctx context.Context, model string, p api.ConsumeParams) (api.Consumed, error) {
	var out api.Consumed
	err := c.Call(ctx, api.MethodConsume, model, p, &out)
	return out, err
}

// Run queues an action on each target and returns the tasks.
func (c *Client) Run(ctx context.Context, model string, p api.RunParams) ([]api.Task, error) {
	var out []api.Task
	err := c.Call(ctx, api.MethodRun, model, p, &out)
	return out, err
}

// Action returns a task.
func (c *Client) Action(ctx context.Context, id int) (api.Action, error) {
	var out api.Action
	err := c.Call(ctx, api.MethodAction, "", api.ActionParams{ID: id}, &out)
	return out, err
}

// Operation returns an operation (a run) with its tasks.
func (c *Client) Operation(ctx context.Context, id int) (api.Operation, error) {
	var out api.Operation
	err := c.Call(ctx, api.MethodOperation, "", api.ActionParams{ID: id}, &out)
	return out, err
}

// Status is `juju status --format json` for a model.
func (c *Client) Status(ctx context.Context, model string) (api.FullStatus, error) {
	var out api.FullStatus
	err := c.Call(ctx, api.MethodStatus, model, nil, &out)
	return out, err
}

// Logs returns a model's log lines.
func (c *Client) Logs(ctx context.Context, model string, p api.LogsParams) ([]api.LogEntry, error) {
	var out []api.LogEntry
	err := c.Call(ctx, api.MethodLogs, model, p, &out)
	return out, err
}
