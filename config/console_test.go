package config

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	h := PasswordHash{Iterations: 600_000, Salt: bytes.Repeat([]byte{7}, 16), Key: bytes.Repeat([]byte{9}, 32)}
	got, err := ParsePasswordHash(h.String())
	if err != nil {
		t.Fatal(err)
	}
	if got.Iterations != h.Iterations || !bytes.Equal(got.Salt, h.Salt) || !bytes.Equal(got.Key, h.Key) {
		t.Fatalf("round trip: %+v", got)
	}
	good := h.String()
	for _, bad := range []string{
		"", "secret", "$pbkdf2-sha1$i=600000$AAAAAAAAAAAAAAAAAAAAAA$" + good[len(good)-43:],
		strings.Replace(good, "i=600000", "i=1000", 1),               // too cheap
		strings.Replace(good, "i=600000", "i=lots", 1),               // not a number
		strings.Replace(good, "$BwcHBwcHBwcHBwcHBwcHBw$", "$Bw$", 1), // short salt
		good[:len(good)-4], // short key
		good + "$extra",
	} {
		if _, err := ParsePasswordHash(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}

	src := string(DefaultTOML()) + "password_hash = \"$pbkdf2-sha256$i=5$c2FsdA$a2V5\"\n"
	line := strings.Count(src, "\n")
	_, err = Parse("c.toml", []byte(src), LoadOpts{})
	var errs *Errors
	if !errors.As(err, &errs) || len(errs.List) != 1 || errs.List[0].Line != line || errs.List[0].Key != "console.password_hash" {
		t.Fatalf("bad hash in a file: %v", err)
	}
	src = string(DefaultTOML()) + "password_hash = \"" + good + "\"\n"
	c, err := Parse("c.toml", []byte(src), LoadOpts{})
	if err != nil || c.Console.PasswordHash != good || !c.Console.AllowLoopbackWithoutPassword {
		t.Fatalf("good hash: %v %+v", err, c)
	}
}
