package charm

import "github.com/jujulet/postgresql-k8s/internal/postgres"

// selfLogin is how the charm logs in to its own cluster's servers.
func selfLogin(st *State) postgres.Login {
	return postgres.PasswordLogin("operator", st.Passwords["operator"])
}

// remoteLogin is how the charm logs in to the other cluster's servers (cross-regional
// replication): as replication, to the postgres database, never as a superuser. Its password
// is the one both clusters hold (the standby copies it from the primary cluster's shared
// secret), and postgres.ReplicationGrants lists what its queries need beyond REPLICATION.
func remoteLogin(st *State) postgres.Login {
	return postgres.PasswordLogin("replication", st.Passwords["replication"])
}
