package selfcheck_test

import (
	"context"
	"testing"
	"time"

	"imagent/agent/contract"
	"imagent/agent/procedure"
	"imagent/agent/selfcheck"
	"imagent/agent/simlane"
	"imagent/agent/simvehicle"
	"imagent/config"
	"imagent/drivers"
	"imagent/drivers/gas/nanhua/nanhuasim"
)

func newLane(t *testing.T, o simlane.Options) *simlane.Lane {
	t.Helper()
	if o.Speed == 0 {
		o.Speed = 25
	}
	l, err := simlane.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return l
}

func run(t *testing.T, l *simlane.Lane, req selfcheck.Request) *contract.CheckBody {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := selfcheck.Run(ctx, l.Env(config.DefaultParams(), "a"), req)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Validate(); err != nil {
		t.Errorf("the body is not valid for the platform: %v", err)
	}
	return b
}

func TestLeakCheck(t *testing.T) {
	t.Parallel()
	for _, leak := range []bool{false, true} {
		l := newLane(t, simlane.Options{Analyzer: nanhuasim.Options{Leak: leak, LeakTime: time.Second}})
		b := run(t, l, selfcheck.Request{Check: contract.CheckAnalyzerLeak, Operator: "tester"})
		want := contract.VerdictPass
		if leak {
			want = contract.VerdictFail
		}
		if b.Result != want || len(b.Items) != 1 || b.Items[0].Name != "leak_tight" {
			t.Errorf("leak %v: result %s items %+v, want %s", leak, b.Result, b.Items, want)
		}
	}
}

// bottle is a low check gas; the analyzer's reading of it is off by errPct.
func bottle(errPct float64) (drivers.CalGas, nanhuasim.Exhaust) {
	g := drivers.CalGas{C3H8ppm: 200, COpct: 0.5, CO2pct: 6, NOppm: 300}
	f := 1 + errPct/100
	return g, nanhuasim.Exhaust{HCppm: 200 * 0.505 * f, COpct: 0.5 * f, CO2pct: 6 * f, NOppm: 300 * f}
}

func TestGasCheckPassAndFail(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		errPct float64
		want   string
	}{{1, contract.VerdictPass}, {-12, contract.VerdictFail}} {
		l := newLane(t, simlane.Options{})
		g, seen := bottle(c.errPct)
		l.Driver.SetBottle("low", seen)
		b := run(t, l, selfcheck.Request{Check: contract.CheckGasLow, Gas: g, PEF: 0.505,
			Reference: &contract.Reference{Kind: "gas_bottle", ID: "B1"}})
		if b.Result != c.want {
			t.Fatalf("error %v %%: result %s (%s), want %s: %+v", c.errPct, b.Result, b.AbortDetail, c.want, b.Items)
		}
		if len(b.Items) != 4 {
			t.Fatalf("items %+v, want HC, CO, CO2, NO", b.Items)
		}
		for _, it := range b.Items {
			if d := it.Error - c.errPct; d > 1.5 || d < -1.5 {
				t.Errorf("%s: error %v %%, want about %v %%", it.Name, it.Error, c.errPct)
			}
			if it.ErrorUnit != contract.ErrorPct || it.Standard == "" || it.Verified {
				t.Errorf("item %+v", it)
			}
		}
		if b.Items[0].Nominal != 101 { // 200 ppm propane × PEF 0.505
			t.Errorf("HC nominal %v, want 101", b.Items[0].Nominal)
		}
		// The means the items carry are the means of the "measure" rows.
		var n, sum float64
		for i, ph := range b.Process.Phase {
			if ph == "measure" {
				n++
				sum += b.Process.Rows[i][1]
			}
		}
		if got := procedure.Round(sum/n, 4); got != b.Items[0].Measured {
			t.Errorf("HC measured %v, rows give %v", b.Items[0].Measured, got)
		}
	}
}

func TestGasCheckAborts(t *testing.T) {
	t.Parallel()
	l := newLane(t, simlane.Options{})
	if b := run(t, l, selfcheck.Request{Check: contract.CheckGasHigh}); b.AbortReason != selfcheck.AbortRequest {
		t.Errorf("a gas check without a bottle: %s %s", b.Result, b.AbortReason)
	}
	if _, err := selfcheck.Run(context.Background(), l.Env(config.DefaultParams(), "a"), selfcheck.Request{Check: contract.CheckDynoCoastDown}); err == nil {
		t.Error("a dyno check on a lane without a dyno must be an error")
	}
	if _, err := selfcheck.Run(context.Background(), l.Env(config.DefaultParams(), "a"), selfcheck.Request{Check: "nonsense"}); err == nil {
		t.Error("an unknown check must be an error")
	}
}

func TestWeatherComparison(t *testing.T) {
	t.Parallel()
	l := newLane(t, simlane.Options{Roles: []string{simlane.Weather}})
	ok := run(t, l, selfcheck.Request{Check: contract.CheckWeather, RefTempC: 20.3, RefRHpct: 51, RefPressureKPa: 101.2})
	if ok.Result != contract.VerdictPass || len(ok.Items) != 3 {
		t.Errorf("result %s items %+v", ok.Result, ok.Items)
	}
	bad := run(t, l, selfcheck.Request{Check: contract.CheckWeather, RefTempC: 23, RefRHpct: 50, RefPressureKPa: 101.3})
	if bad.Result != contract.VerdictFail || bad.Items[0].Pass {
		t.Errorf("a station 3 °C off: result %s items %+v", bad.Result, bad.Items)
	}
}

func TestOpacimeterAndFlowmeterChecks(t *testing.T) {
	t.Parallel()
	l := newLane(t, simlane.Options{Roles: []string{simlane.Opacimeter, simlane.Flowmeter}, Vehicle: simvehicle.Options{Kind: simvehicle.Diesel}})
	for _, c := range []struct {
		check string
		off   float64
		want  string
	}{
		{contract.CheckOpacimeter, 0, contract.VerdictPass},
		{contract.CheckOpacimeter, 10, contract.VerdictFail},
		{contract.CheckFlowmeter, 0, contract.VerdictPass},
		{contract.CheckFlowmeter, 20, contract.VerdictFail},
	} {
		b := run(t, l, l.CheckRequest(c.check, c.off))
		if b.Result != c.want {
			t.Errorf("%s off %v %%: %s (%s %s), want %s; items %+v", c.check, c.off, b.Result, b.AbortReason, b.AbortDetail, c.want, b.Items)
		}
	}
}

func TestDynoCoastDownAndParasitic(t *testing.T) {
	t.Parallel()
	// The coast times are interpolated between the dyno's stream frames (20 ms of real
	// time, 0.4 s of procedure time at this speed).
	l := newLane(t, simlane.Options{Roles: []string{simlane.Dyno}, Speed: 20})
	for _, chk := range []string{contract.CheckDynoCoastDown, contract.CheckDynoParasitic} {
		b := run(t, l, l.CheckRequest(chk, 0))
		if b.Result != contract.VerdictPass || len(b.Items) != 2 {
			t.Errorf("%s: %s (%s %s) items %+v", chk, b.Result, b.AbortReason, b.AbortDetail, b.Items)
		}
		for _, it := range b.Items {
			if it.Measured <= 0 || it.Nominal <= 0 {
				t.Errorf("%s: item %+v", chk, it)
			}
		}
		if v := l.Roller.State().SpeedKmh; v > 0.5 {
			t.Errorf("%s left the rollers turning at %.1f km/h: the next test would refuse to start", chk, v)
		}
	}
	// A dyno whose parasitic loss is far above its configured curve fails both.
	p := config.DefaultParams()
	for i, v := range p.Values {
		if v.Method == "asm" && v.Name == "parasitic_c" {
			p.Values[i].Value = 3 // kW more loss configured than the machine has
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := selfcheck.Run(ctx, l.Env(p, "a"), l.CheckRequest(contract.CheckDynoParasitic, 0))
	if err != nil {
		t.Fatal(err)
	}
	if b.Result != contract.VerdictFail {
		t.Errorf("parasitic check against a wrong curve: %s %+v", b.Result, b.Items)
	}
}
