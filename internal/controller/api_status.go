package controller

import (
	"github.com/jujulet/postgresql-k8s/internal/controller/api"
	st "github.com/jujulet/postgresql-k8s/internal/controller/state"
)

// handleStatus is `juju status --format json` for the model.
func handleStatus(c *call, _ api.None) (api.FullStatus, error) {
	var out api.FullStatus
	err := c.view(func(t *st.Tx, m *st.Model) error {
		doc, err := c.d.status(t, m)
		out = doc
		return err
	})
	return out, err
}

// handleLogs returns the model's log lines after p.After (the last p.Limit of them).
func handleLogs(c *call, p api.LogsParams) ([]api.LogEntry, error) {
	var model string
	if err := c.view(func(_ *st.Tx, m *st.Model) error {
		model = m.UUID
		return nil
	}); err != nil {
		return nil, err
	}
	lines, err := c.d.store.Logs(model, p.After, p.Limit)
	if err != nil {
		return nil, err
	}
	out := make([]api.LogEntry, 0, len(lines))
	for _, l := range lines {
		out = append(out, api.LogEntry{ID: l.ID, Time: l.Time, Entity: l.Entity, Level: l.Level, Message: l.Message})
	}
	return out, nil
}
