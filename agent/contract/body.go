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
	AbortDetail  string        `json:"abort_detail,omitempty"` // what the guard saw, for people
	LimitStage   string        `json:"limit_stage"`            // the configured limit column: a | b
	Ambient      *Ambient      `json:"ambient,omitempty"`      // conditions at the start of the test
	Prechecks    []Judged      `json:"prechecks,omitempty"`    // checks before the test (ambient, oil, HC residual, background)
	Phases       []PhaseResult `json:"phases"`
	Process      Process       `json:"process"`
	Devices      []DeviceRef   `json:"devices"`
	FramesSHA256 string        `json:"frames_sha256"` // sha256 over every raw instrument frame used, in order
	Frames       int           `json:"frames"`        // how many frames that hash covers
	ClockScale   float64       `json:"clock_scale,omitempty"`
	// Formulas names every formula the result depends on, with its source; verified false
	// marks a formula not yet checked against the official text.
	Formulas []Formula `json:"formulas,omitempty"`
}

// Ambient is the ambient conditions a test ran in, and the instrument they came from.
type Ambient struct {
	TempC       float64 `json:"temp_c"`
	RHpct       float64 `json:"rh_pct"`
	PressureKPa float64 `json:"pressure_kpa"`
	Source      string  `json:"source"` // device name
}

// Formula names a formula and where it comes from.
type Formula struct {
	Name     string `json:"name"`
	Source   string `json:"source"`
	Verified bool   `json:"verified"`
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
	// Diesel engines (free acceleration, lug-down):
	RatedPowerKW float64 `json:"rated_power_kw,omitempty"`
	RatedRPM     float64 `json:"rated_rpm,omitempty"`
	Aspiration   string  `json:"aspiration,omitempty"` // natural | turbo | supercharged
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
	// For emission limits: the limit column applied and the date it took effect.
	Stage         string `json:"stage,omitempty"`
	EffectiveFrom string `json:"effective_from,omitempty"`
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
