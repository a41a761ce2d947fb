package cli

import "github.com/juju/names/v5"

// Juju's entity name rules, checked before anything reaches the controller so that a bad
// name gets Juju's error and changes nothing.

func validUnitName(s string) bool { return names.IsValidUnit(s) }

func validAppName(s string) bool { return names.IsValidApplication(s) }

func validModelName(s string) bool { return names.IsValidModelName(s) }
