package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	toml "github.com/pelletier/go-toml/v2"

	"imagent/agent/contract"
)

// vehicleFile is the TOML form of a vehicle for `imagent test run --vehicle`.
type vehicleFile struct {
	Plate         string  `toml:"plate"`
	PlateType     string  `toml:"plate_type"`
	VIN           string  `toml:"vin"`
	Fuel          string  `toml:"fuel"`
	GVWkg         float64 `toml:"gvw_kg"`
	RMkg          float64 `toml:"rm_kg"`
	ClosedLoopTWC bool    `toml:"closed_loop_twc"`
	RatedPowerKW  float64 `toml:"rated_power_kw"`
	RatedRPM      float64 `toml:"rated_rpm"`
	Aspiration    string  `toml:"aspiration"`
}

// fileProblems collects "file:line: key: message" problems.
type fileProblems struct {
	name string
	data []byte
	list []string
}

func (p *fileProblems) add(key, format string, args ...any) {
	line := keyLine(p.data, key)
	loc := p.name
	if line > 0 {
		loc = fmt.Sprintf("%s:%d", p.name, line)
	}
	p.list = append(p.list, fmt.Sprintf("%s: %s: %s", loc, key, fmt.Sprintf(format, args...)))
}

// err joins the problems, sorted by line.
func (p *fileProblems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	line := func(s string) int {
		var n int
		if _, err := fmt.Sscanf(strings.TrimPrefix(s, p.name+":"), "%d", &n); err != nil {
			return 1 << 30 // a problem without a line (a key that is missing) comes last
		}
		return n
	}
	slices.SortStableFunc(p.list, func(a, b string) int { return line(a) - line(b) })
	return errors.New(strings.Join(p.list, "\n"))
}

// keyLine finds the line where key (its last dotted part) is set, 0 if nowhere.
func keyLine(data []byte, key string) int {
	k := key
	if i := strings.LastIndexByte(k, '.'); i >= 0 {
		k = k[i+1:]
	}
	re := regexp.MustCompile(`^\s*"?` + regexp.QuoteMeta(k) + `"?\s*=`)
	for i, l := range bytes.Split(data, []byte("\n")) {
		if re.Match(l) {
			return i + 1
		}
	}
	return 0
}

// decodeStrict decodes TOML into v, refusing unknown keys; every problem names its line.
// Unknown keys come back as problems (v is decoded all the same, so the caller can check
// the rest and report everything at once); a syntax or type error as err.
func decodeStrict(name string, data []byte, v any) (unknown []string, err error) {
	err = toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields().Decode(v)
	if err == nil {
		return nil, nil
	}
	var strict *toml.StrictMissingError
	var derr *toml.DecodeError
	switch {
	case errors.As(err, &strict):
		for _, e := range strict.Errors {
			row, col := e.Position()
			unknown = append(unknown, fmt.Sprintf("%s:%d:%d: %s: unknown key", name, row, col, strings.Join(e.Key(), ".")))
		}
		return unknown, nil
	case errors.As(err, &derr):
		row, col := derr.Position()
		return nil, fmt.Errorf("%s:%d:%d: %s", name, row, col, derr.Error())
	}
	return nil, fmt.Errorf("%s: %w", name, err)
}

// vinRE is a VIN: 17 characters, digits and capital letters except I, O and Q.
var vinRE = regexp.MustCompile(`^[A-HJ-NPR-Z0-9]{17}$`)

// loadVehicle reads and checks a vehicle file for a method.
func loadVehicle(path, method string) (contract.Vehicle, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return contract.Vehicle{}, err
	}
	return parseVehicle(path, data, method)
}

func parseVehicle(name string, data []byte, method string) (contract.Vehicle, error) {
	var f vehicleFile
	unknown, err := decodeStrict(name, data, &f)
	if err != nil {
		return contract.Vehicle{}, err
	}
	p := &fileProblems{name: name, data: data, list: unknown}
	if strings.TrimSpace(f.Plate) == "" {
		p.add("plate", "is required")
	}
	if !vinRE.MatchString(f.VIN) {
		p.add("vin", "%q is not a VIN (17 characters, digits and capitals other than I, O, Q)", f.VIN)
	}
	gasoline := []string{"gasoline", "lpg", "ng"}
	if !slices.Contains(append(gasoline, "diesel"), f.Fuel) {
		p.add("fuel", "%q is not one of gasoline, lpg, ng, diesel", f.Fuel)
	}
	for _, x := range []struct {
		key string
		v   float64
	}{{"gvw_kg", f.GVWkg}, {"rm_kg", f.RMkg}, {"rated_power_kw", f.RatedPowerKW}, {"rated_rpm", f.RatedRPM}} {
		if x.v < 0 {
			p.add(x.key, "must not be negative, got %v", x.v)
		}
	}
	if f.Aspiration != "" && !slices.Contains([]string{"natural", "turbo", "supercharged"}, f.Aspiration) {
		p.add("aspiration", "%q is not one of natural, turbo, supercharged", f.Aspiration)
	}
	switch method {
	case contract.MethodTSI, contract.MethodASM, contract.MethodVMAS:
		if f.Fuel == "diesel" {
			p.add("fuel", "%s is a method for spark-ignition engines, the vehicle is a diesel", method)
		}
		if method != contract.MethodTSI && f.RMkg <= 0 {
			p.add("rm_kg", "%s needs the reference mass", method)
		}
	case contract.MethodFreeAccel, contract.MethodLugDown:
		if f.Fuel != "diesel" {
			p.add("fuel", "%s is a diesel method, the vehicle's fuel is %q", method, f.Fuel)
		}
		if method == contract.MethodLugDown {
			if f.RatedPowerKW <= 0 {
				p.add("rated_power_kw", "lug-down needs the engine's rated power")
			}
			if f.RatedRPM <= 0 {
				p.add("rated_rpm", "lug-down needs the engine's rated speed")
			}
		}
	default:
		return contract.Vehicle{}, fmt.Errorf("unknown method %q (tsi, asm, vmas, free_accel, lugdown)", method)
	}
	if err := p.err(); err != nil {
		return contract.Vehicle{}, err
	}
	return contract.Vehicle{Plate: f.Plate, PlateType: f.PlateType, VIN: f.VIN, Fuel: f.Fuel, GVWkg: f.GVWkg,
		RMkg: f.RMkg, Catalyst: f.ClosedLoopTWC, RatedPowerKW: f.RatedPowerKW, RatedRPM: f.RatedRPM, Aspiration: f.Aspiration}, nil
}

// repairFile is the TOML form of an M-station repair for `imagent test run --repair`.
type repairFile struct {
	FailedInspection struct {
		InspectionID string `toml:"inspection_id"`
		Station      string `toml:"station"`
		Plate        string `toml:"plate"`
		PlateType    string `toml:"plate_type"`
		VIN          string `toml:"vin"`
		Date         string `toml:"date"`
		Method       string `toml:"method"`
	} `toml:"failed_inspection"`
	Repair struct {
		Diagnosis  string    `toml:"diagnosis"`
		Started    time.Time `toml:"started"`
		Finished   time.Time `toml:"finished"`
		Completed  bool      `toml:"completed"`
		Technician struct {
			Name        string `toml:"name"`
			Certificate string `toml:"certificate"`
		} `toml:"technician"`
		Items []struct {
			Code        string `toml:"code"`
			Description string `toml:"description"`
		} `toml:"items"`
		Parts []struct {
			Name     string  `toml:"name"`
			PartNo   string  `toml:"part_no"`
			Quantity float64 `toml:"quantity"`
		} `toml:"parts"`
	} `toml:"repair"`
}

// loadRepair reads a repair file; the failed inspection's plate and VIN default to the
// tested vehicle's, and must match it when given.
func loadRepair(path string, v contract.Vehicle) (*contract.RepairBody, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f repairFile
	unknown, err := decodeStrict(path, data, &f)
	if err != nil {
		return nil, err
	}
	if len(unknown) > 0 {
		return nil, errors.New(strings.Join(unknown, "\n"))
	}
	fi := f.FailedInspection
	if fi.Plate == "" {
		fi.Plate = v.Plate
	}
	if fi.VIN == "" {
		fi.VIN = v.VIN
	}
	if fi.Date != "" {
		if _, err := time.Parse(time.DateOnly, fi.Date); err != nil {
			return nil, fmt.Errorf("%s:%d: failed_inspection.date: %q is not a date YYYY-MM-DD", path, keyLine(data, "date"), fi.Date)
		}
	}
	rb := &contract.RepairBody{
		FailedInspection: contract.InspectionRef{InspectionID: fi.InspectionID, Station: fi.Station, Plate: fi.Plate,
			PlateType: fi.PlateType, VIN: fi.VIN, Date: fi.Date, Method: fi.Method},
		Repair: contract.Repair{Diagnosis: f.Repair.Diagnosis, Started: f.Repair.Started, Finished: f.Repair.Finished,
			Completed: f.Repair.Completed, Technician: contract.Technician{Name: f.Repair.Technician.Name, Certificate: f.Repair.Technician.Certificate}},
	}
	for _, it := range f.Repair.Items {
		rb.Repair.Items = append(rb.Repair.Items, contract.RepairItem{Code: it.Code, Description: it.Description})
	}
	for _, pt := range f.Repair.Parts {
		rb.Repair.Parts = append(rb.Repair.Parts, contract.RepairPart{Name: pt.Name, PartNo: pt.PartNo, Quantity: pt.Quantity})
	}
	check := *rb
	check.Test = &contract.TestBody{Vehicle: v}
	if err := check.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rb, nil
}
