package drprotocol

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jujulet/postgresql-k8s/internal/pki"

	"github.com/stretchr/testify/require"
)

func TestParseAppDataAcceptsWellFormedBuckets(t *testing.T) {
	in := map[string]string{
		KeyEpoch:           "12",
		KeyRole:            "demoted",
		KeyPrimaryEndpoint: "127.0.3.4:5432",
		KeySystemID:        "7312345678901234567",
		KeySecretID:        "secret://4c1b4a0e-7b5e-4a7c-8d5d-1a2b3c4d5e6f/d1d2d3d4d5d6d7d8d9d0",
		KeySwitchover:      `{"epoch":13,"id":"req-1"}`,
		KeyDemotion:        `{"epoch":13,"system-id":"7312345678901234567","timeline":3,"checkpoint-lsn":"0/3000028"}`,
		KeySlot:            "dr_db2_0",
		KeyCACertificate:   string(testCA(t)),
		"future-key":       "ignored",
	}
	d, err := ParseAppData(in)
	require.NoError(t, err)
	require.Equal(t, int64(12), d.Epoch)
	require.Equal(t, RoleDemoted, d.Role)
	require.Equal(t, &Switchover{Epoch: 13, ID: "req-1"}, d.Switchover)
	require.Equal(t, &Demotion{Epoch: 13, SystemID: "7312345678901234567", Timeline: 3, CheckpointLSN: "0/3000028"}, d.Demotion)
	require.Equal(t, in[KeyCACertificate], d.CACertificate)

	// Encode then parse gives the same data back, and Encode names every key.
	enc := d.Encode()
	again, err := ParseAppData(enc)
	require.NoError(t, err)
	require.Equal(t, d, again)
	require.Len(t, enc, len(knownAppKeys))

	empty, err := ParseAppData(map[string]string{})
	require.NoError(t, err)
	require.True(t, empty.Empty())
}

func TestParseAppDataRejectsBadRemoteData(t *testing.T) {
	tests := []struct {
		key, value, want string
	}{
		{KeyEpoch, "ten", "not a non-negative integer"},
		{KeyEpoch, "-1", "not a non-negative integer"},
		{KeyEpoch, " 3", "not a non-negative integer"},
		{KeyEpoch, "9999999999999999999", "not a non-negative integer"},
		{KeyEpoch, "9007199254740993", "not a non-negative integer"},
		{KeyRole, "leader", "unknown role"},
		{KeyPrimaryEndpoint, "10.0.0.1", "not host:port"},
		{KeyPrimaryEndpoint, "10.0.0.1:99999", "no valid port"},
		{KeyPrimaryEndpoint, "10.0.0.1:0", "no valid port"},
		{KeyPrimaryEndpoint, "host name:5432", "no valid host"},
		{KeyPrimaryEndpoint, "a';DROP TABLE x;--:5432", "no valid host"},
		{KeySystemID, "12ab", "not a system identifier"},
		{KeySlot, "dr_x'; DROP", "not a replication slot name"},
		{KeySlot, "Upper", "not a replication slot name"},
		{KeySecretID, "postgres://user:pw@host", "not a secret URI"},
		{KeySwitchover, `{"epoch":"2","id":"x"}`, "malformed JSON"},
		{KeySwitchover, `{"epoch":2,"id":"x","extra":1}`, "malformed JSON"},
		{KeySwitchover, `{"epoch":2,"id":"x"} {}`, "trailing data"},
		{KeySwitchover, `{"epoch":2,"id":"x"}}`, "trailing data"},
		{KeyDemotion, `{"epoch":2,"system-id":"1","timeline":1,"checkpoint-lsn":"0/1"}]`, "trailing data"},
		{KeySwitchover, `{"epoch":0,"id":"x"}`, "out of range"},
		{KeySwitchover, `{"epoch":2,"id":"'; DROP"}`, "request id"},
		{KeySwitchover, `not json`, "malformed JSON"},
		{KeyDemotion, `{"epoch":2,"system-id":"1","timeline":0,"checkpoint-lsn":"0/1"}`, "timeline"},
		{KeyDemotion, `{"epoch":2,"system-id":"1","timeline":1,"checkpoint-lsn":"0:1"}`, "not an LSN"},
		{KeyDemotion, `{"epoch":2,"system-id":"x","timeline":1,"checkpoint-lsn":"0/1"}`, "system-id"},
		{KeyCACertificate, "not a certificate", "malformed PEM"},
		{KeyCACertificate, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "parsing certificate"},
		{KeyCACertificate, string(testLeaf(t)), "not a CA"},
		{KeyCACertificate, strings.Repeat("A", 70<<10), "more than"},
	}
	for _, tc := range tests {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			_, err := ParseAppData(map[string]string{tc.key: tc.value})
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrInvalid), "%v wraps ErrInvalid", err)
			require.ErrorContains(t, err, tc.key)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestParseAddress(t *testing.T) {
	for _, ok := range []string{"127.0.0.2", "10.1.2.3", "::1"} {
		_, err := ParseAddress(ok)
		require.NoError(t, err, ok)
	}
	for _, bad := range []string{"", "host", "10.0.0.0/8", "1.2.3.4 all", "0.0.0.0/0"} {
		_, err := ParseAddress(bad)
		require.ErrorIs(t, err, ErrInvalid, bad)
	}
}

// FuzzParseAppData: whatever the other model publishes, parsing never panics, and whatever
// it accepts survives an Encode/Parse round trip unchanged.
func FuzzParseAppData(f *testing.F) {
	f.Add("3", "primary", "127.0.0.1:5432", `{"epoch":4,"id":"a"}`, `{"epoch":4,"system-id":"1","timeline":2,"checkpoint-lsn":"0/16B3748"}`)
	f.Add("", "", "", "", "")
	f.Add("x", "y", "z", "{", "[")
	f.Fuzz(func(t *testing.T, epoch, role, endpoint, switchover, demotion string) {
		d, err := ParseAppData(map[string]string{KeyEpoch: epoch, KeyRole: role, KeyPrimaryEndpoint: endpoint,
			KeySwitchover: switchover, KeyDemotion: demotion})
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		again, err := ParseAppData(d.Encode())
		if err != nil {
			t.Fatalf("re-parse of accepted data failed: %v", err)
		}
		if !reflect.DeepEqual(again, d) {
			t.Fatalf("round trip changed data: %+v → %+v", d, again)
		}
	})
}

func testCA(t *testing.T) []byte {
	t.Helper()
	ca, err := pki.NewCA("other cluster", time.Now())
	require.NoError(t, err)
	return ca.CertPEM
}

func testLeaf(t *testing.T) []byte {
	t.Helper()
	ca, err := pki.NewCA("other cluster", time.Now())
	require.NoError(t, err)
	leaf, _, err := ca.IssueServer(time.Now(), "10.0.0.1")
	require.NoError(t, err)
	return leaf
}
