package config

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestLimitsNameStandardAndClause is the acceptance check "the limits table
// names the standard and the clause for every number".
func TestLimitsNameStandardAndClause(t *testing.T) {
	p := DefaultParams()
	if len(p.Limits) == 0 {
		t.Fatal("no limits")
	}
	for i, l := range p.Limits {
		if strings.TrimSpace(l.Standard) == "" || strings.TrimSpace(l.Clause) == "" || strings.TrimSpace(l.Source) == "" {
			t.Errorf("limit[%d] %s lacks standard, clause or source: %+v", i, l.id(), l)
		}
		if _, err := l.Effective(); err != nil {
			t.Error(err)
		}
	}
	for i, v := range p.Values {
		if strings.TrimSpace(v.Source) == "" || strings.TrimSpace(v.Unit) == "" {
			t.Errorf("param[%d] %s.%s lacks source or unit", i, v.Method, v.Name)
		}
	}
}

// TestDefaultLimits checks the embedded table against domain.md §2.10, entry
// by entry, in both directions.
func TestDefaultLimits(t *testing.T) {
	type row struct {
		method, phase, quantity string
		a, b                    float64
	}
	rows := []row{
		{"tsi", "low_idle", "co_pct", 0.6, 0.4},
		{"tsi", "low_idle", "hc_ppm", 80, 40},
		{"tsi", "high_idle", "co_pct", 0.3, 0.3},
		{"tsi", "high_idle", "hc_ppm", 50, 30},
		{"tsi", "high_idle", "lambda_min", 0.95, 0.95},
		{"tsi", "high_idle", "lambda_max", 1.05, 1.05},
		{"asm", "5025", "co_pct", 0.50, 0.35},
		{"asm", "5025", "hc_ppm", 90, 47},
		{"asm", "5025", "no_ppm", 700, 420},
		{"asm", "2540", "co_pct", 0.40, 0.30},
		{"asm", "2540", "hc_ppm", 80, 44},
		{"asm", "2540", "no_ppm", 650, 390},
		{"vmas", "", "co_gkm", 8.0, 5.0},
		{"vmas", "", "hcnox_gkm", 1.6, 1.0},
		{"free_accel", "", "k_m1", 1.2, 0.7},
		{"lugdown", "100pct", "k_m1", 1.2, 0.7},
		{"lugdown", "80pct", "k_m1", 1.2, 0.7},
		{"lugdown", "80pct", "nox_ppm", 1500, 900},
		{"ringelmann", "", "ringelmann_grade", 1, 1},
	}
	p := DefaultParams()
	for _, r := range rows {
		for _, s := range []struct {
			stage, from string
			v           float64
		}{{"a", "2019-05-01", r.a}, {"b", "2023-07-01", r.b}} {
			l, ok := p.Limit(r.method, r.phase, r.quantity, s.stage)
			if !ok {
				t.Errorf("missing limit %s/%s/%s/%s", r.method, r.phase, r.quantity, s.stage)
				continue
			}
			if l.Value != s.v || l.EffectiveFrom != s.from {
				t.Errorf("limit %s = %v from %s, want %v from %s", l.id(), l.Value, l.EffectiveFrom, s.v, s.from)
			}
			if l.Verified {
				t.Errorf("limit %s is marked verified, but domain.md §2.10 is [M]; update this test when it has been checked", l.id())
			}
		}
	}
	if got, want := len(p.Limits), 2*len(rows); got != want {
		t.Errorf("%d limits in the default table, want %d", got, want)
	}
}

func TestDefaultValues(t *testing.T) {
	p := DefaultParams()
	for _, c := range []struct {
		method, name string
		want         float64
	}{
		{"tsi", "precondition_rpm_light", 3500},
		{"tsi", "precondition_rpm_heavy", 2520},
		{"tsi", "precondition_s", 30},
		{"tsi", "high_idle_rpm_light", 2500},
		{"tsi", "high_idle_rpm_heavy", 1800},
		{"tsi", "high_idle_rpm_tolerance", 200},
		{"tsi", "high_idle_hold_s", 15},
		{"tsi", "high_idle_measure_s", 30},
		{"tsi", "low_idle_hold_s", 15},
		{"tsi", "low_idle_measure_s", 30},
		{"tsi", "low_idle_rpm_tolerance", 100},
		{"tsi", "probe_co_co2_min_pct", 6.0},
		{"tsi", "probe_o2_max_pct", 10},
		{"tsi", "dilution_guard_s", 3},
		{"tsi", "heavy_gvw_kg", 3500},
		{"tsi", "oil_temp_min_c", 80},
		{"asm", "load_divisor_5025", 148},
		{"asm", "load_divisor_2540", 185},
		{"asm", "speed_5025_kmh", 25},
		{"asm", "speed_2540_kmh", 40},
		{"asm", "speed_tolerance_kmh", 1.5},
		{"asm", "settle_s", 5},
		{"asm", "fast_check_start_s", 15},
		{"asm", "fast_check_end_s", 24},
		{"asm", "mode_max_s", 90},
		{"asm", "parasitic_a", 0.0006},
		{"asm", "parasitic_b", 0.0003},
		{"asm", "parasitic_c", 0},
		{"asm", "df_max", 3.0},
		{"asm", "fuel_a_gasoline", 4.644},
		{"asm", "fuel_a_lpg", 5.39},
		{"asm", "fuel_a_ng", 6.64},
	} {
		got, err := p.Value(c.method, c.name)
		if err != nil {
			t.Error(err)
			continue
		}
		if got != c.want {
			t.Errorf("%s.%s = %v, want %v", c.method, c.name, got, c.want)
		}
	}
	v, ok := p.Param("tsi", "high_idle_rpm_tolerance")
	if !ok || !strings.Contains(v.Note, "100") || v.Source != "[M] domain.md §2.1" {
		t.Errorf("rpm tolerance must carry the standard's [M] source and the lane code's 100 as a note: %+v", v)
	}
	if _, ok := p.Param("tsi", "precondition_rpm_light"); !ok {
		t.Fatal("missing")
	}
	if v, _ := p.Param("tsi", "precondition_rpm_light"); v.Source != "[C-code] luckyzjian/VMAS sds/sds/Sds.cs" {
		t.Errorf("source %q", v.Source)
	}
}

func TestLookupMisses(t *testing.T) {
	p := DefaultParams()
	if _, ok := p.Limit("tsi", "high_idle", "co_pct", "c"); ok {
		t.Error("found a limit for stage c")
	}
	if _, ok := p.Limit("asm", "5025", "co_pct", ""); ok {
		t.Error("found a limit without stage")
	}
	_, err := p.Value("tsi", "no_such_param")
	if err == nil || !strings.Contains(err.Error(), "tsi.no_such_param") {
		t.Errorf("error %v does not name the parameter", err)
	}
}

func TestLimitPass(t *testing.T) {
	p := DefaultParams()
	co, _ := p.Limit("tsi", "high_idle", "co_pct", "a")
	lmin, _ := p.Limit("tsi", "high_idle", "lambda_min", "a")
	lmax, _ := p.Limit("tsi", "high_idle", "lambda_max", "a")
	for _, c := range []struct {
		l    Limit
		x    float64
		want bool
	}{
		{co, 0.3, true}, {co, 0.31, false},
		{lmin, 0.95, true}, {lmin, 0.94, false},
		{lmax, 1.05, true}, {lmax, 1.06, false},
	} {
		if got := c.l.Pass(c.x); got != c.want {
			t.Errorf("%s.Pass(%v) = %v, want %v", c.l.id(), c.x, got, c.want)
		}
	}
}

func TestOverride(t *testing.T) {
	base := DefaultParams()
	before := DefaultParams()
	region, err := LoadParams(filepath.Join("testdata", "region-example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	got := base.Override(region)

	l, _ := got.Limit("tsi", "high_idle", "hc_ppm", "b")
	if l.EffectiveFrom != "2019-07-01" || l.Value != 30 {
		t.Errorf("overridden limit %+v", l)
	}
	if v, _ := got.Value("tsi", "high_idle_rpm_tolerance"); v != 100 {
		t.Errorf("overridden rpm tolerance %v, want 100", v)
	}
	// Untouched entries stay, nothing is duplicated.
	if l, _ := got.Limit("tsi", "high_idle", "hc_ppm", "a"); l.Value != 50 {
		t.Errorf("limit a changed: %+v", l)
	}
	if len(got.Limits) != len(base.Limits) || len(got.Values) != len(base.Values) {
		t.Errorf("override changed the number of entries: %d/%d, want %d/%d",
			len(got.Limits), len(got.Values), len(base.Limits), len(base.Values))
	}
	// The base is not modified.
	if !reflect.DeepEqual(base, before) {
		t.Error("Override modified its receiver")
	}
	// New entries are added.
	extra := &Params{Limits: []Limit{{Method: "vmas", Quantity: "hc_gkm", Stage: "a", Value: 0.5}}}
	if l, ok := base.Override(extra).Limit("vmas", "", "hc_gkm", "a"); !ok || l.Value != 0.5 {
		t.Errorf("added limit: %+v %v", l, ok)
	}
	if got := base.Override(nil); !reflect.DeepEqual(got, base) {
		t.Error("Override(nil) is not a copy")
	}
}

func TestParamsStrictErrors(t *testing.T) {
	src := `[[limit]]
method = "tsi"
phase = "idle"
quantity = "co_pct"
stage = "a"
value = "0.6"
effective_from = "2019-5-1"
standard = "GB 18285-2018"
source = "[M]"
verfied = true

[[limit]]
method = "asm"
phase = "5025"
quantity = "co"
stage = "a"
value = -1
effective_from = "2019-05-01"
standard = ""
clause = "Table 2"
source = "[M]"

[[param]]
method = "tsi"
name = "Precondition RPM"
value = 3500

[[param]]
method = "tsi"
name = "x"
value = 1
unit = "s"
source = "[I]"

[[param]]
method = "tsi"
name = "x"
value = 2
unit = "s"
source = "[I]"
`
	_, err := ParseParams("p.toml", []byte(src))
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("got %v, want *Errors", err)
	}
	want := `p.toml:1:3: limit[0].clause: is required: every limit names its clause or table
p.toml:3:1: limit[0].phase: "idle" is not a phase of tsi ("high_idle", "low_idle")
p.toml:6:1: limit[0].value: expected a number, got a string
p.toml:7:1: limit[0].effective_from: "2019-5-1" is not a date YYYY-MM-DD
p.toml:10:1: limit[0].verfied: unknown key (did you mean "verified"?)
p.toml:15:1: limit[1].quantity: "co" is not a quantity of asm (co_pct, hc_ppm, no_ppm)
p.toml:17:1: limit[1].value: must be a finite number >= 0, got -1
p.toml:19:1: limit[1].standard: is required: every limit names its standard
p.toml:23:3: param[0].unit: is required ("1" for a plain number)
p.toml:23:3: param[0].source: is required: say where the number comes from
p.toml:25:1: param[0].name: "Precondition RPM" is not a parameter name (lower-case letters, digits and '_')
p.toml:37:1: param[2].name: parameter tsi.x is already defined by param[1]`
	if got := err.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestDefaultParams(t *testing.T) {
	a, b := DefaultParams(), DefaultParams()
	a.Limits[0].Value = 99
	if b.Limits[0].Value == 99 {
		t.Error("DefaultParams shares state between calls")
	}
	if _, err := ParseParams("params_default.toml", DefaultParamsTOML()); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadParams(filepath.Join(t.TempDir(), "none.toml")); err == nil {
		t.Error("loading a missing file succeeded")
	}
}

// TestParamGroups checks the method parameters beyond TSI and ASM: each group is there,
// every number names a clause when it names a standard, none is marked verified (nothing
// has been checked against the official texts yet), and the switches are 0 or 1.
func TestParamGroups(t *testing.T) {
	p := DefaultParams()
	count := map[string]int{}
	for _, v := range p.Values {
		count[v.Method]++
		if v.Standard != "" && strings.TrimSpace(v.Clause) == "" {
			t.Errorf("%s.%s names %s but no clause", v.Method, v.Name, v.Standard)
		}
		if v.Verified {
			t.Errorf("%s.%s is marked verified; update this test when a number has been checked", v.Method, v.Name)
		}
		if (strings.HasPrefix(v.Name, "required_") || strings.HasSuffix(v.Name, "_check")) && v.Value != 0 && v.Value != 1 {
			t.Errorf("%s.%s = %v, a switch is 0 or 1", v.Method, v.Name, v.Value)
		}
	}
	for _, g := range []string{"common", "tsi", "asm", "vmas", "free_accel", "lugdown", "selfcheck"} {
		if count[g] == 0 {
			t.Errorf("no parameters for %s", g)
		}
	}
	// The VMAS cycle: breakpoints from 0 to 195 s, the 50 km/h cruise at 143–155 s.
	for name, want := range map[string]float64{"cycle_kmh_at_000s": 0, "cycle_kmh_at_143s": 50, "cycle_kmh_at_155s": 50, "cycle_kmh_at_195s": 0} {
		if v, err := p.Value("vmas", name); err != nil || v != want {
			t.Errorf("vmas.%s = %v (%v), want %v", name, v, err, want)
		}
	}
	for _, c := range []struct {
		method, name string
		want         float64
	}{
		{"common", "hc_residual_max_ppm", 10}, {"common", "ambient_temp_max_c", 40}, {"common", "ambient_rh_max_pct", 85},
		{"asm", "out_of_window_continuous_max_s", 2}, {"asm", "out_of_window_total_max_s", 5},
		{"free_accel", "measured_blows", 3}, {"free_accel", "hold_min_s", 2},
		{"lugdown", "point_80_fraction", 0.8}, {"lugdown", "min_wheel_power_fraction", 0.4}, {"lugdown", "power_correction_fm", 1.2},
		{"selfcheck", "required_analyzer_leak", 1},
	} {
		if v, err := p.Value(c.method, c.name); err != nil || v != c.want {
			t.Errorf("%s.%s = %v (%v), want %v", c.method, c.name, v, err, c.want)
		}
	}
	// Only test methods have limits.
	if phases, _ := limitSchema("selfcheck"); phases != nil {
		t.Error("selfcheck parameters must not take limits")
	}
}
