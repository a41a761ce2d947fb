package charm

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jujulet/postgresql-k8s/internal/postgres"
)

// OpenClientAdmin connects to host's postgres database as user for the database relation.
func (p PGWorkload) OpenClientAdmin(ctx context.Context, host, user, password string) (ClientAdmin, error) {
	conn, err := postgres.Connect(ctx, host, p.W.Port, user, password, "postgres")
	if err != nil {
		return nil, err
	}
	connect := func(ctx context.Context, db string) (*pgx.Conn, error) {
		return postgres.Connect(ctx, host, p.W.Port, user, password, db)
	}
	return pgClientAdmin{conn: conn, connect: connect}, nil
}

type pgClientAdmin struct {
	conn    *pgx.Conn
	connect postgres.ConnectDB
}

func (a pgClientAdmin) InRecovery(ctx context.Context) (bool, error) {
	return postgres.InRecovery(ctx, a.conn)
}
func (a pgClientAdmin) ServerVersion(ctx context.Context) (string, error) {
	return postgres.ServerVersion(ctx, a.conn)
}
func (a pgClientAdmin) ClientUsers(ctx context.Context) ([]string, error) {
	return postgres.RolesWithPrefix(ctx, a.conn, clientUserPrefix)
}
func (a pgClientAdmin) EnsureClientUser(ctx context.Context, u postgres.ClientUser, revoke []string) error {
	return postgres.EnsureClientUser(ctx, a.conn, a.connect, u, revoke)
}
func (a pgClientAdmin) DropClientUser(ctx context.Context, user string) error {
	return postgres.DropClientUser(ctx, a.conn, a.connect, user)
}
func (a pgClientAdmin) HasClientUser(ctx context.Context, user, password string) (bool, error) {
	return postgres.HasClientUser(ctx, a.conn, user, password)
}
func (a pgClientAdmin) Close(ctx context.Context) { _ = a.conn.Close(ctx) }
