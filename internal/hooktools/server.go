package hooktools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
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

// errNoStdin is what a tool's stdin returns when the client sent none.
var errNoStdin = errors.New("hook tool requires stdin, none supplied")

type noStdin struct{}

func (noStdin) Read([]byte) (int, error) { return 0, errNoStdin }

// runWrapper remembers the error a tool's Run returned, to spot errNoStdin.
type runWrapper struct {
	cmd.Command
	err error
}

func (w *runWrapper) Run(ctx *cmd.Context) error {
	w.err = w.Command.Run(ctx)
	return w.err
}

// Execute runs one hook tool against hc in-process, exactly as the server does for
// a request whose context id resolved to hc.
func Execute(ctx context.Context, hc Context, req Request) Response {
	errResp := func(format string, a ...any) Response {
		return Response{Code: 1, Stderr: []byte("ERROR " + fmt.Sprintf(format, a...) + "\n")}
	}
	if req.Tool == "" {
		return errResp("bad request: command not specified")
	}
	if !filepath.IsAbs(req.Dir) {
		return errResp("bad request: Dir is not absolute")
	}
	c, ok := newTool(req.Tool, hc)
	if !ok {
		return errResp("bad request: unknown command %q", req.Tool)
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
	if errors.Is(w.err, errNoStdin) {
		return Response{NeedStdin: true, Code: 1}
	}
	return Response{Code: code, Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
}

// Server serves hook tool requests on a unit's socket, routing each to the Context
// its JUJU_CONTEXT_ID names. Tools run one at a time, as in Juju.
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
// does not know (stale or foreign) makes the tool fail with exit 1.
func NewServer(lookup func(contextID string) (Context, bool), opts ...ServerOption) *Server {
	s := &Server{lookup: lookup, logger: slog.Default()}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Handle answers one request (lookup + Execute); exposed for in-process callers.
func (s *Server) Handle(ctx context.Context, req Request) Response {
	hc, ok := s.lookup(req.ContextID)
	if !ok || hc == nil {
		return Response{Code: 1, Stderr: []byte(fmt.Sprintf("ERROR bad request: bad context id %q\n", req.ContextID))}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return Execute(ctx, hc, req)
}

// Serve accepts connections on ln until ctx is done (then it closes ln, closes open
// connections, waits for their handlers and returns nil) or Accept fails.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
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
		conns[conn] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				mu.Lock()
				delete(conns, conn)
				mu.Unlock()
				_ = conn.Close()
			}()
			s.serveConn(ctx, conn)
		}()
	}
}

func (s *Server) serveConn(ctx context.Context, conn net.Conn) {
	var req Request
	if err := json.NewDecoder(io.LimitReader(conn, maxRequestSize)).Decode(&req); err != nil {
		if ctx.Err() == nil {
			s.logger.Warn("hook tool server: bad request", "err", err)
		}
		return
	}
	resp := s.Handle(ctx, req)
	if err := json.NewEncoder(conn).Encode(resp); err != nil && ctx.Err() == nil {
		s.logger.Warn("hook tool server: writing response", "tool", req.Tool, "err", err)
	}
}
