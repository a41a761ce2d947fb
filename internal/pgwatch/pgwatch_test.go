package pgwatch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

type fakeNotifier struct {
	raised []string
	fail   bool
}

func (f *fakeNotifier) Notify(_ context.Context, timer string) error {
	if f.fail {
		return errors.New("pebble is gone")
	}
	f.raised = append(f.raised, timer)
	return nil
}

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func TestParseAndEncode(t *testing.T) {
	timers := Timers{"retry": t0.Add(2 * time.Second), "failover-confirm": t0.Add(3 * time.Second)}
	got, err := Parse(timers.Encode())
	if err != nil || !got.Equal(timers) {
		t.Fatalf("round trip: %v %v", got, err)
	}
	if !got.Next().Equal(t0.Add(2 * time.Second)) {
		t.Errorf("next = %v", got.Next())
	}
	for _, bad := range []string{
		`{"timers":{"Bad Name":"2025-01-02T03:04:05Z"}}`,
		`{"timers":{"retry":"yesterday"}}`,
		`{"timers":{"retry":"0001-01-01T00:00:00Z"}}`,
		`{"timers":{}, "extra":1}`,
		`{"timers":{}}{}`,
		`[1,2]`,
		`{"timers":`,
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%s) accepted", bad)
		}
	}
	if got, err := Parse(nil); err != nil || len(got) != 0 {
		t.Errorf("empty file: %v %v", got, err)
	}
}

func TestWatcherRaisesEachDeadlineOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "timers.json")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n := &fakeNotifier{}
	w := &Watcher{Path: path, Notifier: n}
	ctx := context.Background()

	steps := []struct {
		name  string
		file  string // "" keeps the file as it is; "-" removes it
		now   time.Time
		fail  bool
		wantN []string // notices raised in this step
	}{
		{"no file", "-", t0, false, nil},
		{"nothing due", string(Timers{"a": t0.Add(time.Second), "b": t0.Add(2 * time.Second)}.Encode()), t0, false, nil},
		{"a due", "", t0.Add(time.Second), false, []string{"a"}},
		{"a not again", "", t0.Add(1500 * time.Millisecond), false, nil},
		{"notify fails", "", t0.Add(2 * time.Second), true, nil},
		{"b retried", "", t0.Add(2100 * time.Millisecond), false, []string{"b"}},
		{"garbage ignored", "{not json", t0.Add(3 * time.Second), false, nil},
		{"a moved later fires again", string(Timers{"a": t0.Add(4 * time.Second), "b": t0.Add(2 * time.Second)}.Encode()), t0.Add(4 * time.Second), false, []string{"a"}},
		{"removed then same deadline again", string(Timers{}.Encode()), t0.Add(5 * time.Second), false, nil},
		{"re-added past deadline", string(Timers{"a": t0.Add(4 * time.Second)}.Encode()), t0.Add(5 * time.Second), false, []string{"a"}},
	}
	for _, s := range steps {
		switch s.file {
		case "":
		case "-":
			os.Remove(path)
		default:
			write(s.file)
		}
		n.fail = s.fail
		before := len(n.raised)
		w.Check(ctx, s.now)
		if got := n.raised[before:]; !slices.Equal(got, s.wantN) {
			t.Fatalf("%s: raised %v, want %v", s.name, got, s.wantN)
		}
	}
}

func TestMainRefusesBadArguments(t *testing.T) {
	for _, args := range [][]string{nil, {"--socket", "/x"}, {"--timers", "/x"}, {"--socket", "/x", "--timers", "/y", "extra"}, {"--bogus"}} {
		if rc := Main(context.Background(), args, discard{}, nil); rc != 2 {
			t.Errorf("Main(%v) = %d, want 2", args, rc)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
