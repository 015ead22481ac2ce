package nht

import (
	"fmt"
	"strings"
)

// Model is an opacimeter model of the family.
type Model string

// The models.
const (
	NHT6  Model = "NHT-6"  // sinq123/OBD NanhuaNht6.cpp
	NHT1  Model = "NHT-1"  // luckyzjian/VMAS Exhaust/FLB_100.cs ("nht_1")
	NHT1L Model = "NHT-1L" // sinq123/OBD NanhuaNht1L.cpp
)

// ParseModel accepts a model name in any case, with or without the hyphen.
func ParseModel(s string) (Model, error) {
	k := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "-", ""))
	switch k {
	case "NHT6":
		return NHT6, nil
	case "NHT1":
		return NHT1, nil
	case "NHT1L":
		return NHT1L, nil
	}
	return "", fmt.Errorf("nht: unknown model %q (want NHT-6, NHT-1 or NHT-1L)", s)
}

// modelInfo is everything that differs between the models; add a model by adding a row.
type modelInfo struct {
	statusCmd byte // command that reports the status code
	results   bool // has the B1 test-result command (three peaks): PeakReader uses it
	setStatus bool // accepts A0 (set status / test method)
}

var models = map[Model]modelInfo{
	NHT6:  {statusCmd: CmdGetStatus, results: true, setStatus: true},
	NHT1:  {statusCmd: CmdGetStatus, setStatus: true},
	NHT1L: {statusCmd: CmdStatus1L},
}

func lookup(m Model) (modelInfo, error) {
	mi, ok := models[m]
	if !ok {
		return modelInfo{}, fmt.Errorf("nht: unknown model %q", string(m))
	}
	return mi, nil
}

// StatusCommand is the command byte model m answers its status code to.
func StatusCommand(m Model) (byte, error) {
	mi, err := lookup(m)
	return mi.statusCmd, err
}

// HasResults reports whether model m has the B1 test-result command.
func HasResults(m Model) bool { return models[m].results }
