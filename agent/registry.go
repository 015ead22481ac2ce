package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"go.bug.st/serial"

	"imagent/agent/station"
	"imagent/config"
	"imagent/drivers"
	"imagent/drivers/gas/nanhua"
	"imagent/drivers/gas/nanhua/nanhuasim"
)

// protocol is one wire protocol the agent can speak: its serial settings, how to make a
// driver on an open port from the device's configuration, and its simulator.
type protocol struct {
	name   string
	role   string      // the config role devices of this protocol usually have
	mode   serial.Mode // the instrument's own settings
	newDev func(rw io.ReadWriter, d config.Device) (drivers.Device, error)
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
	}
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
	if d.Model != "" {
		m, err := nanhua.ParseModel(d.Model)
		if err != nil {
			return nil, err
		}
		o.Model = m
	}
	if err := noOptions(d); err != nil {
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
