package drprotocol

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPrimarySide(t *testing.T) {
	p := func(epoch int64, role Role, sid string) AppData {
		return AppData{Epoch: epoch, Role: role, SystemID: sid}
	}
	tests := []struct {
		name          string
		local, remote AppData
		offers        bool
		want          Side
	}{
		{"nobody claims", p(0, RoleNone, ""), p(0, RoleNone, ""), true, Neither},
		{"nobody claims, whatever the roles say", p(0, RoleStandby, "1"), p(0, RolePrimary, "2"), true, Neither},
		{"local higher", p(2, RoleNone, ""), p(1, RoleNone, ""), false, Local},
		{"remote higher", p(1, RoleNone, ""), p(2, RoleNone, ""), true, Remote},
		{"integers, not strings: 10 beats 9", p(10, RoleNone, ""), p(9, RoleNone, ""), false, Local},
		{"integers, not strings: 9 loses to 10", p(9, RoleNone, ""), p(10, RoleNone, ""), true, Remote},
		{"a higher epoch beats role primary", p(4, RolePrimary, "9"), p(5, RoleStandby, "1"), true, Remote},
		{"tie: the primary claim wins over a standby", p(5, RoleStandby, "9"), p(5, RolePrimary, "1"), true, Remote},
		{"tie: the primary claim wins over a demoted cluster", p(5, RolePrimary, "1"), p(5, RoleDemoted, "9"), false, Local},
		{"tie of claims: the higher system id", p(5, RolePrimary, "7000000000000000002"), p(5, RolePrimary, "7000000000000000001"), false, Local},
		{"tie of claims: system ids compared as numbers", p(5, RolePrimary, "900"), p(5, RolePrimary, "1000"), true, Remote},
		{"tie of claims, same system: the offering side (local offers)", p(5, RolePrimary, "7"), p(5, RolePrimary, "7"), true, Local},
		{"tie of claims, same system: the offering side (remote offers)", p(5, RolePrimary, "7"), p(5, RolePrimary, "7"), false, Remote},
		{"tie, no roles: the offering side", p(5, RoleNone, ""), p(5, RoleNone, ""), true, Local},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := PrimarySide(tc.local, tc.remote, tc.offers)
			require.Equal(t, tc.want, got)
			// Both clusters reach the same conclusion from their own point of view.
			mirror := PrimarySide(tc.remote, tc.local, !tc.offers)
			switch tc.want {
			case Local:
				require.Equal(t, Remote, mirror)
			case Remote:
				require.Equal(t, Local, mirror)
			default:
				require.Equal(t, Neither, mirror)
			}
		})
	}
}

func TestNextEpoch(t *testing.T) {
	tests := []struct {
		name          string
		local, remote AppData
		want          int64
		wantErr       error
	}{
		{"above everything published", AppData{Epoch: 3, Switchover: &Switchover{Epoch: 7, ID: "a"}}, AppData{Epoch: 5, Demotion: &Demotion{Epoch: 6}}, 8, nil},
		{"first claim", AppData{}, AppData{}, 1, nil},
		{"up to the bound", AppData{}, AppData{Epoch: MaxEpoch - 1}, MaxEpoch, nil},
		{"a remote epoch at the bound leaves nothing to claim", AppData{Epoch: 1}, AppData{Epoch: MaxEpoch}, 0, ErrEpochsExhausted},
		{"a remote request at the bound", AppData{Epoch: 1}, AppData{Switchover: &Switchover{Epoch: MaxEpoch, ID: "x"}}, 0, ErrEpochsExhausted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NextEpoch(tc.local, tc.remote)
			require.ErrorIs(t, err, tc.wantErr)
			require.Equal(t, tc.want, got)
			if err == nil {
				// What we would publish, we can parse back.
				_, perr := ParseEpoch(strconv.FormatInt(got, 10))
				require.NoError(t, perr)
			}
		})
	}
}

func TestCheckCreate(t *testing.T) {
	tests := []struct {
		name          string
		local, remote AppData
		initialised   bool
		want          string
	}{
		{"fresh pair", AppData{}, AppData{}, true, ""},
		{"not initialised", AppData{}, AppData{}, false, "not initialised"},
		{"twice", AppData{Epoch: 1, Role: RolePrimary}, AppData{Epoch: 0, Role: RoleStandby}, true, "already the primary cluster"},
		{"other side is primary", AppData{Epoch: 1, Role: RoleStandby}, AppData{Epoch: 2, Role: RolePrimary}, true, "replication already exists"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckCreate(tc.local, tc.remote, tc.initialised)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestCheckPromote(t *testing.T) {
	standby := AppData{Epoch: 1, Role: RoleStandby}
	primary := AppData{Epoch: 2, Role: RolePrimary}
	tests := []struct {
		name                     string
		local, remote            AppData
		reachable, force, offers bool
		want                     string
	}{
		{"planned", standby, primary, true, false, false, ""},
		{"unreachable without force", standby, primary, false, false, false, "force=true"},
		{"unreachable with force", standby, primary, false, true, false, ""},
		{"on the primary cluster", primary, standby, true, false, true, "already the primary cluster"},
		{"not replicating", AppData{}, AppData{}, true, false, false, "not a standby"},
		{"request pending", AppData{Epoch: 1, Role: RoleStandby, Switchover: &Switchover{Epoch: 3, ID: "r"}}, primary, true, false, false, "already in progress"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPromote(tc.local, tc.remote, tc.offers, tc.reachable, tc.force)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}
