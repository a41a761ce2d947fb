package postgres

import "testing"

func TestParseCgroupLimit(t *testing.T) {
	tests := []struct {
		in     string
		want   int64
		wantOK bool
	}{
		{"536870912\n", 536870912, true},
		{"max\n", 0, false},
		{"9223372036854771712\n", 0, false}, // cgroup v1 "unlimited"
		{"0", 0, false},
		{"-1", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseCgroupLimit([]byte(tt.in))
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseCgroupLimit(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestParseMemTotalMB(t *testing.T) {
	tests := []struct {
		name, in string
		want     int
	}{
		{"meminfo", "MemTotal:        8046512 kB\nMemFree:         1234 kB\n", 7857},
		{"not first", "MemFree: 1 kB\nMemTotal: 2048 kB\n", 2},
		{"absent", "MemFree: 1 kB\n", 0},
		{"malformed", "MemTotal: lots kB\n", 0},
		{"empty", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseMemTotalMB([]byte(tt.in)); got != tt.want {
				t.Errorf("parseMemTotalMB = %d, want %d", got, tt.want)
			}
		})
	}
}
