package hooktools

import (
	"bufio"
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/rpc"
	"path/filepath"
	"sync"

	"github.com/juju/cmd/v3"

	"github.com/jujulet/postgresql-k8s/internal/hooktools/toolclient"
)

// Request and Response are the wire format of the unit's socket, shared with the hook
// tools' client (toolclient, which the small cmd/jujuc binary links alone).
type (
	Request  = toolclient.Request
	Response = toolclient.Response
)

// maxRequestSize bounds a request (args and stdin) read from the socket.
const maxRequestSize = 64 << 20

// ErrNoStdin is what a tool's stdin returns when the client sent none, and what Execute
// answers then.
var ErrNoStdin = errors.New(toolclient.NoStdin)

type noStdin struct{}

func (noStdin) Read([]byte) (int, error) { return 0, ErrNoStdin }

// runWrapper remembers the error a tool's Run returned, to spot ErrNoStdin.
type runWrapper struct {
	cmd.Command
	err error
}

func (w *runWrapper) Run(ctx *cmd.Context) error {
	w.err = w.Command.Run(ctx)
	return w.err
}

// Execute runs one hook tool against hc in-process, exactly as the server does for a
// request whose context id resolved to hc. An error is a request refused before the tool
// ran, as Juju's Jujuc.Main refuses them: a bad request, or ErrNoStdin when the tool read
// the stdin the request did not carry. The tool's own failures are in the Response.
func Execute(ctx context.Context, hc Context, req Request) (Response, error) {
	if req.CommandName == "" {
		return Response{}, badRequest("command not specified")
	}
	if !filepath.IsAbs(req.Dir) {
		return Response{}, badRequest("Dir is not absolute")
	}
	c, ok := newTool(req.CommandName, hc)
	if !ok {
		return Response{}, badRequest("unknown command: %s", req.CommandName)
	}
	if ds, ok := c.(dirSetter); ok {
		ds.setDir(req.Dir)
	}
	var stdin io.Reader = noStdin{}
	if req.StdinSet {
		stdin = bytes.NewReader(req.Stdin)
	}
	var stdout, stderr bytes.Buffer
	cctx := &cmd.Context{Context: ctx, Dir: req.Dir, Stdin: stdin, Stdout: &stdout, Stderr: &stderr}
	w := &runWrapper{Command: c}
	code := cmd.Main(w, cctx, req.Args)
	if errors.Is(w.err, ErrNoStdin) {
		return Response{}, ErrNoStdin
	}
	return Response{Code: code, Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}, nil
}

func badRequest(format string, a ...any) error {
	return fmt.Errorf("bad request: "+format, a...)
}

// Server serves hook tool requests on a unit's socket with Juju's jujuc protocol (net/rpc,
// gob, Jujuc.Main; see toolclient), routing each to the Context its JUJU_CONTEXT_ID names.
// Tools run one at a time, as in Juju.
type Server struct {
	lookup func(contextID string) (Context, bool)
	logger *slog.Logger
	mu     sync.Mutex // serialises tool runs
}

// ServerOption configures a Server.
type ServerOption func(*Server)

// WithLogger sets the logger for connection-level problems (default slog.Default()).
func WithLogger(l *slog.Logger) ServerOption { return func(s *Server) { s.logger = l } }

// NewServer returns a server that resolves context ids with lookup; an id lookup
// does not know (stale or foreign) is a bad request.
func NewServer(lookup func(contextID string) (Context, bool), opts ...ServerOption) *Server {
	s := &Server{lookup: lookup, logger: slog.Default()}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Handle answers one request as Juju's Jujuc.Main does: the token and the context id are
// checked, then the tool runs (Execute) while no other does.
func (s *Server) Handle(ctx context.Context, req Request) (Response, error) {
	if req.Token != "" {
		// jujulet runs every hook next to its agent, where Juju's token is empty.
		return Response{}, badRequest("token does not match")
	}
	hc, ok := s.lookup(req.ContextId)
	if !ok || hc == nil {
		return Response{}, badRequest("wrong context ID; got %q", req.ContextId)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return Execute(ctx, hc, req)
}

// jujucService is the net/rpc receiver: its one exported method is the protocol's.
type jujucService struct {
	ctx context.Context
	s   *Server
}

// Main is Jujuc.Main.
func (j *jujucService) Main(req Request, resp *Response) error {
	r, err := j.s.Handle(j.ctx, req)
	*resp = r
	return err
}

// Serve accepts connections on ln until ctx is done (then it closes ln, closes open
// connections, waits for their handlers and returns nil) or Accept fails. A connection
// may carry any number of calls, concurrent ones too.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rs := rpc.NewServer()
	if err := rs.RegisterName("Jujuc", &jujucService{ctx: ctx, s: s}); err != nil {
		return fmt.Errorf("hook tool server: %w", err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	go func() {
		<-ctx.Done()
		_ = ln.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	}()
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("hook tool server: accept: %w", err)
		}
		mu.Lock()
		if ctx.Err() != nil {
			// Accepted as Serve was stopping, after the stopper closed the open connections.
			mu.Unlock()
			_ = conn.Close()
			continue
		}
		conns[conn] = struct{}{}
		mu.Unlock()
		wg.Go(func() {
			defer func() {
				mu.Lock()
				delete(conns, conn)
				mu.Unlock()
			}()
			rs.ServeCodec(newGobCodec(conn)) // closes conn
		})
	}
}

// gobCodec is net/rpc's gob server codec with a bound on each request's size (args and
// stdin): a client cannot make the agent buffer an unbounded message.
type gobCodec struct {
	conn   io.ReadWriteCloser
	budget *budgetReader
	dec    *gob.Decoder
	enc    *gob.Encoder
	out    *bufio.Writer
}

func newGobCodec(conn io.ReadWriteCloser) *gobCodec {
	budget := &budgetReader{r: conn}
	out := bufio.NewWriter(conn)
	return &gobCodec{conn: conn, budget: budget, dec: gob.NewDecoder(budget), enc: gob.NewEncoder(out), out: out}
}

func (c *gobCodec) ReadRequestHeader(r *rpc.Request) error {
	c.budget.left = maxRequestSize
	return c.dec.Decode(r)
}

func (c *gobCodec) ReadRequestBody(body any) error { return c.dec.Decode(body) }

func (c *gobCodec) WriteResponse(r *rpc.Response, body any) error {
	if err := c.enc.Encode(r); err != nil {
		return err
	}
	if err := c.enc.Encode(body); err != nil {
		return err
	}
	return c.out.Flush()
}

func (c *gobCodec) Close() error { return c.conn.Close() }

// budgetReader fails once left bytes have been read.
type budgetReader struct {
	r    io.Reader
	left int64
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, fmt.Errorf("request larger than %d bytes", maxRequestSize)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}
