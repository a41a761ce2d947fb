package postgres

import (
	"strings"
	"testing"
)

func TestSASLprep(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"ascii untouched", "Correct-Horse 9", "Correct-Horse 9", true},
		{"ascii control passes (PostgreSQL's ASCII shortcut)", "a\tb", "a\tb", true},
		{"no-break space becomes a space", "a\u00a0b", "a b", true},
		{"em space becomes a space", "a\u2003b", "a b", true},
		{"decomposed accent composed", "e\u0301t\u00e9", "\u00e9t\u00e9", true},
		{"soft hyphen removed", "so\u00adft", "soft", true},
		{"zero-width joiner removed", "a\u200db", "ab", true},
		{"compatibility ligature folded (NFKC)", "\ufb01x", "fix", true},
		{"full-width letter folded", "\uff21b", "Ab", true},
		{"nothing left", "\u00ad", "", false},
		{"prohibited control", "\u00e9\u0007", "", false},
		{"private use", "\u00e9\ue000", "", false},
		{"unassigned in Unicode 3.2", "\u00e9\U0001F600", "", false},
		{"RandAL with L", "\u0627a\u0628", "", false},
		{"RandAL not at the end", "\u06271", "", false},
		{"RandAL only", "\u0627\u0628", "\u0627\u0628", true},
		{"invalid UTF-8", "\xff\u00e9", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := SASLprep(tt.in)
			if ok != tt.ok || (ok && got != tt.want) {
				t.Errorf("SASLprep(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		name, pw string
		wantErr  string // "" accepted
	}{
		{"ascii", "Correct-Horse-Battery-9", ""},
		{"no-break space", "pass\u00a0word-1", ""},
		{"decomposed accent", "caf\u0065\u0301-1", ""},
		{"composed accent", "p\u00e4ssw\u00f6rd", ""},
		{"unassigned in 3.2: both hash the raw bytes", "pw-\U0001F600", ""},
		{"soft hyphen", "pass\u00adword", "U+00AD"},
		{"ligature", "\ufb01ne-pw", "U+FB01"},
		{"full-width", "pw-\uff21", "U+FF21"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPassword(tt.pw)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("CheckPassword(%q) = %v, want nil", tt.pw, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("CheckPassword(%q) = %v, want an error naming %s", tt.pw, err, tt.wantErr)
			}
		})
	}
}

// The verifier is of the normalised password: a client that types the composed form, or a
// plain space, logs in with a password set in decomposed form, or with a no-break space.
func TestScramVerifierNormalises(t *testing.T) {
	tests := []struct{ set, login string }{
		{"caf\u0065\u0301", "caf\u00e9"},
		{"a\u00a0b", "a b"},
		{"so\u00adft", "soft"},
	}
	for _, tt := range tests {
		v, err := ScramVerifier(tt.set)
		if err != nil {
			t.Fatal(err)
		}
		if !scramMatches(v, tt.login) || !scramMatches(v, tt.set) {
			t.Errorf("verifier of %q does not match %q and itself", tt.set, tt.login)
		}
		if scramMatches(v, tt.login+"x") {
			t.Errorf("verifier of %q matches another password", tt.set)
		}
	}
}
