package dwspsim

import "imagent/drivers/weather/weathersim"

// The simulated weather is weathersim's, shared with the other station simulators.
type (
	// Conditions are ambient conditions in canonical units.
	Conditions = weathersim.Conditions
	// Weather is the simulated air around the station (see weathersim.Weather).
	Weather = weathersim.Weather
)

// DefaultConditions are a mild day at a lowland station.
var DefaultConditions = weathersim.DefaultConditions

// NewWeather returns drifting weather around c; seed makes the walk repeatable.
func NewWeather(c Conditions, seed uint64) *Weather { return weathersim.NewWeather(c, seed) }

// Fixed returns weather that always reads c.
func Fixed(c Conditions) *Weather { return weathersim.Fixed(c) }
