package hooktools

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/juju/cmd/v3"
	"github.com/juju/gnuflag"
	goyaml "gopkg.in/yaml.v2"
)

var (
	secretKeyRE  = regexp.MustCompile(`^([a-z](?:-?[a-z0-9]){2,})$`)
	secretIDRE   = regexp.MustCompile(`^[0-9a-v]{20}$`)
	secretUUIDRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

var rotatePolicies = []string{"never", "hourly", "daily", "weekly", "monthly", "quarterly", "yearly"}

// secretRef is a parsed secret URI.
type secretRef struct {
	SourceUUID string // model uuid, may be empty
	ID         string // 20-char xid
}

// String is the form the Context receives: "secret://<uuid>/<xid>" when the URI
// named a model, else the bare xid.
func (r secretRef) String() string {
	if r.SourceUUID != "" {
		return "secret://" + r.SourceUUID + "/" + r.ID
	}
	return r.ID
}

// parseSecretURI accepts "secret://<uuid>/<xid>", "secret:<xid>" and "<xid>".
func parseSecretURI(s string) (secretRef, error) {
	u, err := url.Parse(s)
	if err != nil {
		return secretRef{}, fmt.Errorf("secret URI %q not valid", s)
	}
	if u.Scheme != "" && u.Scheme != "secret" {
		return secretRef{}, fmt.Errorf("secret URI scheme %q not valid", u.Scheme)
	}
	if u.Host != "" && !secretUUIDRE.MatchString(u.Host) {
		return secretRef{}, fmt.Errorf("host controller UUID %q not valid", u.Host)
	}
	id := strings.TrimLeft(u.Path, "/")
	if id == "" {
		id = u.Opaque
	}
	src := u.Host
	if a, b, ok := strings.Cut(id, "/"); ok && secretUUIDRE.MatchString(a) {
		src, id = a, b
	}
	if !isSecretXID(id) {
		return secretRef{}, fmt.Errorf("secret URI %q not valid", s)
	}
	return secretRef{SourceUUID: src, ID: id}, nil
}

// isSecretXID reports whether id is an xid as Juju parses one: 20 base32hex characters
// encoding 12 bytes. The last character carries one bit of them, so its low four bits must
// be zero: it is '0' or 'g'.
func isSecretXID(id string) bool {
	return secretIDRE.MatchString(id) && (id[19] == '0' || id[19] == 'g')
}

// secretIDOf extracts the xid of a full URI (for display keys); anything else is returned as is.
func secretIDOf(uri string) string {
	if r, err := parseSecretURI(uri); err == nil {
		return r.ID
	}
	return uri
}

// dirSetter is implemented by tools that resolve relative paths in Init.
type dirSetter interface{ setDir(string) }

// secretUpsert holds what secret-add and secret-set share.
type secretUpsert struct {
	cmdBase
	hc          Context
	dir         string
	owner       string
	rotate      string
	description string
	label       string
	fileName    string
	expireSpec  string
	expireTime  time.Time
	data        map[string]string // plain text values
}

func (c *secretUpsert) setDir(d string) { c.dir = d }

func (c *secretUpsert) abs(p string) string {
	if strings.HasPrefix(p, "~") || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

func (c *secretUpsert) SetFlags(f *gnuflag.FlagSet) {
	f.StringVar(&c.expireSpec, "expire", "", "either a duration or time when the secret should expire")
	f.StringVar(&c.rotate, "rotate", "", "the secret rotation policy")
	f.StringVar(&c.description, "description", "", "the secret description")
	f.StringVar(&c.label, "label", "", "a label used to identify the secret in hooks")
	f.StringVar(&c.fileName, "file", "", "a YAML file containing secret key values")
	f.StringVar(&c.owner, "owner", "application", "the owner of the secret, either the application or unit")
}

func (c *secretUpsert) Init(args []string) error {
	if c.expireSpec != "" {
		t, err := time.Parse(time.RFC3339, c.expireSpec)
		if err != nil {
			t, err = time.Parse("2006-01-02T15:04:05", c.expireSpec)
		}
		if err != nil {
			d, derr := time.ParseDuration(c.expireSpec)
			if derr != nil {
				return fmt.Errorf("expire time or duration %q not valid", c.expireSpec)
			}
			if d <= 0 {
				return fmt.Errorf("negative expire duration %q not valid", c.expireSpec)
			}
			t = time.Now().Add(d)
		}
		c.expireTime = t.UTC()
	}
	if c.rotate != "" {
		ok := false
		for _, p := range rotatePolicies {
			ok = ok || p == c.rotate
		}
		if !ok {
			return fmt.Errorf("rotate policy %q not valid", c.rotate)
		}
	}
	if c.owner != "application" && c.owner != "unit" {
		return fmt.Errorf("secret owner %q not valid", c.owner)
	}
	data, err := c.argsData(args)
	if err != nil {
		return err
	}
	if c.fileName != "" {
		fromFile, err := c.fileData(c.fileName)
		if err != nil {
			return err
		}
		for k, v := range fromFile {
			data[k] = v
		}
	}
	c.data = data
	return nil
}

// argsData parses key=value, key#base64=value and key#file=path arguments.
func (c *secretUpsert) argsData(args []string) (map[string]string, error) {
	raw := map[string]string{}
	for _, a := range args {
		// base64 padding may end the value: ignore trailing '=' when looking for the separator.
		idx := strings.Index(strings.TrimRight(a, "="), "=")
		if idx < 1 {
			return nil, fmt.Errorf("key value %q not valid", a)
		}
		k, v := a[:idx], a[idx+1:]
		if strings.HasSuffix(k, "#file") {
			k = strings.TrimSuffix(k, "#file")
			content, err := os.ReadFile(c.abs(v))
			if err != nil {
				return nil, err
			}
			v = string(content)
		}
		raw[k] = v
	}
	return decodeSecretData(raw)
}

// fileData reads a YAML or JSON map of secret values.
func (c *secretUpsert) fileData(name string) (map[string]string, error) {
	b, err := os.ReadFile(c.abs(name))
	if err != nil {
		return nil, err
	}
	attrs := map[string]string{}
	if err := json.Unmarshal(b, &attrs); err != nil {
		attrs = map[string]string{}
		if err := goyaml.Unmarshal(b, &attrs); err != nil {
			return nil, err
		}
	}
	return decodeSecretData(attrs)
}

// decodeSecretData validates keys and resolves key#base64 values to plain text.
func decodeSecretData(in map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(in))
	for k, v := range in {
		if strings.HasSuffix(k, "#base64") {
			k = strings.TrimSuffix(k, "#base64")
			if !secretKeyRE.MatchString(k) {
				return nil, fmt.Errorf("key %q not valid", k)
			}
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return nil, fmt.Errorf("base64 value of key %q not valid", k)
			}
			out[k] = string(b)
			continue
		}
		if !secretKeyRE.MatchString(k) {
			return nil, fmt.Errorf("key %q not valid", k)
		}
		out[k] = v
	}
	return out, nil
}

func (c *secretUpsert) args() SecretArgs {
	a := SecretArgs{}
	if len(c.data) > 0 {
		a.Content = c.data
	}
	if c.rotate != "" {
		r := c.rotate
		a.Rotate = &r
	}
	if !c.expireTime.IsZero() {
		t := c.expireTime
		a.Expire = &t
	}
	if c.description != "" {
		d := c.description
		a.Description = &d
	}
	if c.label != "" {
		l := c.label
		a.Label = &l
	}
	return a
}

// secret-add

type secretAddCmd struct{ secretUpsert }

func (c *secretAddCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "secret-add",
		Args:    "[key[#base64|#file]=value...]",
		Purpose: "Add a new secret.",
		Doc: `
Add a secret with a list of key values.

If a key has the '#base64' suffix, the value is already in base64 format and no
encoding will be performed, otherwise the value will be base64 encoded
prior to being stored.

If a key has the '#file' suffix, the value is read from the corresponding file.

By default, a secret is owned by the application, meaning only the unit
leader can manage it. Use "--owner unit" to create a secret owned by the
specific unit which created it.
`,
	})
}

func (c *secretAddCmd) Init(args []string) error {
	if len(args) < 1 && c.fileName == "" {
		return errors.New("missing secret value or filename")
	}
	return c.secretUpsert.Init(args)
}

func (c *secretAddCmd) Run(ctx *cmd.Context) error {
	a := c.args()
	if len(a.Content) == 0 {
		return errors.New("empty secret value not valid")
	}
	a.Owner = c.owner
	uri, err := c.hc.AddSecret(a)
	if err != nil {
		return leaderErr(err)
	}
	fmt.Fprintln(ctx.Stdout, uri)
	return nil
}

// secret-set

type secretSetCmd struct {
	secretUpsert
	ref secretRef
}

func (c *secretSetCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "secret-set",
		Args:    "<ID> [key[#base64]=value...]",
		Purpose: "Update an existing secret.",
		Doc: `
Update a secret with a list of key values, or set new metadata.
If a value has the '#base64' suffix, it is already in base64 format and no
encoding will be performed, otherwise the value will be base64 encoded
prior to being stored.
To just update selected metadata like rotate policy, do not specify any secret value.
`,
	})
}

func (c *secretSetCmd) Init(args []string) (err error) {
	if len(args) < 1 {
		return errors.New("missing secret URI")
	}
	if c.ref, err = parseSecretURI(args[0]); err != nil {
		return err
	}
	return c.secretUpsert.Init(args[1:])
}

func (c *secretSetCmd) Run(ctx *cmd.Context) error {
	return secretErr(c.hc.UpdateSecret(c.ref.String(), c.args()), c.ref.ID)
}

// secretErr gives the Context's sentinel errors Juju's wording.
func secretErr(err error, want string) error {
	if errors.Is(err, ErrSecretNotFound) {
		return fmt.Errorf("secret %q not found", want)
	}
	return leaderErr(err)
}

// secret-get

type secretGetCmd struct {
	cmdBase
	hc      Context
	ref     *secretRef
	label   string
	key     string
	peek    bool
	refresh bool
	out     cmd.Output
}

func (c *secretGetCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "secret-get",
		Args:    "<ID> [key[#base64]]",
		Purpose: "Get the content of a secret.",
		Doc: `
Get the content of a secret with a given secret ID.
The first time the value is fetched, the latest revision is used.
Subsequent calls will always return this same revision unless
--peek or --refresh are used.
Using --peek will fetch the latest revision just this time.
Using --refresh will fetch the latest revision and continue to
return the same revision next time unless --peek or --refresh is used.

Either the ID or label can be used to identify the secret.
`,
	})
}

func (c *secretGetCmd) SetFlags(f *gnuflag.FlagSet) {
	c.out.AddFlags(f, "yaml", yamlJSONFormatters())
	f.StringVar(&c.label, "label", "", "a label used to identify the secret in hooks")
	f.BoolVar(&c.peek, "peek", false, "get the latest revision just this time")
	f.BoolVar(&c.refresh, "refresh", false, "get the latest revision and also get this same revision for subsequent calls")
}

func (c *secretGetCmd) Init(args []string) error {
	if len(args) > 0 {
		r, err := parseSecretURI(args[0])
		if err != nil {
			return fmt.Errorf("secret URI %q not valid", args[0])
		}
		c.ref = &r
		args = args[1:]
	}
	if c.ref == nil && c.label == "" {
		return errors.New("require either a secret URI or label")
	}
	if c.peek && c.refresh {
		return errors.New("specify one of --peek or --refresh but not both")
	}
	if len(args) > 0 {
		c.key = args[0]
		return cmd.CheckEmpty(args[1:])
	}
	return nil
}

func (c *secretGetCmd) Run(ctx *cmd.Context) error {
	ga := SecretGetArgs{Label: c.label, Peek: c.peek, Refresh: c.refresh}
	want := c.label
	if c.ref != nil {
		ga.URI = c.ref.String()
		want = c.ref.ID
	}
	values, err := c.hc.GetSecret(ga)
	if err != nil {
		return secretErr(err, want)
	}
	if values == nil {
		values = map[string]string{}
	}
	if c.key == "" {
		return c.out.Write(ctx, values)
	}
	key, b64 := strings.CutSuffix(c.key, "#base64")
	v, ok := values[key]
	if !ok {
		return fmt.Errorf("secret key value %q not found", key)
	}
	if b64 {
		v = base64.StdEncoding.EncodeToString([]byte(v))
	}
	return c.out.Write(ctx, v)
}

// secret-grant / secret-revoke

type secretGrantCmd struct {
	cmdBase
	hc      Context
	revoke  bool
	ref     secretRef
	app     string
	unit    string
	relID   int
	relFlag *relationIDValue
}

func newSecretGrant(hc Context) *secretGrantCmd {
	c := &secretGrantCmd{hc: hc}
	c.relFlag = newRelationIDValue(hc, &c.relID)
	return c
}

func newSecretRevoke(hc Context) *secretGrantCmd {
	c := newSecretGrant(hc)
	c.revoke = true
	return c
}

func (c *secretGrantCmd) Info() *cmd.Info {
	if c.revoke {
		return info(cmd.Info{
			Name:    "secret-revoke",
			Args:    "<ID>",
			Purpose: "Revoke access to a secret.",
			Doc:     "\nRevoke access to view the value of a specified secret.\nAccess may be revoked from an application (all units of\nthat application lose access), or from a specified unit.\nIf run in a relation hook, the related application's \naccess is revoked, unless a uni is specified, in which\ncase just that unit's access is revoked.'\n",
		})
	}
	return info(cmd.Info{
		Name:    "secret-grant",
		Args:    "<ID>",
		Purpose: "Grant access to a secret.",
		Doc: `
Grant access to view the value of a specified secret.
Access is granted in the context of a relation - unless revoked
earlier, once the relation is removed, so too is the access grant.

By default, all units of the related application are granted access.
Optionally specify a unit name to limit access to just that unit.
`,
	})
}

func (c *secretGrantCmd) SetFlags(f *gnuflag.FlagSet) {
	if c.revoke {
		f.StringVar(&c.app, "app", "", "the application to revoke access")
		f.StringVar(&c.app, "application", "", "the application to revoke access")
		f.StringVar(&c.unit, "unit", "", "the unit to revoke access")
		f.Var(c.relFlag, "r", "the relation for which to revoke the grant")
		f.Var(c.relFlag, "relation", "the relation for which to revoke the grant")
		return
	}
	f.StringVar(&c.unit, "unit", "", "the unit to grant access")
	f.Var(c.relFlag, "r", "the relation with which to associate the grant")
	f.Var(c.relFlag, "relation", "the relation with which to associate the grant")
}

func (c *secretGrantCmd) Init(args []string) (err error) {
	if len(args) < 1 {
		return errors.New("missing secret URI")
	}
	if c.ref, err = parseSecretURI(args[0]); err != nil {
		return err
	}
	if c.revoke {
		return c.initRevoke(args[1:])
	}
	if c.relID == -1 {
		return errors.New("no relation id specified")
	}
	remote, err := c.hc.RelationRemoteApp(c.relID)
	if err != nil {
		return err
	}
	if c.unit != "" {
		if !isValidUnit(c.unit) {
			return fmt.Errorf("unit %q not valid", c.unit)
		}
		if unitApplication(c.unit) != remote {
			return fmt.Errorf("cannot specify unit %q in relation to application %q", c.unit, remote)
		}
	}
	return cmd.CheckEmpty(args[1:])
}

func (c *secretGrantCmd) initRevoke(rest []string) error {
	if c.app != "" && !isValidApplication(c.app) {
		return fmt.Errorf("application %q not valid", c.app)
	}
	if c.unit != "" && !isValidUnit(c.unit) {
		return fmt.Errorf("unit %q not valid", c.unit)
	}
	if c.app != "" && c.unit != "" {
		return errors.New("specify only one of application or unit")
	}
	if c.relID >= 0 {
		remote, err := c.hc.RelationRemoteApp(c.relID)
		if err != nil {
			return err
		}
		if c.app != "" {
			return errors.New("do not specify both relation and app")
		}
		c.app = remote
	}
	if c.app == "" && c.unit == "" {
		return errors.New("missing relation or application or unit")
	}
	return cmd.CheckEmpty(rest)
}

func (c *secretGrantCmd) Run(ctx *cmd.Context) error {
	if !c.revoke {
		return secretErr(c.hc.GrantSecret(c.ref.String(), c.relID, c.unit), c.ref.ID)
	}
	// RevokeSecret: the relation (and maybe one unit of it), else one unit, else a
	// whole application named in place of the unit.
	target := c.unit
	if c.relID < 0 && target == "" {
		target = c.app
	}
	return secretErr(c.hc.RevokeSecret(c.ref.String(), c.relID, target), c.ref.ID)
}

// secret-remove

type secretRemoveCmd struct {
	cmdBase
	hc       Context
	ref      secretRef
	revision int
}

func (c *secretRemoveCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "secret-remove",
		Args:    "<ID>",
		Purpose: "Remove an existing secret.",
		Doc:     "\nRemove a secret with the specified URI.\n",
	})
}

func (c *secretRemoveCmd) SetFlags(f *gnuflag.FlagSet) {
	f.IntVar(&c.revision, "revision", 0, "remove the specified revision")
}

func (c *secretRemoveCmd) Init(args []string) (err error) {
	if len(args) < 1 {
		return errors.New("missing secret URI")
	}
	if c.ref, err = parseSecretURI(args[0]); err != nil {
		return err
	}
	return cmd.CheckEmpty(args[1:])
}

func (c *secretRemoveCmd) Run(ctx *cmd.Context) error {
	var rev *int
	if c.revision > 0 {
		r := c.revision
		rev = &r
	}
	return secretErr(c.hc.RemoveSecret(c.ref.String(), rev), c.ref.ID)
}

// secret-ids

type secretIDsCmd struct {
	cmdBase
	hc  Context
	out cmd.Output
}

func (c *secretIDsCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "secret-ids",
		Purpose: "Print secret IDs.",
		Doc:     "\nReturns the secret ids for secrets owned by the application.\n",
	})
}

func (c *secretIDsCmd) SetFlags(f *gnuflag.FlagSet) {
	c.out.AddFlags(f, "smart", smartFormatters())
}

func (c *secretIDsCmd) Run(ctx *cmd.Context) error {
	ids, err := c.hc.SecretIDs()
	if err != nil {
		return err
	}
	var out []string
	for _, id := range ids {
		out = append(out, secretIDOf(id))
	}
	sort.Strings(out)
	return c.out.Write(ctx, out)
}

// secret-info-get

type secretInfoGetCmd struct {
	cmdBase
	hc    Context
	ref   *secretRef
	label string
	out   cmd.Output
}

func (c *secretInfoGetCmd) Info() *cmd.Info {
	return info(cmd.Info{
		Name:    "secret-info-get",
		Args:    "<ID>",
		Purpose: "Get a secret's metadata info.",
		Doc:     "\nGet the metadata of a secret with a given secret ID.\nEither the ID or label can be used to identify the secret.\n",
	})
}

func (c *secretInfoGetCmd) SetFlags(f *gnuflag.FlagSet) {
	c.out.AddFlags(f, "yaml", yamlJSONFormatters())
	f.StringVar(&c.label, "label", "", "a label used to identify the secret")
}

func (c *secretInfoGetCmd) Init(args []string) error {
	if len(args) > 0 {
		r, err := parseSecretURI(args[0])
		if err != nil {
			return fmt.Errorf("secret URI %q not valid", args[0])
		}
		c.ref = &r
		args = args[1:]
	}
	if c.ref == nil && c.label == "" {
		return errors.New("require either a secret URI or label")
	}
	if c.ref != nil && c.label != "" {
		return errors.New("specify either a secret URI or label but not both")
	}
	return cmd.CheckEmpty(args)
}

type secretMetadataDisplay struct {
	Revision    int                   `yaml:"revision" json:"revision"`
	Label       string                `yaml:"label" json:"label"`
	Owner       string                `yaml:"owner" json:"owner"`
	Description string                `yaml:"description,omitempty" json:"description,omitempty"`
	Rotation    string                `yaml:"rotation,omitempty" json:"rotation,omitempty"`
	Expiry      *time.Time            `yaml:"expiry,omitempty" json:"expiry,omitempty"`
	Access      []secretAccessDisplay `yaml:"access,omitempty" json:"access,omitempty"`
}

type secretAccessDisplay struct {
	Target string `yaml:"target" json:"target"`
	Scope  string `yaml:"scope" json:"scope"`
	Role   string `yaml:"role" json:"role"`
}

func (c *secretInfoGetCmd) Run(ctx *cmd.Context) error {
	uri, want := "", c.label
	if c.ref != nil {
		uri, want = c.ref.String(), c.ref.ID
	}
	mds, err := c.hc.SecretInfo(uri, c.label)
	if err != nil && !errors.Is(err, ErrSecretNotFound) {
		return err
	}
	for _, md := range mds {
		id := secretIDOf(md.URI)
		if c.ref != nil && id != c.ref.ID {
			continue
		}
		if c.ref == nil && md.Label != c.label {
			continue
		}
		d := secretMetadataDisplay{
			Revision: md.Revision, Label: md.Label, Owner: md.Owner,
			Description: md.Description, Rotation: md.Rotation, Expiry: md.Expiry,
		}
		for _, a := range md.Access {
			d.Access = append(d.Access, secretAccessDisplay(a))
		}
		return c.out.Write(ctx, map[string]secretMetadataDisplay{id: d})
	}
	return fmt.Errorf("secret %q not found", want)
}
