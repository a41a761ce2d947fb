package controller

import (
	"slices"
	"testing"

	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
)

func TestUniquePortStrings(t *testing.T) {
	cases := []struct {
		ports []st.Port
		want  []string
	}{
		{nil, nil},
		{[]st.Port{{Protocol: "tcp", From: 5432, To: 5432}}, []string{"5432/tcp"}},
		// One range open for two endpoints is one port to status.
		{[]st.Port{
			{Protocol: "tcp", From: 80, To: 80, Endpoint: "web"},
			{Protocol: "icmp", From: -1, To: -1},
			{Protocol: "tcp", From: 80, To: 80, Endpoint: "admin"},
		}, []string{"80/tcp", "icmp"}},
	}
	for _, tc := range cases {
		if got := uniquePortStrings(tc.ports); !slices.Equal(got, tc.want) {
			t.Errorf("uniquePortStrings(%v) = %q, want %q", tc.ports, got, tc.want)
		}
	}
}
