package juju

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/juju/juju/api"
	"github.com/juju/juju/rpc/params"
)

// fakeController speaks enough of the Juju API (TLS websocket, JSON RPC, Admin.Login) for
// the real api client packages to talk to it; each facade call is answered by a handler.
type fakeController struct {
	t        *testing.T
	Addr     string
	CACert   string
	Password string
	UUID     string

	mu       sync.Mutex
	handlers map[string]func(model string, args json.RawMessage) (any, error) // "Facade.Request"
	calls    []fakeCall
	uploads  []fakeUpload
	logins   int
}

// fakeUpload is one HTTP PUT: a charm or a resource.
type fakeUpload struct {
	Path   string
	Query  string
	Header http.Header
	Body   []byte
}

type fakeCall struct {
	Model   string // "" = controller connection
	Method  string // Facade.Request
	Version int
	Params  json.RawMessage
}

// fakeError is an API error with a code.
type fakeError struct{ Message, Code string }

func (e *fakeError) Error() string { return e.Message }

func newFakeController(t *testing.T) *fakeController {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fake juju CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "juju-apiserver"},
		DNSNames: []string{"juju-apiserver"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeController{
		t: t, Addr: ln.Addr().String(), Password: "fake-password", UUID: "deadbeef-0bad-400d-8000-4b1d4b1d4b1d",
		CACert:   string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
		handlers: map[string]func(string, json.RawMessage) (any, error){},
	}
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return f
}

// Config is a backend config that reaches the fake.
func (f *fakeController) Config() Config {
	return Config{Addrs: []string{f.Addr}, CACert: f.CACert, User: "admin", Password: f.Password,
		DialTimeout: 5 * time.Second, CallTimeout: 5 * time.Second}
}

// Handle answers Facade.Request.
func (f *fakeController) Handle(method string, h func(model string, args json.RawMessage) (any, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[method] = h
}

// Calls returns the calls made so far other than logins and pings.
func (f *fakeController) Calls() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeCall(nil), f.calls...)
}

// Methods returns the methods called, in order.
func (f *fakeController) Methods() []string {
	var m []string
	for _, c := range f.Calls() {
		m = append(m, c.Method)
	}
	return m
}

var upgrader = websocket.Upgrader{}

// Uploads returns the HTTP uploads so far.
func (f *fakeController) Uploads() []fakeUpload {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeUpload(nil), f.uploads...)
}

func (f *fakeController) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.uploads = append(f.uploads, fakeUpload{Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
		f.mu.Unlock()
		switch {
		case strings.HasPrefix(r.URL.Path, "/model-") && strings.Contains(r.URL.Path, "/charms/"):
			// The S3-style charm upload: the controller answers with the charm URL it assigned.
			curl := r.Header.Get("Juju-Curl")
			if !strings.HasSuffix(curl, "-0") {
				curl += "-0"
			}
			w.Header().Set("Juju-Curl", curl)
			w.WriteHeader(http.StatusOK)
		case strings.Contains(r.URL.Path, "/resources/"):
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{}`))
		default:
			http.NotFound(w, r)
		}
		return
	}
	model := ""
	switch {
	case r.URL.Path == "/api":
	case strings.HasPrefix(r.URL.Path, "/model/") && strings.HasSuffix(r.URL.Path, "/api"):
		model = strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/model/"), "/api")
	default:
		http.NotFound(w, r)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	var wmu sync.Mutex
	for {
		var req struct {
			RequestID uint64          `json:"request-id"`
			Type      string          `json:"type"`
			Version   int             `json:"version"`
			Request   string          `json:"request"`
			Params    json.RawMessage `json:"params"`
		}
		if err := ws.ReadJSON(&req); err != nil {
			return
		}
		// Answer concurrently, as the real server does: a slow call does not hold up pings.
		go func() {
			resp, err := f.answer(model, req.Type+"."+req.Request, req.Version, req.Params)
			out := map[string]any{"request-id": req.RequestID}
			if err != nil {
				out["error"] = err.Error()
				if fe, ok := err.(*fakeError); ok && fe.Code != "" {
					out["error-code"] = fe.Code
				}
			} else {
				if resp == nil {
					resp = struct{}{}
				}
				out["response"] = resp
			}
			wmu.Lock()
			defer wmu.Unlock()
			ws.WriteJSON(out)
		}()
	}
}

func (f *fakeController) answer(model, method string, version int, args json.RawMessage) (any, error) {
	switch method {
	case "Admin.Login":
		var req params.LoginRequest
		if err := json.Unmarshal(args, &req); err != nil {
			return nil, err
		}
		f.mu.Lock()
		f.logins++
		f.mu.Unlock()
		if req.AuthTag != "user-admin" || req.Credentials != f.Password {
			return nil, &fakeError{"invalid entity name or password (unauthorized access)", params.CodeUnauthorized}
		}
		var facades []params.FacadeVersions
		for name, versions := range api.SupportedFacadeVersions() {
			facades = append(facades, params.FacadeVersions{Name: name, Versions: versions})
		}
		res := params.LoginResult{
			ControllerTag: "controller-" + f.UUID,
			UserInfo:      &params.AuthUserInfo{Identity: "user-admin", ControllerAccess: "superuser", ModelAccess: "admin"},
			Facades:       facades,
			ServerVersion: "3.6.11",
		}
		if model != "" {
			res.ModelTag = "model-" + model
		}
		return res, nil
	case "Pinger.Ping":
		return nil, nil
	}
	f.mu.Lock()
	f.calls = append(f.calls, fakeCall{Model: model, Method: method, Version: version, Params: args})
	h := f.handlers[method]
	f.mu.Unlock()
	if h == nil {
		return nil, &fakeError{fmt.Sprintf("fake controller: no handler for %s", method), params.CodeNotImplemented}
	}
	return h(model, args)
}

// decode unmarshals a call's params in a handler, failing the test on error.
func decode[T any](t *testing.T, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Errorf("params %s: %v", raw, err)
	}
	return v
}
