package cli

import (
	"context"
	"fmt"
	"sort"

	"github.com/jujulet/postgresql-k8s/internal/controller/api"
)

// offerItem is one offer as `juju offers --format yaml|json` shows it (Juju's
// cmd/juju/crossmodel ListOfferItem, same fields and order).
type offerItem struct {
	Application string                  `json:"application" yaml:"application"`
	Store       string                  `json:"store,omitempty" yaml:"store,omitempty"`
	Charm       string                  `json:"charm,omitempty" yaml:"charm,omitempty"`
	OfferURL    string                  `json:"offer-url" yaml:"offer-url"`
	Endpoints   map[string]api.Endpoint `json:"endpoints" yaml:"endpoints"`
	Connections []offerConnection       `json:"connections,omitempty" yaml:"connections,omitempty"`
	Users       map[string]offerUser    `json:"users,omitempty" yaml:"users,omitempty"`
	connected   []api.OfferConnection   `json:"-" yaml:"-"`
}

type offerConnection struct {
	SourceModelUUID string                `json:"source-model-uuid" yaml:"source-model-uuid"`
	Username        string                `json:"username" yaml:"username"`
	RelationID      int                   `json:"relation-id" yaml:"relation-id"`
	Endpoint        string                `json:"endpoint" yaml:"endpoint"`
	Status          offerConnectionStatus `json:"status" yaml:"status"`
}

type offerConnectionStatus struct {
	Current string `json:"current" yaml:"current"`
}

type offerUser struct {
	DisplayName string `json:"display-name,omitempty" yaml:"display-name,omitempty"`
	Access      string `json:"access" yaml:"access"`
}

// cmdOffers is `juju offers [NAME]`: the model's offers and who is connected to them.
func cmdOffers(ctx context.Context, e *Env, args []string) error {
	var model string
	fs := flags("offers", e, &model)
	format := fs.String("format", "tabular", "")
	app := fs.String("application", "", "")
	iface := fs.String("interface", "", "")
	activeOnly := fs.Bool("active-only", false, "")
	_ = fs.String("allowed-consumer", "", "")
	_ = fs.String("connected-user", "", "")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	switch *format {
	case "tabular", "summary", "yaml", "json":
	default:
		return usagef("invalid value %q for option --format: unknown format %q", *format, *format)
	}
	if fs.NArg() > 1 {
		return usagef("unrecognized args: %q", fs.Args()[1:])
	}
	offers, err := newClient(e).Offers(ctx, model, api.OffersParams{Name: fs.Arg(0)})
	if err != nil {
		return err
	}
	items := map[string]offerItem{}
	for _, o := range offers {
		if *app != "" && o.Application != *app || *activeOnly && len(o.Connections) == 0 {
			continue
		}
		if *iface != "" && !hasInterface(o, *iface) {
			continue
		}
		it := offerItem{Application: o.Application, Store: "jujulet", Charm: o.Charm, OfferURL: o.URL,
			Endpoints: o.Endpoints, connected: o.Connections,
			Users: map[string]offerUser{"admin": {DisplayName: "admin", Access: "admin"}, "everyone@external": {Access: "read"}}}
		for _, c := range o.Connections {
			it.Connections = append(it.Connections, offerConnection{SourceModelUUID: c.SourceModelUUID,
				Username: c.Username, RelationID: c.RelationID, Endpoint: c.Endpoint, Status: offerConnectionStatus{Current: c.Status}})
		}
		items[o.Name] = it
	}
	switch *format {
	case "json":
		return jsonOut(e.Stdout, items)
	case "yaml":
		return yamlOut(e.Stdout, items)
	case "summary":
		return offersSummary(e, items)
	}
	return offersTabular(e, items)
}

func hasInterface(o api.OfferDetails, iface string) bool {
	for _, ep := range o.Endpoints {
		if ep.Interface == iface {
			return true
		}
	}
	return false
}

// offersTabular is Juju's default table: one row per connection.
func offersTabular(e *Env, items map[string]offerItem) error {
	tw := newTabWriter(e.Stdout)
	fmt.Fprintln(tw, "Offer\tUser\tRelation ID\tStatus\tEndpoint\tInterface\tRole\tIngress subnets")
	for _, name := range sortedKeys(items) {
		it := items[name]
		conns := append([]api.OfferConnection(nil), it.connected...)
		sort.Slice(conns, func(i, j int) bool {
			if conns[i].Username != conns[j].Username {
				return conns[i].Username < conns[j].Username
			}
			return conns[i].RelationID < conns[j].RelationID
		})
		if len(conns) == 0 {
			fmt.Fprintf(tw, "%s\t-\t\t\t\t\t\t\n", name)
		}
		for i, c := range conns {
			first := name
			if i > 0 {
				first = ""
			}
			ep := it.Endpoints[c.Endpoint]
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t\n", first, c.Username, c.RelationID, c.Status, c.Endpoint, ep.Interface, ep.Role)
		}
	}
	return tw.Flush()
}

// offersSummary is `juju offers --format summary`: one row per offer endpoint.
func offersSummary(e *Env, items map[string]offerItem) error {
	tw := newTabWriter(e.Stdout)
	fmt.Fprintln(tw, "Offer\tApplication\tCharm\tConnected\tStore\tURL\tEndpoint\tInterface\tRole")
	for _, name := range sortedKeys(items) {
		it := items[name]
		active := 0
		for _, c := range it.connected {
			if c.Status == "joined" {
				active++
			}
		}
		for i, ep := range sortedKeys(it.Endpoints) {
			x := it.Endpoints[ep]
			if i == 0 {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\t%s\n", name, it.Application, it.Charm,
					active, len(it.connected), it.Store, it.OfferURL, ep, x.Interface, x.Role)
				continue
			}
			fmt.Fprintf(tw, "\t\t\t\t\t\t%s\t%s\t%s\n", ep, x.Interface, x.Role)
		}
	}
	return tw.Flush()
}
