package postgres

import (
	"errors"
	"strings"
	"testing"
)

func TestParseControlData(t *testing.T) {
	out := `pg_control version number:            1300
Database system identifier:           7312345678901234567
Database cluster state:               shut down
Latest checkpoint location:           0/3000148
Latest checkpoint's REDO location:    0/3000148
Latest checkpoint's TimeLineID:       2
Minimum recovery ending location:     0/0
Min recovery ending loc's timeline:   0
wal_log_hints setting:                on
Data page checksum version:           1
`
	c, err := ParseControlData(out)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != "shut down" || c.SystemID != "7312345678901234567" || c.CheckpointLSN != 0x3000148 ||
		c.TimelineID != 2 || !c.WALLogHints || !c.DataChecksums || !c.CleanShutdown() {
		t.Fatalf("%+v", c)
	}
	if _, err := ParseControlData("garbage"); err == nil {
		t.Fatal("garbage parsed")
	}
}

func TestCanFollowWithoutRewind(t *testing.T) {
	hist := []HistoryEntry{{1, 0x3000200}}
	tests := []struct {
		name string
		c    ControlData
		tli  int
		want bool
	}{
		{"clean, before fork", ControlData{State: "shut down", TimelineID: 1, CheckpointLSN: 0x3000148}, 2, true},
		{"clean, after fork", ControlData{State: "shut down", TimelineID: 1, CheckpointLSN: 0x3000300}, 2, false},
		{"crashed", ControlData{State: "in production", TimelineID: 1, CheckpointLSN: 0x3000148}, 2, false},
		{"crashed in crash recovery", ControlData{State: "in crash recovery", TimelineID: 2}, 2, false},
		{"a standby killed, on the timeline", ControlData{State: "in archive recovery", TimelineID: 2, CheckpointLSN: 0x3000300}, 2, true},
		{"a standby killed, before fork", ControlData{State: "in archive recovery", TimelineID: 1, CheckpointLSN: 0x3000100}, 2, true},
		{"a standby killed, after fork", ControlData{State: "in archive recovery", TimelineID: 1, CheckpointLSN: 0x3000300}, 2, false},
		{"same timeline", ControlData{State: "shut down in recovery", TimelineID: 2}, 2, true},
		{"unrelated timeline", ControlData{State: "shut down", TimelineID: 3}, 2, false},
		{"standby replayed past fork", ControlData{State: "shut down in recovery", TimelineID: 1, CheckpointLSN: 0x3000100, MinRecoveryEndLSN: 0x3000400}, 2, false},
	}
	for _, tt := range tests {
		if got := CanFollowWithoutRewind(tt.c, tt.tli, hist); got != tt.want {
			t.Errorf("%s: got %v", tt.name, got)
		}
	}
}

func TestRender(t *testing.T) {
	w := &Workload{Root: "/c/rootfs", Mount: MountPath, BinDir: "/usr/lib/postgresql/15/bin", User: "postgres", Group: "postgres", Addr: "127.0.0.9", Port: 5432}
	conf := w.RenderConf(Settings{SharedBuffersMB: 256, MaxSlotWALKeepSizeMB: 8192, Upstream: &Upstream{Host: "127.0.0.8", User: "replication", Slot: "pg_1", AppName: "pg_1"}})
	for _, want := range []string{
		"listen_addresses = '127.0.0.9'", "unix_socket_directories = ''", "wal_log_hints = on",
		"shared_buffers = 256MB", "primary_slot_name = 'pg_1'", "max_slot_wal_keep_size = 8192MB",
		"primary_conninfo = 'host=127.0.0.8 port=5432 user=replication application_name=pg_1 passfile=/c/rootfs/var/lib/postgresql/data/.charm/pgpass",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("conf lacks %q:\n%s", want, conf)
		}
	}
	w.WatchSocket = "/c/pebble.socket"
	layers := []struct {
		name string
		opts LayerOptions
		want []string
	}{
		{"primary: the upstream check watches the server itself", LayerOptions{}, []string{
			"command: /c/rootfs/usr/lib/postgresql/15/bin/postgres -D /c/rootfs/var/lib/postgresql/data/pgdata",
			"startup: disabled", "user: postgres", "override: replace",
			"  postgresql-ready:\n    override: replace\n    level: ready\n    period: 1s\n    timeout: 1s\n    threshold: 3\n    tcp:\n      host: 127.0.0.9\n      port: 5432\n",
			"  postgresql-upstream:\n    override: replace\n    period: 1s\n    timeout: 1s\n    threshold: 3\n    tcp:\n      host: 127.0.0.9\n      port: 5432\n",
		}},
		{"replica: the upstream check watches the upstream", LayerOptions{Upstream: "127.0.0.8:5433"}, []string{
			"  postgresql-upstream:\n    override: replace\n    period: 1s\n    timeout: 1s\n    threshold: 3\n    tcp:\n      host: 127.0.0.8\n      port: 5433\n",
		}},
		{"IPv6 upstream", LayerOptions{Upstream: "[fd00::1]:5432"}, []string{"      host: fd00::1\n      port: 5432\n"}},
	}
	for _, tt := range layers {
		layer := w.Layer(tt.opts)
		for _, want := range tt.want {
			if !strings.Contains(layer, want) {
				t.Errorf("%s: layer lacks %q:\n%s", tt.name, want, layer)
			}
		}
	}
	watch := w.WatchLayer()
	for _, want := range []string{
		"command: /c/rootfs/var/lib/postgresql-k8s/pg-watch pg-watch --socket /c/pebble.socket --timers /c/rootfs/var/lib/postgresql/data/.charm/timers.json" +
			" --observe /c/rootfs/var/lib/postgresql-k8s/observed.json --server 127.0.0.9:5432 --user monitoring" +
			" --passfile /c/rootfs/var/lib/postgresql/data/.charm/pgpass --ca /c/rootfs/var/lib/postgresql/data/.charm/tls/ca.crt\n",
		"startup: enabled", "on-failure: restart",
	} {
		if !strings.Contains(watch, want) {
			t.Errorf("watch layer lacks %q:\n%s", want, watch)
		}
	}
	if strings.Contains(watch, "user:") {
		t.Errorf("the watcher must run as Pebble's user:\n%s", watch)
	}
	if got := InContainerSocket("", "postgresql"); got != "/charm/container/pebble.socket" {
		t.Errorf("Kubernetes in-container socket %q", got)
	}
	if got := InContainerSocket("/j/c", "postgresql"); got != "/j/c/postgresql/pebble.socket" {
		t.Errorf("jujulet socket %q", got)
	}
	hba := RenderHBA([]HBARule{{"host", "replication", "replication", "127.0.0.8/32", "scram-sha-256"}})
	if !strings.Contains(hba, "host replication replication 127.0.0.8/32 scram-sha-256\n") {
		t.Errorf("hba:\n%s", hba)
	}
	if SlotName("postgresql-k8s/12") != "postgresql_k8s_12" {
		t.Error(SlotName("postgresql-k8s/12"))
	}
	if _, err := ScramVerifier("x"); err != nil {
		t.Fatal(err)
	}
}

func TestSyncStandbyNames(t *testing.T) {
	tests := []struct {
		names  []string
		anyOne bool
		want   string
	}{
		{nil, false, ""},
		{nil, true, ""},
		{[]string{"pg_1"}, false, `FIRST 1 ("pg_1")`},
		{[]string{"pg_1", "pg_2"}, false, `FIRST 2 ("pg_1", "pg_2")`},
		{[]string{"pg_1", "pg_2"}, true, `ANY 1 ("pg_1", "pg_2")`},
		{[]string{`we"ird`}, false, `FIRST 1 ("we""ird")`},
	}
	for _, tt := range tests {
		if got := SyncStandbyNames(tt.names, tt.anyOne); got != tt.want {
			t.Errorf("SyncStandbyNames(%q, %v) = %q, want %q", tt.names, tt.anyOne, got, tt.want)
		}
	}
	w := &Workload{Addr: "127.0.0.9", Port: 5432, Root: "/"}
	conf := w.RenderConf(Settings{SynchronousStandbyNames: `FIRST 1 ("pg_1")`})
	if !strings.Contains(conf, `synchronous_standby_names = 'FIRST 1 ("pg_1")'`+"\n") {
		t.Errorf("rendered conf lacks synchronous_standby_names:\n%s", conf)
	}
	if conf := w.RenderConf(Settings{}); !strings.Contains(conf, "synchronous_standby_names = ''\n") {
		t.Errorf("asynchronous conf does not clear synchronous_standby_names:\n%s", conf)
	}
}

func TestScramMatches(t *testing.T) {
	v, err := ScramVerifier("s3cret'pw")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		verifier, password string
		want               bool
	}{
		{v, "s3cret'pw", true},
		{v, "s3cret'pW", false},
		{v, "", false},
		{"md5abcdef", "s3cret'pw", false},
		{"SCRAM-SHA-256$x:AAAA$BBBB:CCCC", "s3cret'pw", false},
		{"SCRAM-SHA-256$4096:!!$BBBB:CCCC", "s3cret'pw", false},
	} {
		if got := scramMatches(tc.verifier, tc.password); got != tc.want {
			t.Errorf("scramMatches(%q, %q) = %v, want %v", tc.verifier, tc.password, got, tc.want)
		}
	}
}

// TestRenderTLS: the server serves TLS with the placed files, and every upstream connection
// verifies the server against the CA of the cluster it dials.
func TestRenderTLS(t *testing.T) {
	w := &Workload{Root: "/c/rootfs", Mount: MountPath, BinDir: "/usr/lib/postgresql/15/bin", Addr: "127.0.0.9", Port: 5432}
	tls := "/c/rootfs/var/lib/postgresql/data/.charm/tls/"
	tests := []struct {
		name    string
		s       Settings
		want    []string
		notWant []string
	}{
		{"off", Settings{}, nil, []string{"ssl"}},
		{"on, primary", Settings{TLS: true}, []string{
			"ssl = on\n", "ssl_cert_file = '" + tls + "server.crt'", "ssl_key_file = '" + tls + "server.key'",
			"ssl_ca_file = '" + tls + "client-ca.crt'", "ssl_min_protocol_version = 'TLSv1.2'",
		}, []string{"primary_conninfo"}},
		{"in-cluster upstream by address", Settings{TLS: true, Upstream: &Upstream{Host: "10.1.2.3", User: "replication"}},
			[]string{"sslmode=verify-ca sslrootcert=" + tls + "ca.crt'"}, []string{"prefer", "remote-ca"}},
		{"remote upstream", Settings{TLS: true, Upstream: &Upstream{Host: "10.9.9.9", User: "replication", Remote: true}},
			[]string{"sslmode=verify-ca sslrootcert=" + tls + "remote-ca.crt'"}, []string{"prefer"}},
		{"upstream by name", Settings{TLS: true, Upstream: &Upstream{Host: "pg-0.pg-endpoints", User: "replication"}},
			[]string{"host=pg-0.pg-endpoints ", "sslmode=verify-full sslrootcert=" + tls + "ca.crt'"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := w.RenderConf(tt.s)
			for _, want := range tt.want {
				if !strings.Contains(conf, want) {
					t.Errorf("conf lacks %q:\n%s", want, conf)
				}
			}
			for _, bad := range tt.notWant {
				if strings.Contains(conf, bad) {
					t.Errorf("conf has %q:\n%s", bad, conf)
				}
			}
		})
	}
	// Without a CA file the connection string still demands verification (and so fails).
	if ci := (Upstream{Host: "10.0.0.1", User: "r"}).ConnInfo(); !strings.Contains(ci, "sslmode=verify-ca") || strings.Contains(ci, "prefer") {
		t.Errorf("ConnInfo without a CA file: %s", ci)
	}
}

func TestClientTLSNeedsTrust(t *testing.T) {
	w := &Workload{Addr: "127.0.0.9", Port: 5432}
	if _, err := w.ClientTLS("127.0.0.9"); !errors.Is(err, ErrNoTrust) {
		t.Errorf("no Trust: %v, want ErrNoTrust", err)
	}
	w.Trust = func(string) ([]byte, error) { return nil, nil }
	if _, err := w.ClientTLS("127.0.0.9"); !errors.Is(err, ErrNoTrust) {
		t.Errorf("empty CA: %v, want ErrNoTrust", err)
	}
	w.Trust = func(string) ([]byte, error) { return []byte("junk"), nil }
	if _, err := w.ClientTLS("127.0.0.9"); err == nil {
		t.Error("a malformed CA was accepted")
	}
}
