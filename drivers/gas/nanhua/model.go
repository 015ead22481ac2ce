package nanhua

import (
	"fmt"
	"strings"
)

// Model is an analyzer model of the family.
type Model string

// The models. NHA-504 and NHA-508 speak the NHA-503 protocol (ParseModel maps them).
const (
	NHA503  Model = "NHA-503"
	FLA502  Model = "FLA-502"
	CDF5000 Model = "CDF5000"
)

// ParseModel accepts a model name as written on the nameplate or in a config file, in any
// case, with or without the hyphen: "NHA-503", "nha504", "FLA502", "CDF-5000".
func ParseModel(s string) (Model, error) {
	k := strings.ToUpper(strings.TrimSpace(s))
	k = strings.ReplaceAll(k, "-", "")
	k = strings.ReplaceAll(k, " ", "")
	switch k {
	case "NHA503", "NHA504", "NHA508":
		return NHA503, nil
	case "FLA502":
		return FLA502, nil
	case "CDF5000":
		return CDF5000, nil
	}
	return "", fmt.Errorf("nanhua: unknown model %q (want NHA-503, NHA-504, NHA-508, FLA-502 or CDF5000)", s)
}

// statusStyle says how a model's status byte is to be read.
type statusStyle int

const (
	// statusCode: the byte is one code: 0x00 ready, 0x02 warming up, 0x04 leak check,
	// 0x05 zeroing (FLA-502, domain.md §1.2.1 [C-code]).
	statusCode statusStyle = iota
	// statusBits: bit0 O2 cell aged, bit1 NO cell aged (NHA-503 [C-code]; CDF5000 [I]).
	statusBits
)

// modelInfo is everything that differs between the models. Add a model by adding a row.
type modelInfo struct {
	coDiv      float64     // CO % = raw / coDiv
	oilDiv     float64     // oil °C = raw / oilDiv
	statusItem int         // item number of "get status" (1-byte reply)
	warmupItem int         // item number of "warm-up time left" (2-byte reply, s)
	fuelItem   int         // item number of "fuel = gasoline"; LPG, NG, ethanol follow
	mainStatus statusStyle // meaning of byte 17 of the main data
	hexItems   bool        // FLA502HexCommands may be set (the VMAS transcription)
	calGas     CalGasStyle // how items 9 and 11 take the gas concentrations by default
}

// models is a read-only table; see firmware-notes/gas/nanhua.md for the sources.
var models = map[Model]modelInfo{
	NHA503:  {coDiv: 100, oilDiv: 10, statusItem: 38, warmupItem: 39, fuelItem: 40, mainStatus: statusBits, calGas: CalGasTwoPhase},
	FLA502:  {coDiv: 1000, oilDiv: 10, statusItem: 34, warmupItem: 35, fuelItem: 36, mainStatus: statusCode, hexItems: true, calGas: CalGasSingleFrame},
	CDF5000: {coDiv: 100, oilDiv: 1, statusItem: 38, warmupItem: 39, fuelItem: 40, mainStatus: statusBits, calGas: CalGasTwoPhase},
}

func lookup(m Model) (modelInfo, error) {
	mi, ok := models[m]
	if !ok {
		return modelInfo{}, fmt.Errorf("nanhua: unknown model %q", string(m))
	}
	return mi, nil
}

// Cmd names an analyzer function. Its byte on the wire depends on the model (and, for the
// FLA-502, on Opts.FLA502HexCommands); CommandByte gives it.
type Cmd int

// The functions the driver and the simulator use.
const (
	CmdMain         Cmd = iota + 1 // item 1: main data
	CmdAmbient                     // item 2: ambient T, P, RH
	CmdPumpAir                     // item 3: pump ambient air
	CmdPumpProbe                   // item 4: pump sample from the probe (pump on)
	CmdBackflush                   // item 5: back-flush
	CmdStop                        // item 6: stop back-flush and pump (pump off)
	CmdLeakCheck                   // item 7: leak check
	CmdZero                        // item 8: zero
	CmdStatus                      // FLA-502 item 34, NHA-503 item 38
	CmdWarmup                      // FLA-502 item 35, NHA-503 item 39
	CmdFuelGasoline                // FLA-502 item 36, NHA-503 item 40
	CmdFuelLPG                     // next item
	CmdFuelNG                      // next item
	CmdFuelEthanol                 // next item (ethanol-blended gasoline)
	CmdCalGas                      // item 9: write calibration-gas concentrations
	CmdSpan                        // item 10: calibrate (span) with the gas written by item 9
	CmdCheckGas                    // item 11: write check-gas concentrations
	CmdGasCheck                    // item 12: automatic gas check with the gas written by item 11
	CmdPEF                         // item 13: get PEF
	cmdEnd
)

// Cmds lists every Cmd, for tables and the simulator.
func Cmds() []Cmd {
	out := make([]Cmd, 0, int(cmdEnd)-1)
	for c := CmdMain; c < cmdEnd; c++ {
		out = append(out, c)
	}
	return out
}

func (c Cmd) String() string {
	names := [...]string{"", "main data", "ambient", "pump air", "pump probe", "back-flush", "stop pump",
		"leak check", "zero", "status", "warm-up", "fuel gasoline", "fuel LPG", "fuel NG", "fuel ethanol",
		"write calibration gas", "span", "write check gas", "gas check", "PEF"}
	if c > 0 && int(c) < len(names) {
		return names[c]
	}
	return fmt.Sprintf("Cmd(%d)", int(c))
}

// item returns the vendor item number of c for model mi.
func (mi modelInfo) item(c Cmd) (int, bool) {
	switch {
	case c >= CmdMain && c <= CmdZero:
		return int(c), true // items 1..8 are the same on every model
	case c == CmdStatus:
		return mi.statusItem, true
	case c == CmdWarmup:
		return mi.warmupItem, true
	case c >= CmdFuelGasoline && c <= CmdFuelEthanol:
		return mi.fuelItem + int(c-CmdFuelGasoline), true
	case c >= CmdCalGas && c <= CmdPEF:
		return 9 + int(c-CmdCalGas), true // items 9..13 are the same on every model
	}
	return 0, false
}

// CommandByte is the byte sent for c on model m. With hexItems (only valid for FLA-502)
// items from 10 on are sent the way luckyzjian/VMAS declares them: the decimal digits
// read as hex (item 34 -> 0x34), see firmware-notes/gas/nanhua.md.
func CommandByte(m Model, c Cmd, hexItems bool) (byte, error) {
	mi, err := lookup(m)
	if err != nil {
		return 0, err
	}
	if hexItems && !mi.hexItems {
		return 0, fmt.Errorf("nanhua: hex command bytes apply to FLA-502 only, not %s", m)
	}
	n, ok := mi.item(c)
	if !ok {
		return 0, fmt.Errorf("nanhua: unknown command %v", c)
	}
	if hexItems && n >= 10 {
		return byte(n/10<<4 | n%10), nil
	}
	return byte(n), nil
}

// Fuel is the fuel type the analyzer is set to; it selects the H/C and O/C ratios of the
// λ calculation (Brettschneider).
type Fuel int

// Fuels, in the order of the vendor's fuel items.
const (
	Gasoline Fuel = iota
	LPG
	NaturalGas
	EthanolGasoline
)

func (f Fuel) String() string {
	switch f {
	case Gasoline:
		return "gasoline"
	case LPG:
		return "LPG"
	case NaturalGas:
		return "NG"
	case EthanolGasoline:
		return "ethanol-gasoline"
	}
	return fmt.Sprintf("Fuel(%d)", int(f))
}

// ratios returns H/C and O/C atomic ratios. Gasoline [C-code]; LPG and NG [M]; the ethanol
// blend uses gasoline's values [I] until a source is found.
func (f Fuel) ratios() (hcv, ocv float64, ok bool) {
	switch f {
	case Gasoline, EthanolGasoline:
		return 1.7261, 0.0176, true
	case LPG:
		return 2.525, 0, true
	case NaturalGas:
		return 4.0, 0, true
	}
	return 0, 0, false
}
