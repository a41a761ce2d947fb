package charm

import (
	"fmt"
	"regexp"

	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// Config is the validated charm config.
type Config struct {
	Profile                 string
	ProfileLimitMemoryMB    int
	MaxConnections          int
	SynchronousCommit       string
	WorkMemKB               int
	MaintenanceWorkMemKB    int
	LogMinDurationStatement int
	WALKeepSizeMB           int
	TimeZone                string
}

var timezoneRe = regexp.MustCompile(`^[A-Za-z0-9_+\-/]{1,64}$`)

// ParseConfig validates config-get --all output. The error says what is wrong, for a blocked
// status.
func ParseConfig(m map[string]any) (Config, error) {
	c := Config{Profile: "production", MaxConnections: 100, SynchronousCommit: "on",
		LogMinDurationStatement: -1, WALKeepSizeMB: 128, TimeZone: "UTC"}
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
	num := func(key string, dst *int, min, max int) error {
		v, ok := m[key]
		if !ok || v == nil {
			return nil
		}
		var n int
		switch t := v.(type) {
		case float64:
			if t != float64(int(t)) {
				return fmt.Errorf("%s must be an integer", key)
			}
			n = int(t)
		case int:
			n = t
		case int64:
			n = int(t)
		default:
			return fmt.Errorf("%s must be an integer", key)
		}
		if n < min || n > max {
			return fmt.Errorf("%s=%d is out of range [%d, %d]", key, n, min, max)
		}
		*dst = n
		return nil
	}
	for _, err := range []error{
		str("profile", &c.Profile),
		num("profile_limit_memory", &c.ProfileLimitMemoryMB, 0, 1<<30),
		num("max_connections", &c.MaxConnections, 10, 10000),
		str("synchronous_commit", &c.SynchronousCommit),
		num("work_mem", &c.WorkMemKB, 0, 2147483647),
		num("maintenance_work_mem", &c.MaintenanceWorkMemKB, 0, 2147483647),
		num("log_min_duration_statement", &c.LogMinDurationStatement, -1, 2147483647),
		num("wal_keep_size", &c.WALKeepSizeMB, 0, 1<<30),
		str("timezone", &c.TimeZone),
	} {
		if err != nil {
			return c, err
		}
	}
	switch c.Profile {
	case "testing", "production":
	default:
		return c, fmt.Errorf("profile=%q: must be testing or production", c.Profile)
	}
	switch c.SynchronousCommit {
	case "on", "off", "local", "remote_write", "remote_apply":
	default:
		return c, fmt.Errorf("synchronous_commit=%q: must be on, off, local, remote_write or remote_apply", c.SynchronousCommit)
	}
	if c.WorkMemKB != 0 && c.WorkMemKB < 64 {
		return c, fmt.Errorf("work_mem=%d: must be 0 (default) or at least 64", c.WorkMemKB)
	}
	if c.MaintenanceWorkMemKB != 0 && c.MaintenanceWorkMemKB < 1024 {
		return c, fmt.Errorf("maintenance_work_mem=%d: must be 0 (default) or at least 1024", c.MaintenanceWorkMemKB)
	}
	if !timezoneRe.MatchString(c.TimeZone) {
		return c, fmt.Errorf("timezone=%q is not a time zone name", c.TimeZone)
	}
	if c.Profile == "production" && c.ProfileLimitMemoryMB != 0 && c.ProfileLimitMemoryMB < 128 {
		return c, fmt.Errorf("profile_limit_memory=%d: production needs at least 128 MB", c.ProfileLimitMemoryMB)
	}
	return c, nil
}

// Settings sizes PostgreSQL for the profile: production gives shared_buffers 25% of the
// memory (capped by profile_limit_memory) and effective_cache_size the rest; testing keeps
// PostgreSQL's defaults.
func (c Config) Settings(clusterName string, memoryMB int) postgres.Settings {
	s := postgres.Settings{
		ClusterName:             clusterName,
		MaxConnections:          c.MaxConnections,
		WorkMemKB:               c.WorkMemKB,
		MaintenanceWorkMemKB:    c.MaintenanceWorkMemKB,
		SynchronousCommit:       c.SynchronousCommit,
		LogMinDurationStatement: c.LogMinDurationStatement,
		WALKeepSizeMB:           c.WALKeepSizeMB,
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
