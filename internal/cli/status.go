package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/controller/api"
	"github.com/jujulet/postgresql-k8s/internal/controller/client"
)

type statusValue struct {
	Current string `json:"current"`
	Message string `json:"message"`
	Since   string `json:"since"`
}

type unitDoc struct {
	WorkloadStatus statusValue `json:"workload-status"`
	JujuStatus     statusValue `json:"juju-status"`
	Leader         bool        `json:"leader"`
	Address        string      `json:"address"`
	OpenPorts      []string    `json:"open-ports"`
}

type appDoc struct {
	Charm        string             `json:"charm"`
	CharmChannel string             `json:"charm-channel"`
	CharmRev     int                `json:"charm-rev"`
	Version      string             `json:"version"`
	Scale        int                `json:"scale"`
	Life         string             `json:"life"`
	AppStatus    statusValue        `json:"application-status"`
	Units        map[string]unitDoc `json:"units"`
	Relations    map[string][]struct {
		Related   string `json:"related-application"`
		Interface string `json:"interface"`
	} `json:"relations"`
}

type statusDoc struct {
	Model struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"model"`
	Applications map[string]appDoc `json:"applications"`
	SAAS         map[string]struct {
		URL       string      `json:"url"`
		AppStatus statusValue `json:"application-status"`
	} `json:"application-endpoints"`
	Offers map[string]struct {
		Application string `json:"application"`
		Charm       string `json:"charm"`
		Total       int    `json:"total-connected-count"`
		Active      int    `json:"active-connected-count"`
		Endpoints   map[string]struct {
			Interface string `json:"interface"`
			Role      string `json:"role"`
		} `json:"endpoints"`
	} `json:"offers"`
}

// fetchStatus reads a model's status and decodes the parts the CLI looks at.
func fetchStatus(ctx context.Context, c *client.Client, model string) (*statusDoc, error) {
	raw, err := c.Status(ctx, model)
	if err != nil {
		return nil, err
	}
	return decodeStatus(raw)
}

// decodeStatus decodes the parts of a status document the CLI looks at.
func decodeStatus(raw api.Status) (*statusDoc, error) {
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("encoding status: %w", err)
	}
	var d statusDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("decoding status: %w", err)
	}
	return &d, nil
}

func jsonOut(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

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

func renderTabular(w io.Writer, d *statusDoc) {
	tw := tabwriter.NewWriter(w, 0, 1, 2, ' ', 0)
	fmt.Fprintln(tw, "Model\tController\tCloud/Region\tVersion\tSLA\tTimestamp")
	fmt.Fprintf(tw, "%s\tjujulet\tjujulet/localhost\t%s\tunsupported\t%s\n", d.Model.Name, d.Model.Version, time.Now().Format("15:04:05Z07:00"))
	tw.Flush()
	if len(d.SAAS) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 1, 2, ' ', 0)
		fmt.Fprintln(tw, "SAAS\tStatus\tStore\tURL")
		for _, n := range sortedKeys(d.SAAS) {
			s := d.SAAS[n]
			fmt.Fprintf(tw, "%s\t%s\tlocal\t%s\n", n, s.AppStatus.Current, s.URL)
		}
		tw.Flush()
	}
	if len(d.Applications) == 0 && len(d.SAAS) == 0 {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Model %q is empty.\n", "admin/"+d.Model.Name)
		return
	}
	if len(d.Applications) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 1, 2, ' ', 0)
		fmt.Fprintln(tw, "App\tVersion\tStatus\tScale\tCharm\tChannel\tRev\tAddress\tExposed\tMessage")
		for _, n := range sortedKeys(d.Applications) {
			a := d.Applications[n]
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%d\t\tno\t%s\n", n, a.Version, a.AppStatus.Current, a.Scale, a.Charm, a.CharmChannel, a.CharmRev, a.AppStatus.Message)
		}
		tw.Flush()
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 1, 2, ' ', 0)
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
				msg := u.WorkloadStatus.Message
				if u.JujuStatus.Current == "error" {
					msg = u.JujuStatus.Message
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", label, u.WorkloadStatus.Current, u.JujuStatus.Current, u.Address, strings.Join(u.OpenPorts, ","), msg)
			}
		}
		tw.Flush()
	}
	if len(d.Offers) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 1, 2, ' ', 0)
		fmt.Fprintln(tw, "Offer\tApplication\tCharm\tRev\tConnected\tEndpoint\tInterface\tRole")
		for _, n := range sortedKeys(d.Offers) {
			o := d.Offers[n]
			for _, ep := range sortedKeys(o.Endpoints) {
				e := o.Endpoints[ep]
				rev := 0
				if a, ok := d.Applications[o.Application]; ok {
					rev = a.CharmRev
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d/%d\t%s\t%s\t%s\n", n, o.Application, strings.TrimPrefix(o.Charm, "local:"), rev, o.Active, o.Total, ep, e.Interface, e.Role)
			}
		}
		tw.Flush()
	}
}

func cmdStatus(ctx context.Context, e *Env, args []string) error {
	var model string
	fs := flags("status", e, &model)
	format := fs.String("format", "tabular", "")
	watch := fs.Duration("watch", 0, "")
	_ = fs.Bool("relations", false, "")
	_ = fs.Bool("color", false, "")
	_ = fs.Bool("no-color", false, "")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch *format {
	case "tabular", "json", "yaml", "short", "oneline", "line":
	default:
		return usagef("invalid value %q for option --format: unknown format %q", *format, *format)
	}
	c := newClient(e)
	once := func() error {
		raw, err := c.Status(ctx, model)
		if err != nil {
			return err
		}
		switch *format {
		case "json":
			return jsonOut(e.Stdout, raw)
		case "yaml":
			b, err := yamlMarshal(raw)
			if err != nil {
				return err
			}
			_, err = e.Stdout.Write(b)
			return err
		}
		d, err := decodeStatus(raw)
		if err != nil {
			return err
		}
		renderTabular(e.Stdout, d)
		return nil
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
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() < 1 {
		return usagef("an unit name must be supplied")
	}
	out, err := newClient(e).ShowUnits(ctx, model, fs.Args())
	if err != nil {
		return err
	}
	return printFormatted(e, *format, out)
}
