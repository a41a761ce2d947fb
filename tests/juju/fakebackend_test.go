package juju

import (
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/juju/juju/rpc/params"

	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

const (
	romeUUID   = "aaaaaaaa-0000-4000-8000-000000000001"
	lisbonUUID = "aaaaaaaa-0000-4000-8000-000000000002"
)

// withModels makes the fake list rome and lisbon (Kubernetes models of admin).
func withModels(f *fakeController) {
	f.Handle("ModelManager.ListModels", func(string, json.RawMessage) (any, error) {
		return params.UserModelList{UserModels: []params.UserModel{
			{Model: params.Model{Name: "rome", UUID: romeUUID, Type: "caas", OwnerTag: "user-admin"}},
			{Model: params.Model{Name: "lisbon", UUID: lisbonUUID, Type: "caas", OwnerTag: "user-admin"}},
		}}, nil
	})
}

func statusOf(units ...string) params.FullStatus {
	us := map[string]params.UnitStatus{}
	for i, u := range units {
		us[u] = params.UnitStatus{
			WorkloadStatus: params.DetailedStatus{Status: "active", Info: "Replica"},
			AgentStatus:    params.DetailedStatus{Status: "idle"},
			Address:        "10.1.0." + string(rune('1'+i)), Leader: i == 0,
		}
	}
	return params.FullStatus{Model: params.ModelStatusInfo{Name: "rome", Type: "caas"},
		Applications: map[string]params.ApplicationStatus{"db1": {Charm: "local:postgresql-k8s-0", Status: params.DetailedStatus{Status: "active", Info: "Primary"}, Units: us}}}
}

func fakeBackend(t *testing.T) (*fakeController, *Backend) {
	f := newFakeController(t)
	b := New(f.Config(), slog.New(slog.NewTextHandler(testWriter{t}, nil)), "amd64")
	t.Cleanup(func() { b.Close() })
	return f, b
}

func TestFakeLogin(t *testing.T) {
	f := newFakeController(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	good := New(f.Config(), nil, "")
	defer good.Close()
	if err := good.Connect(ctx); err != nil {
		t.Fatalf("login with the right password: %v", err)
	}

	cfg := f.Config()
	cfg.Password = "wrong"
	bad := New(cfg, nil, "")
	defer bad.Close()
	start := time.Now()
	err := bad.Connect(ctx)
	if err == nil || !strings.Contains(err.Error(), "invalid entity name or password") || !strings.Contains(err.Error(), f.Addr) {
		t.Fatalf("wrong password: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("wrong password took %v", d)
	}
}

func TestFakeUnknownModel(t *testing.T) {
	f, b := fakeBackend(t)
	withModels(f)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := b.Status(ctx, "madrid")
	if err == nil || !strings.Contains(err.Error(), `model "madrid" not found (models: admin/lisbon, admin/rome)`) {
		t.Fatalf("unknown model: %v", err)
	}
}

func TestFakeStatus(t *testing.T) {
	f, b := fakeBackend(t)
	withModels(f)
	f.Handle("Client.FullStatus", func(model string, _ json.RawMessage) (any, error) {
		if model != romeUUID {
			t.Errorf("status asked on model %q", model)
		}
		return statusOf("db1/0", "db1/1"), nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := b.Status(ctx, "rome")
	if err != nil {
		t.Fatal(err)
	}
	if s.Leader("db1") != "db1/0" || s.Applications["db1"].Charm != "postgresql-k8s" || s.Applications["db1"].ApplicationStatus.Message != "Primary" {
		t.Errorf("status %+v", s)
	}
	addr, err := b.UnitAddress(ctx, "rome", "db1/1")
	if err != nil || addr != "10.1.0.2" {
		t.Errorf("address %q, %v", addr, err)
	}
	if _, err := b.UnitAddress(ctx, "rome", "db1/5"); err == nil {
		t.Error("address of a unit that does not exist")
	}
	// The model list is asked once; the model connection is reused.
	n := 0
	for _, m := range f.Methods() {
		if m == "ModelManager.ListModels" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("ListModels called %d times: %v", n, f.Methods())
	}
}

func TestFakeRunAction(t *testing.T) {
	f, b := fakeBackend(t)
	withModels(f)
	f.Handle("Application.Leader", func(_ string, raw json.RawMessage) (any, error) {
		if e := decode[params.Entity](t, raw); e.Tag != "application-db1" {
			t.Errorf("leader of %s", e.Tag)
		}
		return params.StringResult{Result: "db1/2"}, nil
	})
	var enqueued atomic.Int32
	f.Handle("Action.EnqueueOperation", func(_ string, raw json.RawMessage) (any, error) {
		a := decode[params.Actions](t, raw)
		if enqueued.Add(1) == 1 && (len(a.Actions) != 1 || a.Actions[0].Receiver != "unit-db1-2" || a.Actions[0].Name != "promote-to-primary" ||
			!reflect.DeepEqual(a.Actions[0].Parameters, map[string]any{"scope": "cluster"})) {
			t.Errorf("enqueued %+v from %s", a, raw)
		}
		return params.EnqueuedActions{OperationTag: "operation-1", Actions: []params.ActionResult{{
			Action: &params.Action{Tag: "action-2", Receiver: "unit-db1-2", Name: "promote-to-primary"}, Status: "pending"}}}, nil
	})
	var polls atomic.Int32
	f.Handle("Action.Actions", func(_ string, raw json.RawMessage) (any, error) {
		if e := decode[params.Entities](t, raw); len(e.Entities) != 1 || e.Entities[0].Tag != "action-2" {
			t.Errorf("actions of %+v", e)
		}
		r := params.ActionResult{Action: &params.Action{Tag: "action-2", Receiver: "unit-db1-2"}, Status: "running"}
		if polls.Add(1) >= 2 {
			r.Status, r.Output = "completed", map[string]any{"result": "switched over", "return-code": 0}
		}
		return params.ActionResults{Results: []params.ActionResult{r}}, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := b.RunAction(ctx, "lisbon", "db1/leader", "promote-to-primary", map[string]any{"scope": "cluster"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Unit != "db1/2" || res.Status != "completed" || res.Results["result"] != "switched over" {
		t.Errorf("result %+v", res)
	}
	for _, c := range f.Calls() {
		if c.Model != lisbonUUID && c.Method != "ModelManager.ListModels" {
			t.Errorf("%s on model %q", c.Method, c.Model)
		}
	}

	// A failed action is a result; an enqueue error is an error.
	polls.Store(0)
	f.Handle("Action.Actions", func(string, json.RawMessage) (any, error) {
		return params.ActionResults{Results: []params.ActionResult{{Action: &params.Action{Tag: "action-2", Receiver: "unit-db1-2"}, Status: "failed", Message: "no standby"}}}, nil
	})
	res, err = b.RunAction(ctx, "lisbon", "db1/2", "promote-to-primary", nil)
	if err != nil || res.Status != "failed" || res.Message != "no standby" {
		t.Errorf("failed action: %+v, %v", res, err)
	}
	f.Handle("Action.EnqueueOperation", func(string, json.RawMessage) (any, error) {
		return params.EnqueuedActions{OperationTag: "operation-2", Actions: []params.ActionResult{{Error: &params.Error{Message: `action "nope" not defined`}}}}, nil
	})
	if _, err := b.RunAction(ctx, "lisbon", "db1/2", "nope", nil); err == nil || !strings.Contains(err.Error(), "not defined") {
		t.Errorf("unknown action: %v", err)
	}
}

func TestFakeScaleAndRemoveUnit(t *testing.T) {
	f, b := fakeBackend(t)
	withModels(f)
	f.Handle("Client.FullStatus", func(string, json.RawMessage) (any, error) { return statusOf("db1/0", "db1/1", "db1/2"), nil })
	f.Handle("Application.ScaleApplications", func(string, json.RawMessage) (any, error) {
		return params.ScaleApplicationResults{Results: []params.ScaleApplicationResult{{Info: &params.ScaleApplicationInfo{Scale: 3}}}}, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Scale(ctx, "rome", "db1", 3); err != nil {
		t.Fatal(err)
	}
	if err := b.RemoveUnit(ctx, "rome", "db1/2"); err != nil {
		t.Fatal(err)
	}
	if err := b.RemoveUnit(ctx, "rome", "db1/0"); err == nil || !strings.Contains(err.Error(), "highest-numbered") {
		t.Errorf("removing db1/0 on k8s: %v", err)
	}
	var got []params.ScaleApplicationParamsV2
	for _, c := range f.Calls() {
		if c.Method == "Application.ScaleApplications" {
			got = append(got, decode[params.ScaleApplicationsParamsV2](t, c.Params).Applications...)
		}
	}
	want := []params.ScaleApplicationParamsV2{{ApplicationTag: "application-db1", Scale: 3}, {ApplicationTag: "application-db1", ScaleChange: -1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("scale calls %+v, want %+v", got, want)
	}
}

func TestFakeModelsOffersRelations(t *testing.T) {
	f, b := fakeBackend(t)
	withModels(f)
	f.Handle("ModelManager.CreateModel", func(_ string, raw json.RawMessage) (any, error) {
		a := decode[params.ModelCreateArgs](t, raw)
		if a.Name != "paris" || a.OwnerTag != "user-admin" || a.CloudTag != "" || a.CloudCredentialTag != "" {
			t.Errorf("create %+v", a)
		}
		return params.ModelInfo{Name: "paris", UUID: "aaaaaaaa-0000-4000-8000-000000000003", Type: "caas", OwnerTag: "user-admin", CloudTag: "cloud-microk8s"}, nil
	})
	f.Handle("ApplicationOffers.Offer", func(_ string, raw json.RawMessage) (any, error) {
		a := decode[params.AddApplicationOffers](t, raw)
		if len(a.Offers) != 1 || a.Offers[0].ModelTag != "model-"+romeUUID || a.Offers[0].ApplicationName != "db1" ||
			!reflect.DeepEqual(a.Offers[0].Endpoints, map[string]string{"replication-offer": "replication-offer"}) || a.Offers[0].OfferName != "replication-offer" {
			t.Errorf("offer %+v", a)
		}
		return params.ErrorResults{Results: []params.ErrorResult{{}}}, nil
	})
	f.Handle("ApplicationOffers.GetConsumeDetails", func(model string, raw json.RawMessage) (any, error) {
		a := decode[params.ConsumeOfferDetailsArg](t, raw)
		if model != "" || len(a.OfferURLs.OfferURLs) != 1 || a.OfferURLs.OfferURLs[0] != "admin/rome.replication-offer" {
			t.Errorf("consume details on %q of %+v", model, a)
		}
		return params.ConsumeOfferDetailsResults{Results: []params.ConsumeOfferDetailsResult{{ConsumeOfferDetails: params.ConsumeOfferDetails{
			Offer: &params.ApplicationOfferDetailsV5{OfferURL: "admin/rome.replication-offer", OfferName: "replication-offer", SourceModelTag: "model-" + romeUUID}}}}}, nil
	})
	f.Handle("Application.Consume", func(model string, raw json.RawMessage) (any, error) {
		a := decode[params.ConsumeApplicationArgsV5](t, raw)
		if model != lisbonUUID || len(a.Args) != 1 || a.Args[0].OfferURL != "admin/rome.replication-offer" {
			t.Errorf("consume on %q: %+v", model, a)
		}
		return params.ErrorResults{Results: []params.ErrorResult{{}}}, nil
	})
	f.Handle("Application.AddRelation", func(model string, raw json.RawMessage) (any, error) {
		a := decode[params.AddRelation](t, raw)
		if model != lisbonUUID || !reflect.DeepEqual(a.Endpoints, []string{"replication-offer", "db2:replication"}) {
			t.Errorf("relate on %q: %+v", model, a)
		}
		return params.AddRelationResults{}, nil
	})
	f.Handle("Application.DestroyRelation", func(model string, raw json.RawMessage) (any, error) {
		a := decode[params.DestroyRelation](t, raw)
		if !reflect.DeepEqual(a.Endpoints, []string{"replication-offer", "db2:replication"}) {
			t.Errorf("remove relation %+v", a)
		}
		return nil, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	steps := []struct {
		name string
		do   func() error
	}{
		{"add model", func() error { return b.AddModel(ctx, "paris") }},
		{"offer", func() error { return b.Offer(ctx, "rome", "db1:replication-offer", "replication-offer") }},
		{"offer without endpoint", func() error {
			if err := b.Offer(ctx, "rome", "db1", "x"); err == nil {
				t.Error("offer without endpoint accepted")
			}
			return nil
		}},
		{"consume", func() error { return b.Consume(ctx, "lisbon", "rome.replication-offer", "") }},
		{"integrate", func() error { return b.Integrate(ctx, "lisbon", "replication-offer", "db2:replication") }},
		{"remove relation", func() error { return b.RemoveRelation(ctx, "lisbon", "replication-offer", "db2:replication") }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	want := []string{"ModelManager.CreateModel", "ModelManager.ListModels", "ApplicationOffers.Offer",
		"ModelManager.ListModels", "ApplicationOffers.GetConsumeDetails", "Application.Consume", "Application.AddRelation", "Application.DestroyRelation"}
	if got := f.Methods(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls\n %v\nwant\n %v", got, want)
	}
}

// TestFakeCallTimeout: a call the controller never answers ends at the call timeout with a
// message naming it; the connection is replaced for the next call.
func TestFakeCallTimeout(t *testing.T) {
	f := newFakeController(t)
	cfg := f.Config()
	cfg.CallTimeout = time.Second
	b := New(cfg, nil, "")
	defer b.Close()
	withModels(f)
	release := make(chan struct{})
	defer close(release)
	var hang atomic.Bool
	hang.Store(true)
	f.Handle("Client.FullStatus", func(string, json.RawMessage) (any, error) {
		if hang.Load() {
			<-release
		}
		return statusOf("db1/0"), nil
	})
	start := time.Now()
	_, err := b.Status(context.Background(), "rome")
	if err == nil || !strings.Contains(err.Error(), "status of rome") || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Fatalf("hung call: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("hung call returned after %v with a 1s call timeout", d)
	}
	hang.Store(false)
	if _, err := b.Status(context.Background(), "rome"); err != nil {
		t.Fatalf("call after a timeout: %v", err)
	}
}

func TestFakeDeploy(t *testing.T) {
	charms := map[string]string{"minimal charm directory": writeCharmDir(t,
		"resources:\n  postgresql-image:\n    type: oci-image\n    upstream-source: ghcr.io/canonical/charmed-postgresql:14-22.04\n", testManifest)}
	if p := packedCharm(); p != "" {
		charms["packed charm"] = p
	}
	for name, path := range charms {
		t.Run(name, func(t *testing.T) {
			f, b := fakeBackend(t)
			withModels(f)
			f.Handle("Resources.AddPendingResources", func(model string, raw json.RawMessage) (any, error) {
				a := decode[params.AddPendingResourcesArgsV2](t, raw)
				if model != romeUUID || a.Tag != "application-db1" || len(a.Resources) != 1 || a.Resources[0].Name != "postgresql-image" ||
					a.Resources[0].Type != "oci-image" || a.Resources[0].Origin != "upload" {
					t.Errorf("pending resources on %q: %+v", model, a)
				}
				return params.AddPendingResourcesResult{PendingIDs: []string{"pending-42"}}, nil
			})
			f.Handle("Application.Deploy", func(string, json.RawMessage) (any, error) {
				return params.ErrorResults{Results: []params.ErrorResult{{}}}, nil
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := b.Deploy(ctx, "rome", path, "db1", scenario.SeedDeploy()); err != nil {
				t.Fatal(err)
			}

			ups := f.Uploads()
			if len(ups) != 2 {
				t.Fatalf("%d uploads, want charm and resource", len(ups))
			}
			ch, res := ups[0], ups[1]
			if !strings.HasPrefix(ch.Path, "/model-"+romeUUID+"/charms/") || !strings.HasPrefix(ch.Header.Get("Juju-Curl"), "local:") || len(ch.Body) < 100 {
				t.Errorf("charm upload %s %v (%d bytes)", ch.Path, ch.Header, len(ch.Body))
			}
			wantBody, _ := OCIResourceBody("ghcr.io/canonical/charmed-postgresql:14-22.04")
			if res.Path != "/model/"+romeUUID+"/applications/db1/resources/postgresql-image" || !strings.Contains(res.Query, "pendingid=pending-42") || string(res.Body) != string(wantBody) {
				t.Errorf("resource upload %s?%s %q", res.Path, res.Query, res.Body)
			}

			var deployed params.ApplicationsDeploy
			for _, c := range f.Calls() {
				if c.Method == "Application.Deploy" {
					deployed = decode[params.ApplicationsDeploy](t, c.Params)
				}
			}
			if len(deployed.Applications) != 1 {
				t.Fatalf("deploy %+v", deployed)
			}
			d := deployed.Applications[0]
			o := d.CharmOrigin
			if d.ApplicationName != "db1" || !strings.HasPrefix(d.CharmURL, "local:") || d.NumUnits != 1 ||
				!reflect.DeepEqual(d.Config, map[string]string{"profile": "testing", "trust": "true"}) ||
				!reflect.DeepEqual(d.Resources, map[string]string{"postgresql-image": "pending-42"}) ||
				o == nil || o.Source != "local" || o.Architecture != "amd64" || o.Base.Name != "ubuntu" || o.Base.Channel != "22.04/stable" ||
				o.Revision == nil || *o.Revision != 0 {
				t.Errorf("deploy %+v origin %+v", d, o)
			}
		})
	}
}
