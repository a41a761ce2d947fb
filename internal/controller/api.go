package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"runtime/debug"
	"strings"

	"github.com/jujulet/postgresql-k8s/internal/controller/api"
	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
)

// The API is a table of commands, one per method, each with a typed handler; the handlers
// live in one file per resource (api_models.go, api_apps.go, ...). The wire types are in
// package api.

// scope says whether a command works in a model.
type scope int

const (
	// global commands take no model: a request naming one is refused.
	global scope = iota
	// modelScoped commands work in the request's model (or the current one).
	modelScoped
)

// command is one API method.
type command struct {
	method string
	scope  scope
	// handle decodes the params and runs the call (see typed).
	handle func(c *call, params json.RawMessage) (any, error)
}

// apiCommands is the API.
var apiCommands = []command{
	{api.MethodPing, global, typed(handlePing)},
	{api.MethodKill, global, typed(handleKill)},

	{api.MethodAddModel, global, typed(handleAddModel)},
	{api.MethodModels, global, typed(handleModels)},
	{api.MethodSwitch, global, typed(handleSwitch)},
	{api.MethodCurrentModel, global, typed(handleCurrentModel)},
	{api.MethodDestroyModel, global, typed(handleDestroyModel)},
	{api.MethodModelConfig, modelScoped, typed(handleModelConfig)},

	{api.MethodDeploy, modelScoped, typed(handleDeploy)},
	{api.MethodRefresh, modelScoped, typed(handleRefresh)},
	{api.MethodRemoveApplication, modelScoped, typed(handleRemoveApplication)},
	{api.MethodConfig, modelScoped, typed(handleConfig)},
	{api.MethodTrust, modelScoped, typed(handleTrust)},
	{api.MethodAddUnit, modelScoped, typed(handleAddUnit)},
	{api.MethodScale, modelScoped, typed(handleScale)},

	{api.MethodRemoveUnit, modelScoped, typed(handleRemoveUnit)},
	{api.MethodShowUnit, modelScoped, typed(handleShowUnit)},
	{api.MethodResolve, modelScoped, typed(handleResolve)},
	{api.MethodPod, modelScoped, typed(handlePod)},
	{api.MethodUnitInfo, modelScoped, typed(handleUnitInfo)},

	{api.MethodIntegrate, modelScoped, typed(handleIntegrate)},
	{api.MethodRemoveRelation, modelScoped, typed(handleRemoveRelation)},

	{api.MethodOffer, modelScoped, typed(handleOffer)},
	{api.MethodOffers, modelScoped, typed(handleOffers)},
	{api.MethodConsume, modelScoped, typed(handleConsume)},

	{api.MethodRun, modelScoped, typed(handleRun)},
	// Task ids are controller-wide, as Juju's are.
	{api.MethodAction, global, typed(handleAction)},
	{api.MethodOperation, global, typed(handleOperation)},

	{api.MethodStatus, modelScoped, typed(handleStatus)},
	{api.MethodLogs, modelScoped, typed(handleLogs)},
}

var commandsByMethod = func() map[string]*command {
	m := make(map[string]*command, len(apiCommands))
	for i := range apiCommands {
		c := &apiCommands[i]
		if _, dup := m[c.method]; dup {
			panic("controller: duplicate API method " + c.method)
		}
		m[c.method] = c
	}
	return m
}()

// call is one request being served.
type call struct {
	ctx   context.Context
	d     *Daemon
	model string // the model the request names ("" is the current model)
}

// view runs fn in a read transaction on the call's model.
func (c *call) view(fn func(t *st.Tx, m *st.Model) error) error {
	return c.d.store.View(func(t *st.Tx) error { return c.inModel(t, fn) })
}

// update runs fn in a write transaction on the call's model.
func (c *call) update(fn func(t *st.Tx, m *st.Model) error) error {
	return c.d.store.Update(func(t *st.Tx) error { return c.inModel(t, fn) })
}

func (c *call) inModel(t *st.Tx, fn func(t *st.Tx, m *st.Model) error) error {
	m, err := modelOf(t, c.model)
	if err != nil {
		return err
	}
	return fn(t, m)
}

var errNoModel = errors.New("no current model specified; use juju switch or -m")

// modelOf returns the alive model called name, or the current model if name is "".
func modelOf(t *st.Tx, name string) (*st.Model, error) {
	if name == "" {
		name = t.CurrentModel()
		if name == "" {
			return nil, errNoModel
		}
	}
	m, err := t.ModelByName(name)
	if err != nil {
		return nil, err
	}
	if m.Life != "alive" {
		return nil, fmt.Errorf("model %q is being destroyed", "admin/"+m.Name)
	}
	return m, nil
}

// typed adapts a handler taking params P to the table: it decodes P strictly, validates
// it and runs fn.
func typed[P, R any](fn func(c *call, p P) (R, error)) func(*call, json.RawMessage) (any, error) {
	return func(c *call, raw json.RawMessage) (any, error) {
		var p P
		if err := decodeStrict(raw, &p); err != nil {
			return nil, badRequest("invalid params: %v", err)
		}
		if v, ok := any(p).(api.Validator); ok {
			if err := v.Validate(); err != nil {
				return nil, badRequest("invalid params: %v", err)
			}
		}
		return fn(c, p)
	}
}

// apiError is an error reply with its HTTP status and kind. Errors of any other type are
// failed operations.
type apiError struct {
	status int
	kind   api.ErrorKind
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, a ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, kind: api.KindBadRequest, msg: fmt.Sprintf(format, a...)}
}

// decodeStrict decodes one JSON value into v, refusing unknown fields and trailing data.
// Absent params decode as the zero value.
func decodeStrict(raw []byte, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return describeJSONError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// describeJSONError words a decoding error for the caller.
func describeJSONError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return fmt.Errorf("expected %s, got %s", jsonType(typeErr.Type), typeErr.Value)
		}
		return fmt.Errorf("field %q: expected %s, got %s", typeErr.Field, jsonType(typeErr.Type), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Errorf("malformed JSON at offset %d: %w", syntaxErr.Offset, err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("malformed JSON: unexpected end of input")
	}
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}

// jsonType names the JSON type that decodes into t.
func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Interface:
		return "a value"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "an integer"
}

// maxRequestBytes bounds a request body (deploy's config files are the largest).
const maxRequestBytes = 32 << 20

func (d *Daemon) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.Path, d.serveCall)
	return mux
}

// serveCall serves POST /call: it always answers with an api.Response.
func (d *Daemon) serveCall(w http.ResponseWriter, r *http.Request) {
	var req api.Request
	result, err := d.decodeAndDispatch(w, r, &req)
	resp := api.Response{}
	status := http.StatusOK
	if err == nil && result != nil {
		b, merr := json.Marshal(result)
		if merr != nil {
			d.log.Error("encoding API result", "method", req.Method, "err", merr)
			err = &apiError{status: http.StatusInternalServerError, kind: api.KindInternal,
				msg: fmt.Sprintf("encoding the result of %q: %v", req.Method, merr)}
		}
		resp.Result = b
	}
	if err != nil {
		resp = api.Response{Error: err.Error(), Kind: api.KindFailed}
		status = http.StatusBadRequest
		var ae *apiError
		if errors.As(err, &ae) {
			resp.Kind, status = ae.kind, ae.status
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(resp); err != nil {
		d.log.Debug("writing API reply", "method", req.Method, "err", err)
	}
}

func (d *Daemon) decodeAndDispatch(w http.ResponseWriter, r *http.Request, req *api.Request) (any, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		return nil, badRequest("bad request: reading body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, badRequest("bad request: empty body")
	}
	if err := decodeStrict(body, req); err != nil {
		return nil, badRequest("bad request: %v", err)
	}
	return d.dispatch(r.Context(), *req)
}

// dispatch runs one call. A panic in a handler becomes an internal error reply: the
// controller must keep serving (the store rolls its transaction back on a panic).
func (d *Daemon) dispatch(ctx context.Context, req api.Request) (result any, err error) {
	cmd, ok := commandsByMethod[req.Method]
	if !ok {
		return nil, &apiError{status: http.StatusNotFound, kind: api.KindUnknownMethod,
			msg: fmt.Sprintf("unknown method %q", req.Method)}
	}
	if cmd.scope == global && req.Model != "" {
		return nil, badRequest("method %q does not take a model", req.Method)
	}
	defer func() {
		if p := recover(); p != nil {
			d.log.Error("API handler panicked", "method", req.Method, "panic", p, "stack", string(debug.Stack()))
			result, err = nil, &apiError{status: http.StatusInternalServerError, kind: api.KindInternal,
				msg: fmt.Sprintf("internal error serving %q: %v", req.Method, p)}
		}
	}()
	return cmd.handle(&call{ctx: ctx, d: d, model: req.Model}, req.Params)
}
