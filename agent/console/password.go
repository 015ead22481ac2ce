package console

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"

	"imagent/config"
)

// DefaultIterations is the PBKDF2-HMAC-SHA256 work factor `imagent console passwd` uses
// (OWASP's 2023 figure for this hash). It is stored in the hash, so a station can lower or
// raise it without breaking existing hashes.
const DefaultIterations = 600_000

// MinPasswordLength is the shortest password HashPassword accepts.
const MinPasswordLength = 8

// HashPassword returns the console.password_hash for password: PBKDF2-HMAC-SHA256 with a
// random 16-byte salt and iter iterations, in the self-describing form of
// config.PasswordHash.
func HashPassword(password string, iter int) (string, error) {
	if len([]rune(password)) < MinPasswordLength {
		return "", fmt.Errorf("console: the password must have at least %d characters", MinPasswordLength)
	}
	if iter < config.MinPasswordIterations || iter > config.MaxPasswordIterations {
		return "", fmt.Errorf("console: iterations must be between %d and %d", config.MinPasswordIterations, config.MaxPasswordIterations)
	}
	salt := make([]byte, config.MinPasswordSaltBytes)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("console: salt: %w", err)
	}
	key, err := pbkdf2.Key(sha256.New, password, salt, iter, config.PasswordKeyBytes)
	if err != nil {
		return "", fmt.Errorf("console: pbkdf2: %w", err)
	}
	return config.PasswordHash{Iterations: iter, Salt: salt, Key: key}.String(), nil
}

// errBadHash is returned by checkPassword when the configured hash cannot be used.
var errBadHash = errors.New("console: console.password_hash is not usable")

// checkPassword reports whether password matches the hash, in time independent of where
// the keys differ.
func checkPassword(h config.PasswordHash, password string) (bool, error) {
	if h.Iterations == 0 {
		return false, errBadHash
	}
	key, err := pbkdf2.Key(sha256.New, password, h.Salt, h.Iterations, len(h.Key))
	if err != nil {
		return false, fmt.Errorf("console: pbkdf2: %w", err)
	}
	return subtle.ConstantTimeCompare(key, h.Key) == 1, nil
}
