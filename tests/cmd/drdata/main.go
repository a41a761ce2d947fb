// Command drdata writes and shows rows of the DR check table through a jujulet controller, for
// the demo: it finds the writable unit and the operator password the way a user would (status
// and the get-password action).
//
//	drdata write MODEL APP TAG N [OTHER_MODEL OTHER_APP]
//	                               insert N rows tagged TAG on the writable unit of APP
//	drdata show MODEL APP [OTHER_MODEL OTHER_APP]
//	                               count rows per tag on every unit of APP
//	drdata wait MODEL APP N MSG    wait until APP has N active units and app status MSG
//
// OTHER_MODEL OTHER_APP name the other cluster of cross-regional replication: a standby
// cluster's servers hold the primary cluster's roles, so its own operator password does not
// log in there, and the other cluster's is tried too (as a user would: get-password on the
// primary cluster).
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/jujulet/postgresql-k8s/tests/scenario"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ERROR", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := os.Getenv("JUJULET_BIN")
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		bin = filepath.Dir(exe)
	}
	b := &scenario.Jujulet{Bin: filepath.Join(bin, "jujulet"), Env: os.Environ()}
	// load loads the cluster MODEL APP, paired with OTHER_MODEL OTHER_APP when given (rest).
	load := func(model, app string, rest []string) (*scenario.Cluster, error) {
		c, err := scenario.LoadCluster(ctx, b, model, app)
		if err != nil || len(rest) == 0 {
			return c, err
		}
		other, err := scenario.LoadCluster(ctx, b, rest[0], rest[1])
		if err != nil {
			return nil, err
		}
		scenario.PairDR(c, other)
		return c, nil
	}
	switch {
	case (len(args) == 5 || len(args) == 7) && args[0] == "write":
		n, err := strconv.Atoi(args[4])
		if err != nil || n < 1 {
			return fmt.Errorf("the row count N must be a positive number, got %q", args[4])
		}
		c, err := load(args[1], args[2], args[5:])
		if err != nil {
			return err
		}
		pc, unit, err := scenario.Primary(ctx, c)
		if err != nil {
			return err
		}
		ids, err := scenario.InsertRows(ctx, pc.Units[unit], pc.Password, args[3], n)
		if err != nil {
			return err
		}
		fmt.Printf("wrote %d rows tagged %q on %s (%s), ids %d..%d\n", len(ids), args[3], unit, pc.Units[unit], ids[0], ids[len(ids)-1])
		return nil
	case (len(args) == 3 || len(args) == 5) && args[0] == "show":
		c, err := load(args[1], args[2], args[3:])
		if err != nil {
			return err
		}
		units := make([]string, 0, len(c.Units))
		for u := range c.Units {
			units = append(units, u)
		}
		sort.Strings(units)
		for _, u := range units {
			counts, role, err := tagCounts(ctx, c.Units[u], c.Password)
			if err != nil {
				fmt.Printf("%-10s %-15s %v\n", u, c.Units[u], err)
				continue
			}
			fmt.Printf("%-10s %-15s %-8s %s\n", u, c.Units[u], role, counts)
		}
		return nil
	case len(args) == 5 && args[0] == "wait":
		n, err := strconv.Atoi(args[3])
		if err != nil || n < 1 {
			return fmt.Errorf("the row count N must be a positive number, got %q", args[3])
		}
		wctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		what := fmt.Sprintf("%s: %d active units, application status %q", args[2], n, args[4])
		fmt.Printf("waiting in %s for %s\n", args[1], what)
		return scenario.WaitFor(wctx, b, args[1], what, scenario.AppSettled(args[2], n, args[4]))
	default:
		return fmt.Errorf("usage: drdata write MODEL APP TAG N [OTHER_MODEL OTHER_APP] | show MODEL APP [OTHER_MODEL OTHER_APP] | wait MODEL APP N MSG")
	}
}

func tagCounts(ctx context.Context, addr, password string) (string, string, error) {
	conn, err := scenario.Connect(ctx, addr, password)
	if err != nil {
		return "", "", err
	}
	defer conn.Close(context.Background())
	var inRecovery bool
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil {
		return "", "", err
	}
	role := "writable"
	if inRecovery {
		role = "standby"
	}
	rows, err := conn.Query(ctx, "SELECT tag, count(*) FROM dr_check GROUP BY tag ORDER BY tag")
	if err != nil {
		return "(no dr_check table yet)", role, nil
	}
	defer rows.Close()
	out := ""
	for rows.Next() {
		var tag string
		var n int
		if err := rows.Scan(&tag, &n); err != nil {
			return "", "", err
		}
		out += fmt.Sprintf("%s=%d ", tag, n)
	}
	return out, role, rows.Err()
}
