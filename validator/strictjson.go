package validator

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxJSONDepth bounds the nesting of a token's header and payload. A real
// access token nests three or four levels; deeper is an attack on the parser.
const maxJSONDepth = 32

// parseObject reads a JSON object strictly and returns its members, each
// value as the raw JSON it was written as. Beyond RFC 8259 it refuses
// invalid UTF-8, escapes of lone UTF-16 surrogates, duplicate member names
// at any depth (names compared after unescaping) and nesting deeper than
// maxJSONDepth. encoding/json accepts all of these silently, which would let
// two parsers of one token disagree on what it says.
func parseObject(data []byte) (map[string]json.RawMessage, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("not valid UTF-8")
	}
	s := scanner{data: data}
	s.skipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != '{' {
		return nil, errors.New("not a JSON object")
	}
	members := make(map[string]json.RawMessage, 8)
	if err := s.object(members); err != nil {
		return nil, err
	}
	s.skipSpace()
	if s.pos != len(s.data) {
		return nil, s.errorf("data after the object")
	}
	return members, nil
}

type scanner struct {
	data  []byte
	pos   int
	depth int
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

func (s *scanner) value() error {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return s.errorf("unexpected end")
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object(nil)
	case c == '[':
		return s.array()
	case c == '"':
		_, err := s.str(false)
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(s.data)-s.pos >= len(lit) && string(s.data[s.pos:s.pos+len(lit)]) == lit {
				s.pos += len(lit)
				return nil
			}
		}
		return s.errorf("unexpected character %q", c)
	}
}

// object reads an object at s.pos. When top is not nil the members are
// stored in it; nested objects only have their names checked.
func (s *scanner) object(top map[string]json.RawMessage) error {
	s.depth++
	if s.depth > maxJSONDepth {
		return s.errorf("nested deeper than %d", maxJSONDepth)
	}
	defer func() { s.depth-- }()
	s.pos++ // '{'
	var seen map[string]struct{}
	if top == nil {
		seen = make(map[string]struct{})
	}
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return nil
	}
	for {
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return s.errorf("expected a member name")
		}
		name, err := s.str(true)
		if err != nil {
			return err
		}
		if top != nil {
			if _, dup := top[name]; dup {
				return s.errorf("duplicate member %.64q", name)
			}
		} else {
			if _, dup := seen[name]; dup {
				return s.errorf("duplicate member %.64q", name)
			}
			seen[name] = struct{}{}
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		s.skipSpace()
		start := s.pos
		if err := s.value(); err != nil {
			return err
		}
		if top != nil {
			top[name] = json.RawMessage(s.data[start:s.pos])
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
			return nil
		default:
			return s.errorf("expected ',' or '}'")
		}
	}
}

func (s *scanner) array() error {
	s.depth++
	if s.depth > maxJSONDepth {
		return s.errorf("nested deeper than %d", maxJSONDepth)
	}
	defer func() { s.depth-- }()
	s.pos++ // '['
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
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
			return nil
		default:
			return s.errorf("expected ',' or ']'")
		}
	}
}

// str reads a string at s.pos. With decode it returns the unescaped value;
// otherwise it only checks the string.
func (s *scanner) str(decode bool) (string, error) {
	s.pos++ // opening quote
	start := s.pos
	escaped := false
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			raw := s.data[start:s.pos]
			s.pos++
			if !decode {
				return "", nil
			}
			if !escaped {
				return string(raw), nil
			}
			return unescape(raw), nil
		case c == '\\':
			escaped = true
			if err := s.escape(); err != nil {
				return "", err
			}
		case c < 0x20:
			return "", s.errorf("control character in string")
		default:
			s.pos++
		}
	}
	return "", s.errorf("unterminated string")
}

// escape checks the escape sequence at s.pos and moves past it.
func (s *scanner) escape() error {
	if s.pos+1 >= len(s.data) {
		return s.errorf("unterminated escape")
	}
	switch s.data[s.pos+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.pos += 2
		return nil
	case 'u':
		r, ok := hex4(s.data, s.pos+2)
		if !ok {
			return s.errorf("bad \\u escape")
		}
		s.pos += 6
		if utf16.IsSurrogate(r) {
			// Only a high surrogate followed by a low one makes a character.
			if r >= 0xDC00 || s.pos+1 >= len(s.data) || s.data[s.pos] != '\\' || s.data[s.pos+1] != 'u' {
				return s.errorf("lone surrogate escape")
			}
			r2, ok := hex4(s.data, s.pos+2)
			if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
				return s.errorf("lone surrogate escape")
			}
			s.pos += 6
		}
		return nil
	default:
		return s.errorf("bad escape")
	}
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[at:at+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	return rune(v), true
}

// unescape decodes a string body already checked by scanner.str.
func unescape(raw []byte) string {
	quoted := make([]byte, 0, len(raw)+2)
	quoted = append(quoted, '"')
	quoted = append(quoted, raw...)
	quoted = append(quoted, '"')
	var out string
	// The body was checked, so this cannot fail.
	_ = json.Unmarshal(quoted, &out)
	return out
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
