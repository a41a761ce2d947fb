package charm

import (
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     map[string]any
		check   func(Config) bool
		wantErr string // prefix; "" for valid
	}{
		{"defaults follow the anchor", map[string]any{}, func(c Config) bool {
			return c.SyncNodeCount == SyncAll && c.SyncStrict && c.SynchronousCommit == "on" && c.MaxLagOnFailover == 1048576 &&
				c.WALKeepSizeMB == 4096 && c.MaxConnections == 100 && c.WorkMemKB == 4096 && c.MaintenanceWorkMemKB == 65536 &&
				c.LogMinDurationStatement == -1 && c.TimeZone == "UTC" && c.Profile == "production" &&
				c.CloneTimeout == DefaultCloneTimeout
		}, ""},
		{"nil values keep the defaults", map[string]any{"synchronous_node_count": nil, "experimental_max_connections": nil},
			func(c Config) bool { return c.SyncNodeCount == SyncAll && c.MaxConnections == 100 }, ""},
		{"majority", map[string]any{"synchronous_node_count": "majority"}, func(c Config) bool { return c.SyncNodeCount == SyncMajority }, ""},
		{"a number", map[string]any{"synchronous_node_count": "2"}, func(c Config) bool { return c.SyncNodeCount == "2" }, ""},
		{"not strict", map[string]any{"synchronous_mode_strict": false}, func(c Config) bool { return !c.SyncStrict }, ""},
		{"remote_write", map[string]any{"durability_synchronous_commit": "remote_write"}, func(c Config) bool { return c.SynchronousCommit == "remote_write" }, ""},
		{"remote_apply", map[string]any{"durability_synchronous_commit": "remote_apply"}, func(c Config) bool { return c.SynchronousCommit == "remote_apply" }, ""},
		{"lag 0", map[string]any{"durability_maximum_lag_on_failover": float64(0)}, func(c Config) bool { return c.MaxLagOnFailover == 0 }, ""},
		{"lag large", map[string]any{"durability_maximum_lag_on_failover": int64(1 << 40)}, func(c Config) bool { return c.MaxLagOnFailover == 1<<40 }, ""},
		{"wal keep size", map[string]any{"durability_wal_keep_size": float64(0)}, func(c Config) bool { return c.WALKeepSizeMB == 0 }, ""},
		{"max connections", map[string]any{"experimental_max_connections": float64(500)}, func(c Config) bool { return c.MaxConnections == 500 }, ""},
		{"work mem", map[string]any{"memory_work_mem": float64(64)}, func(c Config) bool { return c.WorkMemKB == 64 }, ""},
		{"maintenance work mem", map[string]any{"memory_maintenance_work_mem": 1024}, func(c Config) bool { return c.MaintenanceWorkMemKB == 1024 }, ""},
		{"log min duration", map[string]any{"logging_log_min_duration_statement": float64(250)}, func(c Config) bool { return c.LogMinDurationStatement == 250 }, ""},
		{"time zone", map[string]any{"request_time_zone": "Europe/Rome"}, func(c Config) bool { return c.TimeZone == "Europe/Rome" }, ""},
		{"clone timeout", map[string]any{"clone_timeout_minutes": float64(90)}, func(c Config) bool { return c.CloneTimeout == 90*time.Minute }, ""},

		{"node count zero", map[string]any{"synchronous_node_count": "0"}, nil, `synchronous_node_count="0": must be all, majority or a positive integer`},
		{"node count negative", map[string]any{"synchronous_node_count": "-1"}, nil, `synchronous_node_count="-1": must be all, majority`},
		{"node count word", map[string]any{"synchronous_node_count": "most"}, nil, `synchronous_node_count="most": must be all, majority`},
		{"node count empty", map[string]any{"synchronous_node_count": ""}, nil, `synchronous_node_count="": must be all, majority`},
		{"node count not a string", map[string]any{"synchronous_node_count": float64(2)}, nil, "synchronous_node_count must be a string"},
		{"strict not a boolean", map[string]any{"synchronous_mode_strict": "yes"}, nil, "synchronous_mode_strict must be true or false"},
		{"commit off", map[string]any{"durability_synchronous_commit": "off"}, nil, `durability_synchronous_commit="off": must be on, remote_write or remote_apply`},
		{"commit local", map[string]any{"durability_synchronous_commit": "local"}, nil, `durability_synchronous_commit="local": must be on, remote_write or remote_apply`},
		{"lag negative", map[string]any{"durability_maximum_lag_on_failover": float64(-1)}, nil, "durability_maximum_lag_on_failover=-1 is out of range"},
		{"lag fraction", map[string]any{"durability_maximum_lag_on_failover": 1.5}, nil, "durability_maximum_lag_on_failover must be an integer"},
		{"wal keep size negative", map[string]any{"durability_wal_keep_size": float64(-1)}, nil, "durability_wal_keep_size=-1 is out of range [0, 2147483647]"},
		{"max connections low", map[string]any{"experimental_max_connections": float64(5)}, nil, "experimental_max_connections=5 is out of range [10, 10000]"},
		{"work mem low", map[string]any{"memory_work_mem": float64(10)}, nil, "memory_work_mem=10 is out of range [64, 2147483647]"},
		{"maintenance work mem low", map[string]any{"memory_maintenance_work_mem": float64(100)}, nil, "memory_maintenance_work_mem=100 is out of range [1024, 2147483647]"},
		{"log min duration low", map[string]any{"logging_log_min_duration_statement": float64(-2)}, nil, "logging_log_min_duration_statement=-2 is out of range"},
		{"bad time zone", map[string]any{"request_time_zone": "Mars/Olympus Mons"}, nil, `request_time_zone="Mars/Olympus Mons" is not a time zone name`},
		{"clone timeout too short", map[string]any{"clone_timeout_minutes": float64(1)}, nil, "clone_timeout_minutes=1 is out of range [5, 43200]"},
		{"clone timeout not a number", map[string]any{"clone_timeout_minutes": "1h"}, nil, "clone_timeout_minutes must be an integer"},
		{"bad profile", map[string]any{"profile": "turbo"}, nil, `profile="turbo": must be testing or production`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
}

func TestSyncStandbysWanted(t *testing.T) {
	tests := []struct {
		count    string
		replicas int
		want     int
	}{
		{"all", 0, 0}, {"all", 1, 1}, {"all", 2, 2}, {"all", 4, 4},
		// majority: with the primary, more than half of the units have each commit.
		{"majority", 0, 0}, {"majority", 1, 1}, {"majority", 2, 1}, {"majority", 3, 2}, {"majority", 4, 2},
		{"1", 2, 1}, {"2", 2, 2}, {"5", 2, 2}, {"3", 0, 0},
	}
	for _, tt := range tests {
		c, err := ParseConfig(map[string]any{"synchronous_node_count": tt.count})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.SyncStandbysWanted(tt.replicas); got != tt.want {
			t.Errorf("%s with %d replicas: %d, want %d", tt.count, tt.replicas, got, tt.want)
		}
	}
}

func TestMaxSlotWALKeepSizeIsBounded(t *testing.T) {
	tests := []struct {
		walKeep any // durability_wal_keep_size; nil: the default
		want    int
	}{
		{nil, 8192},                        // twice the default 4096
		{float64(0), MinSlotWALKeepSizeMB}, // no wal_keep_size: still bounded
		{float64(100), MinSlotWALKeepSizeMB},
		{float64(2048), 4096},
		{float64(pgIntMax), pgIntMax},
	}
	for _, tt := range tests {
		m := map[string]any{}
		if tt.walKeep != nil {
			m["durability_wal_keep_size"] = tt.walKeep
		}
		c, err := ParseConfig(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Settings("pg", 0).MaxSlotWALKeepSizeMB; got != tt.want {
			t.Errorf("wal_keep_size %v: max_slot_wal_keep_size %d MB, want %d", tt.walKeep, got, tt.want)
		}
	}
}
