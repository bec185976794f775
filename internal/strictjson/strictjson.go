// Package strictjson reads JSON objects strictly: the member names and raw
// values of one object, refusing what encoding/json accepts silently and
// two parsers could read differently (duplicate names at any depth,
// invalid UTF-8, lone surrogate escapes, deep nesting). Token headers and
// payloads and introspection answers are read with it.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of an object. A real access token nests
// three or four levels; deeper is an attack on the parser.
const MaxDepth = 32

// ParseObject reads a JSON object strictly and returns its members, each
// value as the raw JSON it was written as. Beyond RFC 8259 it refuses
// invalid UTF-8, escapes of lone UTF-16 surrogates, duplicate member names
// at any depth (names compared after unescaping) and nesting deeper than
// MaxDepth. encoding/json accepts all of these silently, which would let
// two parsers of one token disagree on what it says.
func ParseObject(data []byte) (map[string]json.RawMessage, error) {
	// Members are collected first so that the map is made at its size:
	// making it is most of the cost of reading a token.
	var small [24]rawMember
	list := small[:0]
	err := WalkObject(data, func(name, value []byte) {
		list = append(list, rawMember{name, value})
	})
	if err != nil {
		return nil, err
	}
	members := make(map[string]json.RawMessage, len(list))
	for _, m := range list {
		members[memberName(m.name)] = m.value
	}
	return members, nil
}

// rawMember is a member of a JSON object as WalkObject reports it.
type rawMember struct {
	name, value []byte
}

// memberName returns name as a string, without allocating one for the
// names access tokens usually have.
func memberName(name []byte) string {
	switch string(name) {
	case "iss":
		return "iss"
	case "sub":
		return "sub"
	case "aud":
		return "aud"
	case "exp":
		return "exp"
	case "nbf":
		return "nbf"
	case "iat":
		return "iat"
	case "jti":
		return "jti"
	case "azp":
		return "azp"
	case "scope":
		return "scope"
	case "scp":
		return "scp"
	case "client_id":
		return "client_id"
	case "auth_time":
		return "auth_time"
	case "keytype":
		return "keytype"
	case "application":
		return "application"
	case "subscribedAPIs":
		return "subscribedAPIs"
	case "tierInfo":
		return "tierInfo"
	case "backendJwt":
		return "backendJwt"
	case "consumerKey":
		return "consumerKey"
	case "token_type":
		return "token_type"
	case "realm":
		return "realm"
	case "organizations":
		return "organizations"
	case "permittedIP":
		return "permittedIP"
	case "permittedReferer":
		return "permittedReferer"
	}
	return string(name)
}

// WalkObject reads data as one JSON object, as strictly as ParseObject,
// and calls member with the unescaped name and the raw value of each of its
// members, in order. The name is a slice of data or, when it holds an
// escape, of a buffer of the walk's own; the value is a slice of data. Both
// are capped, so appending to them cannot overwrite anything, and neither
// is changed afterwards. When it returns an error, member may have been
// called for some members: everything it was told must then be discarded.
func WalkObject(data []byte, member func(name, value []byte)) error {
	if !utf8.Valid(data) {
		return errors.New("not valid UTF-8")
	}
	s := scanner{data: data}
	s.skipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != '{' {
		return errors.New("not a JSON object")
	}
	if err := s.object(member); err != nil {
		return err
	}
	s.skipSpace()
	if s.pos != len(s.data) {
		return s.errorf("data after the object")
	}
	return nil
}

// smallObject is the number of member names up to which duplicates are
// looked for pair by pair; larger objects have their names sorted.
const smallObject = 8

// scanner is the strict reader's state.
type scanner struct {
	data      []byte
	pos       int
	depth     int
	unescaped []byte // where escaped member names are unescaped
}

func (s *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at byte %d: %s", s.pos, fmt.Sprintf(format, args...))
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// expect consumes c after optional white space.
func (s *scanner) expect(c byte) error {
	s.skipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != c {
		return s.errorf("expected %q", c)
	}
	s.pos++
	return nil
}

// value reads the value at s.pos, white space before it skipped.
func (s *scanner) value() error {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return s.errorf("unexpected end")
	}
	switch c := s.data[s.pos]; c {
	case '{':
		return s.object(nil)
	case '[':
		return s.array()
	case '"':
		_, _, err := s.str()
		return err
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return s.number()
		}
		return s.errorf("unexpected character %q", c)
	}
}

func (s *scanner) literal(lit string) error {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return s.errorf("unexpected character %q", s.data[s.pos])
	}
	s.pos += len(lit)
	return nil
}

// enter and leave count the nesting of objects and arrays.
func (s *scanner) enter() error {
	s.depth++
	if s.depth > MaxDepth {
		return s.errorf("nested deeper than %d", MaxDepth)
	}
	return nil
}

func (s *scanner) leave() { s.depth-- }

// object reads an object at s.pos. When member is not nil it is called
// with each member; nested objects only have their names checked.
func (s *scanner) object(member func(name, value []byte)) error {
	if err := s.enter(); err != nil {
		return err
	}
	var small [2 * smallObject][]byte // most objects' names stay on the stack
	names := small[:0]
	s.pos++ // '{'
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		s.leave()
		return nil
	}
	for {
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return s.errorf("expected a member name")
		}
		name, err := s.name()
		if err != nil {
			return err
		}
		names = append(names, name)
		if err := s.expect(':'); err != nil {
			return err
		}
		s.skipSpace()
		start := s.pos
		if err := s.value(); err != nil {
			return err
		}
		if member != nil {
			member(name, s.data[start:s.pos:s.pos])
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return s.errorf("unexpected end")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			if i, ok := duplicateName(names); ok {
				return s.errorf("duplicate member %.64q", names[i])
			}
			s.leave()
			return nil
		default:
			return s.errorf("expected ',' or '}'")
		}
	}
}

// name reads a member name and returns it unescaped: a slice of the input
// when it has no escape, else of s.unescaped.
func (s *scanner) name() ([]byte, error) {
	body, escaped, err := s.str()
	if err != nil || !escaped {
		return body, err
	}
	start := len(s.unescaped)
	var ok bool
	if s.unescaped, ok = AppendUnescaped(s.unescaped, body); !ok {
		return nil, s.errorf("bad escape")
	}
	return s.unescaped[start:len(s.unescaped):len(s.unescaped)], nil
}

// duplicateName returns the index of a name that names holds twice, if
// there is one. It may reorder names.
func duplicateName(names [][]byte) (int, bool) {
	if len(names) <= smallObject {
		for i := 1; i < len(names); i++ {
			for _, prev := range names[:i] {
				if bytes.Equal(names[i], prev) {
					return i, true
				}
			}
		}
		return 0, false
	}
	slices.SortFunc(names, bytes.Compare)
	for i := 1; i < len(names); i++ {
		if bytes.Equal(names[i-1], names[i]) {
			return i, true
		}
	}
	return 0, false
}

func (s *scanner) array() error {
	if err := s.enter(); err != nil {
		return err
	}
	s.pos++ // '['
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		s.leave()
		return nil
	}
	for {
		if err := s.value(); err != nil {
			return err
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return s.errorf("unexpected end")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			s.leave()
			return nil
		default:
			return s.errorf("expected ',' or ']'")
		}
	}
}

// str reads the string at s.pos and returns its body as written (without
// the quotes) and whether it holds an escape.
func (s *scanner) str() (body []byte, escaped bool, err error) {
	s.pos++ // opening quote
	start := s.pos
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c >= 0x20 && c != '"' && c != '\\':
			s.pos++
		case c == '"':
			body = s.data[start:s.pos:s.pos]
			s.pos++
			return body, escaped, nil
		case c == '\\':
			escaped = true
			if err := s.escape(); err != nil {
				return nil, false, err
			}
		default:
			return nil, false, s.errorf("control character in string")
		}
	}
	return nil, false, s.errorf("unterminated string")
}

// escape checks the escape sequence at s.pos and moves past it.
func (s *scanner) escape() error {
	n, ok := escapeLen(s.data[s.pos:])
	switch {
	case ok:
	case s.pos+1 >= len(s.data):
		return s.errorf("unterminated escape")
	case s.data[s.pos+1] != 'u':
		return s.errorf("bad escape")
	default:
		if _, isHex := hex4(s.data, s.pos+2); isHex {
			return s.errorf("lone surrogate escape")
		}
		return s.errorf("bad \\u escape")
	}
	s.pos += n
	return nil
}

// escapeLen returns the length of the escape sequence that b starts with
// (b[0] is the backslash) and whether it is one RFC 8259 allows that does
// not stand for a lone UTF-16 surrogate: a \u escape of a high surrogate
// must be followed at once by one of a low surrogate, and the two count as
// one sequence.
func escapeLen(b []byte) (int, bool) {
	if len(b) < 2 {
		return 0, false
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, true
	case 'u':
		r, ok := hex4(b, 2)
		if !ok {
			return 0, false
		}
		if !utf16.IsSurrogate(r) {
			return 6, true
		}
		if r >= 0xDC00 || len(b) < 12 || b[6] != '\\' || b[7] != 'u' {
			return 0, false
		}
		if r2, ok := hex4(b, 8); !ok || r2 < 0xDC00 || r2 > 0xDFFF {
			return 0, false
		}
		return 12, true
	}
	return 0, false
}

// hex4 reads the four hex digits at b[at:].
func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// AppendUnescaped appends the value of a JSON string body (without its
// quotes) to dst. It reports false, having appended part of it, when body
// holds a quote, a control character or an escape the strict reader would
// refuse; it does not check the UTF-8 of the rest (the reader checks a whole
// document at once).
func AppendUnescaped(dst, body []byte) ([]byte, bool) {
	for len(body) > 0 {
		i := bytes.IndexByte(body, '\\')
		if i < 0 {
			i = len(body)
		}
		for _, c := range body[:i] {
			if c < 0x20 || c == '"' {
				return dst, false
			}
		}
		dst = append(dst, body[:i]...)
		body = body[i:]
		if len(body) == 0 {
			break
		}
		n, ok := escapeLen(body)
		if !ok {
			return dst, false
		}
		switch body[1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := hex4(body, 2)
			if n == 12 {
				r2, _ := hex4(body, 8)
				r = utf16.DecodeRune(r, r2)
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, body[1])
		}
		body = body[n:]
	}
	return dst, true
}

func (s *scanner) number() error {
	d := s.data
	if d[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(d) && d[s.pos] == '0':
		s.pos++
	case s.pos < len(d) && d[s.pos] >= '1' && d[s.pos] <= '9':
		s.digits()
	default:
		return s.errorf("bad number")
	}
	if s.pos < len(d) && d[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			return s.errorf("bad number")
		}
	}
	if s.pos < len(d) && (d[s.pos] == 'e' || d[s.pos] == 'E') {
		s.pos++
		if s.pos < len(d) && (d[s.pos] == '+' || d[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			return s.errorf("bad number")
		}
	}
	return nil
}

func (s *scanner) digits() int {
	n := 0
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		s.pos++
		n++
	}
	return n
}
