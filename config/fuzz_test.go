package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// FuzzParse checks that Parse never panics, that a failure is always an
// *Errors with at least one problem, and that a configuration it accepts
// survives a round trip through toml.Marshal unchanged. Seeds are in
// testdata/fuzz/FuzzParse plus the shared fixtures.
func FuzzParse(f *testing.F) {
	f.Add(DefaultTOML())
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "*.toml"))
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.toml", data, LoadOpts{})
		if err != nil {
			var errs *Errors
			if !errors.As(err, &errs) || len(errs.List) == 0 {
				t.Fatalf("error %v (%T) is not a non-empty *Errors", err, err)
			}
			if c != nil {
				t.Fatal("config returned along with an error")
			}
			return
		}
		out, err := toml.Marshal(c)
		if err != nil {
			t.Fatalf("marshal an accepted config: %v", err)
		}
		c2, err := Parse("again.toml", out, LoadOpts{})
		if err != nil {
			t.Fatalf("re-parse of the marshalled config fails: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the config\nfirst  %+v\nsecond %+v\nmarshalled:\n%s", c, c2, out)
		}
	})
}
