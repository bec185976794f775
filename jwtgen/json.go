package jwtgen

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/rawjson"
)

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. It escapes what JSON
// requires (quote, backslash, control characters), U+2028 and U+2029, and
// replaces invalid UTF-8 with U+FFFD, as encoding/json does; it does not
// escape <, > and &.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendJSONStringBody(b, s)
	return append(b, '"')
}

// appendJSONStringBody appends s escaped as appendJSONString does, without
// the quotes.
func appendJSONStringBody(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		// Eight plain bytes at a time: the common case of claim names.
		if i+8 <= len(s) && plain8(uint64(s[i])|uint64(s[i+1])<<8|uint64(s[i+2])<<16|uint64(s[i+3])<<24|
			uint64(s[i+4])<<32|uint64(s[i+5])<<40|uint64(s[i+6])<<48|uint64(s[i+7])<<56) {
			i += 8
			continue
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(b, s[start:]...)
}

// plain8 reports whether none of the eight bytes of x needs escaping or a
// UTF-8 check: each is ASCII, not a control character, not a quote and not
// a backslash. (A byte below n is detected by (x - n*lo) &^ x & hi, exact
// for n up to 128; a zero byte of x^c finds c.)
func plain8(x uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	quote, backslash := x^(lo*'"'), x^(lo*'\\')
	control := (x - lo*0x20) &^ x
	return (x|control|((quote-lo)&^quote)|((backslash-lo)&^backslash))&hi == 0
}

// appendJSONStrings appends vs as a JSON array of strings.
func appendJSONStrings(b []byte, vs []string) []byte {
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, v)
	}
	return append(b, ']')
}

// appendUUID appends a random version 4 UUID in its 36-character form.
func appendUUID(b []byte) []byte {
	var u [16]byte
	_, _ = rand.Read(u[:]) // never fails (it aborts the program instead)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	for i, x := range u {
		switch i {
		case 4, 6, 8, 10:
			b = append(b, '-')
		}
		b = append(b, hexDigits[x>>4], hexDigits[x&0xf])
	}
	return b
}

// NewJTI returns a random version 4 UUID, for a custom StandardClaims that
// sets jti itself.
func NewJTI() string { return string(appendUUID(make([]byte, 0, 36))) }

// eachMember calls fn with the name, unescaped, and the raw value of every
// member of the JSON object b, in order. It returns an error, having called
// fn for the members before it, when b is not a JSON object.
func eachMember(b []byte, fn func(name, val []byte)) error {
	var nameErr error
	err := rawjson.EachMember(b, func(quoted, val []byte) {
		name := quoted[1 : len(quoted)-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			var s string
			if err := json.Unmarshal(quoted, &s); err != nil {
				nameErr = fmt.Errorf("member name: %w", err)
				return
			}
			name = []byte(s)
		}
		if nameErr == nil {
			fn(name, val)
		}
	})
	if err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	return nameErr
}
