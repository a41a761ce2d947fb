package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/juju/gnuflag"

	"github.com/jujulet/postgresql-k8s/internal/controller/api"
)

var levels = map[string]int{"TRACE": 0, "DEBUG": 1, "INFO": 2, "WARNING": 3, "WARN": 3, "ERROR": 4, "CRITICAL": 5}

func entityMatches(entity string, includes []string) bool {
	if len(includes) == 0 {
		return true
	}
	for _, inc := range includes {
		inc = strings.TrimSpace(inc)
		tag := inc
		if !strings.HasPrefix(inc, "unit-") && !strings.HasPrefix(inc, "application-") {
			if strings.Contains(inc, "/") {
				tag = "unit-" + strings.ReplaceAll(inc, "/", "-")
			} else {
				tag = "application-" + inc
			}
		}
		if tag == entity {
			return true
		}
		if app, ok := strings.CutPrefix(tag, "application-"); ok {
			rest, ok := strings.CutPrefix(entity, "unit-"+app+"-")
			if _, err := strconv.Atoi(rest); ok && err == nil {
				return true
			}
		}
	}
	return false
}

func cmdDebugLog(ctx context.Context, e *Env, args []string) error {
	var model string
	fs := flags("debug-log", e, &model)
	replay := fs.Bool("replay", false, "")
	var n int
	fs.IntVar(&n, "n", 10, "")
	fs.IntVar(&n, "lines", 10, "")
	var includes, excludes multiString
	fs.Var(&includes, "include", "")
	fs.Var(&includes, "i", "")
	fs.Var(&excludes, "exclude", "")
	fs.Var(&excludes, "x", "")
	level := fs.String("level", "", "")
	fs.StringVar(level, "l", "", "")
	noTail := fs.Bool("no-tail", false, "")
	tail := fs.Bool("tail", false, "")
	_ = fs.Bool("ms", false, "")
	_ = fs.Bool("color", false, "")
	_ = fs.String("format", "text", "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if _, ok := levels[strings.ToUpper(*level)]; *level != "" && (!ok || strings.EqualFold(*level, "critical")) {
		return usagef("level value %q is not one of %q, %q, %q, %q, %q", *level, "TRACE", "DEBUG", "INFO", "WARNING", "ERROR")
	}
	if *tail && *noTail {
		return usagef("setting --tail and --no-tail not valid")
	}
	if fs.NArg() > 0 {
		return usagef("unrecognized args: %q", fs.Args())
	}
	var incs []string
	for _, i := range includes {
		incs = append(incs, strings.Split(i, ",")...)
	}
	var excs []string
	for _, x := range excludes {
		excs = append(excs, strings.Split(x, ",")...)
	}
	minLevel := levels[strings.ToUpper(*level)]
	c := newClient(e)
	limit := n
	nSet := false
	fs.Visit(func(f *gnuflag.Flag) { nSet = nSet || f.Name == "n" || f.Name == "lines" })
	if *replay && !nSet {
		limit = 0
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	var after int64
	first := true
	for {
		params := api.LogsParams{After: after}
		if first && limit > 0 {
			params.Limit = limit * 50
		}
		lines, err := c.Logs(ctx, model, params)
		if err != nil {
			return err
		}
		var shown []api.LogEntry
		for _, l := range lines {
			after = l.ID
			if !entityMatches(l.Entity, incs) || (len(excs) > 0 && entityMatches(l.Entity, excs)) || levels[l.Level] < minLevel {
				continue
			}
			shown = append(shown, l)
		}
		if first && limit > 0 && len(shown) > limit {
			shown = shown[len(shown)-limit:]
		}
		first = false
		for _, l := range shown {
			fmt.Fprintf(e.Stdout, "%s: %s %s %s\n", l.Entity, l.Time.Local().Format("15:04:05"), l.Level, l.Message)
		}
		if *noTail {
			return nil
		}
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			return nil
		}
	}
}

// query is a tiny evaluator for wait-for queries: terms `field=="v"`, `field!="v"`
// joined with && and ||, plus parentheses-free forEach(units, u => u.field=="v").
func evalQuery(q string, fields map[string]any, units []map[string]any) (bool, error) {
	for _, or := range splitTop(q, "||") {
		all := true
		for _, term := range splitTop(or, "&&") {
			ok, err := evalTerm(strings.TrimSpace(term), fields, units)
			if err != nil {
				return false, err
			}
			if !ok {
				all = false
				break
			}
		}
		if all {
			return true, nil
		}
	}
	return false, nil
}

func splitTop(s, sep string) []string {
	var out []string
	depth := 0
	start := 0
	inStr := byte(0)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case inStr != 0:
			if ch == inStr {
				inStr = 0
			}
		case ch == '"' || ch == '\'':
			inStr = ch
		case ch == '(':
			depth++
		case ch == ')':
			depth--
		case depth == 0 && strings.HasPrefix(s[i:], sep):
			out = append(out, s[start:i])
			start = i + len(sep)
			i += len(sep) - 1
		}
	}
	return append(out, s[start:])
}

func evalTerm(term string, fields map[string]any, units []map[string]any) (bool, error) {
	for strings.HasPrefix(term, "(") && strings.HasSuffix(term, ")") {
		return evalQuery(term[1:len(term)-1], fields, units)
	}
	if strings.HasPrefix(term, "forEach(") && strings.HasSuffix(term, ")") {
		inner := term[len("forEach(") : len(term)-1]
		_, lambda, ok := strings.Cut(inner, ",")
		if !ok {
			return false, fmt.Errorf("invalid forEach: %q", term)
		}
		v, body, ok := strings.Cut(lambda, "=>")
		if !ok {
			return false, fmt.Errorf("invalid forEach: %q", term)
		}
		v = strings.TrimSpace(v)
		body = strings.ReplaceAll(body, v+".", "")
		for _, u := range units {
			ok, err := evalQuery(body, u, nil)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	}
	op := "=="
	l, r, ok := strings.Cut(term, "==")
	if !ok {
		op = "!="
		l, r, ok = strings.Cut(term, "!=")
	}
	if !ok {
		l, r, op = term, "true", "=="
	}
	l, r = strings.TrimSpace(l), strings.TrimSpace(r)
	want := strings.Trim(r, `"'`)
	got, okf := fields[l]
	if !okf {
		return false, fmt.Errorf("invalid identifier %q", l)
	}
	eq := fmt.Sprint(got) == want
	if op == "==" {
		return eq, nil
	}
	return !eq, nil
}

func cmdWaitFor(ctx context.Context, e *Env, args []string) error {
	var model string
	fs := flags("wait-for", e, &model)
	query := fs.String("query", "", "")
	timeout := fs.Duration("timeout", 10*time.Minute, "")
	_ = fs.String("summary", "", "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usagef("expected application|unit|model NAME")
	}
	kind, name := fs.Arg(0), fs.Arg(1)
	switch {
	case kind != "application" && kind != "unit" && kind != "model":
		return usagef("unrecognized command: juju wait-for %s", kind)
	case kind == "unit" && !validUnitName(name), kind == "application" && !validAppName(name):
		return usagef("%q is not a valid %s name", name, kind)
	}
	if *query == "" {
		switch kind {
		case "unit":
			*query = `life=="alive" && workload-status=="active" && agent-status=="idle"`
		case "model":
			*query = `life=="alive" && status=="available"`
		default:
			*query = `life=="alive" && status=="active"`
		}
	}
	c := newClient(e)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	tty := false
	if f, ok := e.Stderr.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	start := time.Now()
	last := ""
	for {
		full, err := c.Status(ctx, model)
		if err != nil && kind != "model" {
			return err
		}
		fields, units, found := waitFields(full.Status, kind, name, err == nil)
		progress := ""
		if found {
			ok, qerr := evalQuery(*query, fields, units)
			if qerr != nil {
				return qerr
			}
			if ok {
				if tty {
					fmt.Fprint(e.Stderr, "\r\033[K")
				}
				fmt.Fprintf(e.Stderr, "%s %q is %s, target achieved\n", kind, name, fmt.Sprint(fields["status"]))
				return nil
			}
			progress = fmt.Sprintf("%s %q: status %v (waiting for %s) %s", kind, name, fields["status"], *query, time.Since(start).Round(time.Second))
		} else {
			progress = fmt.Sprintf("%s %q not found yet %s", kind, name, time.Since(start).Round(time.Second))
		}
		if tty {
			fmt.Fprintf(e.Stderr, "\r\033[K%s", progress)
		} else if progress != last {
			// keep non-terminal output short: only print when the status changes
			if fmt.Sprint(fields["status"]) != last {
				fmt.Fprintln(e.Stderr, progress)
			}
			last = fmt.Sprint(fields["status"])
		}
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			if tty {
				fmt.Fprintln(e.Stderr)
			}
			return fmt.Errorf("timed out waiting for %s %q to reach goal state (%s)", kind, name, *query)
		}
	}
}

func waitFields(d api.Status, kind, name string, modelOK bool) (map[string]any, []map[string]any, bool) {
	unitFields := func(un string, u api.UnitStatus) map[string]any {
		return map[string]any{"name": un, "life": "alive", "workload-status": u.Workload.Current,
			"status": u.Workload.Current, "workload-message": u.Workload.Message,
			"agent-status": u.Agent.Current, "juju-status": u.Agent.Current, "leader": u.Leader, "address": u.Address}
	}
	switch kind {
	case "model":
		if !modelOK {
			return nil, nil, false
		}
		return map[string]any{"name": name, "life": "alive", "status": "available"}, nil, true
	case "unit":
		app := name
		if i := strings.LastIndex(name, "/"); i >= 0 {
			app = name[:i]
		}
		a, ok := d.Applications[app]
		if !ok {
			return nil, nil, false
		}
		u, ok := a.Units[name]
		if !ok {
			return nil, nil, false
		}
		return unitFields(name, u), nil, true
	default:
		a, ok := d.Applications[name]
		if !ok {
			return nil, nil, false
		}
		life := a.Life
		if life == "" {
			life = "alive"
		}
		var units []map[string]any
		for un, u := range a.Units {
			units = append(units, unitFields(un, u))
		}
		return map[string]any{"name": name, "life": life, "status": a.Status.Current, "scale": a.Scale,
			"charm": a.Charm, "active-units": countActive(a)}, units, true
	}
}

func countActive(a api.ApplicationStatus) int {
	n := 0
	for _, u := range a.Units {
		if u.Workload.Current == "active" {
			n++
		}
	}
	return n
}
