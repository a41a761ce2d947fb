package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/juju/cmd/v3"

	"github.com/jujulet/postgresql-k8s/internal/controller/api"
	"github.com/jujulet/postgresql-k8s/internal/controller/client"
)

// fetchStatus reads a model's status.
func fetchStatus(ctx context.Context, c *client.Client, model string) (*api.Status, error) {
	full, err := c.Status(ctx, model)
	if err != nil {
		return nil, err
	}
	return &full.Status, nil
}

// jsonOut and yamlOut write v as Juju's CLI does (juju/cmd's formatters: encoding/json,
// and gopkg.in/yaml.v2 with its list indentation).
func jsonOut(w io.Writer, v any) error { return cmd.FormatJson(w, v) }
func yamlOut(w io.Writer, v any) error { return cmd.FormatYaml(w, v) }

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func unitLess(a, b string) bool {
	ai, bi := strings.LastIndex(a, "/"), strings.LastIndex(b, "/")
	if ai < 0 || bi < 0 || a[:ai] != b[:bi] {
		return a < b
	}
	x, _ := strconv.Atoi(a[ai+1:])
	y, _ := strconv.Atoi(b[bi+1:])
	return x < y
}

// charmNameRev splits a charm URL "local:name-rev" into name and revision.
func charmNameRev(url string) (string, string) {
	s := url
	if _, after, ok := strings.Cut(s, ":"); ok {
		s = after
	}
	if i := strings.LastIndex(s, "-"); i >= 0 {
		if _, err := strconv.Atoi(s[i+1:]); err == nil {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

func newTabWriter(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 1, 2, ' ', 0) }

// renderTabular writes `juju status`'s tables; relations is nil unless --relations.
func renderTabular(w io.Writer, d *api.Status, relations []api.RelationStatus) error {
	tw := newTabWriter(w)
	ts := ""
	if d.Controller != nil {
		ts = d.Controller.Timestamp
	}
	fmt.Fprintln(tw, "Model\tController\tCloud/Region\tVersion\tSLA\tTimestamp")
	fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%s\t%s\t%s\n", d.Model.Name, d.Model.Controller, d.Model.Cloud, d.Model.CloudRegion, d.Model.Version, d.Model.SLA, ts)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(d.SAAS) > 0 {
		fmt.Fprintln(w)
		tw = newTabWriter(w)
		fmt.Fprintln(tw, "SAAS\tStatus\tStore\tURL")
		for _, n := range sortedKeys(d.SAAS) {
			s := d.SAAS[n]
			fmt.Fprintf(tw, "%s\t%s\tlocal\t%s\n", n, s.Status.Current, s.URL)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(d.Applications) == 0 && len(d.SAAS) == 0 {
		fmt.Fprintln(w)
		_, err := fmt.Fprintf(w, "Model %q is empty.\n", "admin/"+d.Model.Name)
		return err
	}
	if len(d.Applications) > 0 {
		fmt.Fprintln(w)
		tw = newTabWriter(w)
		fmt.Fprintln(tw, "App\tVersion\tStatus\tScale\tCharm\tChannel\tRev\tAddress\tExposed\tMessage")
		for _, n := range sortedKeys(d.Applications) {
			a := d.Applications[n]
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\tno\t%s\n", n, a.Version, a.Status.Current, a.Scale, a.CharmName, a.CharmChannel, a.CharmRev, a.Address, a.Status.Message)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
		tw = newTabWriter(w)
		fmt.Fprintln(tw, "Unit\tWorkload\tAgent\tAddress\tPorts\tMessage")
		for _, n := range sortedKeys(d.Applications) {
			a := d.Applications[n]
			names := sortedKeys(a.Units)
			sort.Slice(names, func(i, j int) bool { return unitLess(names[i], names[j]) })
			for _, un := range names {
				u := a.Units[un]
				label := un
				if u.Leader {
					label += "*"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", label, u.Workload.Current, u.Agent.Current, u.Address, strings.Join(u.OpenPorts, ","), u.Workload.Message)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(d.Offers) > 0 {
		fmt.Fprintln(w)
		tw = newTabWriter(w)
		fmt.Fprintln(tw, "Offer\tApplication\tCharm\tRev\tConnected\tEndpoint\tInterface\tRole")
		for _, n := range sortedKeys(d.Offers) {
			o := d.Offers[n]
			name, rev := charmNameRev(o.Charm)
			for _, ep := range sortedKeys(o.Endpoints) {
				e := o.Endpoints[ep]
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", n, o.Application, name, rev, o.Active, o.Total, ep, e.Interface, e.Role)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(relations) > 0 {
		renderRelations(w, relations)
	}
	return nil
}

// renderRelations is the Integration section of `status --relations`, sorted by provider
// then requirer; the status and message only show for relations that are not joined.
func renderRelations(w io.Writer, relations []api.RelationStatus) {
	rels := append([]api.RelationStatus(nil), relations...)
	sort.Slice(rels, func(i, j int) bool {
		if rels[i].Provider == rels[j].Provider {
			return rels[i].Requirer < rels[j].Requirer
		}
		return rels[i].Provider < rels[j].Provider
	})
	fmt.Fprintln(w)
	tw := newTabWriter(w)
	fmt.Fprintln(tw, "Integration provider\tRequirer\tInterface\tType\tMessage")
	for _, r := range rels {
		msg := ""
		if r.Status != "joined" {
			msg = strings.TrimSpace(r.Status + " " + r.Message)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Provider, r.Requirer, r.Interface, r.Type, msg)
	}
	_ = tw.Flush()
}

func cmdStatus(ctx context.Context, e *Env, args []string) error {
	var model string
	fs := flags("status", e, &model)
	format := fs.String("format", "tabular", "")
	watch := fs.Duration("watch", 0, "")
	relations := fs.Bool("relations", false, "")
	fs.BoolVar(relations, "integrations", false, "")
	_ = fs.Bool("color", false, "")
	_ = fs.Bool("no-color", false, "")
	_ = fs.Bool("storage", false, "")
	_ = fs.Bool("utc", false, "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	switch *format {
	case "tabular", "json", "yaml", "short", "oneline", "line", "summary":
	default:
		return usagef("invalid value %q for option --format: unknown format %q", *format, *format)
	}
	c := newClient(e)
	once := func() error {
		full, err := c.Status(ctx, model)
		if err != nil {
			return err
		}
		switch *format {
		case "json":
			return jsonOut(e.Stdout, full.Status)
		case "yaml":
			return yamlOut(e.Stdout, full.Status)
		}
		var rels []api.RelationStatus
		if *relations {
			rels = full.Relations
		}
		return renderTabular(e.Stdout, &full.Status, rels)
	}
	if *watch <= 0 {
		return once()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	for {
		fmt.Fprint(e.Stdout, "\033[H\033[2J")
		if err := once(); err != nil {
			return err
		}
		if err := sleepCtx(ctx, *watch); err != nil {
			return nil
		}
	}
}

func cmdShowUnit(ctx context.Context, e *Env, args []string) error {
	var model string
	fs := flags("show-unit", e, &model)
	format := fs.String("format", "yaml", "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() < 1 {
		return usagef("an unit name must be supplied")
	}
	for _, u := range fs.Args() {
		if !validUnitName(u) {
			return usagef("unit name %q not valid", u)
		}
	}
	out, err := newClient(e).ShowUnits(ctx, model, fs.Args())
	if err != nil {
		return err
	}
	return printFormatted(e, *format, out)
}
