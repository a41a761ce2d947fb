// Package client is the typed client of the controller's API (package api): one method
// per API method, over the controller's unix socket.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/jujulet/postgresql-k8s/internal/controller/api"
)

// Config configures a Client.
type Config struct {
	// Socket is the controller's unix socket.
	Socket string
	// Unreachable, if set, turns a failure to reach the controller (no socket, nobody
	// listening) into the error the call returns; by default it is wrapped.
	Unreachable func(err error) error
}

// Client calls the controller.
type Client struct {
	cfg Config
	hc  *http.Client
}

// New returns a client of the controller listening on cfg.Socket.
func New(cfg Config) *Client {
	return &Client{cfg: cfg, hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", cfg.Socket)
		},
	}}}
}

// Error is an error reply of the controller.
type Error struct {
	// Status is the reply's HTTP status.
	Status int
	Kind   api.ErrorKind
	// Message is the controller's message, as shown to the user.
	Message string
}

func (e *Error) Error() string { return e.Message }

// Call calls method in model ("" for the current model, or for a method that is not
// model-scoped) with params, decoding the result into result (if not nil). Params that
// implement api.Validator are validated first, and a validation error is returned as is.
func (c *Client) Call(ctx context.Context, method, model string, params, result any) error {
	body, err := encodeRequest(method, model, params)
	if err != nil {
		return err
	}
	r, err := c.post(ctx, method, body)
	if err != nil {
		return err
	}
	if result != nil && len(r.Result) > 0 {
		if err := json.Unmarshal(r.Result, result); err != nil {
			return fmt.Errorf("decoding the result of %s: %w", method, err)
		}
	}
	return nil
}

func encodeRequest(method, model string, params any) ([]byte, error) {
	if v, ok := params.(api.Validator); ok {
		if err := v.Validate(); err != nil {
			return nil, err
		}
	}
	req := api.Request{Method: method, Model: model}
	if params != nil {
		b, err := json.Marshal(params)
		if err != nil {
			return nil, fmt.Errorf("encoding %s params: %w", method, err)
		}
		req.Params = b
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encoding %s request: %w", method, err)
	}
	return body, nil
}

// post sends a request and returns the successful reply, or the error reply as an *Error.
func (c *Client) post(ctx context.Context, method string, body []byte) (*api.Response, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://jujulet"+api.Path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building %s request: %w", method, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(hreq)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("calling %s: %w", method, ctxErr)
		}
		if c.cfg.Unreachable != nil {
			return nil, c.cfg.Unreachable(err)
		}
		return nil, fmt.Errorf("cannot reach the controller: %w", err)
	}
	defer resp.Body.Close()
	var r api.Response
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxReplyBytes)).Decode(&r); err != nil {
		return nil, fmt.Errorf("reading controller reply to %s: %w", method, err)
	}
	if r.Error != "" {
		return nil, &Error{Status: resp.StatusCode, Kind: r.Kind, Message: r.Error}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &Error{Status: resp.StatusCode, Message: fmt.Sprintf("controller replied %s to %s", resp.Status, method)}
	}
	return &r, nil
}

// maxReplyBytes bounds a reply (status of a large model, a long log replay).
const maxReplyBytes = 256 << 20

// IsKind reports whether err is an error reply of the given kind.
func IsKind(err error, kind api.ErrorKind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == kind
}
