package contract

import "time"

// Self-checks.
const (
	CheckAnalyzerLeak = "analyzer_leak" // five-gas analyzer leak check (HJ 1237-2021 daily check)
)

// CheckBody is the body of a "check" record: one daily device self-check.
type CheckBody struct {
	Check   string             `json:"check"` // Check* above
	Device  DeviceRef          `json:"device"`
	Started time.Time          `json:"started"`
	Ended   time.Time          `json:"ended"`
	Pass    bool               `json:"pass"`
	Values  map[string]float64 `json:"values,omitempty"` // measured values, canonical units
	Detail  string             `json:"detail,omitempty"` // what failed, in plain words
	By      string             `json:"by,omitempty"`     // who started it: console, cli, schedule
}
