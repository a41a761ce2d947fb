package postgres

import (
	"context"
	"fmt"
	"net"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/canonical/pebble/client"
	"github.com/jujulet/postgresql-k8s/internal/pki"
)

// ConfFile is the include file the charm renders in PGDATA (postgresql.conf includes it).
const ConfFile = "postgresql.charm.conf"

// Upstream is a server to replicate from (or rewind against).
type Upstream struct {
	Host     string
	Port     int
	User     string
	Slot     string // primary_slot_name (standbys); "" for none
	AppName  string // application_name reported in pg_stat_replication
	DBName   string // for pg_rewind's source (default postgres)
	Passfile string // host path of the passfile (set by the Workload)
	// Remote: the upstream is the other cluster's server, verified with the other cluster's
	// CA (RemoteCAFile) instead of this cluster's (CAFile).
	Remote bool
	// RootCert is the host path of the CA file the server is verified with (set by the
	// Workload from Remote).
	RootCert string
}

// ConnInfo renders a libpq connection string (no password: the passfile holds it). The
// server is always verified: verify-ca or verify-full (pki.ModeFor) against RootCert.
func (u Upstream) ConnInfo() string {
	port := u.Port
	if port == 0 {
		port = DefaultPort
	}
	parts := []string{"host=" + quoteConnValue(u.Host), "port=" + strconv.Itoa(port), "user=" + quoteConnValue(u.User)}
	if u.DBName != "" {
		parts = append(parts, "dbname="+quoteConnValue(u.DBName))
	}
	if u.AppName != "" {
		parts = append(parts, "application_name="+quoteConnValue(u.AppName))
	}
	if u.Passfile != "" {
		parts = append(parts, "passfile="+quoteConnValue(u.Passfile))
	}
	parts = append(parts, "connect_timeout=5")
	if u.RootCert != "" {
		parts = append(parts, sslParams(u.Host, u.RootCert)...)
	} else {
		// No CA given: libpq's default root.crt, which the charm never writes, so the
		// connection fails rather than going unverified.
		parts = append(parts, "sslmode="+string(pki.ModeFor(u.Host)))
	}
	return strings.Join(parts, " ")
}

// withFiles returns up with the passfile and CA file of this workload (host paths).
func (w *Workload) withFiles(up Upstream) Upstream {
	up.Passfile = w.Host(w.PassfilePath())
	ca := CAFile
	if up.Remote {
		ca = RemoteCAFile
	}
	up.RootCert = w.Host(w.TLSPath(ca))
	return up
}

func quoteConnValue(v string) string {
	if v != "" && !strings.ContainsAny(v, " '\\") {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// Settings is what the charm decides about postgresql.conf. Zero values keep PostgreSQL's
// defaults where that makes sense.
type Settings struct {
	ClusterName             string
	MaxConnections          int
	SharedBuffersMB         int
	EffectiveCacheSizeMB    int
	WorkMemKB               int
	MaintenanceWorkMemKB    int
	SynchronousCommit       string
	LogMinDurationStatement int // -1 disables
	WALKeepSizeMB           int
	// MaxSlotWALKeepSizeMB bounds the WAL replication slots may hold back (0: PostgreSQL's
	// default, unbounded): a consumer that falls further behind loses its slot and must be
	// re-seeded, instead of the slot filling the disk.
	MaxSlotWALKeepSizeMB int
	TimeZone             string
	// SynchronousStandbyNames is rendered as is (SyncStandbyNames builds it); "" is
	// asynchronous replication.
	SynchronousStandbyNames string
	// Upstream, when set, makes a standby follow it (primary_conninfo, primary_slot_name).
	Upstream *Upstream
	// TLS serves TLS (ssl = on) with the files PlaceTLS wrote, and verifies client
	// certificates against ClientCAFile.
	TLS bool
	// Extra settings (already valid PostgreSQL values, quoted by the renderer).
	Extra map[string]string
}

func quoteConf(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }

// SyncStandbyNames renders a synchronous_standby_names value over standby names (the
// application_name each standby reports, here its slot name): with anyOne, a commit waits for
// any one of them (ANY 1); otherwise for every one of them (FIRST n over n names), so that each
// listed standby is known to have every acknowledged commit. No names: "" (asynchronous).
func SyncStandbyNames(names []string, anyOne bool) string {
	if len(names) == 0 {
		return ""
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = `"` + strings.ReplaceAll(n, `"`, `""`) + `"`
	}
	num, method := len(names), "FIRST"
	if anyOne {
		num, method = 1, "ANY"
	}
	return fmt.Sprintf("%s %d (%s)", method, num, strings.Join(quoted, ", "))
}

// RenderConf renders the charm's include file for a server listening on addr:port.
func (w *Workload) RenderConf(s Settings) string {
	kv := map[string]string{
		"listen_addresses":             quoteConf(w.Addr),
		"port":                         strconv.Itoa(w.Port),
		"unix_socket_directories":      "''", // TCP only: no socket path length limits
		"password_encryption":          "'scram-sha-256'",
		"wal_level":                    "replica",
		"wal_log_hints":                "on", // pg_rewind
		"max_wal_senders":              "16",
		"max_replication_slots":        "16",
		"hot_standby":                  "on",
		"hot_standby_feedback":         "on",
		"recovery_target_timeline":     "'latest'",
		"wal_receiver_status_interval": "1s",
		// A replica whose upstream switched timeline reconnects after this; the default 5 s
		// leaves replicas behind after every switchover.
		"wal_retrieve_retry_interval": "1s",
		"wal_sender_timeout":          "30s",
		"logging_collector":           "off",
		"log_line_prefix":             quoteConf("%m [%p] %q%u@%d "),
		"log_min_duration_statement":  strconv.Itoa(s.LogMinDurationStatement),
		// Always rendered, so that "" really turns synchronous replication off.
		"synchronous_standby_names": quoteConf(s.SynchronousStandbyNames),
	}
	if s.ClusterName != "" {
		kv["cluster_name"] = quoteConf(s.ClusterName)
	}
	if s.MaxConnections > 0 {
		kv["max_connections"] = strconv.Itoa(s.MaxConnections)
	}
	if s.SharedBuffersMB > 0 {
		kv["shared_buffers"] = strconv.Itoa(s.SharedBuffersMB) + "MB"
	}
	if s.EffectiveCacheSizeMB > 0 {
		kv["effective_cache_size"] = strconv.Itoa(s.EffectiveCacheSizeMB) + "MB"
	}
	if s.WorkMemKB > 0 {
		kv["work_mem"] = strconv.Itoa(s.WorkMemKB) + "kB"
	}
	if s.MaintenanceWorkMemKB > 0 {
		kv["maintenance_work_mem"] = strconv.Itoa(s.MaintenanceWorkMemKB) + "kB"
	}
	if s.SynchronousCommit != "" {
		kv["synchronous_commit"] = quoteConf(s.SynchronousCommit)
	}
	if s.WALKeepSizeMB > 0 {
		kv["wal_keep_size"] = strconv.Itoa(s.WALKeepSizeMB) + "MB"
	}
	if s.MaxSlotWALKeepSizeMB > 0 {
		kv["max_slot_wal_keep_size"] = strconv.Itoa(s.MaxSlotWALKeepSizeMB) + "MB"
	}
	if s.TimeZone != "" {
		kv["timezone"] = quoteConf(s.TimeZone)
	}
	if s.TLS {
		kv["ssl"] = "on"
		kv["ssl_cert_file"] = quoteConf(w.Host(w.TLSPath(ServerCertFile)))
		kv["ssl_key_file"] = quoteConf(w.Host(w.TLSPath(ServerKeyFile)))
		kv["ssl_ca_file"] = quoteConf(w.Host(w.TLSPath(ClientCAFile)))
		kv["ssl_min_protocol_version"] = "'TLSv1.2'"
	}
	if u := s.Upstream; u != nil {
		u2 := w.withFiles(*u)
		kv["primary_conninfo"] = quoteConf(u2.ConnInfo())
		if u.Slot != "" {
			kv["primary_slot_name"] = quoteConf(u.Slot)
		}
	}
	for k, v := range s.Extra {
		kv[k] = quoteConf(v)
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# Rendered by the postgresql-k8s charm; changes are overwritten.\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, kv[k])
	}
	return b.String()
}

// WriteConf renders the include file into PGDATA and makes sure postgresql.conf includes it.
// It reports whether the include file changed.
func (w *Workload) WriteConf(ctx context.Context, s Settings) (changed bool, err error) {
	data := w.RenderConf(s)
	p := path.Join(w.PGData(), ConfFile)
	main := path.Join(w.PGData(), "postgresql.conf")
	// Both files are read at once (writing the first does not change the second).
	var conf []byte
	var mainErr error
	mainRead := make(chan struct{})
	go func() {
		defer close(mainRead)
		conf, mainErr = w.ReadFile(ctx, main)
	}()
	old, err := w.ReadFile(ctx, p)
	<-mainRead
	if err == nil && string(old) == data {
		changed = false
	} else {
		if err := w.WriteFile(ctx, p, []byte(data), 0o600); err != nil {
			return false, err
		}
		changed = true
	}
	if mainErr != nil {
		return changed, mainErr
	}
	include := "include_if_exists = '" + ConfFile + "'"
	if !strings.Contains(string(conf), include) {
		conf = append(conf, []byte("\n# Added by the postgresql-k8s charm: keep last.\n"+include+"\n")...)
		if err := w.WriteFile(ctx, main, conf, 0o600); err != nil {
			return changed, err
		}
		changed = true
	}
	return changed, nil
}

// HBARule is one pg_hba.conf line.
type HBARule struct {
	Type     string // host, hostssl, local
	Database string // all, replication, postgres...
	User     string
	Address  string // CIDR, e.g. 10.1.2.3/32 or 0.0.0.0/0
	Method   string // scram-sha-256, reject...
}

// RenderHBA renders pg_hba.conf from rules, in order.
func RenderHBA(rules []HBARule) string {
	var b strings.Builder
	b.WriteString("# Rendered by the postgresql-k8s charm; changes are overwritten.\n")
	b.WriteString("# TYPE  DATABASE  USER  ADDRESS  METHOD\n")
	for _, r := range rules {
		if r.Type == "local" {
			fmt.Fprintf(&b, "%s %s %s %s\n", r.Type, r.Database, r.User, r.Method)
			continue
		}
		fmt.Fprintf(&b, "%s %s %s %s %s\n", r.Type, r.Database, r.User, r.Address, r.Method)
	}
	return b.String()
}

// WriteHBA writes pg_hba.conf into PGDATA and reports whether it changed.
func (w *Workload) WriteHBA(ctx context.Context, rules []HBARule) (bool, error) {
	data := RenderHBA(rules)
	p := path.Join(w.PGData(), "pg_hba.conf")
	if old, err := w.ReadFile(ctx, p); err == nil && string(old) == data {
		return false, nil
	}
	return true, w.WriteFile(ctx, p, []byte(data), 0o600)
}

// PassEntry is one line of the libpq passfile.
type PassEntry struct {
	Host, User, Password string
	Port                 int // 0: any
}

func escapePass(s string) string {
	return strings.NewReplacer(`\`, `\\`, `:`, `\:`).Replace(s)
}

// WritePassfile writes the libpq passfile (0600 in the 0700 private dir, owned by the server's
// user) used by pg_basebackup, pg_rewind and the walreceiver. Every hook writes it, and it
// rarely changes: one that already holds the entries, with the mode and owner it would get,
// is left as it is (Pebble's atomic write costs more than reading it back).
func (w *Workload) WritePassfile(ctx context.Context, entries []PassEntry) error {
	var b strings.Builder
	for _, e := range entries {
		host, port := "*", "*"
		if e.Host != "" {
			host = escapePass(e.Host)
		}
		if e.Port != 0 {
			port = strconv.Itoa(e.Port)
		}
		fmt.Fprintf(&b, "%s:%s:*:%s:%s\n", host, port, escapePass(e.User), escapePass(e.Password))
	}
	data := []byte(b.String())
	if w.holds(ctx, w.PassfilePath(), data, 0o600) {
		return nil
	}
	return w.writePrivate(ctx, w.PassfilePath(), data)
}

// LayerOptions are the parts of the Pebble layer that depend on this unit's role.
type LayerOptions struct {
	// Upstream is host:port of the server this unit streams from; "" on a primary, whose
	// UpstreamCheck then watches its own server.
	Upstream string
}

// Check timings: a server (or an upstream) that stops accepting connections fails its check
// after CheckThreshold periods, and Juju runs <container>-pebble-check-failed at once: the
// charm learns of a lost primary in about 3 s instead of at the next update-status.
const (
	CheckPeriod    = time.Second
	CheckTimeout   = time.Second
	CheckThreshold = 3
)

// Layer renders the Pebble layer: the postgresql service (startup disabled: the charm decides
// when it runs), the readiness check CheckName (TCP on this unit's addr:port) and
// UpstreamCheck (TCP on the upstream's host:port; level-less, so that a lost primary does
// not make every replica unready).
//
// Pebble has no way to delete a check through a layer, so a primary points UpstreamCheck at
// itself: it then fails and recovers with CheckName, and the charm reads it as such.
func (w *Workload) Layer(o LayerOptions) string {
	var b strings.Builder
	b.WriteString("summary: postgresql-k8s layer\n")
	b.WriteString("description: managed by the postgresql-k8s charm\n")
	b.WriteString("services:\n")
	b.WriteString("  " + ServiceName + ":\n")
	b.WriteString("    override: replace\n")
	b.WriteString("    summary: PostgreSQL server\n")
	fmt.Fprintf(&b, "    command: %s -D %s\n", w.bin("postgres"), w.Host(w.PGData()))
	b.WriteString("    startup: disabled\n")
	if w.User != "" {
		fmt.Fprintf(&b, "    user: %s\n    group: %s\n", w.User, w.Group)
	}
	b.WriteString("    environment:\n      LANG: C.UTF-8\n      LC_ALL: C\n")
	// A clean exit (pg_ctl stop) leaves the service stopped; a crash is restarted.
	b.WriteString("    on-success: ignore\n    on-failure: restart\n")
	fmt.Fprintf(&b, "    kill-delay: %s\n", KillDelay)
	b.WriteString("checks:\n")
	check := func(name, level, host string, port int) {
		b.WriteString("  " + name + ":\n")
		b.WriteString("    override: replace\n")
		if level != "" {
			b.WriteString("    level: " + level + "\n")
		}
		fmt.Fprintf(&b, "    period: %s\n    timeout: %s\n    threshold: %d\n", CheckPeriod, CheckTimeout, CheckThreshold)
		fmt.Fprintf(&b, "    tcp:\n      host: %s\n      port: %d\n", host, port)
	}
	check(CheckName, "ready", w.Addr, w.Port)
	upHost, upPort := w.Addr, w.Port
	if h, p, err := net.SplitHostPort(o.Upstream); err == nil {
		if n, err := strconv.Atoi(p); err == nil && h != "" {
			upHost, upPort = h, n
		}
	}
	check(UpstreamCheck, "", upHost, upPort)
	return b.String()
}

// PlanLayer adds (or replaces) the charm's layer in the workload Pebble's plan. Pebble
// restarts a check whose definition changed, so a new upstream is watched at once.
func (w *Workload) PlanLayer(ctx context.Context, o LayerOptions) error {
	err := w.pebble(ctx, "add pebble layer", PebbleAPITimeout, func(pc *client.Client) error {
		return pc.AddLayer(&client.AddLayerOptions{Combine: true, Label: LayerLabel, LayerData: []byte(w.Layer(o))})
	})
	if err != nil {
		return fmt.Errorf("add pebble layer: %w", err)
	}
	return nil
}
