package state

import (
	"fmt"
	"time"
)

// AppendLog adds a debug-log line.
func (s *Store) AppendLog(model, entity, level, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _ = s.wdb.Exec(`INSERT INTO logs(ts,model,entity,level,message) VALUES(?,?,?,?,?)`,
		time.Now().UTC().Format(time.RFC3339Nano), model, entity, level, msg)
}

// Logs returns log lines of a model with id > after, at most limit (0: all).
func (s *Store) Logs(model string, after int64, limit int) ([]LogEntry, error) {
	q := `SELECT id,ts,model,entity,level,message FROM logs WHERE model=? AND id>? ORDER BY id`
	args := []any{model, after}
	if limit > 0 {
		q = `SELECT * FROM (SELECT id,ts,model,entity,level,message FROM logs WHERE model=? AND id>? ORDER BY id DESC LIMIT ?) ORDER BY id`
		args = append(args, limit)
	}
	rows, err := s.db.Query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("reading logs: %w", err)
	}
	defer rows.Close()
	var out []LogEntry
	for rows.Next() {
		var e LogEntry
		var ts string
		if err := rows.Scan(&e.ID, &ts, &e.Model, &e.Entity, &e.Level, &e.Message); err != nil {
			return nil, err
		}
		e.Time, _ = time.Parse(time.RFC3339Nano, ts)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Log adds a debug-log line inside the transaction.
func (t *Tx) Log(model, entity, level, msg string) {
	if t.err != nil {
		return
	}
	_, err := t.tx.Exec(`INSERT INTO logs(ts,model,entity,level,message) VALUES(?,?,?,?,?)`,
		time.Now().UTC().Format(time.RFC3339Nano), model, entity, level, msg)
	t.Err(err)
}

// PruneLogs keeps the newest keep log lines.
func (s *Store) PruneLogs(keep int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.wdb.Exec(`DELETE FROM logs WHERE id <= (SELECT COALESCE(MAX(id), 0) FROM logs) - ?`, keep)
	if err != nil {
		return fmt.Errorf("pruning logs: %w", err)
	}
	return nil
}
