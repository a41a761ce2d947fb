package drprotocol

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPrimarySide(t *testing.T) {
	tests := []struct {
		name          string
		local, remote int64
		offers        bool
		want          Side
	}{
		{"nobody claims", 0, 0, true, Neither},
		{"local higher", 2, 1, false, Local},
		{"remote higher", 1, 2, true, Remote},
		{"integers, not strings: 10 beats 9", 10, 9, false, Local},
		{"integers, not strings: 9 loses to 10", 9, 10, true, Remote},
		{"tie goes to the offering side (local offers)", 5, 5, true, Local},
		{"tie goes to the offering side (remote offers)", 5, 5, false, Remote},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := PrimarySide(AppData{Epoch: tc.local}, AppData{Epoch: tc.remote}, tc.offers)
			require.Equal(t, tc.want, got)
			// Both clusters reach the same conclusion from their own point of view.
			mirror := PrimarySide(AppData{Epoch: tc.remote}, AppData{Epoch: tc.local}, !tc.offers)
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

func TestNextEpochIsAboveEverythingPublished(t *testing.T) {
	local := AppData{Epoch: 3, Switchover: &Switchover{Epoch: 7, ID: "a"}}
	remote := AppData{Epoch: 5, Demotion: &Demotion{Epoch: 6}}
	require.Equal(t, int64(8), NextEpoch(local, remote))
	require.Equal(t, int64(1), NextEpoch(AppData{}, AppData{}))
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
