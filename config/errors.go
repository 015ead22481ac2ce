package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a file: a syntax error, an unknown key, a
// value of the wrong type or a value that fails validation. It is also used
// for warnings (see LoadOpts.Warn).
type Problem struct {
	Line int    // 1-based line of the offending key; 0 if unknown
	Col  int    // 1-based byte column; 0 if unknown
	Key  string // dotted key path such as "device[0].port"; empty for syntax errors
	Msg  string
}

// String formats the problem without a file name: "line:col: key: message".
func (p Problem) String() string {
	var b strings.Builder
	p.write(&b)
	return b.String()
}

func (p Problem) write(b *strings.Builder) {
	if p.Line > 0 {
		b.WriteString(strconv.Itoa(p.Line))
		if p.Col > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Col))
		}
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
}

// Errors lists every problem found in one file, sorted by line. Parse, Load,
// ParseParams and LoadParams return it as their error.
type Errors struct {
	File string
	List []Problem
}

// Error prints one line per problem: "file:line:col: key: message". The
// column, or line and column, are left out when unknown.
func (e *Errors) Error() string {
	var b strings.Builder
	for i, p := range e.List {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.File)
		if p.Line > 0 {
			b.WriteByte(':')
		} else {
			b.WriteString(": ")
		}
		p.write(&b)
	}
	return b.String()
}

// sortProblems orders problems by line, then column, keeping the order of
// discovery otherwise.
func sortProblems(list []Problem) {
	slices.SortStableFunc(list, func(a, b Problem) int {
		if c := cmp.Compare(a.Line, b.Line); c != 0 {
			return c
		}
		return cmp.Compare(a.Col, b.Col)
	})
}
