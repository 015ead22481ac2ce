package config

import (
	_ "embed"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Params holds the regulated numbers: emission limits and test-method
// parameters (speeds, tolerances, durations, thresholds). They are data so
// that a correction or a regional rule is a file change, not a code change.
type Params struct {
	Limits []Limit `toml:"limit"` // [[limit]]
	Values []Value `toml:"param"` // [[param]]
}

// Limit is one emission limit.
//
// Quantities ending in "_min" are lower bounds (the measured value must not
// be below); all others are upper bounds (must not be above). See Pass.
type Limit struct {
	Method        string  `toml:"method"`         // tsi, asm, vmas, free_accel, lugdown, ringelmann
	Phase         string  `toml:"phase"`          // tsi: high_idle|low_idle; asm: 5025|2540; lugdown: 100pct|80pct; else ""
	Quantity      string  `toml:"quantity"`       // co_pct, hc_ppm, no_ppm, lambda_min, lambda_max, co_gkm, hcnox_gkm, k_m1, nox_ppm, ...
	Stage         string  `toml:"stage"`          // limit column: "a" or "b"
	Value         float64 `toml:"value"`          // in the canonical unit of Quantity
	EffectiveFrom string  `toml:"effective_from"` // YYYY-MM-DD
	Standard      string  `toml:"standard"`       // e.g. "GB 18285-2018"
	Clause        string  `toml:"clause"`         // table or clause of the standard, e.g. "Table 1"
	Source        string  `toml:"source"`         // where the number came from, with its confidence tag ("[M] ...")
	Verified      bool    `toml:"verified"`       // true only once checked against the official text
	Note          string  `toml:"note"`
}

// Value is one method parameter.
type Value struct {
	Method   string  `toml:"method"`
	Name     string  `toml:"name"` // e.g. "high_idle_rpm_tolerance"
	Value    float64 `toml:"value"`
	Unit     string  `toml:"unit"`     // "r/min", "s", "%", "km/h", "1" for a plain number, ...
	Standard string  `toml:"standard"` // empty for lane practice that no standard fixes
	Clause   string  `toml:"clause"`
	Source   string  `toml:"source"` // e.g. "[C-code] luckyzjian/VMAS sds/sds/Sds.cs", "[M]"
	Verified bool    `toml:"verified"`
	Note     string  `toml:"note"`
}

// Pass reports whether a measured value meets the limit: at most Value, or
// at least Value for a "_min" quantity.
func (l Limit) Pass(measured float64) bool {
	if strings.HasSuffix(l.Quantity, "_min") {
		return measured >= l.Value
	}
	return measured <= l.Value
}

// Effective returns EffectiveFrom as a date (UTC midnight).
func (l Limit) Effective() (time.Time, error) {
	t, err := time.Parse(time.DateOnly, l.EffectiveFrom)
	if err != nil {
		return time.Time{}, fmt.Errorf("config: limit %s: effective_from %q: %w", l.id(), l.EffectiveFrom, err)
	}
	return t, nil
}

func (l Limit) id() string {
	return l.Method + "/" + l.Phase + "/" + l.Quantity + "/" + l.Stage
}

func (l Limit) sameAs(o Limit) bool {
	return l.Method == o.Method && l.Phase == o.Phase && l.Quantity == o.Quantity && l.Stage == o.Stage
}

//go:embed params_default.toml
var defaultParamsTOML []byte

// DefaultParams returns the embedded parameters (params_default.toml): the
// limits of GB 18285-2018 and GB 3847-2018 and the parameters of the TSI and
// ASM methods. Each call returns a new value.
func DefaultParams() *Params {
	p, err := ParseParams("params_default.toml", defaultParamsTOML)
	if err != nil {
		panic("config: the embedded params_default.toml is invalid: " + err.Error()) // caught by TestDefaultParams
	}
	return p
}

// DefaultParamsTOML returns the text of the embedded parameters.
func DefaultParamsTOML() []byte { return slices.Clone(defaultParamsTOML) }

// LoadParams reads and parses a parameters file, such as a regional
// override.
func LoadParams(path string) (*Params, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseParams(path, data)
}

// ParseParams decodes and validates a parameters file strictly; problems
// are reported at once in an *Errors, with lines.
func ParseParams(name string, data []byte) (*Params, error) {
	var p Params
	r := decodeStrict(data, &p)
	if r.complete {
		r.problems = p.validate().keep(r.problems, r)
	}
	if len(r.problems) > 0 {
		return nil, r.errors(name)
	}
	return &p, nil
}

// Override returns a copy of p in which each limit of region replaces the
// limit with the same method, phase, quantity and stage, and each value of
// region replaces the value with the same method and name. Entries of region
// that match nothing are added. Neither p nor region is modified.
func (p *Params) Override(region *Params) *Params {
	out := &Params{}
	if p != nil {
		out.Limits = slices.Clone(p.Limits)
		out.Values = slices.Clone(p.Values)
	}
	if region == nil {
		return out
	}
	for _, l := range region.Limits {
		if i := slices.IndexFunc(out.Limits, l.sameAs); i >= 0 {
			out.Limits[i] = l
		} else {
			out.Limits = append(out.Limits, l)
		}
	}
	for _, v := range region.Values {
		if i := slices.IndexFunc(out.Values, func(o Value) bool { return o.Method == v.Method && o.Name == v.Name }); i >= 0 {
			out.Values[i] = v
		} else {
			out.Values = append(out.Values, v)
		}
	}
	return out
}

// Limit looks up a limit.
func (p *Params) Limit(method, phase, quantity, stage string) (Limit, bool) {
	want := Limit{Method: method, Phase: phase, Quantity: quantity, Stage: stage}
	for _, l := range p.Limits {
		if l.sameAs(want) {
			return l, true
		}
	}
	return Limit{}, false
}

// Param looks up a method parameter with its provenance.
func (p *Params) Param(method, name string) (Value, bool) {
	for _, v := range p.Values {
		if v.Method == method && v.Name == name {
			return v, true
		}
	}
	return Value{}, false
}

// Value returns the number of a method parameter; the error names the
// parameter if it is not defined.
func (p *Params) Value(method, name string) (float64, error) {
	v, ok := p.Param(method, name)
	if !ok {
		return 0, fmt.Errorf("config: parameter %s.%s is not defined", method, name)
	}
	return v.Value, nil
}

// methodNames lists the test methods of limits and parameters, and the two parameter
// groups that belong to no single method: "common" (pre-checks every method shares) and
// "selfcheck" (the daily device checks). Only test methods have limits.
func methodNames() []string {
	return []string{"tsi", "asm", "vmas", "free_accel", "lugdown", "ringelmann", "common", "selfcheck"}
}

// limitSchema returns the phases and quantities a limit of method may name.
func limitSchema(method string) (phases, quantities []string) {
	switch method {
	case "tsi":
		return []string{"high_idle", "low_idle"}, []string{"co_pct", "hc_ppm", "lambda_min", "lambda_max"}
	case "asm":
		return []string{"5025", "2540"}, []string{"co_pct", "hc_ppm", "no_ppm"}
	case "vmas":
		return []string{""}, []string{"co_gkm", "hcnox_gkm", "hc_gkm", "nox_gkm"}
	case "free_accel":
		return []string{""}, []string{"k_m1"}
	case "lugdown":
		return []string{"100pct", "80pct", ""}, []string{"k_m1", "nox_ppm"}
	case "ringelmann":
		return []string{""}, []string{"ringelmann_grade"}
	}
	return nil, nil
}

var paramNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

func quoteAll(v []string) string {
	q := make([]string, len(v))
	for i, s := range v {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

func (p *Params) validate() problems {
	var ps problems
	seen := map[string]int{}
	for i, l := range p.Limits {
		k := func(f string) string { return "limit[" + strconv.Itoa(i) + "]." + f }
		if phases, qs := limitSchema(l.Method); phases == nil {
			oneOf(&ps, k("method"), l.Method, methodNames()...)
		} else {
			if !slices.Contains(phases, l.Phase) {
				ps.add(k("phase"), "%q is not a phase of %s (%s)", l.Phase, l.Method, quoteAll(phases))
			}
			if !slices.Contains(qs, l.Quantity) {
				ps.add(k("quantity"), "%q is not a quantity of %s (%s)", l.Quantity, l.Method, strings.Join(qs, ", "))
			}
		}
		oneOf(&ps, k("stage"), l.Stage, "a", "b")
		if math.IsNaN(l.Value) || math.IsInf(l.Value, 0) || l.Value < 0 {
			ps.add(k("value"), "must be a finite number >= 0, got %v", l.Value)
		}
		if _, err := time.Parse(time.DateOnly, l.EffectiveFrom); err != nil {
			ps.add(k("effective_from"), "%q is not a date YYYY-MM-DD", l.EffectiveFrom)
		}
		if strings.TrimSpace(l.Standard) == "" {
			ps.add(k("standard"), "is required: every limit names its standard")
		}
		if strings.TrimSpace(l.Clause) == "" {
			ps.add(k("clause"), "is required: every limit names its clause or table")
		}
		if strings.TrimSpace(l.Source) == "" {
			ps.add(k("source"), "is required: say where the number comes from")
		}
		if j, dup := seen[l.id()]; dup {
			ps.addRel(k("quantity"), []string{fmt.Sprintf("limit[%d]", j)}, "limit %s is already defined by limit[%d]", l.id(), j)
		} else {
			seen[l.id()] = i
		}
	}
	seen = map[string]int{}
	for i, v := range p.Values {
		k := func(f string) string { return "param[" + strconv.Itoa(i) + "]." + f }
		oneOf(&ps, k("method"), v.Method, methodNames()...)
		if !paramNameRE.MatchString(v.Name) {
			ps.add(k("name"), "%q is not a parameter name (lower-case letters, digits and '_')", v.Name)
		}
		if math.IsNaN(v.Value) || math.IsInf(v.Value, 0) {
			ps.add(k("value"), "must be a finite number")
		}
		if strings.TrimSpace(v.Unit) == "" {
			ps.add(k("unit"), "is required (\"1\" for a plain number)")
		}
		if strings.TrimSpace(v.Source) == "" {
			ps.add(k("source"), "is required: say where the number comes from")
		}
		id := v.Method + "." + v.Name
		if j, dup := seen[id]; dup {
			ps.addRel(k("name"), []string{fmt.Sprintf("param[%d]", j)}, "parameter %s is already defined by param[%d]", id, j)
		} else {
			seen[id] = i
		}
	}
	return ps
}
