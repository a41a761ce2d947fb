package postgres

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ClientUser is a login role the charm creates for a client application (the database
// relation): it may connect to Database and create objects in its public schema, and gets
// Attributes (e.g. CREATEDB) and membership of Roles (e.g. pg_monitor) on top. The caller
// has vetted Attributes and Roles; names are always quoted here.
type ClientUser struct {
	Name       string
	Password   string
	Database   string
	Attributes []string
	Roles      []string
}

// ConnectDB opens a connection to one database of the same server (as the same superuser).
type ConnectDB func(ctx context.Context, database string) (*pgx.Conn, error)

// EnsureClientUser creates (or updates) u's role with its password, creates u.Database when
// it is missing (owned by the connected superuser, not connectable by PUBLIC) and grants the
// role what it needs in it. revokeRoles are memberships to take back (roles no longer asked
// for). Every name is a quoted identifier; the password travels as a SCRAM verifier.
func EnsureClientUser(ctx context.Context, conn *pgx.Conn, connect ConnectDB, u ClientUser, revokeRoles []string) error {
	verifier, err := ScramVerifier(u.Password)
	if err != nil {
		return err
	}
	role := pgx.Identifier{u.Name}.Sanitize()
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", u.Name).Scan(&exists); err != nil {
		return fmt.Errorf("client user %s: %w", u.Name, err)
	}
	verb := "CREATE"
	if exists {
		verb = "ALTER"
	}
	// Attributes not asked for are set off explicitly, so that a role left from an earlier
	// request loses what it no longer may have.
	attrs := []string{"LOGIN", "NOSUPERUSER", "NOREPLICATION", "NOBYPASSRLS", "NOCREATEROLE", "NOCREATEDB"}
	for _, a := range u.Attributes {
		for i, have := range attrs {
			if "NO"+a == have {
				attrs[i] = a
			}
		}
	}
	stmt := fmt.Sprintf("%s ROLE %s WITH %s PASSWORD %s", verb, role, strings.Join(attrs, " "), quoteLiteral(verifier))
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("%s role %s: %w", strings.ToLower(verb), u.Name, err)
	}
	for _, r := range u.Roles {
		if _, err := conn.Exec(ctx, fmt.Sprintf("GRANT %s TO %s", pgx.Identifier{r}.Sanitize(), role)); err != nil {
			return fmt.Errorf("grant %s to %s: %w", r, u.Name, err)
		}
	}
	for _, r := range revokeRoles {
		if _, err := conn.Exec(ctx, fmt.Sprintf("REVOKE %s FROM %s", pgx.Identifier{r}.Sanitize(), role)); err != nil {
			return fmt.Errorf("revoke %s from %s: %w", r, u.Name, err)
		}
	}
	if err := ensureDatabase(ctx, conn, u.Database); err != nil {
		return err
	}
	db := pgx.Identifier{u.Database}.Sanitize()
	if _, err := conn.Exec(ctx, fmt.Sprintf("GRANT ALL ON DATABASE %s TO %s", db, role)); err != nil {
		return fmt.Errorf("grant database %s to %s: %w", u.Database, u.Name, err)
	}
	dconn, err := connect(ctx, u.Database)
	if err != nil {
		return err
	}
	defer func() { _ = dconn.Close(context.WithoutCancel(ctx)) }()
	return shareSchema(ctx, conn, dconn, u)
}

// shareSchema lets u create in the database's public schema (since PostgreSQL 15 only the
// owner may) and share its tables with the database's other client users: the roles granted
// CONNECT on it. Each gets the other's existing tables and sequences and, through default
// privileges, those either creates later; so two applications asking for one database both
// work on the same tables.
func shareSchema(ctx context.Context, conn, dconn *pgx.Conn, u ClientUser) error {
	role := pgx.Identifier{u.Name}.Sanitize()
	rows, err := conn.Query(ctx, `SELECT r.rolname FROM pg_database d, aclexplode(d.datacl) a, pg_roles r
		WHERE d.datname = $1 AND a.grantee = r.oid AND a.privilege_type = 'CONNECT'
		AND r.rolname <> $2 AND NOT r.rolsuper ORDER BY r.rolname`, u.Database, u.Name)
	if err != nil {
		return fmt.Errorf("users of database %s: %w", u.Database, err)
	}
	others, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("users of database %s: %w", u.Database, err)
	}
	stmts := []string{
		"GRANT ALL ON SCHEMA public TO " + role,
		"GRANT ALL ON ALL TABLES IN SCHEMA public TO " + role,
		"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO " + role,
	}
	for _, o := range others {
		other := pgx.Identifier{o}.Sanitize()
		for _, kind := range []string{"TABLES", "SEQUENCES"} {
			stmts = append(stmts,
				fmt.Sprintf("ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA public GRANT ALL ON %s TO %s", other, kind, role),
				fmt.Sprintf("ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA public GRANT ALL ON %s TO %s", role, kind, other))
		}
	}
	for _, stmt := range stmts {
		if _, err := dconn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("database %s, user %s: %w", u.Database, u.Name, err)
		}
	}
	return nil
}

// ensureDatabase creates database when it is missing. CREATE DATABASE cannot run in a
// transaction: a concurrent creation shows as a duplicate, which is success.
func ensureDatabase(ctx context.Context, conn *pgx.Conn, database string) error {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", database).Scan(&exists); err != nil {
		return fmt.Errorf("database %s: %w", database, err)
	}
	if exists {
		return nil
	}
	db := pgx.Identifier{database}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+db); err != nil && !isDuplicateDatabase(err) {
		return fmt.Errorf("create database %s: %w", database, err)
	}
	// Only the roles granted CONNECT (and superusers) may connect.
	if _, err := conn.Exec(ctx, "REVOKE ALL ON DATABASE "+db+" FROM PUBLIC"); err != nil {
		return fmt.Errorf("database %s: %w", database, err)
	}
	return nil
}

func isDuplicateDatabase(err error) bool {
	var pe interface{ SQLState() string }
	return errors.As(err, &pe) && pe.SQLState() == "42P04"
}

// DropClientUser ends user's sessions and drops its role. What it owns in any database
// (tables the application created) is handed to the connected superuser, so that the data
// outlives the relation and a later one can be granted it. A role that does not exist is
// success.
func DropClientUser(ctx context.Context, conn *pgx.Conn, connect ConnectDB, user string) error {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", user).Scan(&exists); err != nil {
		return fmt.Errorf("client user %s: %w", user, err)
	}
	if !exists {
		return nil
	}
	role := pgx.Identifier{user}.Sanitize()
	// No new session first, then end those there are.
	if _, err := conn.Exec(ctx, "ALTER ROLE "+role+" NOLOGIN"); err != nil {
		return fmt.Errorf("disable login of %s: %w", user, err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", user); err != nil {
		return fmt.Errorf("end the sessions of %s: %w", user, err)
	}
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname")
	if err != nil {
		return fmt.Errorf("list databases: %w", err)
	}
	dbs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list databases: %w", err)
	}
	for _, d := range dbs {
		if err := disown(ctx, connect, d, role); err != nil {
			return err
		}
	}
	if _, err := conn.Exec(ctx, "DROP ROLE "+role); err != nil {
		return fmt.Errorf("drop role %s: %w", user, err)
	}
	return nil
}

// disown hands what role owns in database to the current user and drops its privileges there.
func disown(ctx context.Context, connect ConnectDB, database, role string) error {
	c, err := connect(ctx, database)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close(context.WithoutCancel(ctx)) }()
	if _, err := c.Exec(ctx, "REASSIGN OWNED BY "+role+" TO CURRENT_USER"); err != nil {
		return fmt.Errorf("reassign what %s owns in %s: %w", role, database, err)
	}
	if _, err := c.Exec(ctx, "DROP OWNED BY "+role); err != nil {
		return fmt.Errorf("drop the privileges of %s in %s: %w", role, database, err)
	}
	return nil
}

// RolesWithPrefix lists the roles whose name starts with prefix.
func RolesWithPrefix(ctx context.Context, conn *pgx.Conn, prefix string) ([]string, error) {
	rows, err := conn.Query(ctx, "SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY rolname", prefix)
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	return names, nil
}

// ServerVersion is the server's version number, e.g. "16.4".
func ServerVersion(ctx context.Context, conn *pgx.Conn) (string, error) {
	var v string
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version')").Scan(&v); err != nil {
		return "", fmt.Errorf("server version: %w", err)
	}
	if f := strings.Fields(v); len(f) > 0 {
		return f[0], nil
	}
	return v, nil
}

// InRecovery reports whether the server is a standby.
func InRecovery(ctx context.Context, conn *pgx.Conn) (bool, error) {
	var r bool
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&r); err != nil {
		return false, fmt.Errorf("pg_is_in_recovery: %w", err)
	}
	return r, nil
}

// HasClientUser reports whether user exists, may log in, and has password (its SCRAM
// verifier is checked here: the password is never sent to the server). A standby answers it
// for roles its primary created, once they have replayed.
func HasClientUser(ctx context.Context, conn *pgx.Conn, user, password string) (bool, error) {
	var verifier *string
	var login bool
	err := conn.QueryRow(ctx, "SELECT rolpassword, rolcanlogin FROM pg_authid WHERE rolname = $1", user).Scan(&verifier, &login)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("client user %s: %w", user, err)
	}
	return login && verifier != nil && scramMatches(*verifier, password), nil
}

// scramMatches checks password against a SCRAM-SHA-256 verifier
// (SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>), the password normalised as a
// libpq client sends it.
func scramMatches(verifier, password string) bool {
	rest, ok := strings.CutPrefix(verifier, "SCRAM-SHA-256$")
	if !ok {
		return false
	}
	params, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return false
	}
	iterStr, saltB64, ok1 := strings.Cut(params, ":")
	storedB64, _, ok2 := strings.Cut(keys, ":")
	iter, err := strconv.Atoi(iterStr)
	if !ok1 || !ok2 || err != nil || iter <= 0 {
		return false
	}
	salt, err1 := base64.StdEncoding.DecodeString(saltB64)
	stored, err2 := base64.StdEncoding.DecodeString(storedB64)
	if err1 != nil || err2 != nil {
		return false
	}
	salted, err := pbkdf2.Key(sha256.New, libpqForm(password), salt, iter, 32)
	if err != nil {
		return false
	}
	h := hmac.New(sha256.New, salted)
	h.Write([]byte("Client Key"))
	sum := sha256.Sum256(h.Sum(nil))
	return hmac.Equal(sum[:], stored)
}
