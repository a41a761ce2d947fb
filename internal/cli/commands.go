package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/controller"
	"github.com/jujulet/postgresql-k8s/internal/controller/api"
	"github.com/jujulet/postgresql-k8s/internal/pidfile"
	"github.com/jujulet/postgresql-k8s/internal/pod"
)

// daemonPid is the pid of the home's controller daemon, 0 if none runs: the pid file is
// trusted only while its process is a controller daemon started before it was written.
func daemonPid(home string) int { return pidfile.Read(controller.PidPath(home), controller.IsDaemon) }

func cmdBootstrap(ctx context.Context, e *Env, args []string) error {
	fs := flags("bootstrap", e, nil)
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 2 {
		return usagef("unrecognized args: %q", fs.Args()[2:])
	}
	c := newClient(e)
	if c.Ping(ctx) == nil {
		return fmt.Errorf("controller %q already exists", "jujulet")
	}
	if err := os.MkdirAll(e.Home, 0o711); err != nil {
		return fmt.Errorf("creating %s: %w", e.Home, err)
	}
	_ = os.Chmod(e.Home, 0o711)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(e.Home, "controller.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintln(e.Stderr, "Creating Juju controller \"jujulet\" on jujulet/localhost")
	cmd := exec.Command(self, "controller-daemon")
	cmd.Env = append(os.Environ(), "JUJULET_HOME="+e.Home)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting controller: %w", err)
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	deadline := time.Now().Add(60 * time.Second)
	for c.Ping(ctx) != nil {
		if time.Now().After(deadline) || syscall.Kill(pid, 0) != nil {
			return fmt.Errorf("controller did not start; see %s", filepath.Join(e.Home, "controller.log"))
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	fmt.Fprintln(e.Stderr, "Bootstrap complete, controller \"jujulet\" is now available")
	return nil
}

// defaultKillTimeout is Juju's kill-controller --timeout default.
const defaultKillTimeout = 5 * time.Minute

// cmdKillController is `juju kill-controller`: it asks the controller to stop its unit
// agents and pods and exit, waits up to --timeout for that, then forces what is left
// (kills the controller process and every pod), and removes the controller's state.
// Juju restarts its timeout whenever the models' status changes; jujulet's controller
// reports nothing while it stops, so the timeout bounds the whole wait.
func cmdKillController(ctx context.Context, e *Env, args []string) error {
	fs := flags("kill-controller", e, nil)
	var yes bool
	fs.BoolVar(&yes, "y", false, "do not prompt")
	fs.BoolVar(&yes, "yes", false, "")
	fs.BoolVar(&yes, "no-prompt", false, "")
	var timeout time.Duration
	fs.DurationVar(&timeout, "t", defaultKillTimeout, "how long to wait for the controller and its units to stop before killing them")
	fs.DurationVar(&timeout, "timeout", defaultKillTimeout, "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usagef("unrecognized args: %q", fs.Args()[1:])
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pid := daemonPid(e.Home)
	if err := newClient(e).Kill(ctx); err != nil && pid == 0 {
		if _, serr := os.Stat(e.Home); serr != nil {
			return fmt.Errorf("controller %q not found", "jujulet")
		}
	}
	fmt.Fprintln(e.Stderr, "Destroying controller \"jujulet\"")
	forced := pid != 0 && !waitExit(ctx, pid)
	if forced {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	// The controller stops its pods; these are the pods of one that was dead already,
	// or that was killed.
	var pods []string
	units, _ := os.ReadDir(filepath.Join(e.Home, "units"))
	for _, u := range units {
		pods = append(pods, filepath.Join(e.Home, "units", u.Name(), "c"))
	}
	if stopPods(ctx, pods) {
		forced = true
	}
	if forced {
		fmt.Fprintf(e.Stderr, "Controller and units did not stop within %s: killed them\n", timeout)
	}
	// Detached storage goes with the controller; released storage is no longer its own.
	for _, p := range []string{"units", "charms", "storage", "state.db", "state.db-wal", "state.db-shm", "run", "controller.pid", "controller.lock"} {
		_ = os.RemoveAll(filepath.Join(e.Home, p))
	}
	fmt.Fprintln(e.Stderr, "Controller \"jujulet\" destroyed")
	return nil
}

// waitExit waits until process pid has gone, or ctx ends; it reports whether it went.
func waitExit(ctx context.Context, pid int) bool {
	for syscall.Kill(pid, 0) == nil {
		if sleepCtx(ctx, 50*time.Millisecond) != nil {
			return syscall.Kill(pid, 0) != nil
		}
	}
	return true
}

// stopPods stops the pods (containers directories) gracefully; when ctx ends first it
// kills them. It reports whether it had to.
func stopPods(ctx context.Context, pods []string) (killed bool) {
	if len(pods) == 0 {
		return false
	}
	if ctx.Err() != nil {
		for _, dir := range pods {
			pod.Kill(dir)
		}
		return true
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, dir := range pods {
			pod.Stop(dir)
		}
	}()
	select {
	case <-done:
		return false
	case <-ctx.Done():
	}
	for _, dir := range pods {
		pod.Kill(dir)
	}
	// pod.Stop sees its processes gone and returns.
	<-done
	return true
}

func cmdAddModel(ctx context.Context, e *Env, args []string) error {
	fs := flags("add-model", e, nil)
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() < 1 {
		return usagef("model name is required")
	}
	if fs.NArg() > 2 {
		return usagef("unrecognized args: %q", fs.Args()[2:])
	}
	if !validModelName(fs.Arg(0)) {
		return usagef("%q is not a valid name: model names may only contain lowercase letters, digits and hyphens", fs.Arg(0))
	}
	if _, err := newClient(e).AddModel(ctx, fs.Arg(0)); err != nil {
		return err
	}
	fmt.Fprintf(e.Stderr, "Added '%s' model on jujulet/localhost with credential 'jujulet' for user 'admin'\n", fs.Arg(0))
	return nil
}

func cmdModels(ctx context.Context, e *Env, args []string) error {
	fs := flags("models", e, nil)
	format := fs.String("format", "tabular", "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := checkFormat(*format, "tabular", "json", "yaml"); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unrecognized args: %q", fs.Args())
	}
	r, err := newClient(e).Models(ctx)
	if err != nil {
		return err
	}
	if *format == "json" || *format == "yaml" {
		var ms []map[string]any
		for _, m := range r.Models {
			if m.Life != "alive" {
				continue
			}
			ms = append(ms, map[string]any{"name": "admin/" + m.Name, "short-name": m.Name, "model-uuid": m.UUID, "type": "caas", "controller-name": "jujulet"})
		}
		out := map[string]any{"models": ms}
		if r.Current != "" {
			out["current-model"] = r.Current
		}
		return printFormatted(e, *format, out)
	}
	fmt.Fprintln(e.Stdout, "Controller: jujulet")
	fmt.Fprintln(e.Stdout)
	tw := tabwriter.NewWriter(e.Stdout, 0, 1, 2, ' ', 0)
	fmt.Fprintln(tw, "Model\tCloud/Region\tType\tStatus\tAccess\tLast connection")
	for _, m := range r.Models {
		if m.Life != "alive" {
			continue
		}
		name := m.Name
		if name == r.Current {
			name += "*"
		}
		fmt.Fprintf(tw, "%s\tjujulet/localhost\tkubernetes\tavailable\tadmin\tjust now\n", name)
	}
	return tw.Flush()
}

func cmdSwitch(ctx context.Context, e *Env, args []string) error {
	fs := flags("switch", e, nil)
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usagef("unrecognized args: %q", fs.Args()[1:])
	}
	c := newClient(e)
	if fs.NArg() == 0 {
		cur, err := c.CurrentModel(ctx)
		if err != nil {
			return err
		}
		if cur == "" {
			return fmt.Errorf("no currently specified model")
		}
		fmt.Fprintf(e.Stdout, "jujulet:admin/%s\n", cur)
		return nil
	}
	name := fs.Arg(0)
	if i := strings.Index(name, ":"); i >= 0 {
		name = name[i+1:]
	}
	prev, _ := c.CurrentModel(ctx)
	now, err := c.Switch(ctx, strings.TrimPrefix(name, "admin/"))
	if err != nil {
		if strings.Contains(err.Error(), "not found") {
			return fmt.Errorf("%q is not the name of a model or controller", fs.Arg(0))
		}
		return err
	}
	from := "jujulet"
	if prev != "" {
		from = "jujulet:admin/" + prev
	}
	fmt.Fprintf(e.Stderr, "%s -> jujulet:admin/%s\n", from, now)
	return nil
}

func cmdModelConfig(ctx context.Context, e *Env, args []string) error {
	var model string
	fs := flags("model-config", e, &model)
	format := fs.String("format", "tabular", "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := checkFormat(*format, "tabular", "json", "yaml"); err != nil {
		return err
	}
	set := map[string]string{}
	var get []string
	for _, a := range fs.Args() {
		if k, v, ok := strings.Cut(a, "="); ok {
			set[k] = v
		} else {
			get = append(get, a)
		}
	}
	if len(get) > 1 {
		return usagef("cannot specify multiple keys to get")
	}
	if len(get) > 0 && len(set) > 0 {
		return usagef("cannot get value and set key=value pairs simultaneously")
	}
	cfg, err := newClient(e).ModelConfig(ctx, model, set)
	if err != nil {
		return err
	}
	if len(set) > 0 {
		return nil
	}
	if len(get) == 1 {
		fmt.Fprintln(e.Stdout, cfg[get[0]])
		return nil
	}
	if *format != "tabular" {
		return printFormatted(e, *format, cfg)
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 1, 2, ' ', 0)
	fmt.Fprintln(tw, "Attribute\tFrom\tValue")
	var keys []string
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\tmodel\t%s\n", k, cfg[k])
	}
	return tw.Flush()
}

// findCharm resolves a charm argument: a path, or a name on the charm path.
func findCharm(e *Env, arg string) (string, error) {
	if strings.HasPrefix(arg, ".") || strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, "local:") || strings.Contains(arg, "/") {
		p := strings.TrimPrefix(arg, "local:")
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(abs); err != nil {
			return "", fmt.Errorf("charm or bundle not found: %q", arg)
		}
		return abs, nil
	}
	if fi, err := os.Stat(arg); err == nil && (fi.IsDir() || strings.HasSuffix(arg, ".charm")) {
		return filepath.Abs(arg)
	}
	var dirs []string
	if cp := e.Getenv("JUJULET_CHARM_PATH"); cp != "" {
		dirs = append(dirs, filepath.SplitList(cp)...)
	}
	if self, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Join(filepath.Dir(self), "..", "build", "charms"))
	}
	for _, d := range dirs {
		if fi, err := os.Stat(filepath.Join(d, arg, "metadata.yaml")); err == nil && !fi.IsDir() {
			return filepath.Abs(filepath.Join(d, arg))
		}
		matches, _ := filepath.Glob(filepath.Join(d, arg+"*.charm"))
		sort.Strings(matches)
		if len(matches) > 0 {
			return filepath.Abs(matches[len(matches)-1])
		}
	}
	return "", fmt.Errorf("charm or bundle not found: %q (searched JUJULET_CHARM_PATH and the build/charms directory)", arg)
}

func readConfigArgs(vals []string) (map[string]string, []string, error) {
	kv := map[string]string{}
	var files []string
	for _, v := range vals {
		if k, val, ok := strings.Cut(v, "="); ok && !strings.Contains(k, "/") {
			kv[k] = val
			continue
		}
		b, err := os.ReadFile(v)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot read config file %q: %w", v, err)
		}
		files = append(files, string(b))
	}
	return kv, files, nil
}

func cmdDeploy(ctx context.Context, e *Env, args []string) error {
	var model string
	fs := flags("deploy", e, &model)
	var channel, base, series string
	var trust bool
	var n int
	var configs, resources multiString
	fs.StringVar(&channel, "channel", "", "")
	fs.StringVar(&base, "base", "", "")
	fs.StringVar(&series, "series", "", "")
	fs.BoolVar(&trust, "trust", false, "")
	fs.IntVar(&n, "n", 1, "")
	fs.IntVar(&n, "num-units", 1, "")
	fs.Var(&configs, "config", "")
	fs.Var(&resources, "resource", "")
	_ = fs.String("revision", "", "")
	_ = fs.String("constraints", "", "")
	_ = fs.String("storage", "", "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() < 1 {
		return usagef("no charm or bundle specified")
	}
	if fs.NArg() > 2 {
		return usagef("unrecognized args: %q", fs.Args()[2:])
	}
	if n < 1 {
		return usagef("--num-units must be a positive integer")
	}
	if base != "" && series != "" {
		return usagef("--series and --base cannot be specified together")
	}
	if fs.NArg() == 2 && !validAppName(fs.Arg(1)) {
		return usagef("invalid application name %q", fs.Arg(1))
	}
	path, err := findCharm(e, fs.Arg(0))
	if err != nil {
		return err
	}
	kv, files, err := readConfigArgs(configs)
	if err != nil {
		return err
	}
	res, err := parseResources(resources)
	if err != nil {
		return err
	}
	if base == "" && series != "" {
		base = series
	}
	d, err := newClient(e).Deploy(ctx, model, api.DeployParams{Name: fs.Arg(1), Charm: path, Channel: channel,
		Base: base, Trust: trust, NumUnits: n, Config: kv, ConfigYAML: files, Resources: res})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stderr, "Deployed %q from local charm %q, revision %d on %s\n", d.Application, d.Charm, d.Revision, d.Base)
	return nil
}

// parseResources reads deploy's --resource name=value flags. A value naming a file is made
// absolute: the file is named relative to where juju runs, and the unit reads it later.
func parseResources(flags []string) (map[string]string, error) {
	res := map[string]string{}
	for _, r := range flags {
		k, v, ok := strings.Cut(r, "=")
		if !ok {
			return nil, usagef("invalid --resource %q: expected name=value", r)
		}
		if fi, err := os.Stat(v); err == nil && fi.Mode().IsRegular() {
			if abs, err := filepath.Abs(v); err == nil {
				v = abs
			}
		}
		res[k] = v
	}
	return res, nil
}

func cmdAddUnit(ctx context.Context, e *Env, args []string) error {
	var model string
	fs := flags("add-unit", e, &model)
	var n int
	fs.IntVar(&n, "n", 1, "")
	fs.IntVar(&n, "num-units", 1, "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if n < 1 {
		return usagef("--num-units must be a positive integer")
	}
	if fs.NArg() == 0 {
		return usagef("no application specified")
	}
	if fs.NArg() > 1 {
		return usagef("unrecognized args: %q", fs.Args()[1:])
	}
	if !validAppName(fs.Arg(0)) {
		return usagef("invalid application name %q", fs.Arg(0))
	}
	return newClient(e).AddUnit(ctx, model, fs.Arg(0), n)
}

func cmdScale(ctx context.Context, e *Env, args []string) error {
	var model string
	fs := flags("scale-application", e, &model)
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("no application specified")
	}
	if !validAppName(fs.Arg(0)) {
		return usagef("invalid application name %q", fs.Arg(0))
	}
	if fs.NArg() == 1 {
		return usagef("no scale specified")
	}
	if fs.NArg() > 2 {
		return usagef("unrecognized args: %q", fs.Args()[2:])
	}
	n, err := strconv.Atoi(fs.Arg(1))
	if err != nil || n < 0 {
		return usagef("scale must be a positive integer")
	}
	if err := newClient(e).Scale(ctx, model, fs.Arg(0), n); err != nil {
		return err
	}
	fmt.Fprintf(e.Stderr, "%s scaled to %d units\n", fs.Arg(0), n)
	return nil
}

func cmdConfig(ctx context.Context, e *Env, args []string) error {
	var model string
	fs := flags("config", e, &model)
	var reset multiString
	var files multiString
	fs.Var(&reset, "reset", "")
	fs.Var(&files, "file", "")
	format := fs.String("format", "yaml", "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := checkFormat(*format, "yaml", "json"); err != nil {
		return err
	}
	if fs.NArg() < 1 {
		return usagef("no application name specified")
	}
	app := fs.Arg(0)
	if !validAppName(app) {
		return usagef("invalid application name %q", app)
	}
	set := map[string]string{}
	var get []string
	for _, a := range fs.Args()[1:] {
		if k, v, ok := strings.Cut(a, "="); ok {
			set[k] = v
		} else {
			get = append(get, a)
		}
	}
	var resetKeys []string
	for _, r := range reset {
		resetKeys = append(resetKeys, strings.Split(r, ",")...)
	}
	var fileData []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("cannot read %q: %w", f, err)
		}
		fileData = append(fileData, string(b))
	}
	if len(get) > 1 {
		return usagef("cannot specify multiple keys to get")
	}
	if len(get) > 0 && len(set) > 0 {
		return usagef("cannot get value and set key=value pairs simultaneously")
	}
	out, err := newClient(e).Config(ctx, model, api.ConfigParams{App: app, Set: set, Reset: resetKeys, Files: fileData})
	if err != nil {
		return err
	}
	if len(set) > 0 || len(resetKeys) > 0 || len(fileData) > 0 {
		return nil
	}
	if len(get) == 1 {
		s, ok := out.Settings[get[0]]
		if !ok {
			//lint:ignore ST1005 Juju prints this text, period included
			return fmt.Errorf("key %q not found in %q application config or charm settings.", get[0], app)
		}
		if s.Value != nil {
			fmt.Fprintln(e.Stdout, fmtValue(s.Value))
		}
		return nil
	}
	doc := map[string]any{"application": app, "charm": out.Charm, "settings": out.Settings,
		"application-config": map[string]any{"trust": map[string]any{"default": false, "description": "Does this application have access to trusted credentials", "source": "user", "type": "bool", "value": out.Trust}}}
	return printFormatted(e, *format, doc)
}

func fmtValue(v any) string {
	switch x := v.(type) {
	case float64:
		if x == float64(int64(x)) {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

func cmdTrust(ctx context.Context, e *Env, args []string) error {
	var model string
	fs := flags("trust", e, &model)
	remove := fs.Bool("remove", false, "")
	_ = fs.String("scope", "", "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("no application name specified")
	}
	if fs.NArg() > 1 {
		return usagef("unrecognized args: %q", fs.Args()[1:])
	}
	if !validAppName(fs.Arg(0)) {
		return usagef("invalid application name %q", fs.Arg(0))
	}
	return newClient(e).Trust(ctx, model, fs.Arg(0), *remove)
}

func cmdIntegrate(ctx context.Context, e *Env, args []string) error {
	var model string
	fs := flags("integrate", e, &model)
	_ = fs.String("via", "", "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usagef("an integration must involve two applications")
	}
	for _, ep := range fs.Args() {
		if err := checkEndpoint(ep); err != nil {
			return err
		}
	}
	return newClient(e).Integrate(ctx, model, fs.Arg(0), fs.Arg(1))
}

func cmdRemoveRelation(ctx context.Context, e *Env, args []string) error {
	var model string
	fs := flags("remove-relation", e, &model)
	_ = fs.Bool("force", false, "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() == 1 {
		if _, err := strconv.Atoi(fs.Arg(0)); err != nil {
			return usagef("relation ID %q not valid", fs.Arg(0))
		}
	} else if fs.NArg() != 2 {
		return usagef("a relation must involve two applications")
	}
	if fs.NArg() == 2 {
		for _, ep := range fs.Args() {
			if err := checkEndpoint(ep); err != nil {
				return err
			}
		}
	}
	return newClient(e).RemoveRelation(ctx, model, fs.Args())
}

func cmdOffer(ctx context.Context, e *Env, args []string) error {
	var model string
	fs := flags("offer", e, &model)
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() < 1 {
		return usagef("an offer must at least specify application endpoint")
	}
	if fs.NArg() > 2 {
		return usagef("unrecognized args: %q", fs.Args()[2:])
	}
	spec := fs.Arg(0)
	// "model.app:endpoint" form
	if i := strings.Index(spec, "."); i >= 0 && i < strings.Index(spec, ":") {
		model, spec = spec[:i], spec[i+1:]
	}
	o, err := newClient(e).Offer(ctx, model, api.OfferParams{Endpoint: spec, Name: fs.Arg(1)})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stderr, "Application %q endpoints [%s] available at %q\n", o.Application, o.Endpoint, o.URL)
	return nil
}

func cmdConsume(ctx context.Context, e *Env, args []string) error {
	var model string
	fs := flags("consume", e, &model)
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() < 1 {
		return usagef("no remote offer specified")
	}
	if fs.NArg() > 2 {
		return usagef("unrecognized args: %q", fs.Args()[2:])
	}
	if fs.NArg() == 2 && !validAppName(fs.Arg(1)) {
		return usagef("invalid application name %q", fs.Arg(1))
	}
	url := fs.Arg(0)
	if i := strings.Index(url, ":"); i >= 0 {
		url = url[i+1:]
	}
	a, err := newClient(e).Consume(ctx, model, api.ConsumeParams{URL: url, Alias: fs.Arg(1)})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stderr, "Added %s as %s\n", a.URL, a.Application)
	return nil
}

func cmdResolve(ctx context.Context, e *Env, args []string) error {
	var model string
	fs := flags("resolve", e, &model)
	noRetry := fs.Bool("no-retry", false, "")
	all := fs.Bool("all", false, "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if *all && fs.NArg() > 0 {
		return usagef("specifying unit names(s) with --all not supported")
	}
	if !*all && fs.NArg() == 0 {
		return usagef("no unit specified")
	}
	for _, u := range fs.Args() {
		if !validUnitName(u) {
			return usagef("unit name %q not valid", u)
		}
	}
	c := newClient(e)
	units := fs.Args()
	if *all {
		st, err := fetchStatus(ctx, c, model)
		if err != nil {
			return err
		}
		for _, a := range st.Applications {
			for name, u := range a.Units {
				if u.Workload.Current == "error" {
					units = append(units, name)
				}
			}
		}
	}
	if len(units) == 0 && !*all {
		return usagef("no unit specified")
	}
	for _, u := range units {
		if err := c.Resolve(ctx, model, u, *noRetry); err != nil {
			return err
		}
	}
	return nil
}

func printFormatted(e *Env, format string, v any) error {
	switch format {
	case "json":
		return jsonOut(e.Stdout, v)
	case "yaml", "tabular", "":
		return yamlOut(e.Stdout, v)
	}
	return usagef("invalid value %q for option --format: unknown format", format)
}

// cmdRefresh is `juju refresh APP --path CHARM` for local charms.
func cmdRefresh(ctx context.Context, e *Env, args []string) error {
	var model string
	fs := flags("refresh", e, &model)
	path := fs.String("path", "", "")
	_ = fs.String("channel", "", "")
	_ = fs.Bool("force", false, "")
	_ = fs.Bool("force-units", false, "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("no application specified")
	}
	if fs.NArg() > 1 {
		return usagef("unrecognized args: %q", fs.Args()[1:])
	}
	if !validAppName(fs.Arg(0)) {
		return usagef("invalid application name %q", fs.Arg(0))
	}
	if *path == "" {
		return usagef("jujulet refreshes local charms only: use --path")
	}
	abs, err := findCharm(e, *path)
	if err != nil {
		return err
	}
	r, err := newClient(e).Refresh(ctx, model, api.RefreshParams{App: fs.Arg(0), Charm: abs})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stderr, "Added local charm %q, revision %d, to the model\n", r.Charm, r.Revision)
	return nil
}
