package juju

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/juju/charm/v12"
	charmresource "github.com/juju/charm/v12/resource"
	"github.com/juju/juju/api"
	"github.com/juju/juju/api/base"
	actionapi "github.com/juju/juju/api/client/action"
	"github.com/juju/juju/api/client/application"
	"github.com/juju/juju/api/client/applicationoffers"
	"github.com/juju/juju/api/client/charms"
	"github.com/juju/juju/api/client/client"
	"github.com/juju/juju/api/client/modelmanager"
	"github.com/juju/juju/api/client/resources"
	"github.com/juju/juju/core/model"
	"github.com/juju/juju/jujuclient"
	"github.com/juju/juju/rpc/params"
	"github.com/juju/names/v5"

	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

// ActionPollInterval is how often RunAction asks for an action's result.
const ActionPollInterval = 500 * time.Millisecond

// DefaultActionTimeout bounds RunAction when ctx has no deadline (as `juju run --wait 5m`).
const DefaultActionTimeout = 5 * time.Minute

// Backend is the scenario.Backend of a real Juju controller.
type Backend struct {
	cfg  Config
	log  *slog.Logger
	arch string

	mu     sync.Mutex
	ctrl   api.Connection
	models map[string]base.UserModel // by name
	conns  map[string]api.Connection // by model UUID
}

var _ scenario.Backend = (*Backend)(nil)

// New returns a Backend for cfg; it connects lazily. Arch is the architecture charms are
// deployed for ("" = amd64).
func New(cfg Config, log *slog.Logger, arch string) *Backend {
	if log == nil {
		log = slog.Default()
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	return &Backend{cfg: cfg, log: log, arch: arch, models: map[string]base.UserModel{}, conns: map[string]api.Connection{}}
}

// Connect checks that the controller answers and accepts the login.
func (b *Backend) Connect(ctx context.Context) error {
	_, err := b.controller(ctx)
	return err
}

// Close closes every connection.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	if b.ctrl != nil {
		errs = append(errs, b.ctrl.Close())
		b.ctrl = nil
	}
	for uuid, c := range b.conns {
		errs = append(errs, c.Close())
		delete(b.conns, uuid)
	}
	return errors.Join(errs...)
}

// Name implements scenario.Backend.
func (b *Backend) Name() string { return "juju " + b.cfg.Where() }

func (b *Backend) controller(ctx context.Context) (api.Connection, error) {
	b.mu.Lock()
	c := b.ctrl
	b.mu.Unlock()
	if c != nil && !broken(c) {
		return c, nil
	}
	c, err := open(ctx, b.cfg, "")
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ctrl != nil && !broken(b.ctrl) {
		// Another caller connected meanwhile: use theirs, which may be in use.
		c.Close()
		return b.ctrl, nil
	}
	b.ctrl = c
	return c, nil
}

// broken says whether the connection has died, without a round trip (IsBroken pings,
// with no timeout of its own).
func broken(c api.Connection) bool {
	select {
	case <-c.Broken():
		return true
	default:
		return false
	}
}

// drop forgets a connection that a timed-out call left in an unknown state, and closes it.
func (b *Backend) drop(c api.Connection) {
	b.mu.Lock()
	if b.ctrl == c {
		b.ctrl = nil
	}
	for uuid, mc := range b.conns {
		if mc == c {
			delete(b.conns, uuid)
		}
	}
	b.mu.Unlock()
	c.Close()
}

// call runs one blocking API call within ctx (or the call timeout): when time is up the
// connection is closed, which ends the call, and the error says what was being done.
func (b *Backend) call(ctx context.Context, c api.Connection, what string, fn func() error) error {
	_, err := do(ctx, b, c, what, func() (struct{}, error) { return struct{}{}, fn() })
	return err
}

// do is call for a call with a result. The result comes back over the channel only: a call
// abandoned at its deadline writes nothing the caller reads.
func do[T any](ctx context.Context, b *Backend, c api.Connection, what string, fn func() (T, error)) (T, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.cfg.CallTimeout)
		defer cancel()
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := fn()
		done <- result{v, err}
	}()
	var zero T
	select {
	case r := <-done:
		if r.err != nil {
			return zero, fmt.Errorf("%s: %w", what, r.err)
		}
		return r.v, nil
	case <-ctx.Done():
		b.drop(c)
		return zero, fmt.Errorf("%s on %s: %w", what, b.cfg.Where(), ctx.Err())
	}
}

// model resolves a model name, asking the controller when it is not known yet.
func (b *Backend) model(ctx context.Context, name string) (base.UserModel, error) {
	b.mu.Lock()
	m, ok := b.models[name]
	b.mu.Unlock()
	if ok {
		return m, nil
	}
	c, err := b.controller(ctx)
	if err != nil {
		return m, err
	}
	models, err := do(ctx, b, c, "list models", func() ([]base.UserModel, error) {
		return modelmanager.NewClient(c).ListModels(b.cfg.User)
	})
	if err != nil {
		return m, err
	}
	m, err = PickModel(models, name, b.cfg.User)
	if err != nil {
		return m, fmt.Errorf("%s: %w", b.cfg.Where(), err)
	}
	b.mu.Lock()
	b.models[name] = m
	b.mu.Unlock()
	return m, nil
}

// modelConn returns an API connection to the named model.
func (b *Backend) modelConn(ctx context.Context, name string) (api.Connection, base.UserModel, error) {
	m, err := b.model(ctx, name)
	if err != nil {
		return nil, m, err
	}
	b.mu.Lock()
	c := b.conns[m.UUID]
	b.mu.Unlock()
	if c != nil && !broken(c) {
		return c, m, nil
	}
	c, err = open(ctx, b.cfg, m.UUID)
	if err != nil {
		return nil, m, fmt.Errorf("model %q: %w", name, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if cur := b.conns[m.UUID]; cur != nil && !broken(cur) {
		c.Close()
		return cur, m, nil
	}
	b.conns[m.UUID] = c
	return c, m, nil
}

// AddModel implements scenario.Backend: a model on the controller's default cloud and
// credential, owned by the logged-in user.
func (b *Backend) AddModel(ctx context.Context, name string) error {
	c, err := b.controller(ctx)
	if err != nil {
		return err
	}
	info, err := do(ctx, b, c, "add model "+name, func() (base.ModelInfo, error) {
		return modelmanager.NewClient(c).CreateModel(name, b.cfg.User, "", "", names.CloudCredentialTag{}, nil)
	})
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.models[name] = base.UserModel{Name: info.Name, UUID: info.UUID, Type: info.Type, Owner: b.cfg.User}
	b.mu.Unlock()
	b.log.Info("model added", "model", name, "uuid", info.UUID, "type", info.Type)
	return nil
}

// DestroyModel destroys a model with its storage (not part of scenario.Backend: tests clean
// up with it). It returns once the controller has accepted the request.
func (b *Backend) DestroyModel(ctx context.Context, name string) error {
	m, err := b.model(ctx, name)
	if err != nil {
		return err
	}
	c, err := b.controller(ctx)
	if err != nil {
		return err
	}
	b.mu.Lock()
	if mc := b.conns[m.UUID]; mc != nil {
		mc.Close()
		delete(b.conns, m.UUID)
	}
	delete(b.models, name)
	b.mu.Unlock()
	destroyStorage := true
	return b.call(ctx, c, "destroy model "+name, func() error {
		return modelmanager.NewClient(c).DestroyModel(names.NewModelTag(m.UUID), &destroyStorage, nil, nil, nil)
	})
}

// Deploy implements scenario.Backend for a local charm: charm is the path of a packed
// .charm (`make charm`) or a charm directory. The charm is uploaded, each oci-image resource
// is given its upstream-source image, and the application is deployed with the options.
func (b *Backend) Deploy(ctx context.Context, modelName, charmPath, app string, opts scenario.DeployOptions) error {
	lc, err := PrepareLocalCharm(charmPath, opts.Base, b.arch)
	if err != nil {
		return err
	}
	c, _, err := b.modelConn(ctx, modelName)
	if err != nil {
		return err
	}
	agentVersion, _ := c.ServerVersion()
	charmURL, err := do(ctx, b, c, "upload charm "+charmPath, func() (string, error) {
		cc, err := charms.NewLocalCharmClient(c)
		if err != nil {
			return "", err
		}
		u, err := cc.AddLocalCharm(lc.URL, lc.Charm, false, agentVersion)
		if err != nil {
			return "", err
		}
		return u.String(), nil
	})
	if err != nil {
		return err
	}
	u, err := charm.ParseURL(charmURL)
	if err != nil {
		return fmt.Errorf("uploaded charm URL %q: %w", charmURL, err)
	}
	origin := lc.Origin
	rev := u.Revision
	origin.Revision = &rev
	if opts.Channel != "" {
		b.log.Info("channel ignored for a local charm", "channel", opts.Channel)
	}

	ids := map[string]string{}
	for _, name := range lc.ResourceNames() {
		meta := lc.Charm.Meta().Resources[name]
		image := lc.Images[name]
		body, err := OCIResourceBody(image)
		if err != nil {
			return fmt.Errorf("resource %s: %w", name, err)
		}
		id, err := do(ctx, b, c, "upload resource "+name+"="+image, func() (string, error) {
			rc, err := resources.NewClient(c)
			if err != nil {
				return "", err
			}
			return rc.UploadPendingResource(app, charmresource.Resource{Meta: meta, Origin: charmresource.OriginUpload}, image, bytes.NewReader(body))
		})
		if err != nil {
			return err
		}
		ids[name] = id
	}

	args := BuildDeployArgs(charmURL, origin, app, opts, ids)
	err = b.call(ctx, c, "deploy "+app, func() error { return application.NewClient(c).Deploy(args) })
	if err != nil {
		return err
	}
	b.log.Info("deployed", "model", modelName, "app", app, "charm", charmURL, "base", origin.Base.String(), "units", args.NumUnits)
	return nil
}

// Offer implements scenario.Backend.
func (b *Backend) Offer(ctx context.Context, modelName, appEndpoint, offerName string) error {
	app, ep := SplitEndpoint(appEndpoint)
	if ep == "" {
		return fmt.Errorf("offer %q: want application:endpoint", appEndpoint)
	}
	m, err := b.model(ctx, modelName)
	if err != nil {
		return err
	}
	c, err := b.controller(ctx)
	if err != nil {
		return err
	}
	return b.call(ctx, c, "offer "+appEndpoint+" as "+offerName, func() error {
		res, err := applicationoffers.NewClient(c).Offer(m.UUID, app, []string{ep}, b.cfg.User, offerName, "")
		if err != nil {
			return err
		}
		for _, r := range res {
			if r.Error != nil {
				return r.Error
			}
		}
		return nil
	})
}

// Consume implements scenario.Backend. An offer URL with a source ("ctrl:admin/rome.offer")
// is looked up on that controller, found in the client store as the juju CLI does.
func (b *Backend) Consume(ctx context.Context, modelName, offerURL, alias string) error {
	u, err := NormalizeOfferURL(offerURL, b.cfg.User)
	if err != nil {
		return err
	}
	src, err := b.controller(ctx)
	if err != nil {
		return err
	}
	if u.Source != "" && u.Source != b.cfg.Controller {
		if b.cfg.Store == nil {
			return fmt.Errorf("consume %s: offers on another controller need the client store to find controller %q", offerURL, u.Source)
		}
		scfg, err := LoadConfig(func(k string) string {
			if k == EnvController {
				return u.Source
			}
			return ""
		}, b.cfg.Store)
		if err != nil {
			return fmt.Errorf("consume %s: %w", offerURL, err)
		}
		scfg.DialTimeout, scfg.CallTimeout = b.cfg.DialTimeout, b.cfg.CallTimeout
		src, err = open(ctx, scfg, "")
		if err != nil {
			return fmt.Errorf("consume %s: %w", offerURL, err)
		}
		defer src.Close()
	}
	mc, _, err := b.modelConn(ctx, modelName)
	if err != nil {
		return err
	}
	d, err := do(ctx, b, src, "consume details of "+u.String(), func() (params.ConsumeOfferDetails, error) {
		return applicationoffers.NewClient(src).GetConsumeDetails(u.AsLocal().String())
	})
	if err != nil {
		return err
	}
	args, err := ConsumeArgs(d, u.Source, alias)
	if err != nil {
		return err
	}
	return b.call(ctx, mc, "consume "+u.String(), func() error {
		_, err := application.NewClient(mc).Consume(args)
		return err
	})
}

// Integrate implements scenario.Backend.
func (b *Backend) Integrate(ctx context.Context, modelName, a, z string) error {
	c, _, err := b.modelConn(ctx, modelName)
	if err != nil {
		return err
	}
	return b.call(ctx, c, "integrate "+a+" "+z, func() error {
		_, err := application.NewClient(c).AddRelation([]string{a, z}, nil)
		return err
	})
}

// RemoveRelation implements scenario.Backend.
func (b *Backend) RemoveRelation(ctx context.Context, modelName, a, z string) error {
	c, _, err := b.modelConn(ctx, modelName)
	if err != nil {
		return err
	}
	return b.call(ctx, c, "remove relation "+a+" "+z, func() error {
		return application.NewClient(c).DestroyRelation(nil, nil, a, z)
	})
}

// RunAction implements scenario.Backend: "app/leader" is resolved to the leader unit; the
// action is enqueued and its result polled until it is final. A failed action is a result,
// not an error.
func (b *Backend) RunAction(ctx context.Context, modelName, unit, action string, args map[string]any) (scenario.ActionResult, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultActionTimeout)
		defer cancel()
	}
	c, _, err := b.modelConn(ctx, modelName)
	if err != nil {
		return scenario.ActionResult{}, err
	}
	if app, ok := LeaderTarget(unit); ok {
		leader, err := do(ctx, b, c, "leader of "+app, func() (string, error) {
			return application.NewClient(c).Leader(app)
		})
		if err != nil {
			return scenario.ActionResult{}, err
		}
		unit = leader
	}
	if !names.IsValidUnit(unit) {
		return scenario.ActionResult{}, fmt.Errorf("run %s: %q is not a unit", action, unit)
	}
	receiver := names.NewUnitTag(unit).String()
	id, err := do(ctx, b, c, "enqueue "+action+" on "+unit, func() (string, error) {
		enq, err := actionapi.NewClient(c).EnqueueOperation([]actionapi.Action{{
			Receiver: receiver, Name: action, Parameters: args,
		}})
		if err != nil {
			return "", err
		}
		if len(enq.Actions) != 1 {
			return "", fmt.Errorf("%d actions enqueued, want 1", len(enq.Actions))
		}
		if enq.Actions[0].Error != nil {
			return "", enq.Actions[0].Error
		}
		if enq.Actions[0].Action == nil {
			return "", fmt.Errorf("no action id returned")
		}
		return enq.Actions[0].Action.ID, nil
	})
	if err != nil {
		return scenario.ActionResult{}, err
	}
	for {
		res, err := do(ctx, b, c, "result of "+action+" "+id+" on "+unit, func() ([]actionapi.ActionResult, error) {
			return actionapi.NewClient(c).Actions([]string{id})
		})
		if err != nil {
			return scenario.ActionResult{}, err
		}
		if len(res) != 1 {
			return scenario.ActionResult{}, fmt.Errorf("action %s: %d results, want 1", id, len(res))
		}
		if ActionDone(res[0].Status) {
			return ActionResultFrom(unit, res[0]), nil
		}
		select {
		case <-ctx.Done():
			return scenario.ActionResult{}, fmt.Errorf("action %s %s on %s still %s: %w", action, id, unit, res[0].Status, ctx.Err())
		case <-time.After(ActionPollInterval):
		}
	}
}

// Scale implements scenario.Backend.
func (b *Backend) Scale(ctx context.Context, modelName, app string, units int) error {
	c, _, err := b.modelConn(ctx, modelName)
	if err != nil {
		return err
	}
	return b.call(ctx, c, fmt.Sprintf("scale %s to %d", app, units), func() error {
		res, err := application.NewClient(c).ScaleApplication(application.ScaleApplicationParams{ApplicationName: app, Scale: units})
		if err != nil {
			return err
		}
		if res.Error != nil {
			return res.Error
		}
		return nil
	})
}

// RemoveUnit implements scenario.Backend. On Kubernetes Juju removes units only by scaling
// down, which removes the highest-numbered unit: that must be the one asked for.
func (b *Backend) RemoveUnit(ctx context.Context, modelName, unit string) error {
	c, m, err := b.modelConn(ctx, modelName)
	if err != nil {
		return err
	}
	if m.Type != model.CAAS {
		return b.call(ctx, c, "remove unit "+unit, func() error {
			res, err := application.NewClient(c).DestroyUnits(application.DestroyUnitsParams{Units: []string{unit}})
			if err != nil {
				return err
			}
			for _, r := range res {
				if r.Error != nil {
					return r.Error
				}
			}
			return nil
		})
	}
	st, err := b.Status(ctx, modelName)
	if err != nil {
		return err
	}
	app, _, _ := SplitUnit(unit)
	app, err = CAASRemoval(unit, st.UnitNames(app))
	if err != nil {
		return fmt.Errorf("remove unit: %w", err)
	}
	return b.call(ctx, c, "remove unit "+unit, func() error {
		res, err := application.NewClient(c).ScaleApplication(application.ScaleApplicationParams{ApplicationName: app, ScaleChange: -1})
		if err != nil {
			return err
		}
		if res.Error != nil {
			return res.Error
		}
		return nil
	})
}

// SplitUnit splits "app/N".
func SplitUnit(unit string) (app, num string, ok bool) {
	for i := 0; i < len(unit); i++ {
		if unit[i] == '/' {
			return unit[:i], unit[i+1:], true
		}
	}
	return unit, "", false
}

type slogErrorf struct{ log *slog.Logger }

func (l slogErrorf) Errorf(format string, args ...any) { l.log.Error(fmt.Sprintf(format, args...)) }

// FullStatus returns the model's full status as the API gives it.
func (b *Backend) FullStatus(ctx context.Context, modelName string) (*params.FullStatus, error) {
	c, _, err := b.modelConn(ctx, modelName)
	if err != nil {
		return nil, err
	}
	return do(ctx, b, c, "status of "+modelName, func() (*params.FullStatus, error) {
		return client.NewClient(c, slogErrorf{b.log}).Status(&client.StatusArgs{})
	})
}

// Status implements scenario.Backend.
func (b *Backend) Status(ctx context.Context, modelName string) (*scenario.Status, error) {
	fs, err := b.FullStatus(ctx, modelName)
	if err != nil {
		return nil, err
	}
	return ConvertStatus(fs), nil
}

// UnitAddress implements scenario.Backend: the unit's pod address on Kubernetes.
func (b *Backend) UnitAddress(ctx context.Context, modelName, unit string) (string, error) {
	s, err := b.Status(ctx, modelName)
	if err != nil {
		return "", err
	}
	app, _, _ := SplitUnit(unit)
	u, ok := s.Applications[app].Units[unit]
	if !ok || u.Address == "" {
		return "", fmt.Errorf("unit %s in %s has no address yet", unit, modelName)
	}
	return u.Address, nil
}

// DefaultConfig reads the controller from the environment or, as the juju CLI does, from
// its client store ($JUJU_DATA or ~/.local/share/juju).
func DefaultConfig() (Config, error) {
	return LoadConfig(os.Getenv, jujuclient.NewFileClientStore())
}
