package cli

import (
	"reflect"
	"testing"
)

func TestEvalQuery(t *testing.T) {
	fields := map[string]any{"status": "active", "life": "alive", "scale": 3, "leader": true}
	units := []map[string]any{{"workload-status": "active"}, {"workload-status": "blocked"}}
	tests := []struct {
		q    string
		want bool
	}{
		{`status=="active"`, true},
		{`status=="blocked"`, false},
		{`status!="blocked"`, true},
		{`life=="alive" && status=="active"`, true},
		{`status=="blocked" || scale==3`, true},
		{`leader==true`, true},
		{`(status=="blocked" || life=="alive") && scale==3`, true},
		{`forEach(units, u => u.workload-status=="active")`, false},
	}
	for _, tc := range tests {
		got, err := evalQuery(tc.q, fields, units)
		if err != nil || got != tc.want {
			t.Errorf("evalQuery(%q) = %v, %v; want %v", tc.q, got, err, tc.want)
		}
	}
	if _, err := evalQuery(`nosuch=="x"`, fields, nil); err == nil {
		t.Errorf("unknown identifier accepted")
	}
}

func TestSetDotted(t *testing.T) {
	m := map[string]any{}
	setDotted(m, "a.b.c", 1)
	setDotted(m, "a.d", "x")
	setDotted(m, "e", true)
	want := map[string]any{"a": map[string]any{"b": map[string]any{"c": 1}, "d": "x"}, "e": true}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got %v", m)
	}
}

func TestEntityMatches(t *testing.T) {
	tests := []struct {
		entity   string
		includes []string
		want     bool
	}{
		{"unit-db1-0", nil, true},
		{"unit-db1-0", []string{"db1/0"}, true},
		{"unit-db1-0", []string{"unit-db1-0"}, true},
		{"unit-db1-0", []string{"db1"}, true},
		{"unit-db1-0", []string{"db2"}, false},
		{"unit-db1-10", []string{"db1/1"}, false},
		{"unit-db1-extra-0", []string{"db1"}, false},
	}
	for _, tc := range tests {
		if got := entityMatches(tc.entity, tc.includes); got != tc.want {
			t.Errorf("entityMatches(%q, %v) = %v", tc.entity, tc.includes, got)
		}
	}
}
