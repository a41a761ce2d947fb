package juju

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/juju/juju/jujuclient"
)

// testCA is a real self-signed certificate, so that the API client gets as far as dialling.
var testCA = selfSignedPEM()

func selfSignedPEM() string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "juju-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func memStore(current string, ctrls map[string]jujuclient.ControllerDetails, accts map[string]jujuclient.AccountDetails) *jujuclient.MemStore {
	s := jujuclient.NewMemStore()
	s.CurrentControllerName = current
	for k, v := range ctrls {
		s.Controllers[k] = v
	}
	for k, v := range accts {
		s.Accounts[k] = v
	}
	return s
}

func TestLoadConfig(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, []byte(testCA), 0o600); err != nil {
		t.Fatal(err)
	}
	mk8s := jujuclient.ControllerDetails{ControllerUUID: "c0ffee", APIEndpoints: []string{"10.1.0.5:17070", "10.1.0.6:17070"}, CACert: testCA, Cloud: "microk8s"}
	admin := jujuclient.AccountDetails{User: "admin", Password: "s3cret", LastKnownAccess: "superuser"}
	tests := []struct {
		name      string
		env       map[string]string
		store     jujuclient.ClientStore
		want      Config
		noCtrl    bool   // errors.Is(err, ErrNoController)
		errSubstr string // other error
	}{{
		name:   "nothing configured",
		store:  jujuclient.NewMemStore(),
		noCtrl: true,
	}, {
		name:   "no store",
		noCtrl: true,
	}, {
		name:  "current controller from the store",
		store: memStore("mk8s", map[string]jujuclient.ControllerDetails{"mk8s": mk8s}, map[string]jujuclient.AccountDetails{"mk8s": admin}),
		want:  Config{Controller: "mk8s", Addrs: mk8s.APIEndpoints, CACert: testCA, User: "admin", Password: "s3cret"},
	}, {
		name:  "JUJU_CONTROLLER picks another controller",
		env:   map[string]string{EnvController: "other"},
		store: memStore("mk8s", map[string]jujuclient.ControllerDetails{"mk8s": mk8s, "other": {APIEndpoints: []string{"10.9.9.9:17070"}, CACert: testCA}}, map[string]jujuclient.AccountDetails{"mk8s": admin, "other": {User: "bob"}}),
		want:  Config{Controller: "other", Addrs: []string{"10.9.9.9:17070"}, CACert: testCA, User: "bob"},
	}, {
		name:      "JUJU_CONTROLLER names an unknown controller",
		env:       map[string]string{EnvController: "nope"},
		store:     memStore("mk8s", map[string]jujuclient.ControllerDetails{"mk8s": mk8s}, nil),
		errSubstr: `controller "nope"`,
	}, {
		name:      "controller without account",
		store:     memStore("mk8s", map[string]jujuclient.ControllerDetails{"mk8s": mk8s}, nil),
		errSubstr: "juju login",
	}, {
		name:      "controller without endpoints",
		store:     memStore("mk8s", map[string]jujuclient.ControllerDetails{"mk8s": {CACert: testCA}}, map[string]jujuclient.AccountDetails{"mk8s": admin}),
		errSubstr: "no API endpoints",
	}, {
		name:  "environment wins over the store",
		env:   map[string]string{EnvAddresses: " 10.0.0.1:17070, 10.0.0.2:17070 ,", EnvUsername: "bob", EnvPassword: "pw", EnvCACert: testCA},
		store: memStore("mk8s", map[string]jujuclient.ControllerDetails{"mk8s": mk8s}, map[string]jujuclient.AccountDetails{"mk8s": admin}),
		want:  Config{Addrs: []string{"10.0.0.1:17070", "10.0.0.2:17070"}, CACert: testCA, User: "bob", Password: "pw"},
	}, {
		name: "environment: user defaults to admin, CA from a file",
		env:  map[string]string{EnvAddresses: "10.0.0.1:17070", EnvPassword: "pw", EnvCACert: caFile},
		want: Config{Addrs: []string{"10.0.0.1:17070"}, CACert: testCA, User: "admin", Password: "pw"},
	}, {
		name:      "environment without password",
		env:       map[string]string{EnvAddresses: "10.0.0.1:17070", EnvCACert: testCA},
		errSubstr: EnvPassword,
	}, {
		name:      "environment without CA",
		env:       map[string]string{EnvAddresses: "10.0.0.1:17070", EnvPassword: "pw"},
		errSubstr: EnvCACert,
	}, {
		name:      "environment CA file missing",
		env:       map[string]string{EnvAddresses: "10.0.0.1:17070", EnvPassword: "pw", EnvCACert: "/nonexistent/ca.pem"},
		errSubstr: "/nonexistent/ca.pem",
	}, {
		name:      "environment CA not a certificate",
		env:       map[string]string{EnvAddresses: "10.0.0.1:17070", EnvPassword: "pw", EnvCACert: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"},
		errSubstr: "not a PEM certificate",
	}, {
		name:      "environment with only commas",
		env:       map[string]string{EnvAddresses: ",,"},
		errSubstr: "names no address",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadConfig(env(tt.env), tt.store)
			switch {
			case tt.noCtrl:
				if !errors.Is(err, ErrNoController) {
					t.Fatalf("err = %v, want ErrNoController", err)
				}
				if !strings.Contains(err.Error(), "make test-juju") {
					t.Errorf("error %q does not say how to run the tests", err)
				}
				return
			case tt.errSubstr != "":
				if err == nil || errors.Is(err, ErrNoController) || !strings.Contains(err.Error(), tt.errSubstr) {
					t.Fatalf("err = %v, want a misconfiguration error mentioning %q", err, tt.errSubstr)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if got.Controller != tt.want.Controller || strings.Join(got.Addrs, ",") != strings.Join(tt.want.Addrs, ",") ||
				got.CACert != tt.want.CACert || got.User != tt.want.User || got.Password != tt.want.Password {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
			if got.DialTimeout != DefaultDialTimeout || got.CallTimeout != DefaultCallTimeout {
				t.Errorf("timeouts %v/%v, want defaults", got.DialTimeout, got.CallTimeout)
			}
			if (got.Store != nil) != (tt.want.Controller != "") {
				t.Errorf("store kept = %v for controller %q", got.Store != nil, tt.want.Controller)
			}
		})
	}
}

// TestLoadConfigFileStore reads the juju CLI's own files from $JUJU_DATA.
func TestLoadConfigFileStore(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"controllers.yaml": `controllers:
  microk8s-localhost:
    uuid: 3f4a1e1c-5b4d-4c4e-8f5e-1d2c3b4a5f6e
    api-endpoints: ['10.152.183.20:17070']
    ca-cert: |
` + indent(testCA, "      ") + `
    cloud: microk8s
    region: localhost
    type: kubernetes
    agent-version: 3.6.11
current-controller: microk8s-localhost
`,
		"accounts.yaml": `controllers:
  microk8s-localhost:
    user: admin
    password: 0123456789abcdef
    last-known-access: superuser
`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("JUJU_DATA", dir)
	cfg, err := LoadConfig(func(string) string { return "" }, jujuclient.NewFileClientStore())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Controller != "microk8s-localhost" || cfg.User != "admin" || cfg.Password != "0123456789abcdef" ||
		len(cfg.Addrs) != 1 || cfg.Addrs[0] != "10.152.183.20:17070" || !strings.HasPrefix(cfg.CACert, "-----BEGIN CERTIFICATE-----") {
		t.Errorf("config %+v", cfg)
	}

	empty := t.TempDir()
	t.Setenv("JUJU_DATA", empty)
	if _, err := LoadConfig(func(string) string { return "" }, jujuclient.NewFileClientStore()); !errors.Is(err, ErrNoController) {
		t.Errorf("empty JUJU_DATA: err = %v, want ErrNoController", err)
	}
}

func TestDialInfo(t *testing.T) {
	store := memStore("c", map[string]jujuclient.ControllerDetails{"c": {APIEndpoints: []string{"10.0.0.1:17070"}, CACert: testCA}}, map[string]jujuclient.AccountDetails{"c": {User: "bob"}})
	tests := []struct {
		name      string
		cfg       Config
		model     string
		wantTag   string
		wantModel bool
		bakery    bool
		errSubstr string
	}{
		{name: "password login to the controller", cfg: Config{Addrs: []string{"a:1"}, User: "admin", Password: "pw"}, wantTag: "user-admin"},
		{name: "password login to a model", cfg: Config{Addrs: []string{"a:1"}, User: "admin", Password: "pw"}, model: "3f4a1e1c-5b4d-4c4e-8f5e-1d2c3b4a5f6e", wantTag: "user-admin", wantModel: true},
		{name: "macaroon login from the store", cfg: Config{Controller: "c", Addrs: []string{"a:1"}, User: "bob", Store: store}, bakery: true},
		{name: "no password, no store", cfg: Config{Addrs: []string{"a:1"}, User: "bob"}, errSubstr: "no password"},
		{name: "no user", cfg: Config{Addrs: []string{"a:1"}}, errSubstr: "no user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, opts, err := dialInfo(tt.cfg, tt.model)
			if tt.errSubstr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSubstr) {
					t.Fatalf("err = %v, want %q", err, tt.errSubstr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantTag != "" && (info.Tag == nil || info.Tag.String() != tt.wantTag) {
				t.Errorf("tag %v, want %s", info.Tag, tt.wantTag)
			}
			if tt.bakery && (opts.BakeryClient == nil || info.Tag != nil) {
				t.Errorf("macaroon login: bakery %v tag %v", opts.BakeryClient, info.Tag)
			}
			if got := info.ModelTag.Id() != ""; got != tt.wantModel {
				t.Errorf("model tag %v", info.ModelTag)
			}
			if opts.Timeout != DefaultDialTimeout || opts.DialTimeout <= 0 || opts.DialTimeout > opts.Timeout {
				t.Errorf("dial timeouts %v/%v", opts.Timeout, opts.DialTimeout)
			}
		})
	}
}

// TestOpenFailsFast: a controller address that refuses connections, and one that accepts
// TCP but never speaks, both fail within the dial timeout with an error naming the address.
func TestOpenFailsFast(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := closed.Addr().String()
	closed.Close()

	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	go func() {
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, say nothing
		}
	}()

	for _, tc := range []struct{ name, addr string }{{"refused", refused}, {"silent", mute.Addr().String()}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Addrs: []string{tc.addr}, CACert: testCA, User: "admin", Password: "pw", DialTimeout: 2 * time.Second}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			c, err := open(ctx, cfg, "")
			if err == nil {
				c.Close()
				t.Fatal("open succeeded")
			}
			t.Logf("after %v: %v", time.Since(start), err)
			if !strings.Contains(err.Error(), tc.addr) {
				t.Errorf("error %q does not name %s", err, tc.addr)
			}
			// The bound is the dial timeout plus slack for a loaded machine, far below ctx's.
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("open took %v with a 2s dial timeout", d)
			}
		})
	}

	// ctx ends first: open returns then, whatever the dial timeout.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg := Config{Addrs: []string{mute.Addr().String()}, CACert: testCA, User: "admin", Password: "pw", DialTimeout: time.Hour}
	if _, err := open(ctx, cfg, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: err = %v", err)
	}
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return prefix + strings.Join(lines, "\n"+prefix)
}
