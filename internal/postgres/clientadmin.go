package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// ClientAdmin is an administrator's session on one server for the database relation's
// users: it may open sessions to other databases on the same server (grants are per
// database).
type ClientAdmin struct {
	conn    *pgx.Conn
	connect ConnectDB
}

// OpenClientAdmin connects to host's postgres database as user.
func (w *Workload) OpenClientAdmin(ctx context.Context, host, user, password string) (*ClientAdmin, error) {
	conn, err := w.connect(ctx, host, user, password, "postgres")
	if err != nil {
		return nil, err
	}
	connect := func(ctx context.Context, db string) (*pgx.Conn, error) {
		return w.connect(ctx, host, user, password, db)
	}
	return &ClientAdmin{conn: conn, connect: connect}, nil
}

// InRecovery reports whether the server is a standby (InRecovery).
func (a *ClientAdmin) InRecovery(ctx context.Context) (bool, error) { return InRecovery(ctx, a.conn) }

// ServerVersion is the server's version string (ServerVersion).
func (a *ClientAdmin) ServerVersion(ctx context.Context) (string, error) {
	return ServerVersion(ctx, a.conn)
}

// RolesWithPrefix lists the roles whose names start with prefix (RolesWithPrefix).
func (a *ClientAdmin) RolesWithPrefix(ctx context.Context, prefix string) ([]string, error) {
	return RolesWithPrefix(ctx, a.conn, prefix)
}

// EnsureClientUser creates or updates a relation's user and database (EnsureClientUser).
func (a *ClientAdmin) EnsureClientUser(ctx context.Context, u ClientUser, revoke []string) error {
	return EnsureClientUser(ctx, a.conn, a.connect, u, revoke)
}

// DropClientUser ends a relation user's sessions and drops it (DropClientUser).
func (a *ClientAdmin) DropClientUser(ctx context.Context, user string) error {
	return DropClientUser(ctx, a.conn, a.connect, user)
}

// HasClientUser reports whether user may log in with password (HasClientUser).
func (a *ClientAdmin) HasClientUser(ctx context.Context, user, password string) (bool, error) {
	return HasClientUser(ctx, a.conn, user, password)
}

// Close ends the session.
func (a *ClientAdmin) Close(ctx context.Context) { _ = a.conn.Close(ctx) }
