package charm

import (
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// Config is the validated charm config. Option names follow Charmed PostgreSQL K8s.
type Config struct {
	Profile              string
	ProfileLimitMemoryMB int
	// MaxConnections: experimental_max_connections (100 when unset).
	MaxConnections int
	// SyncNodeCount is synchronous_node_count: SyncAll, SyncMajority or a positive number.
	SyncNodeCount string
	// SyncStrict is synchronous_mode_strict.
	SyncStrict bool
	// SynchronousCommit: durability_synchronous_commit.
	SynchronousCommit string
	// MaxLagOnFailover: durability_maximum_lag_on_failover, in bytes of WAL.
	MaxLagOnFailover int64
	// WALKeepSizeMB: durability_wal_keep_size.
	WALKeepSizeMB           int
	WorkMemKB               int // memory_work_mem
	MaintenanceWorkMemKB    int // memory_maintenance_work_mem
	LogMinDurationStatement int // logging_log_min_duration_statement
	TimeZone                string
	// ClientEndpointsLocalOnly: client_endpoints_local_only (the database relation publishes
	// this cluster's units only, not the other cluster's of cross-regional replication).
	ClientEndpointsLocalOnly bool
	// CloneTimeout: clone_timeout_minutes, the bound of one pg_basebackup or pg_rewind.
	CloneTimeout time.Duration
}

// DefaultCloneTimeout is clone_timeout_minutes' default (config.yaml).
const DefaultCloneTimeout = 24 * time.Hour

// synchronous_node_count keywords.
const (
	SyncAll      = "all"
	SyncMajority = "majority"
)

var timezoneRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_+\-/]{1,64}$`) })

const pgIntMax = 2147483647

// ParseConfig validates config-get --all output. The error names the option and what it
// accepts, for a blocked status.
func ParseConfig(m map[string]any) (Config, error) {
	c := Config{Profile: "production", MaxConnections: 100, SyncNodeCount: SyncAll, SyncStrict: true,
		SynchronousCommit: "on", MaxLagOnFailover: 1 << 20, WALKeepSizeMB: 4096, WorkMemKB: 4096,
		MaintenanceWorkMemKB: 65536, LogMinDurationStatement: -1, TimeZone: "UTC"}
	cloneMinutes := int(DefaultCloneTimeout / time.Minute)
	str := func(key string, dst *string) error {
		v, ok := m[key]
		if !ok || v == nil {
			return nil
		}
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s must be a string", key)
		}
		*dst = s
		return nil
	}
	boolean := func(key string, dst *bool) error {
		v, ok := m[key]
		if !ok || v == nil {
			return nil
		}
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("%s must be true or false", key)
		}
		*dst = b
		return nil
	}
	num := func(key string, dst *int64, min, max int64) error {
		v, ok := m[key]
		if !ok || v == nil {
			return nil
		}
		var n int64
		switch t := v.(type) {
		case float64:
			if t != float64(int64(t)) {
				return fmt.Errorf("%s must be an integer", key)
			}
			n = int64(t)
		case int:
			n = int64(t)
		case int64:
			n = t
		default:
			return fmt.Errorf("%s must be an integer", key)
		}
		if n < min || n > max {
			return fmt.Errorf("%s=%d is out of range [%d, %d]", key, n, min, max)
		}
		*dst = n
		return nil
	}
	integer := func(key string, dst *int, min, max int64) error {
		n := int64(*dst)
		if err := num(key, &n, min, max); err != nil {
			return err
		}
		*dst = int(n)
		return nil
	}
	for _, err := range []error{
		str("profile", &c.Profile),
		integer("profile_limit_memory", &c.ProfileLimitMemoryMB, 0, 1<<30),
		integer("experimental_max_connections", &c.MaxConnections, 10, 10000),
		str("synchronous_node_count", &c.SyncNodeCount),
		boolean("synchronous_mode_strict", &c.SyncStrict),
		str("durability_synchronous_commit", &c.SynchronousCommit),
		num("durability_maximum_lag_on_failover", &c.MaxLagOnFailover, 0, 1<<62),
		integer("durability_wal_keep_size", &c.WALKeepSizeMB, 0, pgIntMax),
		integer("memory_work_mem", &c.WorkMemKB, 64, pgIntMax),
		integer("memory_maintenance_work_mem", &c.MaintenanceWorkMemKB, 1024, pgIntMax),
		integer("logging_log_min_duration_statement", &c.LogMinDurationStatement, -1, pgIntMax),
		str("request_time_zone", &c.TimeZone),
		boolean("client_endpoints_local_only", &c.ClientEndpointsLocalOnly),
		integer("clone_timeout_minutes", &cloneMinutes, 5, 30*24*60),
	} {
		if err != nil {
			return c, err
		}
	}
	c.CloneTimeout = time.Duration(cloneMinutes) * time.Minute
	switch c.Profile {
	case "testing", "production":
	default:
		return c, fmt.Errorf("profile=%q: must be testing or production", c.Profile)
	}
	if _, err := c.syncNodeCount(); err != nil {
		return c, err
	}
	switch c.SynchronousCommit {
	case "on", "remote_write", "remote_apply":
	default:
		// off and local would acknowledge commits no standby has: the synchronous standbys
		// could then lack them.
		return c, fmt.Errorf("durability_synchronous_commit=%q: must be on, remote_write or remote_apply", c.SynchronousCommit)
	}
	if !timezoneRe().MatchString(c.TimeZone) {
		return c, fmt.Errorf("request_time_zone=%q is not a time zone name", c.TimeZone)
	}
	if c.Profile == "production" && c.ProfileLimitMemoryMB != 0 && c.ProfileLimitMemoryMB < 128 {
		return c, fmt.Errorf("profile_limit_memory=%d: production needs at least 128 MB", c.ProfileLimitMemoryMB)
	}
	return c, nil
}

// syncNodeCount parses synchronous_node_count: n > 0 for a number, 0 for all or majority.
func (c Config) syncNodeCount() (int, error) {
	switch c.SyncNodeCount {
	case SyncAll, SyncMajority:
		return 0, nil
	}
	n, err := strconv.Atoi(c.SyncNodeCount)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("synchronous_node_count=%q: must be all, majority or a positive integer", c.SyncNodeCount)
	}
	return n, nil
}

// SyncStandbysWanted is how many synchronous standbys a primary with `replicas` other units
// keeps: all of them; a majority (with the primary, a commit is then on more than half of
// the units: units/2 standbys); or the configured number, at most the replicas.
func (c Config) SyncStandbysWanted(replicas int) int {
	switch c.SyncNodeCount {
	case SyncAll:
		return replicas
	case SyncMajority:
		return (replicas + 1) / 2
	}
	n, _ := c.syncNodeCount()
	return min(n, replicas)
}

// MinSlotWALKeepSizeMB is the floor of max_slot_wal_keep_size: a replica that restarts or a
// standby cluster whose link blips must not lose its slot to a small wal_keep_size.
const MinSlotWALKeepSizeMB = 1024

// MaxSlotWALKeepSizeMB is max_slot_wal_keep_size: twice durability_wal_keep_size (what a
// replica without a slot can count on, doubled for the consumers that have one), at least
// MinSlotWALKeepSizeMB. Never unbounded: a slot whose consumer is gone for good (a detached
// or lost standby cluster) would otherwise keep WAL until the disk is full.
func (c Config) MaxSlotWALKeepSizeMB() int {
	return int(min(max(2*int64(c.WALKeepSizeMB), MinSlotWALKeepSizeMB), pgIntMax))
}

// Settings sizes PostgreSQL for the profile: production gives shared_buffers 25% of the
// memory (capped by profile_limit_memory) and effective_cache_size the rest; testing keeps
// PostgreSQL's defaults. synchronous_standby_names is the caller's (it depends on the peers).
func (c Config) Settings(clusterName string, memoryMB int) postgres.Settings {
	s := postgres.Settings{
		ClusterName:             clusterName,
		MaxConnections:          c.MaxConnections,
		WorkMemKB:               c.WorkMemKB,
		MaintenanceWorkMemKB:    c.MaintenanceWorkMemKB,
		SynchronousCommit:       c.SynchronousCommit,
		LogMinDurationStatement: c.LogMinDurationStatement,
		WALKeepSizeMB:           c.WALKeepSizeMB,
		MaxSlotWALKeepSizeMB:    c.MaxSlotWALKeepSizeMB(),
		TimeZone:                c.TimeZone,
	}
	if c.Profile == "production" {
		mem := memoryMB
		if c.ProfileLimitMemoryMB > 0 && (mem == 0 || c.ProfileLimitMemoryMB < mem) {
			mem = c.ProfileLimitMemoryMB
		}
		if mem > 0 {
			s.SharedBuffersMB = mem / 4
			s.EffectiveCacheSizeMB = mem - s.SharedBuffersMB
		}
	}
	return s
}
