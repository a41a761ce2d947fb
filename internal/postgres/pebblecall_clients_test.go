package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canonical/pebble/client"
)

// filesPebble is a Pebble API that answers system-info and stats: 200 for the paths in files,
// the status in fail for those, 404 for the rest. It counts the stats in flight.
type filesPebble struct {
	files map[string]bool
	fail  map[string]int

	mu       sync.Mutex
	inFlight int
	release  chan struct{} // when set, each stat waits for it
}

func (p *filesPebble) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	reply := func(code int, result any) {
		typ := "sync"
		if code >= 400 {
			typ = "error"
		}
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(code)
		_ = json.NewEncoder(rw).Encode(map[string]any{"type": typ, "status-code": code, "status": http.StatusText(code), "result": result})
	}
	switch r.URL.Path {
	case "/v1/system-info":
		reply(200, map[string]any{"version": "test", "boot-id": "b"})
	case "/v1/files":
		p.mu.Lock()
		p.inFlight++
		p.mu.Unlock()
		defer func() { p.mu.Lock(); p.inFlight--; p.mu.Unlock() }()
		if p.release != nil {
			<-p.release
		}
		path := r.URL.Query().Get("path")
		switch {
		case p.fail[path] != 0:
			reply(p.fail[path], map[string]any{"message": "boom"})
		case p.files[path]:
			reply(200, []map[string]any{{"path": path, "name": filepath.Base(path), "type": "file", "permissions": "755", "last-modified": "2026-01-01T00:00:00Z"}})
		default:
			reply(404, map[string]any{"message": "stat " + path + ": no such file or directory", "kind": "not-found"})
		}
	default:
		reply(404, map[string]any{"message": "not found"})
	}
}

func servePebble(t *testing.T, h http.Handler) string {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "pebble.socket")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return socket
}

func TestDetectBinariesNewestFirst(t *testing.T) {
	bin := func(m string) string { return "/usr/lib/postgresql/" + m + "/bin/postgres" }
	for _, tc := range []struct {
		name    string
		files   []string
		fail    map[string]int
		want    int
		wantErr string
	}{
		{"newest of several", []string{bin("15"), bin("16")}, nil, 16, ""},
		{"oldest only", []string{bin("14")}, nil, 14, ""},
		{"none", nil, nil, 0, "no PostgreSQL"},
		// Decided newest first: an error on a newer major is the answer, one on an older
		// major does not matter once a newer one is found.
		{"error before a match", []string{bin("15")}, map[string]int{bin("16"): 500}, 0, "boom"},
		{"error after a match", []string{bin("16")}, map[string]int{bin("14"): 500}, 16, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &filesPebble{files: map[string]bool{}, fail: tc.fail}
			for _, f := range tc.files {
				p.files[f] = true
			}
			socket := servePebble(t, p)
			w, err := Open(context.Background(), Options{Socket: socket})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Open: %v, want an error with %q", err, tc.wantErr)
				}
				if tc.want == 0 && tc.fail == nil && !errors.Is(err, ErrNotReady) {
					t.Errorf("no binaries: %v is not ErrNotReady", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w.Major != tc.want || w.BinDir != "/usr/lib/postgresql/"+strconv.Itoa(tc.want)+"/bin" {
				t.Errorf("detected %d at %s, want %d", w.Major, w.BinDir, tc.want)
			}
		})
	}
}

// Calls that run at once each get a client of their own (a Pebble client is not safe for
// concurrent requests), and the majors are looked up at once.
func TestConcurrentPebbleCallsUseTheirOwnClients(t *testing.T) {
	p := &filesPebble{files: map[string]bool{}, release: make(chan struct{})}
	socket := servePebble(t, p)
	opened := make(chan error, 1)
	go func() {
		_, err := Open(context.Background(), Options{Socket: socket})
		opened <- err
	}()
	// Each stat waits until all of them are in flight: sequential stats would never get
	// there (the deadline only keeps such a failure from hanging the test).
	giveUp := time.Now().Add(30 * time.Second)
	for {
		p.mu.Lock()
		n := p.inFlight
		p.mu.Unlock()
		if n >= len(SupportedMajors) {
			break
		}
		select {
		case err := <-opened:
			t.Fatalf("Open returned before the majors were looked up at once: %v", err)
		default:
		}
		if time.Now().After(giveUp) {
			close(p.release)
			t.Fatalf("%d stats in flight at once, want %d", n, len(SupportedMajors))
		}
		runtime.Gosched()
	}
	close(p.release)
	if err := <-opened; err == nil || !errors.Is(err, ErrNotReady) {
		t.Fatalf("Open without binaries: %v", err)
	}
	g := &pebbleGuard{socket: socket, conns: map[net.Conn]struct{}{}}
	pc, err := g.newClient()
	if err != nil {
		t.Fatal(err)
	}
	g.idle = []*client.Client{pc}
	wl := &Workload{Pebble: pc, guard: g}
	a, _ := wl.takeClient()
	b, _ := wl.takeClient()
	if a == b {
		t.Fatal("two calls at once share a client")
	}
	wl.giveClient(a)
	if c, _ := wl.takeClient(); c != a {
		t.Error("a client given back is not used again")
	}
}
