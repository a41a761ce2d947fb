package state

import "fmt"

var migrations = []string{
	`CREATE TABLE docs (kind TEXT NOT NULL, id TEXT NOT NULL, body BLOB NOT NULL, PRIMARY KEY(kind, id))`,
	`CREATE TABLE logs (id INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, model TEXT NOT NULL, entity TEXT NOT NULL, level TEXT NOT NULL, message TEXT NOT NULL)`,
	`CREATE INDEX docs_action_queue ON docs(kind, json_extract(body, '$.model'), json_extract(body, '$.unit'), json_extract(body, '$.status'))`,
	`CREATE INDEX logs_model ON logs(model, id)`,
}

func (s *Store) migrate() error {
	if _, err := s.wdb.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	var have int
	if err := s.wdb.QueryRow(`SELECT COALESCE(MAX(version),0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	for v := have + 1; v <= len(migrations); v++ {
		tx, err := s.wdb.Begin()
		if err != nil {
			return err
		}
		if _, err := tx.Exec(migrations[v-1]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if _, err := tx.Exec(`INSERT INTO schema_migrations(version) VALUES(?)`, v); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
	}
	return nil
}
