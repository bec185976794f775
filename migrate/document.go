package migrate

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// setting is one leaf of a TOML document: a key and its value. Arrays of
// plain values are leaves; tables and arrays of tables are not.
type setting struct {
	path  string // display path: table.key, array tables indexed: jwtTokenConfig[0].issuer
	value any
}

// document is a parsed WSO2 TOML file: its tree, its settings in file
// order, and which of them the conversion used or reported.
type document struct {
	root     map[string]any
	settings []setting
	index    map[string]int // path → position in settings
	done     map[string]bool
	reasons  map[string]string // path → why it is not converted
}

// parseDocument decodes TOML text; a syntax error names the file and line.
func parseDocument(name string, data []byte) (*document, error) {
	var root map[string]any
	md, err := toml.Decode(string(data), &root)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return nil, fmt.Errorf("%s:%d: TOML syntax error: %s", name, perr.Position.Line, perr.Message)
		}
		return nil, fmt.Errorf("%s: TOML: %w", name, err)
	}
	// The position of each key (and of each table, by its first key) in
	// the file orders the settings as the file does.
	pos := map[string]int{}
	for i, k := range md.Keys() {
		for j := 1; j <= len(k); j++ {
			p := strings.Join(k[:j], ".")
			if _, ok := pos[p]; !ok {
				pos[p] = i
			}
		}
	}
	d := &document{root: root, index: map[string]int{}, done: map[string]bool{}, reasons: map[string]string{}}
	d.flatten("", "", root, pos)
	for i, s := range d.settings {
		d.index[s.path] = i
	}
	return d, nil
}

// flatten appends the leaves of table t in file order. display is the
// path shown to people (with array indexes), plain the path the TOML
// metadata knows (without).
func (d *document) flatten(display, plain string, t map[string]any, pos map[string]int) {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	at := func(k string) int {
		if p, ok := pos[join(plain, k)]; ok {
			return p
		}
		return math.MaxInt
	}
	sort.SliceStable(keys, func(i, j int) bool {
		if at(keys[i]) != at(keys[j]) {
			return at(keys[i]) < at(keys[j])
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		dp, pp := join(display, k), join(plain, k)
		switch v := t[k].(type) {
		case map[string]any:
			d.flatten(dp, pp, v, pos)
		case []map[string]any:
			for i, e := range v {
				d.flatten(fmt.Sprintf("%s[%d]", dp, i), pp, e, pos)
			}
		default:
			d.settings = append(d.settings, setting{path: dp, value: v})
		}
	}
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// node returns the value at a display path (tables included).
func (d *document) node(path string) (any, bool) {
	var cur any = d.root
	for _, part := range splitPath(path) {
		name, idx := part.name, part.index
		t, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = t[name]; !ok {
			return nil, false
		}
		if idx >= 0 {
			a, ok := cur.([]map[string]any)
			if !ok || idx >= len(a) {
				return nil, false
			}
			cur = a[idx]
		}
	}
	return cur, true
}

type pathPart struct {
	name  string
	index int // -1: not indexed
}

var indexed = regexp.MustCompile(`^(.*)\[(\d+)\]$`)

func splitPath(path string) []pathPart {
	var parts []pathPart
	for _, p := range strings.Split(path, ".") {
		if m := indexed.FindStringSubmatch(p); m != nil {
			i, _ := strconv.Atoi(m[2])
			parts = append(parts, pathPart{m[1], i})
		} else {
			parts = append(parts, pathPart{p, -1})
		}
	}
	return parts
}

// tables returns the display paths of the tables at path: one per element
// of an array of tables, one for a single table, none when absent.
func (d *document) tables(path string) []string {
	v, ok := d.node(path)
	if !ok {
		return nil
	}
	switch v := v.(type) {
	case map[string]any:
		return []string{path}
	case []map[string]any:
		out := make([]string, len(v))
		for i := range v {
			out[i] = fmt.Sprintf("%s[%d]", path, i)
		}
		return out
	}
	return nil
}

// has reports whether the document holds a table or a setting at path.
func (d *document) has(path string) bool {
	_, ok := d.node(path)
	return ok
}

// peek returns a setting's value without marking it used.
func (d *document) peek(path string) (any, bool) {
	i, ok := d.index[path]
	if !ok {
		return nil, false
	}
	return d.settings[i].value, true
}

// use marks a setting as converted.
func (d *document) use(path string) { d.done[path] = true }

// skip records why a setting is not converted; it is reported with the
// other leftovers.
func (d *document) skip(path, reason string) {
	if _, ok := d.index[path]; ok {
		d.reasons[path] = reason
	}
}

// str returns a string setting and marks it used. A setting of another
// type is left to be reported.
func (d *document) str(path string) (string, bool) {
	v, ok := d.peek(path)
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		d.skip(path, "want a string")
		return "", false
	}
	d.use(path)
	return s, true
}

// boolean returns a boolean setting and marks it used; WSO2's readers also
// take "true" and "false" as strings.
func (d *document) boolean(path string) (bool, bool) {
	v, ok := d.peek(path)
	if !ok {
		return false, false
	}
	switch b := v.(type) {
	case bool:
		d.use(path)
		return b, true
	case string:
		if pb, err := strconv.ParseBool(strings.TrimSpace(b)); err == nil {
			d.use(path)
			return pb, true
		}
	}
	d.skip(path, "want true or false")
	return false, false
}

// integer returns an integer setting (a string of digits too) and marks it
// used.
func (d *document) integer(path string) (int64, bool) {
	v, ok := d.peek(path)
	if !ok {
		return 0, false
	}
	switch n := v.(type) {
	case int64:
		d.use(path)
		return n, true
	case string:
		if pn, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64); err == nil {
			d.use(path)
			return pn, true
		}
	}
	d.skip(path, "want an integer")
	return 0, false
}

// number returns a float or integer setting and marks it used.
func (d *document) number(path string) (float64, bool) {
	v, ok := d.peek(path)
	if !ok {
		return 0, false
	}
	switch n := v.(type) {
	case float64:
		d.use(path)
		return n, true
	case int64:
		d.use(path)
		return float64(n), true
	case string:
		if pn, err := strconv.ParseFloat(strings.TrimSpace(n), 64); err == nil {
			d.use(path)
			return pn, true
		}
	}
	d.skip(path, "want a number")
	return 0, false
}

// stringList returns a string or an array of strings and marks it used; empty
// strings are dropped.
func (d *document) stringList(path string) ([]string, bool) {
	v, ok := d.peek(path)
	if !ok {
		return nil, false
	}
	var out []string
	switch v := v.(type) {
	case string:
		if v != "" {
			out = append(out, v)
		}
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				d.skip(path, "want strings")
				return nil, false
			}
			if s != "" {
				out = append(out, s)
			}
		}
	default:
		d.skip(path, "want a string or a list of strings")
		return nil, false
	}
	d.use(path)
	return out, true
}

// under reports whether path is prefix or inside it.
func under(path, prefix string) bool {
	if prefix == "" || path == prefix {
		return true
	}
	return strings.HasPrefix(path, prefix) && (path[len(prefix)] == '.' || path[len(prefix)] == '[')
}

// notConverted is the comment line that keeps a setting without an
// equivalent: its path and value (secrets redacted) and, when known, why.
func (d *document) notConverted(s setting) string {
	line := "not converted: " + s.path + " = " + displayValue(s.path, s.value)
	if r := d.reasons[s.path]; r != "" {
		line += " (" + r + ")"
	}
	return line
}

// displayValue formats a value as TOML would, with secrets redacted: the
// whole value for a key that names a secret, the password of a URL's user
// information, and anything that looks like a PEM block.
func displayValue(path string, v any) string {
	parts := splitPath(path)
	if isSecretName(parts[len(parts)-1].name) {
		return redacted
	}
	return formatValue(v)
}

// redacted stands for a secret in comments.
const redacted = "<redacted>"

// isSecretName reports whether a key names a password, secret or key.
func isSecretName(name string) bool {
	n := strings.ToLower(name)
	if strings.HasSuffix(n, "alias") {
		return false
	}
	switch n {
	case "key", "pwd", "pass":
		return true
	}
	if strings.HasSuffix(n, "token") {
		return true
	}
	for _, s := range []string{"password", "passwd", "secret", "passphrase", "base64header", "privatekey", "private_key"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// userinfoPassword matches the password of a URL's user information.
var userinfoPassword = regexp.MustCompile(`(://[^:/@\s]*:)[^@/\s]*@`)

func formatValue(v any) string {
	switch v := v.(type) {
	case string:
		if strings.Contains(v, "-----BEGIN") {
			return redacted
		}
		return strconv.Quote(userinfoPassword.ReplaceAllString(v, "${1}"+redacted+"@"))
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case time.Time:
		return v.Format(time.RFC3339Nano)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = formatValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []map[string]any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = formatValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			val := formatValue(v[k])
			if isSecretName(k) {
				val = redacted
			}
			parts[i] = k + " = " + val
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return strconv.Quote(fmt.Sprint(v))
}
