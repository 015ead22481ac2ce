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
	"imagent/drivers/dyno/nhc03"
	"imagent/drivers/dyno/nhc03/nhc03sim"
	"imagent/drivers/dyno/xincheng"
	"imagent/drivers/dyno/xincheng/xinchengsim"
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
	"imagent/drivers/tacho/nt"
	"imagent/drivers/tacho/nt/ntsim"
	"imagent/drivers/tacho/rpm5300"
	"imagent/drivers/tacho/rpm5300/rpm5300sim"
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
	// sim returns the device side of the protocol (for `imagent sim` and the tests).
	sim func(s simSpec) serveFunc
}

// simSpec says which simulator to build: the model (as a config would name it), the seed
// of its noise and the clock of its physics (nil: the wall clock).
type simSpec struct {
	Model string
	Seed  uint64
	Clock func() time.Time
}

type serveFunc func(ctx context.Context, rw io.ReadWriter) error

// modelOr parses name with parse, or returns def when name is empty.
func modelOr[M any](name string, parse func(string) (M, error), def M) (M, error) {
	if name == "" {
		return def, nil
	}
	return parse(name)
}

// failing is a simulator that cannot start.
func failing(err error) serveFunc {
	return func(context.Context, io.ReadWriter) error { return err }
}

func mode(baud int, bits int, parity serial.Parity) serial.Mode {
	return serial.Mode{BaudRate: baud, DataBits: bits, Parity: parity, StopBits: serial.OneStopBit}
}

// protocols is the compiler-checked table of drivers (no init() registries).
func protocols() []protocol {
	return []protocol{
		{name: "gas/nanhua", role: "analyzer", mode: mode(9600, 8, serial.NoParity), newDev: newNanhua,
			sim: func(s simSpec) serveFunc {
				car := nanhuasim.NewCar(s.Seed)
				m, err := modelOr(s.Model, nanhua.ParseModel, nanhua.NHA503)
				if err != nil {
					return failing(err)
				}
				return nanhuasim.New(nanhuasim.Options{Model: m, Vehicle: car, Clock: s.Clock, Seed: s.Seed}).Serve
			}},
		{name: "gas/nha506", role: "analyzer", mode: mode(9600, 8, serial.NoParity),
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
				if err := noOptions(d); err != nil {
					return nil, err
				}
				return nha506.New(rw, nha506.DefaultOpts)
			},
			sim: func(s simSpec) serveFunc {
				return nha506sim.New(nha506sim.Options{Clock: s.Clock, Seed: s.Seed}).Serve
			}},
		{name: "gas/mingquan", role: "analyzer", mode: mode(9600, 8, serial.NoParity),
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
				o := mingquan.DefaultOpts
				if err := withModel(d, mingquan.ParseModel, &o.Model); err != nil {
					return nil, err
				}
				return mingquan.New(rw, o)
			},
			sim: func(s simSpec) serveFunc {
				m, err := modelOr(s.Model, mingquan.ParseModel, mingquan.MQW50A)
				if err != nil {
					return failing(err)
				}
				return mingquansim.New(mingquansim.Options{Model: m, Clock: s.Clock, Seed: s.Seed}).Serve
			}},
		{name: "gas/fasm", role: "analyzer", mode: mode(9600, 8, serial.NoParity),
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
				if err := noOptions(d); err != nil {
					return nil, err
				}
				return fasm.New(rw, fasm.DefaultOpts)
			},
			sim: func(s simSpec) serveFunc {
				return fasmsim.New(fasmsim.Options{Clock: s.Clock, Seed: s.Seed}).Serve
			}},
		{name: "gas/ak", role: "analyzer", mode: mode(9600, 7, serial.EvenParity),
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
				if err := noOptions(d); err != nil {
					return nil, err
				}
				return ak.New(rw, ak.DefaultOpts)
			},
			sim: func(s simSpec) serveFunc {
				return aksim.New(aksim.Options{Clock: s.Clock, Seed: s.Seed}).Serve
			}},
		{name: "dyno/xincheng", role: "dyno", mode: mode(38400, 8, serial.NoParity), streams: true,
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
				if err := noOptions(d); err != nil {
					return nil, err
				}
				return xincheng.New(rw, xincheng.DefaultOpts)
			},
			sim: func(s simSpec) serveFunc {
				return xinchengsim.New(xinchengsim.Options{Clock: s.Clock, Seed: s.Seed}).Serve
			}},
		{name: "dyno/nhc03", role: "dyno", mode: mode(9600, 8, serial.NoParity),
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
				if err := noOptions(d); err != nil {
					return nil, err
				}
				return nhc03.New(rw, nhc03.DefaultOpts)
			},
			sim: func(s simSpec) serveFunc {
				return nhc03sim.New(nhc03sim.Options{Clock: s.Clock, Seed: s.Seed}).Serve
			}},
		{name: "tacho/nt", role: "tachometer", mode: mode(19200, 8, serial.NoParity),
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
				o := nt.DefaultOpts
				if err := withModel(d, nt.ParseModel, &o.Model); err != nil {
					return nil, err
				}
				return nt.New(rw, o)
			},
			sim: func(s simSpec) serveFunc {
				m, err := modelOr(s.Model, nt.ParseModel, nt.DefaultOpts.Model)
				if err != nil {
					return failing(err)
				}
				return ntsim.New(ntsim.Options{Model: m, Clock: s.Clock, Seed: s.Seed}).Serve
			}},
		{name: "tacho/rpm5300", role: "tachometer", mode: mode(9600, 8, serial.NoParity), streams: true,
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
				if err := noOptions(d); err != nil {
					return nil, err
				}
				return rpm5300.New(rw, rpm5300.DefaultOpts)
			},
			sim: func(s simSpec) serveFunc {
				return rpm5300sim.New(rpm5300sim.Options{Clock: s.Clock, Seed: s.Seed}).Serve
			}},
		{name: "display/ledtext", role: "display", mode: mode(9600, 8, serial.NoParity),
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
				if err := noOptions(d); err != nil {
					return nil, err
				}
				return ledboard.New(rw), nil
			},
			sim: func(simSpec) serveFunc { return new(ledboard.Sim).Serve }},
		{name: "weather/xce100", role: "weather", mode: mode(9600, 8, serial.NoParity),
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) { return newXCE(rw, d, xce100.XCE100) },
			sim: func(s simSpec) serveFunc {
				return xce100sim.New(xce100sim.Options{Model: xce100.XCE100, Clock: s.Clock, Seed: s.Seed}).Serve
			}},
		{name: "weather/xce101", role: "weather", mode: mode(9600, 8, serial.NoParity), streams: true,
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) { return newXCE(rw, d, xce100.XCE101) },
			sim: func(s simSpec) serveFunc {
				return xce100sim.New(xce100sim.Options{Model: xce100.XCE101, Clock: s.Clock, Seed: s.Seed}).Serve
			}},
		{name: "weather/dwsp", role: "weather", mode: mode(9600, 8, serial.NoParity), newDev: newDWSP,
			sim: func(s simSpec) serveFunc {
				return dwspsim.New(dwspsim.Options{Clock: s.Clock, Seed: s.Seed}).Serve
			}},
		{name: "opacity/flb100", role: "opacimeter", mode: mode(9600, 8, serial.NoParity),
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
				if err := noOptions(d); err != nil {
					return nil, err
				}
				return flb100.New(rw, flb100.DefaultOpts)
			},
			sim: func(s simSpec) serveFunc {
				return flb100sim.New(flb100sim.Options{Clock: s.Clock, Seed: s.Seed}).Serve
			}},
		{name: "opacity/nht", role: "opacimeter", mode: mode(9600, 8, serial.NoParity),
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
				o := nht.DefaultOpts
				if err := withModel(d, nht.ParseModel, &o.Model); err != nil {
					return nil, err
				}
				return nht.New(rw, o)
			},
			sim: func(s simSpec) serveFunc {
				m, err := modelOr(s.Model, nht.ParseModel, nht.NHT6)
				if err != nil {
					return failing(err)
				}
				return nhtsim.New(nhtsim.Options{Model: m, Clock: s.Clock, Seed: s.Seed}).Serve
			}},
		{name: "opacity/mqw510x", role: "opacimeter", mode: mode(9600, 8, serial.NoParity),
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
				o := mqw510x.DefaultOpts
				if err := withModel(d, mqw510x.ParseModel, &o.Model); err != nil {
					return nil, err
				}
				return mqw510x.New(rw, o)
			},
			sim: func(s simSpec) serveFunc {
				m, err := modelOr(s.Model, mqw510x.ParseModel, mqw510x.MQW5101)
				if err != nil {
					return failing(err)
				}
				return mqw510xsim.New(mqw510xsim.Options{Model: m, Clock: s.Clock, Seed: s.Seed}).Serve
			}},
		{name: "flow/flv1000", role: "flowmeter", mode: mode(9600, 8, serial.NoParity),
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
				if err := noOptions(d); err != nil {
					return nil, err
				}
				return flv1000.New(rw, flv1000.DefaultOpts)
			},
			sim: func(s simSpec) serveFunc {
				return flv1000sim.New(flv1000sim.Options{Clock: s.Clock, Seed: s.Seed}).Serve
			}},
		{name: "flow/nhf1", role: "flowmeter", mode: mode(9600, 8, serial.NoParity),
			newDev: func(rw io.ReadWriter, d config.Device) (drivers.Device, error) {
				if err := noOptions(d); err != nil {
					return nil, err
				}
				return nhf1.New(rw, nhf1.DefaultOpts)
			},
			sim: func(s simSpec) serveFunc {
				return nhf1sim.New(nhf1sim.Options{Clock: s.Clock, Seed: s.Seed}).Serve
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
