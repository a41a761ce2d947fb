package postgres

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jujulet/postgresql-k8s/internal/hookenv"
)

// A statement is traced by its first keyword only: the rest may hold a password verifier.
func TestSpanTracerNamesTheVerbOnly(t *testing.T) {
	var buf bytes.Buffer
	tr := hookenv.NewTracer(&buf, hookenv.Env{UnitName: "pg/0", HookName: "update-status"}, time.Now())
	ctx := hookenv.WithTracer(context.Background(), tr)
	var st spanTracer
	qctx := st.TraceQueryStart(ctx, nil, pgx.TraceQueryStartData{SQL: "  alter ROLE x PASSWORD 'SCRAM-SHA-256$secret'"})
	st.TraceQueryEnd(qctx, nil, pgx.TraceQueryEndData{})
	hooks, err := hookenv.ParseTrace(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(hooks) != 1 || len(hooks[0].Spans) != 1 || hooks[0].Spans[0].Tool != "sql_ALTER" {
		t.Fatalf("trace %q: want one span sql_ALTER", buf.String())
	}
	if bytes.Contains(buf.Bytes(), []byte("secret")) {
		t.Errorf("the trace holds the statement: %q", buf.String())
	}
	// Without a tracer in the context nothing is written.
	buf.Reset()
	st.TraceQueryEnd(st.TraceQueryStart(context.Background(), nil, pgx.TraceQueryStartData{SQL: "SELECT 1"}), nil, pgx.TraceQueryEndData{})
	if buf.Len() != 0 {
		t.Errorf("traced without a tracer: %q", buf.String())
	}
}
