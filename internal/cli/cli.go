// Package cli implements jujulet's Juju-compatible command line.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/juju/gnuflag"
	"github.com/jujulet/postgresql-k8s/internal/controller"
	"github.com/jujulet/postgresql-k8s/internal/controller/client"
)

// Env is what a command runs with.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Home           string
	Getenv         func(string) string
}

// Home returns JUJULET_HOME or its default, which for a user other than root is under
// $HOME: with neither set there is no home to use.
func Home(getenv func(string) string) (string, error) {
	if h := getenv("JUJULET_HOME"); h != "" {
		return h, nil
	}
	if os.Getuid() == 0 {
		return "/var/lib/jujulet", nil
	}
	home := getenv("HOME")
	if home == "" {
		return "", errors.New("neither JUJULET_HOME nor HOME is set: cannot find the controller's home")
	}
	return filepath.Join(home, ".local", "share", "jujulet"), nil
}

type command struct {
	summary string
	run     func(ctx context.Context, e *Env, args []string) error
}

var errSilent = errors.New("")

type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func commands() map[string]command {
	return map[string]command{
		"bootstrap":          {"start the controller", cmdBootstrap},
		"kill-controller":    {"stop the controller and all pods", cmdKillController},
		"destroy-controller": {"stop the controller and all pods", cmdKillController},
		"add-model":          {"add a model", cmdAddModel},
		"models":             {"list models", cmdModels},
		"switch":             {"select the current model", cmdSwitch},
		"destroy-model":      {"destroy a model", cmdDestroyModel},
		"model-config":       {"get or set model config", cmdModelConfig},
		"deploy":             {"deploy a charm", cmdDeploy},
		"add-unit":           {"add units", cmdAddUnit},
		"remove-unit":        {"remove units", cmdRemoveUnit},
		"scale-application":  {"set the number of units", cmdScale},
		"config":             {"get or set application config", cmdConfig},
		"trust":              {"trust an application", cmdTrust},
		"refresh":            {"refresh an application to a local charm (--path)", cmdRefresh},
		"remove-saas":        {"remove a consumed offer", cmdRemoveSAAS},
		"integrate":          {"relate two applications", cmdIntegrate},
		"relate":             {"relate two applications", cmdIntegrate},
		"remove-relation":    {"remove a relation", cmdRemoveRelation},
		"remove-application": {"remove an application", cmdRemoveApplication},
		"offer":              {"offer an endpoint", cmdOffer},
		"consume":            {"consume an offer", cmdConsume},
		"offers":             {"list the model's offers", cmdOffers},
		"list-offers":        {"list the model's offers", cmdOffers},
		"run":                {"run an action", cmdRun},
		"show-task":          {"show a task's result", cmdShowTask},
		"show-operation":     {"show an operation's tasks", cmdShowOperation},
		"status":             {"show model status", cmdStatus},
		"show-unit":          {"show a unit", cmdShowUnit},
		"debug-log":          {"show the model log", cmdDebugLog},
		"wait-for":           {"wait for a condition", cmdWaitFor},
		"ssh":                {"run a command in a unit's container", cmdSSH},
		"resolve":            {"resolve a unit in error", cmdResolve},
		"pod":                {"kill, stop or start a unit's pod (jujulet only)", cmdPod},
		"resolved":           {"resolve a unit in error", cmdResolve},
		"version":            {"show the version", cmdVersion},
	}
}

func cmdVersion(_ context.Context, e *Env, args []string) error {
	fs := flags("version", e, nil)
	_ = fs.Bool("all", false, "")
	_ = fs.String("format", "smart", "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unrecognized args: %q", fs.Args())
	}
	fmt.Fprintln(e.Stdout, "3.6.11-jujulet")
	return nil
}

// Main runs the CLI and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &Env{Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: os.Getenv}
	home, err := Home(e.Getenv)
	if err != nil && len(args) > 0 && args[0] != "version" && args[0] != "help" && args[0] != "--help" && args[0] != "-h" {
		fmt.Fprintf(stderr, "ERROR %v\n", err)
		return 1
	}
	e.Home = home
	return e.Run(context.Background(), args)
}

// Run runs one command line in e and returns its exit code, as Juju's: 0, 1 for an error
// while running, 2 for bad usage (unknown options, bad arguments).
func (e *Env) Run(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprintln(e.Stdout, "Usage: jujulet <command> [options]\n\nCommands:")
		cmds := commands()
		var names []string
		for n := range cmds {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(e.Stdout, "    %-20s %s\n", n, cmds[n].summary)
		}
		return 0
	}
	c, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(e.Stderr, "ERROR juju: %q is not a juju command. See \"juju --help\".\n", args[0])
		return 2
	}
	err := c.run(ctx, e, args[1:])
	var ec exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ec):
		return int(ec)
	case errors.Is(err, gnuflag.ErrHelp):
		return 0
	case errors.Is(err, errSilent):
		return 1
	}
	fmt.Fprintf(e.Stderr, "ERROR %s\n", err)
	if _, ok := err.(usageError); ok {
		return 2
	}
	return 1
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// flags makes a flag set with -m/--model. As Juju's commands do, it reports a bad flag
// only through the error it returns ("option provided but not defined: --x").
func flags(name string, e *Env, model *string) *gnuflag.FlagSet {
	fs := gnuflag.NewFlagSet(name, gnuflag.ContinueOnError)
	fs.FlagKnownAs = "option"
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if model != nil {
		fs.StringVar(model, "m", "", "model to operate in")
		fs.StringVar(model, "model", "", "")
	}
	return fs
}

// parse parses a command's flags (interspersed with its arguments, as Juju allows); -h or
// --help prints the command's options and ends it.
func parse(e *Env, fs *gnuflag.FlagSet, args []string) error {
	if err := fs.Parse(true, args); err != nil {
		if errors.Is(err, gnuflag.ErrHelp) {
			fmt.Fprintln(e.Stdout, "Options:")
			fs.SetOutput(e.Stdout)
			fs.PrintDefaults()
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}

var errNoController = errors.New("no controller running; run \"juju bootstrap\" first")

// newClient returns a client of the controller of e.Home.
func newClient(e *Env) *client.Client {
	return client.New(client.Config{
		Socket: controller.SocketPath(e.Home),
		Unreachable: func(err error) error {
			if _, serr := os.Stat(controller.SocketPath(e.Home)); serr != nil || daemonPid(e.Home) == 0 {
				return errNoController
			}
			return fmt.Errorf("cannot reach the controller: %w", err)
		},
	})
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

type multiString []string

func (m *multiString) String() string     { return strings.Join(*m, ",") }
func (m *multiString) Set(v string) error { *m = append(*m, v); return nil }
