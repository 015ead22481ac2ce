package contract

import (
	"errors"
	"fmt"
	"time"
)

// Daily device self-checks (HJ 1237-2021), the values of CheckBody.Check.
const (
	CheckAnalyzerLeak  = "analyzer_leak"  // analyzer sample-path leak check
	CheckGasLow        = "gas_low"        // analyzer check with the low check gas
	CheckGasHigh       = "gas_high"       // analyzer check with the high check gas
	CheckDynoCoastDown = "dyno_coastdown" // dyno coast-down against the theoretical time
	CheckDynoParasitic = "dyno_parasitic" // dyno parasitic loss against its configured curve
	CheckOpacimeter    = "opacimeter"     // opacimeter zero and filter check
	CheckWeather       = "weather"        // weather station against a reference instrument
	CheckFlowmeter     = "flowmeter"      // VMAS flowmeter: flow and O2 span
)

// Checks lists every self-check kind.
func Checks() []string {
	return []string{CheckAnalyzerLeak, CheckGasLow, CheckGasHigh, CheckDynoCoastDown, CheckDynoParasitic,
		CheckOpacimeter, CheckWeather, CheckFlowmeter}
}

// CheckBody is the body of a "check" record: one daily self-check of one instrument.
type CheckBody struct {
	Check        string      `json:"check"` // Check*
	Device       DeviceRef   `json:"device"`
	Started      time.Time   `json:"started"`
	Ended        time.Time   `json:"ended"`
	Result       string      `json:"result"` // pass | fail | abort
	AbortReason  string      `json:"abort_reason,omitempty"`
	AbortDetail  string      `json:"abort_detail,omitempty"`
	Items        []CheckItem `json:"items"`
	Reference    *Reference  `json:"reference,omitempty"` // the gas bottle, filter or reference instrument used
	Operator     string      `json:"operator,omitempty"`
	Process      *Process    `json:"process,omitempty"` // second-by-second data, for checks that run for a while
	FramesSHA256 string      `json:"frames_sha256,omitempty"`
	Frames       int         `json:"frames,omitempty"`
	ClockScale   float64     `json:"clock_scale,omitempty"`
	Formulas     []Formula   `json:"formulas,omitempty"`
}

// CheckItem is one measured value of a check compared with its nominal (the bottle's
// concentration, the filter's opacity, the theoretical coast time, the reference
// instrument's reading).
type CheckItem struct {
	Name      string  `json:"name"`     // e.g. "co_pct", "coast_48_32_s", "parasitic_40_kw", "leak_tight"
	Nominal   float64 `json:"nominal"`  // what it should read
	Measured  float64 `json:"measured"` // what it read
	Error     float64 `json:"error"`    // measured − nominal, in ErrorUnit
	ErrorUnit string  `json:"error_unit"`
	Tolerance float64 `json:"tolerance"` // the largest |error| that passes, in ErrorUnit
	Pass      bool    `json:"pass"`
	Standard  string  `json:"standard"`
	Clause    string  `json:"clause"`
	Verified  bool    `json:"verified"` // false: the tolerance is not yet checked against the official text
}

// Error units of a CheckItem.
const (
	ErrorPct = "pct" // (measured − nominal) / nominal × 100
	ErrorAbs = "abs" // measured − nominal, in the unit of the quantity
)

// Reference names what a check compared the instrument with.
type Reference struct {
	Kind string `json:"kind"`           // gas_bottle | filter | instrument | air
	ID   string `json:"id,omitempty"`   // bottle or filter serial number, certificate number
	Note string `json:"note,omitempty"` // e.g. the certificate's expiry date
}

// Validate checks a check body for what the platform needs to use it.
func (c *CheckBody) Validate() error {
	var errs []error
	known := false
	for _, k := range Checks() {
		known = known || c.Check == k
	}
	if !known {
		errs = append(errs, fmt.Errorf("unknown check %q", c.Check))
	}
	switch c.Result {
	case VerdictPass, VerdictFail:
		if len(c.Items) == 0 {
			errs = append(errs, errors.New("a judged check has no items"))
		}
	case VerdictAbort:
		if c.AbortReason == "" {
			errs = append(errs, errors.New("an aborted check has no abort_reason"))
		}
	default:
		errs = append(errs, fmt.Errorf("result %q is not pass, fail or abort", c.Result))
	}
	if c.Device.Name == "" {
		errs = append(errs, errors.New("device.name missing"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("contract: invalid check: %w", errors.Join(errs...))
	}
	return nil
}
