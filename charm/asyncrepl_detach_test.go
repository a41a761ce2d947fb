package charm

import (
	"maps"
	"testing"

	"github.com/jujulet/postgresql-k8s/internal/drprotocol"
)

// corrupt makes side s see a malformed bucket from the other side.
func (d *drWorld) corrupt(s string) {
	if s == "a" {
		d.appB = maps.Clone(d.appB)
		d.appB[drprotocol.KeyEpoch] = "ten"
	} else {
		d.appA = maps.Clone(d.appA)
		d.appA[drprotocol.KeyEpoch] = "ten"
	}
}

// TestBadRemoteDataLeavesLocalHAWorking: a restarted pod starts in the role its cluster
// recorded while the other side's data is unparsable, and the status says what is wrong.
func TestBadRemoteDataLeavesLocalHAWorking(t *testing.T) {
	tests := []struct {
		side         string
		wantRecovery bool
		wantStatus   string
		wantUnit     string
	}{
		{"a", false, "active", "Primary"},
		{"b", true, "waiting", "replication paused, the other cluster's data is invalid: invalid replication data: epoch"},
	}
	for _, tt := range tests {
		t.Run(tt.side, func(t *testing.T) {
			d := replicating(t)
			w := d.a
			if tt.side == "b" {
				w = d.b
			}
			u := w.units["pg/0"]
			d.corrupt(tt.side)
			u.s.running, u.s.inRecovery = false, false // the pod restarted
			d.mustRun(tt.side, "pg/0", "postgresql-pebble-ready")
			if !u.s.running || u.s.inRecovery != tt.wantRecovery {
				t.Fatalf("restarted %s: running %v in recovery %v, want running, recovery %v", tt.side, u.s.running, u.s.inRecovery, tt.wantRecovery)
			}
			if tt.side == "b" {
				if up := u.s.conf.Upstream; up == nil || up.Host != d.a.units["pg/0"].s.addr {
					t.Errorf("b's head upstream %+v, want a's primary", up)
				}
			}
			wantStatus(t, u, tt.wantStatus, tt.wantUnit)
			if st := u.f.AppStatus; st.Status != "waiting" || st.Message == "" {
				t.Errorf("%s app status %+v does not say the replication is paused", tt.side, st)
			}
		})
	}
}
