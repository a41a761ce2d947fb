// Package state is jujulet's controller state: documents in SQLite (WAL), with every
// mutation in one transaction and a broadcast to watchers after each commit.
package state

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/juju/charm/v12"
	_ "modernc.org/sqlite" // SQLite driver
)

// Store holds the controller state.
type Store struct {
	db     *sql.DB // readers
	wdb    *sql.DB // the single writer (BEGIN IMMEDIATE)
	Home   string
	mu     sync.Mutex // single writer
	nmu    sync.Mutex
	notify chan struct{}

	cmu    sync.Mutex
	charms map[string]*charm.CharmDir
}

// Open opens (creating and migrating) the store in home.
func Open(home string) (*Store, error) {
	if err := os.MkdirAll(home, 0o711); err != nil {
		return nil, fmt.Errorf("creating %s: %w", home, err)
	}
	path := filepath.Join(home, "state.db")
	if f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600); err == nil {
		f.Close()
	}
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening state db: %w", err)
	}
	db.SetMaxOpenConns(4)
	wdb, err := sql.Open("sqlite", dsn+"&_txlock=immediate")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening state db: %w", err)
	}
	wdb.SetMaxOpenConns(1)
	s := &Store{db: db, wdb: wdb, Home: home, notify: make(chan struct{}), charms: map[string]*charm.CharmDir{}}
	if err := s.migrate(); err != nil {
		db.Close()
		wdb.Close()
		return nil, err
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		_ = os.Chmod(path+suffix, 0o600)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.wdb.Close()
	return s.db.Close()
}

// Changed returns a channel closed at the next commit.
func (s *Store) Changed() <-chan struct{} {
	s.nmu.Lock()
	defer s.nmu.Unlock()
	return s.notify
}

func (s *Store) broadcast() {
	s.nmu.Lock()
	close(s.notify)
	s.notify = make(chan struct{})
	s.nmu.Unlock()
}

// Tx is a transaction over the documents. The first error is kept and returned by
// Update/View; later calls become no-ops.
type Tx struct {
	tx    *sql.Tx
	s     *Store
	err   error
	wrote bool
}

// Err records err (if the first) and returns it.
func (t *Tx) Err(err error) error {
	if t.err == nil && err != nil {
		t.err = err
	}
	return err
}

// Get loads one document; false if absent.
func (t *Tx) Get(kind, id string, v any) bool {
	if t.err != nil {
		return false
	}
	var body []byte
	err := t.tx.QueryRow(`SELECT body FROM docs WHERE kind=? AND id=?`, kind, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return false
	}
	if err != nil {
		t.Err(fmt.Errorf("reading %s %s: %w", kind, id, err))
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Err(fmt.Errorf("decoding %s %s: %w", kind, id, err))
		return false
	}
	return true
}

// Put stores one document.
func (t *Tx) Put(kind, id string, v any) {
	if t.err != nil {
		return
	}
	body, err := json.Marshal(v)
	if err != nil {
		t.Err(fmt.Errorf("encoding %s %s: %w", kind, id, err))
		return
	}
	_, err = t.tx.Exec(`INSERT INTO docs(kind,id,body) VALUES(?,?,?) ON CONFLICT(kind,id) DO UPDATE SET body=excluded.body`, kind, id, body)
	t.Err(err)
	t.wrote = true
}

// Delete removes one document.
func (t *Tx) Delete(kind, id string) {
	if t.err != nil {
		return
	}
	_, err := t.tx.Exec(`DELETE FROM docs WHERE kind=? AND id=?`, kind, id)
	t.Err(err)
	t.wrote = true
}

// DeletePrefix removes documents whose id starts with prefix.
func (t *Tx) DeletePrefix(kind, prefix string) {
	if t.err != nil {
		return
	}
	_, err := t.tx.Exec(`DELETE FROM docs WHERE kind=? AND substr(id,1,?)=?`, kind, len(prefix), prefix)
	t.Err(err)
	t.wrote = true
}

// list decodes every document of kind whose id starts with prefix, ordered by id.
func list[T any](t *Tx, kind, prefix string) []*T {
	if t.err != nil {
		return nil
	}
	rows, err := t.tx.Query(`SELECT body FROM docs WHERE kind=? AND substr(id,1,?)=? ORDER BY id`, kind, len(prefix), prefix)
	if err != nil {
		t.Err(err)
		return nil
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			t.Err(err)
			return nil
		}
		v := new(T)
		if err := json.Unmarshal(body, v); err != nil {
			t.Err(fmt.Errorf("decoding %s: %w", kind, err))
			return nil
		}
		out = append(out, v)
	}
	t.Err(rows.Err())
	return out
}

// Update runs fn in a write transaction, committing if it returns nil and no error was
// recorded, then wakes watchers.
func (s *Store) Update(fn func(tx *Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sqltx, err := s.wdb.Begin()
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	// If fn panics, the transaction must not stay open on the single write connection.
	// After Commit or Rollback this is a no-op (sql.ErrTxDone).
	defer func() { _ = sqltx.Rollback() }()
	t := &Tx{tx: sqltx, s: s}
	ferr := fn(t)
	if ferr == nil {
		ferr = t.err
	}
	if ferr != nil {
		_ = sqltx.Rollback()
		return ferr
	}
	if err := sqltx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if t.wrote {
		s.broadcast()
	}
	return nil
}

// View runs fn in a read transaction.
func (s *Store) View(fn func(tx *Tx) error) error {
	sqltx, err := s.db.Begin()
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer sqltx.Rollback()
	t := &Tx{tx: sqltx, s: s}
	ferr := fn(t)
	if ferr == nil {
		ferr = t.err
	}
	return ferr
}

// Charm loads (cached) the charm in dir.
func (s *Store) Charm(dir string) (*charm.CharmDir, error) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if ch, ok := s.charms[dir]; ok {
		return ch, nil
	}
	ch, err := charm.ReadCharmDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading charm %s: %w", dir, err)
	}
	s.charms[dir] = ch
	return ch, nil
}

func key(parts ...string) string { return strings.Join(parts, "|") }
