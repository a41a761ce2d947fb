package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/juju/gnuflag"

	"github.com/jujulet/postgresql-k8s/internal/controller/api"
	"github.com/jujulet/postgresql-k8s/internal/controller/storage"
)

// removeFlags are the flags remove-unit, remove-application and remove-saas share with
// Juju (RemoveConfirmationCommandBase, --force, --no-wait).
type removeFlags struct {
	noPrompt, force, noWait bool
}

func (r *removeFlags) set(fs *gnuflag.FlagSet) {
	fs.BoolVar(&r.noPrompt, "no-prompt", false, "")
	fs.BoolVar(&r.force, "force", false, "")
	fs.BoolVar(&r.noWait, "no-wait", false, "")
}

// check is Juju's rule for --no-wait.
func (r *removeFlags) check() error {
	if r.noWait && !r.force {
		return usagef("--no-wait without --force not valid")
	}
	return nil
}

// cmdRemoveUnit is `juju remove-unit` on a Kubernetes model: APP --num-units N scales the
// application down. jujulet also removes named units (Juju refuses them on Kubernetes),
// which tests use to remove a chosen unit. Storage is detached: its data is kept (see
// package storage); --destroy-storage is refused, as Juju refuses it on Kubernetes.
func cmdRemoveUnit(ctx context.Context, e *Env, args []string) error {
	var model string
	fs := flags("remove-unit", e, &model)
	var rf removeFlags
	rf.set(fs)
	destroyStorage := fs.Bool("destroy-storage", false, "")
	dryRun := fs.Bool("dry-run", false, "")
	num := fs.Int("num-units", 0, "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := rf.check(); err != nil {
		return err
	}
	if *dryRun {
		return usagef("`--dry-run` is not supported for kubernetes units")
	}
	if *destroyStorage {
		return usagef("k8s models only support --num-units")
	}
	if fs.NArg() == 0 {
		return usagef("no application specified")
	}
	named := true
	for _, u := range fs.Args() {
		named = named && validUnitName(u)
	}
	if !named || *num != 0 {
		if fs.NArg() != 1 {
			return usagef("only single application supported")
		}
		app := fs.Arg(0)
		if validUnitName(app) {
			return usagef("k8s models do not support removing named units.\nInstead specify an application with --num-units.")
		}
		if !validAppName(app) {
			return usagef("application name %q not valid", app)
		}
		if *num <= 0 {
			return usagef("specify the number of units (> 0) to remove using --num-units")
		}
		return scaleDown(ctx, e, model, app, *num)
	}
	removed, err := newClient(e).RemoveUnits(ctx, model, fs.Args())
	if err != nil {
		return err
	}
	for i, u := range fs.Args() {
		fmt.Fprintf(e.Stdout, "will remove unit %s\n", u)
		if i < len(removed) {
			printStorageFate(e, removed[i])
		}
	}
	return nil
}

// scaleDown is remove-unit APP --num-units N: the application's scale goes down by N.
func scaleDown(ctx context.Context, e *Env, model, app string, n int) error {
	c := newClient(e)
	st, err := fetchStatus(ctx, c, model)
	if err != nil {
		return err
	}
	a, ok := st.Applications[app]
	if !ok {
		return fmt.Errorf("application %q not found", app)
	}
	alive := len(a.Units)
	if n > alive {
		return errors.New("cannot remove more units than currently exist not valid")
	}
	if err := c.Scale(ctx, model, app, alive-n); err != nil {
		return err
	}
	fmt.Fprintf(e.Stderr, "scaling down to %d units\n", alive-n)
	return nil
}

// printStorageFate lists, as Juju does, the storage a removal destroys or detaches.
func printStorageFate(e *Env, r api.Removal) {
	for _, id := range r.DestroyedStorage {
		fmt.Fprintf(e.Stdout, "- will remove storage %s\n", id)
	}
	for _, id := range r.DetachedStorage {
		fmt.Fprintf(e.Stdout, "- will detach storage %s\n", id)
	}
}

func cmdRemoveApplication(ctx context.Context, e *Env, args []string) error {
	var model string
	fs := flags("remove-application", e, &model)
	var rf removeFlags
	rf.set(fs)
	destroyStorage := fs.Bool("destroy-storage", false, "")
	_ = fs.Bool("dry-run", false, "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("no application specified")
	}
	for _, a := range fs.Args() {
		if !validAppName(a) {
			return usagef("invalid application name %q", a)
		}
	}
	if err := rf.check(); err != nil {
		return err
	}
	c := newClient(e)
	failed := false
	for _, a := range fs.Args() {
		r, err := c.RemoveApplication(ctx, model, api.AppParams{App: a, DestroyStorage: *destroyStorage})
		if err != nil {
			if isModelError(err) {
				return err
			}
			fmt.Fprintf(e.Stderr, "ERROR removing application %s failed: %s\n", a, err)
			failed = true
			continue
		}
		fmt.Fprintf(e.Stdout, "will remove application %s\n", a)
		for _, u := range r.Units {
			fmt.Fprintf(e.Stdout, "- will remove unit %s\n", u)
		}
		printStorageFate(e, r)
	}
	if failed {
		return errSilent
	}
	return nil
}

// isModelError says whether err is about the model rather than the entity asked for.
func isModelError(err error) bool {
	return strings.HasPrefix(err.Error(), "model ") || errors.Is(err, errNoController)
}

// cmdRemoveSAAS is `juju remove-saas NAME...`.
func cmdRemoveSAAS(ctx context.Context, e *Env, args []string) error {
	var model string
	fs := flags("remove-saas", e, &model)
	var rf removeFlags
	rf.set(fs)
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() < 1 {
		return usagef("no SAAS application names specified")
	}
	for _, a := range fs.Args() {
		if !validAppName(a) {
			return usagef("invalid SAAS application name %q", a)
		}
	}
	if rf.noWait && !rf.force {
		return usagef("--no-wait requires --force")
	}
	c := newClient(e)
	for _, a := range fs.Args() {
		if _, err := c.RemoveApplication(ctx, model, api.AppParams{App: a}); err != nil {
			return err
		}
		fmt.Fprintf(e.Stderr, "will remove SAAS application %s\n", a)
	}
	return nil
}

// destroyModelWait bounds destroy-model's wait for the model to go.
const destroyModelWait = 10 * time.Minute

// cmdDestroyModel is `juju destroy-model`. As in Juju, a model with storage needs
// --destroy-storage or --release-storage; released storage is kept on disk and its place
// printed.
func cmdDestroyModel(ctx context.Context, e *Env, args []string) error {
	fs := flags("destroy-model", e, nil)
	var yes, destroyStorage, releaseStorage, force bool
	fs.BoolVar(&yes, "y", false, "")
	fs.BoolVar(&yes, "no-prompt", false, "")
	fs.BoolVar(&destroyStorage, "destroy-storage", false, "")
	fs.BoolVar(&releaseStorage, "release-storage", false, "")
	fs.BoolVar(&force, "force", false, "")
	var timeout time.Duration
	fs.DurationVar(&timeout, "timeout", -1, "")
	noWait := fs.Bool("no-wait", false, "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if destroyStorage && releaseStorage {
		return usagef("--destroy-storage and --release-storage cannot both be specified")
	}
	if timeout >= 0 && !force {
		return usagef("--timeout can only be used with --force (dangerous)")
	}
	if fs.NArg() == 0 {
		return usagef("no model specified")
	}
	if fs.NArg() > 1 {
		return usagef("unrecognized args: %q", fs.Args()[1:])
	}
	if *noWait && !force {
		return usagef("--no-wait without --force not valid")
	}
	name := fs.Arg(0)
	if i := strings.Index(name, ":"); i >= 0 {
		name = name[i+1:]
	}
	name = strings.TrimPrefix(name, "admin/")
	c := newClient(e)
	if err := c.DestroyModel(ctx, api.DestroyModelParams{Name: name, DestroyStorage: destroyStorage, ReleaseStorage: releaseStorage}); err != nil {
		return err
	}
	fmt.Fprint(e.Stderr, "Destroying model")
	if *noWait {
		fmt.Fprintln(e.Stderr)
		return nil
	}
	// Juju waits as long as it takes; jujulet gives up after destroyModelWait rather than
	// hang on a model whose units cannot go (a hook in error).
	ctx, cancel := context.WithTimeout(ctx, destroyModelWait)
	defer cancel()
	for {
		r, err := c.Models(ctx)
		if err != nil {
			return err
		}
		gone := true
		for _, m := range r.Models {
			if m.Name == name {
				gone = false
			}
		}
		if gone {
			break
		}
		fmt.Fprint(e.Stderr, ".")
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			fmt.Fprintln(e.Stderr)
			return fmt.Errorf("timed out waiting for model %q to be destroyed", name)
		}
	}
	fmt.Fprintln(e.Stderr)
	if releaseStorage {
		for _, p := range storage.Kept(storage.ReleasedDir(e.Home, name)) {
			fmt.Fprintf(e.Stderr, "released storage kept at %s\n", p)
		}
	}
	return nil
}
