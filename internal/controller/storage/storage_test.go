package storage_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/jujulet/postgresql-k8s/internal/controller/storage"
)

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestKeepAndRelease: kept storage moves under the unit's tag, a second unit of the same
// name does not overwrite the first's, nothing to keep is no error, and releasing moves a
// model's detached storage, under the same unit tags, to its released directory.
func TestKeepAndRelease(t *testing.T) {
	home := t.TempDir()
	det := storage.DetachedDir(home, "rome")
	for i, data := range []string{"first\n", "second\n"} {
		src := filepath.Join(home, "units", string(rune('1'+i)), "data")
		write(t, filepath.Join(src, "PG_VERSION"), data)
		got, err := storage.Keep(src, det, "db1/0", "pgdata")
		if err != nil {
			t.Fatal(err)
		}
		want := filepath.Join(det, "unit-db1-0", "pgdata")
		if i == 1 {
			want = filepath.Join(det, "unit-db1-0.1", "pgdata")
		}
		if got != want || read(t, filepath.Join(got, "PG_VERSION")) != data {
			t.Fatalf("keep #%d at %q, want %q", i, got, want)
		}
	}
	if got, err := storage.Keep(filepath.Join(home, "nope"), det, "db1/1", "pgdata"); got != "" || err != nil {
		t.Fatalf("keeping nothing: %q, %v", got, err)
	}
	if n := len(storage.Kept(det)); n != 2 {
		t.Fatalf("%d kept, want 2", n)
	}
	released, err := storage.ReleaseDetached(home, "rome")
	if err != nil || len(released) != 2 {
		t.Fatalf("released %v, %v", released, err)
	}
	rel := storage.ReleasedDir(home, "rome")
	if read(t, filepath.Join(rel, "unit-db1-0", "pgdata", "PG_VERSION")) != "first\n" ||
		read(t, filepath.Join(rel, "unit-db1-0.1", "pgdata", "PG_VERSION")) != "second\n" {
		t.Fatalf("released storage: %v", released)
	}
	if _, err := os.Stat(det); !os.IsNotExist(err) {
		t.Fatalf("detached dir left: %v", err)
	}
	if got, err := storage.ReleaseDetached(home, "lisbon"); got != nil || err != nil {
		t.Fatalf("releasing a model without storage: %v, %v", got, err)
	}
}

func TestID(t *testing.T) {
	if got := storage.ID("pgdata", "db-1/12"); got != "pgdata/12" {
		t.Errorf("ID = %q", got)
	}
}
