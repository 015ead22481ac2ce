package config

import (
	"fmt"
	"time"
)

// Duration is a time.Duration written in TOML as a string such as "500ms",
// "30s" or "2m".
type Duration struct{ time.Duration }

// UnmarshalText parses a duration string ("500ms", "1m30s").
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("config: invalid duration %q (use a number with a unit, such as \"500ms\" or \"2m\")", b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as time.Duration.String does ("2m0s").
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}
