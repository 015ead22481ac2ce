package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"imagent/agent/contract"
)

const vehiclesDir = "../testdata/vehicles"

func TestVehicleFiles(t *testing.T) {
	for _, c := range []struct {
		file, method string
	}{
		{"gasoline-car.toml", contract.MethodTSI}, {"gasoline-car.toml", contract.MethodASM}, {"gasoline-car.toml", contract.MethodVMAS},
		{"heavy-gasoline.toml", contract.MethodTSI},
		{"diesel-truck.toml", contract.MethodFreeAccel}, {"diesel-truck.toml", contract.MethodLugDown},
	} {
		v, err := loadVehicle(filepath.Join(vehiclesDir, c.file), c.method)
		if err != nil {
			t.Errorf("%s for %s: %v", c.file, c.method, err)
			continue
		}
		if v.Plate == "" || len(v.VIN) != 17 {
			t.Errorf("%s: %+v", c.file, v)
		}
	}
	// A file for the wrong method says why, at the line of the key.
	_, err := loadVehicle(filepath.Join(vehiclesDir, "gasoline-car.toml"), contract.MethodLugDown)
	if err == nil || !strings.Contains(err.Error(), "gasoline-car.toml:7: fuel: lugdown is a diesel method") {
		t.Errorf("gasoline car for lug-down: %v", err)
	}
	v, _ := loadVehicle(filepath.Join(vehiclesDir, "gasoline-car.toml"), contract.MethodASM)
	r, err := loadRepair(filepath.Join(vehiclesDir, "repair-asm.toml"), v)
	if err != nil {
		t.Fatal(err)
	}
	if r.FailedInspection.InspectionID != "3205002025060100042" || r.FailedInspection.VIN != v.VIN || len(r.Repair.Items) != 2 || len(r.Repair.Parts) != 2 {
		t.Errorf("repair %+v", r)
	}
	other := v
	other.VIN = "LOTHERVIN00000000"
	if _, err := loadRepair(filepath.Join(vehiclesDir, "repair-asm.toml"), other); err != nil {
		t.Logf("(defaults follow the vehicle: %v)", err)
	}
}

// TestVehicleFileErrors: every problem of a bad file at once, each with its line.
func TestVehicleFileErrors(t *testing.T) {
	path := filepath.Join(vehiclesDir, "invalid-car.toml")
	_, err := loadVehicle(path, contract.MethodASM)
	if err == nil {
		t.Fatal("an invalid vehicle file was accepted")
	}
	want := strings.Join([]string{
		path + `:2: plate: is required`,
		path + `:3: vin: "LSVAU2180N212345O" is not a VIN (17 characters, digits and capitals other than I, O, Q)`,
		path + `:4: fuel: "petrol" is not one of gasoline, lpg, ng, diesel`,
		path + `:5: gvw_kg: must not be negative, got -1`,
		path + `:6:1: colour: unknown key`,
		path + `: rm_kg: asm needs the reference mass`,
	}, "\n")
	if err.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", err, want)
	}
	bad := filepath.Join(t.TempDir(), "v.toml")
	if err := os.WriteFile(bad, []byte("plate = \"A\"\nvin = 17\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadVehicle(bad, contract.MethodTSI); err == nil || !strings.Contains(err.Error(), bad+":2:") {
		t.Errorf("a type error must name its line: %v", err)
	}
}

// TestTestRunSimulated runs `imagent test run` on a simulated lane for a method that needs
// a dyno, with a repair file: the platform receives a repair record carrying the test.
func TestTestRunSimulated(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	args := []string{"test", "run", "--method", "asm", "--vehicle", filepath.Join(vehiclesDir, "gasoline-car.toml"),
		"--repair", filepath.Join(vehiclesDir, "repair-asm.toml"), "--speed", "25", "--inspection", "M42"}
	if err := run(ctx, args, &out, &errOut); err != nil {
		t.Fatalf("test run: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	s := out.String()
	for _, want := range []string{"self-check dyno_coastdown", "kind       repair", "method     asm", "verdict    pass",
		"repair of inspection 3205002025060100042 (苏A12345, LSVAU2180N2123456)"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if regexp.MustCompile(`5025\s+pass`).FindString(s) == "" {
		t.Errorf("no 5025 result:\n%s", s)
	}
}

func TestTestRunUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"test", "run", "--method", "asm"}, &out, &errOut); err == nil {
		t.Error("test run without a vehicle file must fail")
	}
	if err := run(context.Background(), []string{"test"}, &out, &errOut); err == nil || !strings.Contains(errOut.String(), "usage: imagent test run") {
		t.Errorf("test without run: %v %q", err, errOut.String())
	}
}

// TestDemoMethods: the demo runs every method (TestDemo covers tsi), with the day's
// self-checks first.
func TestDemoMethods(t *testing.T) {
	for _, c := range []struct {
		method  string
		dirty   bool
		verdict string
		checks  []string
	}{
		{contract.MethodVMAS, false, "pass", []string{"dyno_coastdown", "flowmeter", "gas_low"}},
		{contract.MethodFreeAccel, true, "fail", []string{"opacimeter", "weather"}},
		{contract.MethodLugDown, true, "fail", []string{"dyno_coastdown", "opacimeter"}},
	} {
		t.Run(c.method, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			args := []string{"demo", "-speed", "25", "-method", c.method}
			if c.dirty {
				args = append(args, "-dirty")
			}
			var out, errOut bytes.Buffer
			if err := run(ctx, args, &out, &errOut); err != nil {
				t.Fatalf("demo: %v\n%s\n%s", err, out.String(), errOut.String())
			}
			s := out.String()
			for _, want := range append([]string{"method     " + c.method, "verdict    " + c.verdict}, c.checks...) {
				if !strings.Contains(s, want) {
					t.Errorf("output lacks %q:\n%s", want, s)
				}
			}
		})
	}
}
