package postgres

import (
	"fmt"
	"unicode/utf8"

	"github.com/xdg-go/stringprep"
	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/norm"
)

// SCRAM hashes a normalised password, and the clients do not all normalise alike:
//
//   - PostgreSQL (the server when it hashes a clear password) and libpq (psql, walreceivers,
//     pg_basebackup, pg_rewind) apply SASLprep (RFC 4013) and hash the raw bytes when it
//     fails (invalid UTF-8, a prohibited or unassigned code point, a bidi violation, an
//     empty result);
//   - pgx v5 (the charm, the test suite) applies the PRECIS OpaqueString profile (RFC 8265)
//     and hashes the raw bytes when it fails or when the password holds a code point that
//     Unicode 3.2 leaves unassigned.
//
// The two agree on most passwords (no-break and other spaces become U+0020, a decomposed
// accent is composed) and differ on some: SASLprep removes a soft hyphen (U+00AD) where
// PRECIS refuses it (so pgx sends it raw), SASLprep folds compatibility forms (NFKC: "ﬁ"
// becomes "fi") where PRECIS keeps them (NFC). No verifier lets both log in with such a
// password, so the charm refuses it (CheckPassword) and hashes every other one as libpq does.

// SASLprep normalises password as PostgreSQL's pg_saslprep does (src/common/saslprep.c): ok
// is false when PostgreSQL and libpq would hash the raw bytes instead.
//
// Like PostgreSQL, it passes pure ASCII through untouched, and it checks the prohibited,
// unassigned and bidirectional tables on the mapped input rather than on the NFKC output.
func SASLprep(password string) (string, bool) {
	if isASCII(password) {
		return password, true
	}
	if !utf8.ValidString(password) {
		return "", false
	}
	// 1. Map: non-ASCII spaces to U+0020, "commonly mapped to nothing" removed.
	mapped := make([]rune, 0, len(password))
	for _, r := range password {
		switch {
		case stringprep.TableC1_2.Contains(r):
			mapped = append(mapped, ' ')
		case inMapping(stringprep.TableB1, r):
		default:
			mapped = append(mapped, r)
		}
	}
	if len(mapped) == 0 {
		return "", false // PostgreSQL refuses an empty password
	}
	// 3. Prohibit (output tables of RFC 4013 section 2.3, and unassigned code points).
	randAL := false
	for _, r := range mapped {
		if prohibited(r) {
			return "", false
		}
		randAL = randAL || stringprep.TableD1.Contains(r)
	}
	// 4. Bidi (RFC 3454 section 6): a string with a RandALCat character has no LCat one and
	// starts and ends with RandALCat characters.
	if randAL {
		for _, r := range mapped {
			if stringprep.TableD2.Contains(r) {
				return "", false
			}
		}
		if !stringprep.TableD1.Contains(mapped[0]) || !stringprep.TableD1.Contains(mapped[len(mapped)-1]) {
			return "", false
		}
	}
	// 2. Normalise (NFKC).
	return norm.NFKC.String(string(mapped)), true
}

func inMapping(m stringprep.Mapping, r rune) bool {
	_, ok := m.Map(r)
	return ok
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// prohibitedTables are SASLprep's prohibited output (RFC 4013 section 2.3) plus the code
// points unassigned in Unicode 3.2 (RFC 3454 table A.1), which PostgreSQL prohibits too.
var prohibitedTables = []stringprep.Set{
	stringprep.TableA1, stringprep.TableC1_2, stringprep.TableC2_1, stringprep.TableC2_2,
	stringprep.TableC3, stringprep.TableC4, stringprep.TableC5, stringprep.TableC6,
	stringprep.TableC7, stringprep.TableC8, stringprep.TableC9,
}

func prohibited(r rune) bool {
	for _, t := range prohibitedTables {
		if t.Contains(r) {
			return true
		}
	}
	return false
}

// libpqForm is the string libpq (and the server, for a clear password) hashes.
func libpqForm(password string) string {
	if p, ok := SASLprep(password); ok {
		return p
	}
	return password
}

// pgxForm is the string pgx v5 hashes (pgconn's SCRAM client): raw when the password has a
// code point unassigned in Unicode 3.2 or when PRECIS OpaqueString refuses it.
func pgxForm(password string) string {
	for _, r := range password {
		if stringprep.TableA1.Contains(r) {
			return password
		}
	}
	p, err := precis.OpaqueString.String(password)
	if err != nil {
		return password
	}
	return p
}

// CheckPassword returns an error when no SCRAM verifier lets both libpq and pgx clients log
// in with password: the two normalise it to different strings.
func CheckPassword(password string) error {
	a, b := libpqForm(password), pgxForm(password)
	if a == b {
		return nil
	}
	for _, r := range password {
		if r < utf8.RuneSelf {
			continue
		}
		// Between ASCII letters: alone, a rune SASLprep removes leaves nothing, refused too.
		if probe := "x" + string(r) + "x"; libpqForm(probe) != pgxForm(probe) {
			return fmt.Errorf("the password has %U, which libpq (SASLprep) and pgx (PRECIS) clients normalise differently, so one of them could never log in: leave it out", r)
		}
	}
	// Only a combination differs (e.g. a bidirectional mix that SASLprep refuses as a whole);
	// the forms are not shown: they are the password.
	return fmt.Errorf("libpq (SASLprep) and pgx (PRECIS) clients normalise the password differently, so one of them could never log in: use other characters")
}
