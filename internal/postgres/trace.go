package postgres

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jujulet/postgresql-k8s/internal/hookenv"
)

// spanTracer traces each SQL statement of a connection as a span of its context's hook
// trace (hookenv.StartSpan), named by its first keyword only: a statement may carry a
// password verifier, which a trace (in the debug-log) must not.
type spanTracer struct{}

type spanEndKey struct{}

func (spanTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	verb, _, _ := strings.Cut(strings.TrimSpace(data.SQL), " ")
	return context.WithValue(ctx, spanEndKey{}, hookenv.StartSpan(ctx, "sql "+strings.ToUpper(verb)))
}

func (spanTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	if end, ok := ctx.Value(spanEndKey{}).(func()); ok {
		end()
	}
}

// TraceBatchStart and TraceBatchEnd trace a batch of statements as one span.
func (spanTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return context.WithValue(ctx, spanEndKey{}, hookenv.StartSpan(ctx, "sql batch"))
}

func (spanTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (spanTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) {
	if end, ok := ctx.Value(spanEndKey{}).(func()); ok {
		end()
	}
}
