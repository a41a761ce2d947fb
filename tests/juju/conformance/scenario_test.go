package conformance

import "maps"

// The scenario document both drivers read (hooktoolstest.Scenario on jujulet's side,
// testdata/jujucdriver's scenario on Juju's). Kept as plain maps here so that this module
// does not depend on jujulet's internal packages.
type doc = map[string]any

const modelUUID = "6a5b4c3d-1111-2222-3333-444455556666"

// baseScenario is unit pg/0, the leader, in a non-relation hook (config-changed).
func baseScenario() doc {
	return doc{
		"unit":            "pg/0",
		"model-uuid":      modelUUID,
		"leader":          true,
		"leader-settings": map[string]string{"primary": "pg/0", "endpoints": "a,b"},
		"config": doc{
			"port":    5432,
			"big":     1000000,
			"ratio":   0.5,
			"name":    "main",
			"flag":    true,
			"empty":   "",
			"unset":   nil,
			"profile": "production",
		},
		"hook-relation": -1,
		"relations": []doc{
			{
				"id": 2, "endpoint": "db", "remote-app": "app", "model-uuid": modelUUID,
				"units": doc{
					"app/0": map[string]string{"private-address": "10.0.0.5", "user": "jim"},
					"app/1": map[string]string{"private-address": "10.0.0.6"},
					"pg/0":  map[string]string{"private-address": "10.0.0.2", "ingress-address": "10.0.0.2"},
				},
				"app-settings": doc{"app": map[string]string{"database": "main"}, "pg": map[string]string{"endpoints": "pg:5432"}},
			},
			{
				"id": 12, "endpoint": "db", "remote-app": "other", "model-uuid": "feedface-1111-2222-3333-444455556666",
				"units": doc{}, "app-settings": doc{},
			},
			{
				"id": 1, "endpoint": "database-peers", "remote-app": "pg", "model-uuid": modelUUID, "peer": true,
				"units":        doc{"pg/1": map[string]string{"state": "standby"}, "pg/0": map[string]string{}},
				"app-settings": doc{"pg": map[string]string{"members": "pg/0,pg/1"}},
			},
		},
		"unit-status": doc{"status": "active", "message": "primary", "data": doc{"role": "primary"}},
		"app-status":  doc{"status": "active", "message": "2 units", "data": doc{}},
		"unit-statuses": doc{
			"pg/0": doc{"status": "active", "message": "primary"},
			"pg/1": doc{"status": "waiting", "message": "syncing"},
		},
		"private-address": "10.0.0.2",
		"public-address":  "10.0.0.2",
		"ports": []doc{
			{"endpoint": "", "protocol": "tcp", "from": 5432, "to": 5432},
			{"endpoint": "", "protocol": "udp", "from": 9000, "to": 9010},
			{"endpoint": "db", "protocol": "tcp", "from": 8008, "to": 8008},
		},
		"state": map[string]string{"init": "done", "x": "1"},
		"secrets": []doc{
			{"id": "cs1a2b3c4d5e6f7g8h90", "label": "operator", "description": "operator password", "owner": "application", "revision": 2, "rotate": "never", "content": map[string]string{"password": "s3cr3t"}},
			{"id": "cs9a8b7c6d5e4f3g2h1g", "label": "mine", "owner": "unit", "revision": 1, "content": map[string]string{"token": "t"}},
			{"id": "ct00000000000000000g", "content": map[string]string{"user": "u", "password": "p"}},
		},
		"storage": []doc{
			{"id": "pgdata/0", "kind": "filesystem", "location": "/var/lib/postgresql/data"},
			{"id": "logs/1", "kind": "block", "location": "/dev/vdb"},
		},
		"goal-units": doc{
			"pg/0": doc{"status": "active", "since": "2026-01-02 03:04:05Z"},
			"pg/1": doc{"status": "waiting", "since": "2026-01-02 03:05:00Z"},
		},
		"goal-relations": doc{
			"db": doc{
				"app":   doc{"status": "joined", "since": "2026-01-02 03:04:06Z"},
				"app/0": doc{"status": "active", "since": "2026-01-02 03:04:07Z"},
			},
			"database-peers": doc{"pg/1": doc{"status": "active", "since": "2026-01-02 03:05:00Z"}},
		},
		"resources": map[string]string{"pgbin": "/var/lib/jujulet/resources/pgbin/pg.tar"},
	}
}

// Scenario variants, by name.
func scenarios() map[string]doc {
	hook := baseScenario()

	nonLeader := baseScenario()
	nonLeader["leader"] = false

	relHook := baseScenario()
	relHook["hook-relation"] = 2
	relHook["remote-unit"] = "app/0"
	relHook["remote-app"] = "app"

	relNonLeader := maps.Clone(relHook)
	relNonLeader["leader"] = false

	action := baseScenario()
	action["action"] = doc{
		"mode":  "fast",
		"count": 3,
		"opts":  doc{"deep": doc{"key": "v"}, "flag": true},
	}

	storageHook := baseScenario()
	storageHook["hook-storage"] = "pgdata/0"

	return map[string]doc{
		"hook": hook, "non-leader": nonLeader, "relation": relHook,
		"relation-non-leader": relNonLeader, "action": action, "storage": storageHook,
	}
}
