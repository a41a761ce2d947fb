package controller

import "github.com/jujulet/postgresql-k8s/internal/controller/api"

// handlePing answers "pong": the controller is up and serving.
func handlePing(*call, api.None) (string, error) { return "pong", nil }

// handleKill stops the controller: it stops the unit agents, then every pod, and exits.
// The caller waits for the process to go (and forces it after its timeout).
func handleKill(c *call, _ api.None) (api.None, error) {
	c.d.killPods = true
	c.d.stop()
	return api.None{}, nil
}
