// Package juju is the scenario.Backend for a real Juju 3.6 controller, driven through
// github.com/juju/juju/api exactly as the juju CLI drives it. It lives in its own Go module
// so that the main module and the charm binary do not link Juju; it links AGPL-3.0 code and
// is licensed under the AGPL-3.0 (see LICENSE in this directory).
//
// The controller is found the way the juju CLI finds it: the client store in $JUJU_DATA
// (default ~/.local/share/juju; $JUJU_CONTROLLER picks a controller other than the current
// one), or explicit JUJU_CONTROLLER_ADDRESSES, JUJU_USERNAME, JUJU_PASSWORD and JUJU_CA_CERT.
// Without a controller the scenario tests skip; run them with `make test-juju` against
// MicroK8s with a bootstrapped controller.
package juju
