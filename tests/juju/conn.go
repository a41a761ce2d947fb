package juju

import (
	"context"
	"fmt"
	"time"

	"github.com/go-macaroon-bakery/macaroon-bakery/v3/httpbakery"
	"github.com/juju/juju/api"
	"github.com/juju/names/v5"
)

// dialInfo is what api.Open is given for cfg and a model ("" = the controller).
func dialInfo(cfg Config, modelUUID string) (*api.Info, api.DialOpts, error) {
	info := &api.Info{Addrs: cfg.Addrs, CACert: cfg.CACert}
	if modelUUID != "" {
		info.ModelTag = names.NewModelTag(modelUUID)
	}
	opts := api.DefaultDialOpts()
	timeout := cfg.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	// Timeout bounds the whole open (all addresses, retries, TLS, login); DialTimeout one
	// address's websocket dial.
	opts.Timeout = timeout
	opts.DialTimeout = timeout / 2
	opts.RetryDelay = time.Second
	if cfg.User == "" {
		return nil, opts, fmt.Errorf("no user to log in as")
	}
	info.Tag = names.NewUserTag(cfg.User)
	info.Password = cfg.Password
	if cfg.Password == "" {
		// A `juju login` account: the macaroons are in the store's cookie jar.
		if cfg.Store == nil || cfg.Controller == "" {
			return nil, opts, fmt.Errorf("user %s has no password and no client store to find a login macaroon in", cfg.User)
		}
		jar, err := cfg.Store.CookieJar(cfg.Controller)
		if err != nil {
			return nil, opts, fmt.Errorf("cookie jar of controller %q: %w", cfg.Controller, err)
		}
		bc := httpbakery.NewClient()
		bc.Jar = jar
		opts.BakeryClient = bc
		info.Tag = nil
	}
	return info, opts, nil
}

// open opens an API connection to the controller (modelUUID "") or a model, within the
// dial timeout and ctx: a controller that does not answer or refuses the login fails here.
func open(ctx context.Context, cfg Config, modelUUID string) (api.Connection, error) {
	info, opts, err := dialInfo(cfg, modelUUID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Where(), err)
	}
	type result struct {
		conn api.Connection
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := api.Open(info, opts)
		ch <- result{c, err}
	}()
	what := ""
	if modelUUID != "" {
		what = "model " + modelUUID + " on "
	}
	// api.Open honours DialOpts.Timeout while dialling, but a server that accepts TCP and
	// then says nothing holds it in the TLS/websocket handshake for 45s: bound it here.
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("connect to %s%s as %s: %w", what, cfg.Where(), cfg.User, r.err)
		}
		return r.conn, nil
	case <-ctx.Done():
		go func() { // close it if it opens after all
			if r := <-ch; r.conn != nil {
				r.conn.Close()
			}
		}()
		return nil, fmt.Errorf("connect to %s%s as %s: no answer within %v: %w", what, cfg.Where(), cfg.User, opts.Timeout, ctx.Err())
	}
}
