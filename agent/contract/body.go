package contract

import "time"

// Test methods.
const (
	MethodTSI       = "tsi"        // two-speed idle, GB 18285-2018
	MethodASM       = "asm"        // steady-state loaded mode 5025/2540, GB 18285-2018
	MethodVMAS      = "vmas"       // simple transient mode, GB 18285-2018
	MethodFreeAccel = "free_accel" // free acceleration opacity, GB 3847-2018
	MethodLugDown   = "lugdown"    // lug-down, GB 3847-2018
)

// Verdicts.
const (
	VerdictPass  = "pass"
	VerdictFail  = "fail"
	VerdictAbort = "abort" // the test could not be completed; AbortReason says why
)

// TestBody is the body of a "test" record: one vehicle emission test.
type TestBody struct {
	Method       string        `json:"method"`
	InspectionID string        `json:"inspection_id"` // 检验流水号
	Vehicle      Vehicle       `json:"vehicle"`
	Started      time.Time     `json:"started"`
	Ended        time.Time     `json:"ended"`
	Verdict      string        `json:"verdict"`
	AbortReason  string        `json:"abort_reason,omitempty"`
	LimitStage   string        `json:"limit_stage"` // a | b
	Phases       []PhaseResult `json:"phases"`
	Process      Process       `json:"process"`
	Devices      []DeviceRef   `json:"devices"`
	FramesSHA256 string        `json:"frames_sha256"` // sha256 over every raw instrument frame used, in order
	Frames       int           `json:"frames"`        // how many frames that hash covers
	ClockScale   float64       `json:"clock_scale,omitempty"`
}

// Vehicle identifies the tested vehicle.
type Vehicle struct {
	Plate     string  `json:"plate"`
	PlateType string  `json:"plate_type,omitempty"`
	VIN       string  `json:"vin"`
	Fuel      string  `json:"fuel"` // gasoline | lpg | ng | diesel
	GVWkg     float64 `json:"gvw_kg,omitempty"`
	RMkg      float64 `json:"rm_kg,omitempty"` // reference mass
	Catalyst  bool    `json:"closed_loop_twc,omitempty"`
}

// PhaseResult is the result of one phase (e.g. high idle) or mode (e.g. ASM 5025).
type PhaseResult struct {
	Name   string             `json:"name"`
	Means  map[string]float64 `json:"means"`
	Judged []Judged           `json:"judged,omitempty"`
	Pass   bool               `json:"pass"`
}

// Judged is one quantity compared with its limit, naming where the limit comes from.
type Judged struct {
	Quantity string  `json:"quantity"`
	Value    float64 `json:"value"`
	Limit    float64 `json:"limit"`
	Bound    string  `json:"bound"` // max | min
	Standard string  `json:"standard"`
	Clause   string  `json:"clause"`
	Verified bool    `json:"verified"` // false: the limit is not yet checked against the official text
	Pass     bool    `json:"pass"`
}

// Process is the second-by-second process data: Rows[i] holds the values of Columns for
// second i, and Phase[i] names the phase that second belongs to.
type Process struct {
	Columns []string    `json:"columns"`
	Phase   []string    `json:"phase"`
	Rows    [][]float64 `json:"rows"`
}

// DeviceRef names an instrument that contributed to a record.
type DeviceRef struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	Model    string `json:"model,omitempty"`
	Port     string `json:"port,omitempty"`
}

// EventBody is the body of an "event" record: a device fault, clock step or config change.
type EventBody struct {
	Event  string            `json:"event"`
	Detail string            `json:"detail,omitempty"`
	Attrs  map[string]string `json:"attrs,omitempty"`
}
