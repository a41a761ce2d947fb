package cli

import (
	"regexp"
	"slices"
	"strings"

	"github.com/juju/names/v5"
)

// Juju's entity name rules, checked before anything reaches the controller so that a bad
// name gets Juju's error and changes nothing.

func validUnitName(s string) bool { return names.IsValidUnit(s) }

func validAppName(s string) bool { return names.IsValidApplication(s) }

func validModelName(s string) bool { return names.IsValidModelName(s) }

var endpointRE = regexp.MustCompile("^" + names.RelationSnippet + "$")

// checkEndpoint is Juju's check of an "app" or "app:endpoint" argument (integrate,
// remove-relation).
func checkEndpoint(ep string) error {
	app, name, hasName := strings.Cut(ep, ":")
	if hasName && !endpointRE.MatchString(name) {
		return usagef("endpoint %q not valid", ep)
	}
	if !validAppName(app) {
		return usagef("application name %q not valid", app)
	}
	return nil
}

// checkFormat is the --format check of Juju's commands.
func checkFormat(format string, allowed ...string) error {
	if slices.Contains(allowed, format) {
		return nil
	}
	return usagef("invalid value %q for option --format: unknown format %q", format, format)
}
