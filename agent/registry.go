package main

import (
	"context"
	"fmt"
	"io"
	"sort"

	"go.bug.st/serial"

	"imagent/agent/station"
	"imagent/config"
	"imagent/drivers"
	"imagent/drivers/gas/nanhua"
)

// protocol is one wire protocol the agent can speak: its serial settings and how to make a
// driver on an open port from the device's configuration.
type protocol struct {
	baud   int
	parity serial.Parity
	bits   int
	newDev func(rw io.ReadWriter, d config.Device) (drivers.Device, error)
}

// protocols is the compiler-checked table of drivers (no init() registries).
func protocols() map[string]protocol {
	return map[string]protocol{
		"gas/nanhua": {baud: 9600, parity: serial.NoParity, bits: 8, newDev: newNanhua},
	}
}

func protocolNames() []string {
	var names []string
	for n := range protocols() {
		names = append(names, n)
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
	if len(d.Options) > 0 {
		return nil, fmt.Errorf("gas/nanhua: device %q: no options are supported yet, got %v", d.Name, keys(d.Options))
	}
	return nanhua.New(rw, o)
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// serialOpener opens d's port with its protocol's settings and builds the driver on it.
func serialOpener(d config.Device) (station.Opener, error) {
	p, ok := protocols()[d.Protocol]
	if !ok {
		return nil, fmt.Errorf("device %q: unknown protocol %q (known: %v)", d.Name, d.Protocol, protocolNames())
	}
	baud := p.baud
	if d.Baud != 0 {
		baud = d.Baud
	}
	mode := &serial.Mode{BaudRate: baud, DataBits: p.bits, Parity: p.parity, StopBits: serial.OneStopBit}
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
