// Command hooktooldriver runs jujulet's hook tools against a scenario (package
// hooktoolstest): the jujulet half of the Juju conformance suite in tests/juju/conformance,
// built from this module so that the tools link exactly the libraries jujulet ships with.
// Input on stdin and output on stdout are JSON (hooktoolstest.Input, []hooktoolstest.Result).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/jujulet/postgresql-k8s/internal/hooktools"
	"github.com/jujulet/postgresql-k8s/internal/hooktools/hooktoolstest"
	"github.com/jujulet/postgresql-k8s/internal/hooktools/toolclient"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "serve" {
		if err := serve(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "hooktooldriver serve:", err)
			os.Exit(2)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "hooktooldriver:", err)
		os.Exit(2)
	}
}

func run() error {
	in, err := hooktoolstest.DecodeInput(os.Stdin)
	if err != nil {
		return err
	}
	out := make([]hooktoolstest.Result, 0, len(in.Calls))
	for _, c := range in.Calls {
		out = append(out, call(in.Scenario, c))
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	return nil
}

// call runs one tool the way the unit agent's client does: without stdin first, and again
// with it when the tool asked for it.
func call(s hooktoolstest.Scenario, c hooktoolstest.Call) hooktoolstest.Result {
	req := hooktools.Request{ContextId: "conformance", CommandName: c.Tool, Args: c.Args, Dir: c.Dir}
	hc := hooktoolstest.NewContext(&s)
	resp, err := hooktools.Execute(context.Background(), hc, req)
	if errors.Is(err, hooktools.ErrNoStdin) {
		req.StdinSet = true
		if c.Stdin != nil {
			req.Stdin = []byte(*c.Stdin)
		}
		hc = hooktoolstest.NewContext(&s)
		resp, err = hooktools.Execute(context.Background(), hc, req)
	}
	resp = toolclient.Printed(resp, err)
	return hooktoolstest.Result{Code: resp.Code, Stdout: string(resp.Stdout), Stderr: string(resp.Stderr), Logs: hc.Logs}
}

// serve runs jujulet's tool server (the unit agent's) on a unix socket at path, for context
// id "conformance" over one context of the scenario read from stdin. It prints "ready" once
// listening and serves until stdin closes.
func serve(path string) error {
	in, err := hooktoolstest.DecodeInput(os.Stdin) // the scenario, and nothing after it
	if err != nil {
		return err
	}
	hc := hooktoolstest.NewContext(&in.Scenario)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := hooktools.NewServer(func(id string) (hooktools.Context, bool) { return hc, id == "conformance" })
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	cancel()
	return <-done
}
