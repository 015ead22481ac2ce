package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// This file holds the strict decoder shared by the station configuration and
// the parameter files. go-toml stops at the first value of the wrong type and
// reports some of them (a number given for a duration) without a position,
// so decoding runs in three steps:
//
//  1. index: the document is parsed with go-toml's unstable parser into a
//     list of entries (key-values and table headers) with their canonical key
//     path ("device[1].port"), line, column and byte range;
//  2. type check: each entry is checked against the Go type it will be
//     decoded into; an entry of the wrong type becomes a problem and is
//     blanked out of the document (replaced by spaces, so positions hold);
//  3. decode: go-toml decodes the rest strictly. Unknown keys come back all
//     at once; any remaining positioned error is recorded, its entry blanked
//     and decoding retried.
//
// The caller then validates the result and uses the index to give each
// validation problem the line of its key.

// pathElem is one part of a key path: a key and the array indices applied
// after it (device[1] is {"device", [1]}).
type pathElem struct {
	name string
	idx  []int
}

func formatPath(path []pathElem) string {
	var b strings.Builder
	for i, el := range path {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(quoteKey(el.name))
		for _, n := range el.idx {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(n))
			b.WriteByte(']')
		}
	}
	return b.String()
}

// quoteKey returns k as written in a key path: bare when it is a valid bare
// TOML key, quoted otherwise.
func quoteKey(k string) string {
	if k == "" {
		return `""`
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return strconv.Quote(k)
		}
	}
	return k
}

// parentKey strips the last element (a ".key" or an "[n]") from a canonical
// key path; it returns "" for a top-level key.
func parentKey(k string) string {
	if strings.HasSuffix(k, "]") {
		if i := strings.LastIndexByte(k, '['); i >= 0 {
			return k[:i]
		}
	}
	last := -1
	inQuote := false
	for i := 0; i < len(k); i++ {
		switch c := k[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == '.':
			last = i
		}
	}
	if last < 0 {
		return ""
	}
	return k[:last]
}

type entryKind int

const (
	entryKeyValue   entryKind = iota
	entryTable                // [table] header; its range runs to the next header
	entryArrayTable           // [[array]] header; likewise
	entryImplicit             // a prefix of a dotted key or header, e.g. "mqtt" in mqtt.window = 1
)

// valueShape is what the type check needs of a value: its kind and, for
// arrays, the shapes of the elements.
type valueShape struct {
	kind  unstable.Kind
	elems []valueShape
}

type entry struct {
	kind       entryKind
	path       []pathElem
	key        string // formatPath(path)
	line, col  int    // position of the first key part
	start, end int    // byte range blanked when the entry is dropped
	value      valueShape
	blanked    bool
}

type docIndex struct {
	data    []byte // the (possibly blanked) document; its cap equals its len
	entries []*entry
	byKey   map[string]*entry // first entry of each canonical key
}

// position returns the line and column of key, or of its nearest ancestor
// that appears in the document; 0, 0 if none does.
func (ix *docIndex) position(key string) (line, col int) {
	for k := key; k != ""; k = parentKey(k) {
		if e, ok := ix.byKey[k]; ok {
			return e.line, e.col
		}
	}
	return 0, 0
}

// lineCol converts a byte offset into a 1-based line and byte column.
func lineCol(data []byte, off int) (line, col int) {
	off = min(max(off, 0), len(data))
	line = 1 + bytes.Count(data[:off], []byte{'\n'})
	return line, off - (bytes.LastIndexByte(data[:off], '\n') + 1) + 1
}

// offsetAt is the inverse of lineCol.
func offsetAt(data []byte, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			return len(data)
		}
		off += i + 1
	}
	return min(off+max(col-1, 0), len(data))
}

// subOffset is the offset of sub inside data (sub must share data's backing
// array, and data's cap must equal its len, which Parse guarantees).
func subOffset(data, sub []byte) int {
	return min(max(cap(data)-cap(sub), 0), len(data))
}

type indexer struct {
	ix     *docIndex
	p      *unstable.Parser
	arrays map[string]int // number of [[x]] elements seen, by canonical path
}

// indexDoc parses data and lists its entries. A syntax error is returned as
// a positioned problem.
func indexDoc(data []byte) (*docIndex, *Problem) {
	in := &indexer{
		ix:     &docIndex{data: data, byKey: map[string]*entry{}},
		p:      &unstable.Parser{},
		arrays: map[string]int{},
	}
	in.p.Reset(data)
	var table []pathElem
	var section *entry // the open header, whose range ends at the next one
	for in.p.NextExpression() {
		n := in.p.Expression()
		switch n.Kind {
		case unstable.Table, unstable.ArrayTable:
			names, offs := keyParts(data, n)
			start := offs[0]
			for start > 0 && (data[start-1] == ' ' || data[start-1] == '\t' || data[start-1] == '[') {
				start--
			}
			if section != nil {
				section.end = start
			}
			table = in.headerPath(names, n.Kind == unstable.ArrayTable)
			kind := entryTable
			if n.Kind == unstable.ArrayTable {
				kind = entryArrayTable
			}
			section = in.add(kind, table, offs, start, len(data))
		case unstable.KeyValue:
			in.keyValue(table, n, false)
		}
	}
	if err := in.p.Error(); err != nil {
		pr := &Problem{Msg: err.Error()}
		var perr *unstable.ParserError
		if errors.As(err, &perr) {
			pr.Line, pr.Col = lineCol(data, subOffset(data, perr.Highlight))
		}
		return nil, pr
	}
	return in.ix, nil
}

// keyParts returns the parts of n's key and the offset of each in data.
func keyParts(data []byte, n *unstable.Node) ([]string, []int) {
	var names []string
	var offs []int
	it := n.Key()
	for it.Next() {
		k := it.Node()
		names = append(names, string(k.Data))
		offs = append(offs, int(k.Raw.Offset))
	}
	return names, offs
}

// headerPath gives the canonical path of a [table] or [[array]] header:
// a prefix naming an array of tables refers to its last element.
func (in *indexer) headerPath(names []string, isArray bool) []pathElem {
	path := make([]pathElem, 0, len(names))
	for i, name := range names {
		path = append(path, pathElem{name: name})
		k := formatPath(path)
		if i == len(names)-1 && isArray {
			n := in.arrays[k]
			in.arrays[k] = n + 1
			path[i].idx = []int{n}
		} else if n := in.arrays[k]; n > 0 {
			path[i].idx = []int{n - 1}
		}
	}
	return path
}

// add records an entry, plus implicit entries for the prefixes of its path
// that have none yet (so that a problem on a missing key can point at the
// nearest table that exists).
func (in *indexer) add(kind entryKind, path []pathElem, offs []int, start, end int) *entry {
	first := len(path) - len(offs) // offs covers the key parts as written: the tail of path
	for i := first; i < len(path)-1; i++ {
		k := formatPath(path[:i+1])
		if _, ok := in.ix.byKey[k]; !ok {
			e := &entry{kind: entryImplicit, path: path[: i+1 : i+1], key: k, start: -1, end: -1}
			e.line, e.col = lineCol(in.ix.data, offs[i-first])
			in.ix.byKey[k] = e
		}
	}
	e := &entry{kind: kind, path: path, key: formatPath(path), start: start, end: end}
	e.line, e.col = lineCol(in.ix.data, offs[0])
	in.ix.entries = append(in.ix.entries, e)
	if _, ok := in.ix.byKey[e.key]; !ok {
		in.ix.byKey[e.key] = e
	}
	return e
}

// keyValue records a key-value under table, and the key-values nested in its
// inline tables.
func (in *indexer) keyValue(table []pathElem, n *unstable.Node, inline bool) {
	names, offs := keyParts(in.ix.data, n)
	path := append(append([]pathElem(nil), table...), make([]pathElem, len(names))...)
	for i, name := range names {
		path[len(table)+i] = pathElem{name: name}
	}
	start := int(n.Raw.Offset)
	end := start + int(n.Raw.Length)
	if inline {
		start, end = widenToComma(in.ix.data, start, end)
	}
	v := n.Value()
	e := in.add(entryKeyValue, path, offs, start, end)
	e.value = in.shape(path, v)
}

// shape summarises value v found at path, indexing the key-values of inline
// tables inside it.
func (in *indexer) shape(path []pathElem, v *unstable.Node) valueShape {
	s := valueShape{kind: v.Kind}
	switch v.Kind {
	case unstable.InlineTable:
		it := v.Children()
		for it.Next() {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				in.keyValue(path, c, true)
			}
		}
	case unstable.Array:
		it := v.Children()
		i := 0
		for it.Next() {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			elPath := append([]pathElem(nil), path...)
			last := elPath[len(elPath)-1]
			last.idx = append(append([]int(nil), last.idx...), i)
			elPath[len(elPath)-1] = last
			s.elems = append(s.elems, in.shape(elPath, c))
			i++
		}
	}
	return s
}

// widenToComma extends the range of a key-value inside an inline table over
// the comma that separates it from its neighbour, so that blanking it leaves
// a valid inline table.
func widenToComma(data []byte, start, end int) (int, int) {
	i := end
	for i < len(data) && (data[i] == ' ' || data[i] == '\t') {
		i++
	}
	if i < len(data) && data[i] == ',' {
		return start, i + 1
	}
	j := start
	for j > 0 && (data[j-1] == ' ' || data[j-1] == '\t') {
		j--
	}
	if j > 0 && data[j-1] == ',' {
		return j - 1, end
	}
	return start, end
}

// blank replaces the entry's bytes, except line ends, with spaces.
func (ix *docIndex) blank(e *entry) {
	if e.start < 0 {
		return
	}
	for i := e.start; i < e.end && i < len(ix.data); i++ {
		if c := ix.data[i]; c != '\n' && c != '\r' {
			ix.data[i] = ' '
		}
	}
	e.blanked = true
}

// innermost returns the smallest entry not yet blanked whose range holds off.
func (ix *docIndex) innermost(off int) *entry {
	var best *entry
	for _, e := range ix.entries {
		if e.blanked || e.start < 0 || off < e.start || off >= e.end {
			continue
		}
		if best == nil || e.end-e.start < best.end-best.start {
			best = e
		}
	}
	return best
}

// decodeResult is the outcome of decodeStrict.
type decodeResult struct {
	ix       *docIndex
	problems []Problem
	dropped  []string // keys removed from the document because of a type problem
	complete bool     // false if decoding had to stop early; v is then unreliable
}

// isDropped reports whether key is, or is below, a key that was dropped.
func (r *decodeResult) isDropped(key string) bool {
	for _, d := range r.dropped {
		if key == d || strings.HasPrefix(key, d+".") || strings.HasPrefix(key, d+"[") {
			return true
		}
	}
	return false
}

// maxRetries bounds the decode-blank-retry loop of decodeStrict.
const maxRetries = 50

// decodeStrict decodes data into v (a pointer to a struct), collecting every
// problem it can find.
func decodeStrict(data []byte, v any) *decodeResult {
	// A private copy whose cap equals its len (subOffset relies on it); a
	// byte-order mark becomes spaces so that columns stay right.
	buf := make([]byte, len(data))
	copy(buf, data)
	if bytes.HasPrefix(buf, []byte("\uFEFF")) {
		copy(buf, "   ")
	}
	ix, syntax := indexDoc(buf)
	if syntax != nil {
		return &decodeResult{problems: []Problem{*syntax}}
	}
	r := &decodeResult{ix: ix, complete: true}
	root := reflect.TypeOf(v).Elem()
	r.typeCheck(root)

	rv := reflect.ValueOf(v).Elem()
	for range maxRetries {
		rv.SetZero()
		err := toml.NewDecoder(bytes.NewReader(ix.data)).DisallowUnknownFields().Decode(v)
		if err == nil {
			return r
		}
		var missing *toml.StrictMissingError
		if errors.As(err, &missing) {
			for i := range missing.Errors {
				r.unknownKey(root, &missing.Errors[i])
			}
			return r
		}
		var de *toml.DecodeError
		if !errors.As(err, &de) {
			r.problems = append(r.problems, Problem{Msg: err.Error()})
			r.complete = false
			return r
		}
		line, col := de.Position()
		pr := Problem{Line: line, Col: col, Key: strings.Join(de.Key(), "."), Msg: strings.TrimPrefix(de.Error(), "toml: ")}
		e := ix.innermost(offsetAt(ix.data, line, col))
		if e == nil {
			r.problems = append(r.problems, pr)
			r.complete = false
			return r
		}
		pr.Key = e.key
		r.problems = append(r.problems, pr)
		r.drop(e)
	}
	r.problems = append(r.problems, Problem{Msg: "too many errors, stopped"})
	r.complete = false
	return r
}

func (r *decodeResult) drop(e *entry) {
	r.ix.blank(e)
	r.dropped = append(r.dropped, e.key)
	if e.kind == entryTable || e.kind == entryArrayTable {
		for _, c := range r.ix.entries {
			if c.start >= e.start && c.end <= e.end {
				c.blanked = true
			}
		}
	}
}

// typeCheck checks every entry against the type it will be decoded into.
// Keys that are not in the schema are left to the strict decoder.
func (r *decodeResult) typeCheck(root reflect.Type) {
	for _, e := range r.ix.entries {
		if e.blanked || e.kind == entryImplicit || r.isDropped(e.key) {
			continue
		}
		t, ok := schemaType(root, e.path)
		if !ok {
			continue
		}
		var want, got string
		switch e.kind {
		case entryKeyValue:
			want, got = fits(t, e.value)
		case entryTable, entryArrayTable:
			if !isTable(t) {
				want, got = describe(t), "a table"
				if e.kind == entryArrayTable {
					got = "an array of tables"
				}
			}
		}
		if want == "" {
			continue
		}
		r.problems = append(r.problems, Problem{Line: e.line, Col: e.col, Key: e.key, Msg: "expected " + want + ", got " + got})
		r.drop(e)
	}
}

// unknownKey turns one strict-mode error into a problem, suggesting the key
// that was probably meant.
func (r *decodeResult) unknownKey(root reflect.Type, de *toml.DecodeError) {
	line, col := de.Position()
	pr := Problem{Line: line, Col: col, Key: strings.Join(de.Key(), "."), Msg: "unknown key"}
	var path []pathElem
	for _, e := range r.ix.entries {
		if e.line == line && e.col == col {
			pr.Key, path = e.key, e.path
			break
		}
	}
	if len(path) > 0 {
		if t, ok := schemaType(root, path[:len(path)-1]); ok {
			if s := suggest(t, path[len(path)-1].name); s != "" {
				pr.Msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
		}
	}
	r.problems = append(r.problems, pr)
}

var (
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	durationType        = reflect.TypeFor[Duration]()
	timeType            = reflect.TypeFor[time.Time]()
)

func isText(t reflect.Type) bool {
	return reflect.PointerTo(t).Implements(textUnmarshalerType)
}

func isTable(t reflect.Type) bool {
	k := t.Kind()
	return k == reflect.Interface || k == reflect.Map || k == reflect.Struct && !isText(t)
}

// tomlName is the key a struct field is decoded from.
func tomlName(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	tag := f.Tag.Get("toml")
	if tag == "-" {
		return "", false
	}
	if name, _, _ := strings.Cut(tag, ","); name != "" {
		return name, true
	}
	return f.Name, true
}

// field finds the struct field for key the way go-toml does: exact name
// first, then case-insensitively.
func field(t reflect.Type, key string) (reflect.StructField, bool) {
	var fold reflect.StructField
	found := false
	for i := range t.NumField() {
		f := t.Field(i)
		name, ok := tomlName(f)
		if !ok {
			continue
		}
		if name == key {
			return f, true
		}
		if !found && strings.EqualFold(name, key) {
			fold, found = f, true
		}
	}
	return fold, found
}

// schemaType returns the Go type that path is decoded into. ok is false if
// some key is not in the schema or the path cannot be followed; those cases
// are reported by the decoder itself.
func schemaType(t reflect.Type, path []pathElem) (reflect.Type, bool) {
	for _, el := range path {
		switch {
		case t.Kind() == reflect.Interface:
			return t, true
		case t.Kind() == reflect.Struct && !isText(t):
			f, ok := field(t, el.name)
			if !ok {
				return nil, false
			}
			t = f.Type
		case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
			t = t.Elem()
		default:
			return nil, false
		}
		for range el.idx {
			switch t.Kind() {
			case reflect.Interface:
				return t, true
			case reflect.Slice, reflect.Array:
				t = t.Elem()
			default:
				return nil, false
			}
		}
	}
	return t, true
}

// fits checks a value's shape against type t. It returns "" if the value
// fits, else what was expected and what was found.
func fits(t reflect.Type, v valueShape) (want, got string) {
	ok := false
	switch {
	case t.Kind() == reflect.Interface:
		return "", ""
	case t == timeType:
		ok = v.kind == unstable.DateTime || v.kind == unstable.LocalDateTime || v.kind == unstable.LocalDate
	case isText(t):
		ok = v.kind == unstable.String
	}
	switch t.Kind() {
	case reflect.String:
		ok = v.kind == unstable.String
	case reflect.Bool:
		ok = v.kind == unstable.Bool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		ok = v.kind == unstable.Integer
	case reflect.Float32, reflect.Float64:
		ok = v.kind == unstable.Integer || v.kind == unstable.Float
	case reflect.Map:
		ok = v.kind == unstable.InlineTable
	case reflect.Struct:
		if !isText(t) && t != timeType {
			ok = v.kind == unstable.InlineTable
		}
	case reflect.Slice, reflect.Array:
		if v.kind != unstable.Array {
			break
		}
		for _, el := range v.elems {
			if el.kind == unstable.InlineTable {
				if !isTable(t.Elem()) {
					return describe(t), "an array holding a table"
				}
				continue // its key-values are checked as entries of their own
			}
			if w, g := fits(t.Elem(), el); w != "" {
				return describe(t), "an array holding " + g
			}
		}
		ok = true
	}
	if ok {
		return "", ""
	}
	got = kindName(v.kind)
	if want = describe(t); want == "a string" && v.kind != unstable.Array && v.kind != unstable.InlineTable {
		got += " (put it in quotes)"
	}
	return want, got
}

// describe says in words what a value of type t looks like in TOML.
func describe(t reflect.Type) string {
	switch {
	case t == durationType:
		return `a duration such as "500ms" or "2m"`
	case t == timeType:
		return "a date-time"
	case isText(t):
		return "a string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Map, reflect.Struct:
		return "a table"
	case reflect.Slice, reflect.Array:
		if isTable(t.Elem()) {
			return "an array of tables"
		}
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(describe(t.Elem()), "a "), "an ") + "s"
	}
	return t.String()
}

func kindName(k unstable.Kind) string {
	switch k {
	case unstable.String:
		return "a string"
	case unstable.Integer:
		return "an integer"
	case unstable.Float:
		return "a float"
	case unstable.Bool:
		return "a boolean"
	case unstable.Array:
		return "an array"
	case unstable.InlineTable:
		return "a table"
	case unstable.DateTime, unstable.LocalDateTime:
		return "a date-time"
	case unstable.LocalDate:
		return "a date"
	case unstable.LocalTime:
		return "a time"
	}
	return k.String()
}

// suggest returns the key of struct t closest to the unknown key k, or "".
func suggest(t reflect.Type, k string) string {
	if t.Kind() != reflect.Struct || isText(t) {
		return ""
	}
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	best, bestD := "", 3 // suggest only within an edit distance of 2
	for i := range t.NumField() {
		name, ok := tomlName(t.Field(i))
		if !ok {
			continue
		}
		d := editDistance(norm(name), norm(k))
		if d < bestD {
			best, bestD = name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		if a == b {
			return 0
		}
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
