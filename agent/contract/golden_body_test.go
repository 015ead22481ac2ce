package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// bodyGoldens are the examples of the check and repair records.
func bodyGoldens(t *testing.T) []golden {
	cst := time.FixedZone("CST", 8*3600)
	check := CheckBody{
		Check:   CheckGasLow,
		Device:  DeviceRef{Name: "analyzer", Protocol: "gas/nanhua", Model: "NHA-503", Port: "/dev/serial/by-id/usb-FTDI_FT232R_A10K3XYZ-if00-port0"},
		Started: time.Date(2025, 6, 3, 7, 42, 10, 0, cst),
		Ended:   time.Date(2025, 6, 3, 7, 43, 1, 0, cst),
		Result:  VerdictPass,
		Items: []CheckItem{
			{Name: "hc_ppm", Nominal: 200, Measured: 203, Error: 1.5, ErrorUnit: ErrorPct, Tolerance: 5, Pass: true, Standard: "HJ 1237-2021", Clause: "analyzer daily gas check"},
			{Name: "co_pct", Nominal: 0.5, Measured: 0.49, Error: -2, ErrorUnit: ErrorPct, Tolerance: 5, Pass: true, Standard: "HJ 1237-2021", Clause: "analyzer daily gas check"},
			{Name: "co2_pct", Nominal: 6, Measured: 6.1, Error: 1.6667, ErrorUnit: ErrorPct, Tolerance: 5, Pass: true, Standard: "HJ 1237-2021", Clause: "analyzer daily gas check"},
			{Name: "no_ppm", Nominal: 300, Measured: 291, Error: -3, ErrorUnit: ErrorPct, Tolerance: 8, Pass: true, Standard: "HJ 1237-2021", Clause: "analyzer daily gas check"},
		},
		Reference: &Reference{Kind: "gas_bottle", ID: "GB-2025-0417", Note: "certificate valid to 2026-04-30"},
		Operator:  "王工",
		Process: &Process{
			Columns: []string{"t_s", "hc_ppm", "co_pct", "co2_pct", "no_ppm"},
			Phase:   []string{"measure", "measure"},
			Rows:    [][]float64{{0, 202, 0.49, 6.1, 290}, {1, 204, 0.49, 6.1, 292}},
		},
		FramesSHA256: "0c8e2b6a4f1d3e5c7a9b0d2f4e6a8c1b3d5f7e9a0b2c4d6e8f1a3b5c7d9e0f2a",
		Frames:       2,
	}
	checkBody, err := json.Marshal(check)
	if err != nil {
		t.Fatal(err)
	}
	test := TestBody{
		Method:       MethodASM,
		InspectionID: "M3201050002025060500003",
		Vehicle:      Vehicle{Plate: "苏E3K782", PlateType: "02", VIN: "LSGKB54H7JV123456", Fuel: "gasoline", GVWkg: 1800, RMkg: 1420, Catalyst: true},
		Started:      time.Date(2025, 6, 5, 15, 2, 0, 0, cst),
		Ended:        time.Date(2025, 6, 5, 15, 5, 31, 0, cst),
		Verdict:      VerdictPass,
		LimitStage:   "b",
		Ambient:      &Ambient{TempC: 24.5, RHpct: 61, PressureKPa: 100.9, Source: "weather"},
		Phases: []PhaseResult{
			{Name: "5025", Means: map[string]float64{"hc_ppm": 21, "co_pct": 0.06, "no_ppm": 188, "speed_kmh": 25.1}, Judged: []Judged{
				{Quantity: "hc_ppm", Value: 21, Limit: 47, Bound: "max", Standard: "GB 18285-2018", Clause: "Table 2 (steady-state loaded mode limits)", Pass: true, Stage: "b", EffectiveFrom: "2023-07-01"},
			}, Pass: true},
		},
		Process:      Process{Columns: []string{"t_s", "speed_kmh", "hc_ppm"}, Phase: []string{"5025"}, Rows: [][]float64{{0, 25.1, 21}}},
		Devices:      []DeviceRef{{Name: "analyzer", Protocol: "gas/nanhua", Model: "NHA-503"}, {Name: "dyno", Protocol: "dyno/xincheng"}},
		FramesSHA256: "7e1d9c3b5a2f4e6d8c0b1a3f5e7d9c2b4a6f8e0d1c3b5a7f9e2d4c6b8a0f1e3d",
		Frames:       2,
		Formulas:     []Formula{{Name: "dilution_factor", Source: "[C-code] luckyzjian/VMAS ASM/ASMtest/ASM.cs caculateDf", Verified: false}},
	}
	repair := RepairBody{
		FailedInspection: InspectionRef{InspectionID: "3205002025060100042", Station: "3205002", Plate: "苏E3K782", PlateType: "02",
			VIN: "LSGKB54H7JV123456", Date: "2025-06-01", Method: MethodASM},
		Repair: Repair{
			Diagnosis:  "三元催化器失效，氧传感器信号迟滞",
			Items:      []RepairItem{{Code: "R-0213", Description: "更换三元催化器"}, {Code: "R-0107", Description: "更换前氧传感器"}},
			Parts:      []RepairPart{{Name: "三元催化器", PartNo: "55567124", Quantity: 1}, {Name: "前氧传感器", PartNo: "12657201", Quantity: 1}},
			Technician: Technician{Name: "李师傅", Certificate: "JS-M-2019-08812"},
			Started:    time.Date(2025, 6, 5, 9, 30, 0, 0, cst),
			Finished:   time.Date(2025, 6, 5, 14, 45, 0, 0, cst),
			Completed:  true,
		},
		Test: &test,
	}
	repairBody, err := json.Marshal(repair)
	if err != nil {
		t.Fatal(err)
	}
	envOf := func(id string, seq int64, kind, lane string, body []byte) *Envelope {
		return &Envelope{
			V: Version, ID: id, Seq: seq, Kind: kind, Station: "3205001", Lane: lane,
			Agent:    AgentInfo{Version: "0.3.0", BootID: "c0a4b3f2-1e5d-4a6b-8c7d-9e0f1a2b3c4d"},
			Time:     Time{Wall: time.Date(2025, 6, 5, 15, 5, 32, 0, cst), MonoMS: 86412345, Clock: ClockNTP},
			PrevHash: "5d41402abc4b2a76b9719d911017c592ae2f6f8b5b7e3d1c0a9f8e7d6c5b4a39",
			Body:     body,
		}
	}
	strict := func(b []byte, v interface{ Validate() error }) (any, error) {
		_, e, err := Decode(b)
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(e.Body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		if err := v.Validate(); err != nil {
			return nil, err
		}
		return e, nil
	}
	return []golden{
		{"envelope-check-gas.json", envOf("8a1f3c5e-7b9d-4e2f-a6c8-0d2e4f6a8b1c", 7, KindCheck, "L2", checkBody),
			func(b []byte) (any, error) { return strict(b, &CheckBody{}) }},
		{"envelope-repair.json", envOf("b3d5f7a9-1c2e-4a6b-8d0f-2e4a6c8e0a2c", 118, KindRepair, "M1", repairBody),
			func(b []byte) (any, error) { return strict(b, &RepairBody{}) }},
	}
}
