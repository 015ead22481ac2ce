// Package config reads the station configuration file and the regulated
// parameters (emission limits and test-method parameters) of imagent.
//
// Both are TOML files decoded strictly: an unknown key, a value of the wrong
// type or a value that fails validation is an error that names the file, the
// line and column, the key and what is wrong. All problems of a file are
// reported at once, as one *Errors, one line per problem:
//
//	station.toml:12:1: mqtt.window: must be between 1 and 1024, got 0
//
// # Station configuration
//
// [Load] and [Parse] return a validated [Config] with defaults applied for
// every zero value. [Default] returns the embedded demo configuration
// (default.toml). [WriteAtomic] replaces a file so that a power cut leaves
// either the old or the new version, and keeps the previous one as
// path+".prev".
//
// # Regulated parameters
//
// Limits and method parameters are data, not code: [DefaultParams] returns the
// embedded params_default.toml, [LoadParams] reads a file of the same shape
// (typically a regional override) and [Params.Override] lays one over the
// other. Every number carries the standard, the clause, where it came from
// and whether it has been checked against the official text. As of this
// writing none of the limits has been (Verified = false throughout): they come
// from memory of GB 18285-2018 and GB 3847-2018 and must be checked against
// the published standards before pass/fail decisions rely on them.
//
// The package imports nothing else of imagent and never logs; warnings are
// handed to the caller through [LoadOpts].Warn.
package config
