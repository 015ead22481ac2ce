package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"go.bug.st/serial"

	"imagent/agent/promptsink/ledboard"
	"imagent/agent/station"
	"imagent/config"
	"imagent/drivers"
	"imagent/drivers/flow/flv1000"
	"imagent/drivers/flow/flv1000/flv1000sim"
	"imagent/drivers/flow/nhf1"
	"imagent/drivers/flow/nhf1/nhf1sim"
	"imagent/drivers/gas/ak"
	"imagent/drivers/gas/ak/aksim"
	"imagent/drivers/gas/fasm"
	"imagent/drivers/gas/fasm/fasmsim"
	"imagent/drivers/gas/mingquan"
	"imagent/drivers/gas/mingquan/mingquansim"
	"imagent/drivers/gas/nanhua"
	"imagent/drivers/gas/nanhua/nanhuasim"
	"imagent/drivers/gas/nha506"
	"imagent/drivers/gas/nha506/nha506sim"
	"imagent/drivers/opacity/flb100"
	"imagent/drivers/opacity/flb100/flb100sim"
	"imagent/drivers/opacity/mqw510x"
	"imagent/drivers/opacity/mqw510x/mqw510xsim"
	"imagent/drivers/opacity/nht"
	"imagent/drivers/opacity/nht/nhtsim"
	"imagent/drivers/weather/dwsp"
	"imagent/drivers/weather/dwsp/dwspsim"
	"imagent/drivers/weather/xce100"
	"imagent/drivers/weather/xce100/xce100sim"
)

// protocol is one wire protocol the agent can speak: its serial settings, how to make a
// driver on an open port from the device's configuration, and its simulator.
type protocol struct {
	name    string
	role    string      // the config role devices of this protocol usually have
	mode    serial.Mode // the instrument's own settings
	streams bool        // the instrument sends without being asked
	newDev  func(rw io.ReadWriter, d config.Device) (drivers.Device, error)
	// sim returns the device side of the protocol (for `imagent sim` and the tests); the
	// clock drives its physics (nil: the wall clock).
	sim func(seed uint64, clock func() time.Time) serveFunc
}

type serveFunc func(ctx context.Context, rw io.ReadWriter) error

func mode(baud int, bits int, parity serial.Parity) serial.Mode {
	return serial.Mode{BaudRate: baud, DataBits: bits, Parity: parity, StopBits: serial.OneStopBit}
}

// protocols is the compiler-checked table of drivers (no init() registries).
func protocols() []protocol {
	return []protocol{
		{name: "gas/nanhua", role: "analyzer", mode: mode(9600, 8, serial.NoParity), newDev: newNanhua,
			sim: func(seed uint64, clock func() time.Time) serveFunc {
				car := nanhuasim.NewCar(seed)
				return nanhuasim.New(nanhuasim.Options{Model: nanhua.NHA503, Vehicle: car, Clock: clock, Seed: seed}).Serve
			}},
		{name: "gas/nha506", role: "analyzer", mode: mode(9600, 8, serial.NoParity),
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
				if err := noOptions(d); err != nil {
					return nil, err
				}
				return nha506.New(rw, nha506.DefaultOpts)
			},
			sim: func(seed uint64, clock func() time.Time) serveFunc {
				return nha506sim.New(nha506sim.Options{Clock: clock, Seed: seed}).Serve
			}},
		{name: "gas/mingquan", role: "analyzer", mode: mode(9600, 8, serial.NoParity),
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
				o := mingquan.DefaultOpts
				if err := withModel(d, mingquan.ParseModel, &o.Model); err != nil {
					return nil, err
				}
				return mingquan.New(rw, o)
			},
			sim: func(seed uint64, clock func() time.Time) serveFunc {
				return mingquansim.New(mingquansim.Options{Clock: clock, Seed: seed}).Serve
			}},
		{name: "gas/fasm", role: "analyzer", mode: mode(9600, 8, serial.NoParity),
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
				if err := noOptions(d); err != nil {
					return nil, err
				}
				return fasm.New(rw, fasm.DefaultOpts)
			},
			sim: func(seed uint64, clock func() time.Time) serveFunc {
				return fasmsim.New(fasmsim.Options{Clock: clock, Seed: seed}).Serve
			}},
		{name: "gas/ak", role: "analyzer", mode: mode(9600, 7, serial.EvenParity),
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
				if err := noOptions(d); err != nil {
					return nil, err
				}
				return ak.New(rw, ak.DefaultOpts)
			},
			sim: func(seed uint64, clock func() time.Time) serveFunc {
				return aksim.New(aksim.Options{Clock: clock, Seed: seed}).Serve
			}},
		{name: "display/ledtext", role: "display", mode: mode(9600, 8, serial.NoParity),
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
				if err := noOptions(d); err != nil {
					return nil, err
				}
				return ledboard.New(rw), nil
			},
			sim: func(seed uint64, clock func() time.Time) serveFunc { return new(ledboard.Sim).Serve }},
		{name: "weather/xce100", role: "weather", mode: mode(9600, 8, serial.NoParity),
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) { return newXCE(rw, d, xce100.XCE100) },
			sim: func(seed uint64, clock func() time.Time) serveFunc {
				return xce100sim.New(xce100sim.Options{Model: xce100.XCE100, Clock: clock, Seed: seed}).Serve
			}},
		{name: "weather/xce101", role: "weather", mode: mode(9600, 8, serial.NoParity), streams: true,
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) { return newXCE(rw, d, xce100.XCE101) },
			sim: func(seed uint64, clock func() time.Time) serveFunc {
				return xce100sim.New(xce100sim.Options{Model: xce100.XCE101, Clock: clock, Seed: seed}).Serve
			}},
		{name: "weather/dwsp", role: "weather", mode: mode(9600, 8, serial.NoParity), newDev: newDWSP,
			sim: func(seed uint64, clock func() time.Time) serveFunc {
				return dwspsim.New(dwspsim.Options{Clock: clock, Seed: seed}).Serve
			}},
		{name: "opacity/flb100", role: "opacimeter", mode: mode(9600, 8, serial.NoParity),
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
				if err := noOptions(d); err != nil {
					return nil, err
				}
				return flb100.New(rw, flb100.DefaultOpts)
			},
			sim: func(seed uint64, clock func() time.Time) serveFunc {
				return flb100sim.New(flb100sim.Options{Clock: clock, Seed: seed}).Serve
			}},
		{name: "opacity/nht", role: "opacimeter", mode: mode(9600, 8, serial.NoParity),
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
				o := nht.DefaultOpts
				if err := withModel(d, nht.ParseModel, &o.Model); err != nil {
					return nil, err
				}
				return nht.New(rw, o)
			},
			sim: func(seed uint64, clock func() time.Time) serveFunc {
				return nhtsim.New(nhtsim.Options{Clock: clock, Seed: seed}).Serve
			}},
		{name: "opacity/mqw510x", role: "opacimeter", mode: mode(9600, 8, serial.NoParity),
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
				o := mqw510x.DefaultOpts
				if err := withModel(d, mqw510x.ParseModel, &o.Model); err != nil {
					return nil, err
				}
				return mqw510x.New(rw, o)
			},
			sim: func(seed uint64, clock func() time.Time) serveFunc {
				return mqw510xsim.New(mqw510xsim.Options{Clock: clock, Seed: seed}).Serve
			}},
		{name: "flow/flv1000", role: "flowmeter", mode: mode(9600, 8, serial.NoParity),
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
				if err := noOptions(d); err != nil {
					return nil, err
				}
				return flv1000.New(rw, flv1000.DefaultOpts)
			},
			sim: func(seed uint64, clock func() time.Time) serveFunc {
				return flv1000sim.New(flv1000sim.Options{Clock: clock, Seed: seed}).Serve
			}},
		{name: "flow/nhf1", role: "flowmeter", mode: mode(9600, 8, serial.NoParity),
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
				if err := noOptions(d); err != nil {
					return nil, err
				}
				return nhf1.New(rw, nhf1.DefaultOpts)
			},
			sim: func(seed uint64, clock func() time.Time) serveFunc {
				return nhf1sim.New(nhf1sim.Options{Clock: clock, Seed: seed}).Serve
			}},
	}
}

// withModel parses d.Model (if set) into *dst and refuses options the driver has none of.
func withModel[M any](d config.Device, parse func(string) (M, error), dst *M) error {
	if err := noOptions(d); err != nil {
		return err
	}
	if d.Model == "" {
		return nil
	}
	m, err := parse(d.Model)
	if err != nil {
		return err
	}
	*dst = m
	return nil
}

// newXCE builds the XCE driver; both models speak one frame, so the protocol names the model.
func newXCE(rw io.ReadWriter, d config.Device, m xce100.Model) (drivers.Device, error) {
	if err := noOptions(d); err != nil {
		return nil, err
	}
	o := xce100.DefaultOpts
	o.Model = m
	return xce100.New(rw, o)
}

// newDWSP builds the Modbus RTU weather-station driver. Options: addr (slave address) and
// layout (register map name, e.g. "DWSP-T5", "RZ-1"); model also names the layout.
func newDWSP(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
	o := dwsp.DefaultOpts
	layout := d.Model
	for k, v := range d.Options {
		switch k {
		case "addr":
			n, ok := v.(int64)
			if !ok || n < 1 || n > 247 {
				return nil, fmt.Errorf("weather/dwsp: device %q: options.addr must be an integer 1..247, got %v", d.Name, v)
			}
			o.Addr = byte(n)
		case "layout":
			str, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("weather/dwsp: device %q: options.layout must be a string", d.Name)
			}
			layout = str
		default:
			return nil, fmt.Errorf("weather/dwsp: device %q: unknown option %q (known: addr, layout)", d.Name, k)
		}
	}
	if layout != "" {
		l, err := dwsp.LayoutByName(layout)
		if err != nil {
			return nil, err
		}
		o.Layout = l
	}
	return dwsp.New(rw, o)
}

func lookupProtocol(name string) (protocol, bool) {
	for _, p := range protocols() {
		if p.name == name || shortName(p.name) == name {
			return p, true
		}
	}
	return protocol{}, false
}

// shortName is the part after the family: "gas/nanhua" → "nanhua".
func shortName(name string) string {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			return name[i+1:]
		}
	}
	return name
}

func protocolNames() []string {
	var names []string
	for _, p := range protocols() {
		names = append(names, p.name)
	}
	sort.Strings(names)
	return names
}

func newNanhua(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
	o := nanhua.DefaultOpts
	if err := withModel(d, nanhua.ParseModel, &o.Model); err != nil {
		return nil, err
	}
	return nanhua.New(rw, o)
}

func noOptions(d config.Device) error {
	if len(d.Options) == 0 {
		return nil
	}
	var keys []string
	for k := range d.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return fmt.Errorf("%s: device %q: no options are supported yet, got %v", d.Protocol, d.Name, keys)
}

// portMode is the serial mode of device d: its protocol's, with the configured baud.
func portMode(p protocol, d config.Device) *serial.Mode {
	m := p.mode
	if d.Baud != 0 {
		m.BaudRate = d.Baud
	}
	return &m
}

// serialOpener opens d's port with its protocol's settings and builds the driver on it.
func serialOpener(d config.Device) (station.Opener, error) {
	p, ok := lookupProtocol(d.Protocol)
	if !ok {
		return nil, fmt.Errorf("device %q: unknown protocol %q (known: %v)", d.Name, d.Protocol, protocolNames())
	}
	mode := portMode(p, d)
	return func(ctx context.Context) (drivers.Device, io.Closer, error) {
		port, err := serial.Open(d.Port, mode)
		if err != nil {
			return nil, nil, fmt.Errorf("open %s: %w", d.Port, err)
		}
		dev, err := p.newDev(port, d)
		if err != nil {
			port.Close()
			return nil, nil, fmt.Errorf("%s on %s: %w", d.Protocol, d.Port, err)
		}
		return dev, port, nil
	}, nil
}
