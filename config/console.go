package config

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// PasswordHash is a decoded console.password_hash: PBKDF2 with HMAC-SHA256, in the
// self-describing form
//
//	$pbkdf2-sha256$i=600000$<salt>$<key>
//
// where salt and key are unpadded standard base64. `imagent console passwd` writes it; the
// console verifies passwords against it (agent/console).
type PasswordHash struct {
	Iterations int
	Salt, Key  []byte
}

// Password hash limits. MinPasswordIterations refuses hashes too cheap to slow a guesser
// down; MaxPasswordIterations refuses ones that would stall a small ARM box at each login.
const (
	PasswordHashScheme    = "pbkdf2-sha256"
	MinPasswordIterations = 100_000
	MaxPasswordIterations = 10_000_000
	MinPasswordSaltBytes  = 16
	PasswordKeyBytes      = 32
)

// String encodes h in the form ParsePasswordHash reads.
func (h PasswordHash) String() string {
	enc := base64.RawStdEncoding
	return "$" + PasswordHashScheme + "$i=" + strconv.Itoa(h.Iterations) + "$" + enc.EncodeToString(h.Salt) + "$" + enc.EncodeToString(h.Key)
}

// ParsePasswordHash decodes and checks a console.password_hash value.
func ParsePasswordHash(s string) (PasswordHash, error) {
	if msg := checkPasswordHash(s); msg != "" {
		return PasswordHash{}, fmt.Errorf("config: console.password_hash: %s", msg)
	}
	p := strings.Split(s, "$")
	n, _ := strconv.Atoi(strings.TrimPrefix(p[2], "i="))
	salt, _ := base64.RawStdEncoding.DecodeString(p[3])
	key, _ := base64.RawStdEncoding.DecodeString(p[4])
	return PasswordHash{Iterations: n, Salt: salt, Key: key}, nil
}

// checkPasswordHash returns what is wrong with s, or "".
func checkPasswordHash(s string) string {
	p := strings.Split(s, "$")
	if len(p) != 5 || p[0] != "" || p[1] != PasswordHashScheme || !strings.HasPrefix(p[2], "i=") {
		return fmt.Sprintf("not a password hash of the form $%s$i=N$SALT$KEY", PasswordHashScheme)
	}
	n, err := strconv.Atoi(strings.TrimPrefix(p[2], "i="))
	if err != nil || n < MinPasswordIterations || n > MaxPasswordIterations {
		return fmt.Sprintf("iteration count %q must be between %d and %d", strings.TrimPrefix(p[2], "i="), MinPasswordIterations, MaxPasswordIterations)
	}
	salt, err := base64.RawStdEncoding.DecodeString(p[3])
	if err != nil || len(salt) < MinPasswordSaltBytes {
		return fmt.Sprintf("salt must be at least %d bytes of unpadded base64", MinPasswordSaltBytes)
	}
	key, err := base64.RawStdEncoding.DecodeString(p[4])
	if err != nil || len(key) != PasswordKeyBytes {
		return fmt.Sprintf("key must be %d bytes of unpadded base64", PasswordKeyBytes)
	}
	return ""
}
