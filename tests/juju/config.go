package juju

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	jujuerrors "github.com/juju/errors"
	"github.com/juju/juju/jujuclient"
)

// Environment variables that configure the controller without a client store.
const (
	EnvAddresses  = "JUJU_CONTROLLER_ADDRESSES" // comma-separated host:port list
	EnvUsername   = "JUJU_USERNAME"             // default "admin"
	EnvPassword   = "JUJU_PASSWORD"
	EnvCACert     = "JUJU_CA_CERT"    // PEM text, or the path of a PEM file
	EnvController = "JUJU_CONTROLLER" // controller name in the client store (default: current)
)

// HowToRun is what a skipped test says.
const HowToRun = "no Juju controller configured: bootstrap one (e.g. `juju bootstrap microk8s`) so that " +
	"the juju client store ($JUJU_DATA or ~/.local/share/juju) has a current controller, or set " +
	EnvAddresses + ", " + EnvUsername + ", " + EnvPassword + " and " + EnvCACert + "; then run `make test-juju`"

// ErrNoController says that neither the client store nor the environment names a controller.
var ErrNoController = errors.New(HowToRun)

// Default timeouts.
const (
	DefaultDialTimeout = 30 * time.Second
	DefaultCallTimeout = 2 * time.Minute
)

// Config says how to reach and log in to a controller.
type Config struct {
	// Controller is the controller's name in the client store ("" when from the environment).
	Controller string
	Addrs      []string
	CACert     string
	User       string
	// Password is empty when the account logs in with macaroons kept in the store's cookie jar.
	Password string
	// Store is the client store the config came from (nil when from the environment).
	Store jujuclient.ClientStore
	// DialTimeout bounds opening one API connection (dial, TLS and login).
	DialTimeout time.Duration
	// CallTimeout bounds one API call when the caller's context has no deadline.
	CallTimeout time.Duration
}

// LoadConfig reads the controller's coordinates from the environment (getenv) if
// JUJU_CONTROLLER_ADDRESSES is set, else from the client store. It returns ErrNoController
// (wrapped) when neither names one; any other error is a misconfiguration to report.
func LoadConfig(getenv func(string) string, store jujuclient.ClientStore) (Config, error) {
	cfg := Config{DialTimeout: DefaultDialTimeout, CallTimeout: DefaultCallTimeout}
	if addrs := getenv(EnvAddresses); addrs != "" {
		return configFromEnv(cfg, getenv, addrs)
	}
	if store == nil {
		return cfg, fmt.Errorf("no client store: %w", ErrNoController)
	}
	name := getenv(EnvController)
	if name == "" {
		var err error
		name, err = store.CurrentController()
		if jujuerrors.Is(err, jujuerrors.NotFound) {
			return cfg, fmt.Errorf("no current controller in the client store: %w", ErrNoController)
		}
		if err != nil {
			return cfg, fmt.Errorf("read current controller from the client store: %w", err)
		}
	}
	ctrl, err := store.ControllerByName(name)
	if err != nil {
		return cfg, fmt.Errorf("controller %q in the client store: %w", name, err)
	}
	if len(ctrl.APIEndpoints) == 0 {
		return cfg, fmt.Errorf("controller %q in the client store has no API endpoints", name)
	}
	acct, err := store.AccountDetails(name)
	if err != nil {
		return cfg, fmt.Errorf("account for controller %q in the client store (log in with `juju login`): %w", name, err)
	}
	cfg.Controller = name
	cfg.Addrs = append([]string(nil), ctrl.APIEndpoints...)
	cfg.CACert = ctrl.CACert
	cfg.User = acct.User
	cfg.Password = acct.Password
	cfg.Store = store
	return cfg, nil
}

func configFromEnv(cfg Config, getenv func(string) string, addrs string) (Config, error) {
	for _, a := range strings.Split(addrs, ",") {
		if a = strings.TrimSpace(a); a != "" {
			cfg.Addrs = append(cfg.Addrs, a)
		}
	}
	if len(cfg.Addrs) == 0 {
		return cfg, fmt.Errorf("%s=%q names no address", EnvAddresses, addrs)
	}
	cfg.User = getenv(EnvUsername)
	if cfg.User == "" {
		cfg.User = "admin"
	}
	cfg.Password = getenv(EnvPassword)
	if cfg.Password == "" {
		return cfg, fmt.Errorf("%s is set but %s is empty", EnvAddresses, EnvPassword)
	}
	ca := getenv(EnvCACert)
	if ca != "" && !strings.Contains(ca, "-----BEGIN") {
		b, err := os.ReadFile(ca)
		if err != nil {
			return cfg, fmt.Errorf("%s: %w", EnvCACert, err)
		}
		ca = string(b)
	}
	if ca == "" {
		return cfg, fmt.Errorf("%s is set but %s is empty (PEM text or a file with it; `juju show-controller` prints it)", EnvAddresses, EnvCACert)
	}
	if err := checkCACert(ca); err != nil {
		return cfg, fmt.Errorf("%s: %w", EnvCACert, err)
	}
	cfg.CACert = ca
	return cfg, nil
}

// Where says which controller cfg reaches, for logs and errors.
func (c Config) Where() string {
	if c.Controller != "" {
		return fmt.Sprintf("controller %q (%s)", c.Controller, strings.Join(c.Addrs, ","))
	}
	return fmt.Sprintf("controller at %s", strings.Join(c.Addrs, ","))
}

// checkCACert checks that ca holds at least one PEM certificate.
func checkCACert(ca string) error {
	rest := []byte(ca)
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Errorf("not a PEM certificate: %w", err)
		}
		n++
	}
	if n == 0 {
		return errors.New("not a PEM certificate")
	}
	return nil
}
