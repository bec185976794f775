package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseObject compares the strict JSON reader with encoding/json. It
// accepts exactly the JSON objects that encoding/json accepts and that are
// valid UTF-8, hold no duplicate member name at any depth, no escape of a
// lone UTF-16 surrogate, and nest at most MaxDepth deep; when it
// accepts, it yields the same members with the same raw values.
func FuzzParseObject(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, ` {"a" : [1, {"b": null}] } `, `{"a":1,"a":2}`, `{"a":1,"\u0061":2}`,
		`{"a":{"b":1,"b":2}}`, `{"a":[{"b":1},{"b":2}]}`, `{"a":"\ud83d\ude00"}`, `{"a":"\ud800"}`,
		`{"a":"\udc00\ud800"}`, `{"\\ud800":1}`, "{\"a\":\"\xff\"}", `{"a":-0.5e+10,"b":1E3}`,
		`{"a":01}`, `{"a":1.}`, `{"a":tru}`, `{"a":1,}`, `[1]`, `null`, `"x"`, `{"a":1} x`,
		`{"a":` + strings.Repeat("[", MaxDepth-1) + strings.Repeat("]", MaxDepth-1) + `}`,
		`{"a":` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + `}`,
		`{"a":` + strings.Repeat(`{"b":`, 40) + `1` + strings.Repeat("}", 40) + `}`,
		"\ufeff{}", "{\"a\":\"\u2028\"}", `{"a":"\/\b\f\n\r\t\"\\"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseObject(data)
		want, wantErr := referenceObject(data)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("ParseObject error %v, reference error %v, input %q", err, wantErr, data)
		}
		if err != nil {
			if got != nil {
				t.Fatal("members with an error")
			}
			return
		}
		if len(got) != len(want) {
			t.Fatalf("%d members, encoding/json reads %d", len(got), len(want))
		}
		for name, raw := range want {
			if g, ok := got[name]; !ok || !bytes.Equal(g, raw) {
				t.Fatalf("member %q = %q (present %v), encoding/json reads %q", name, g, ok, raw)
			}
		}
	})
}

// referenceObject is what ParseObject must do, built on encoding/json:
// the members of a JSON object, refused when encoding/json refuses it or
// when it is not an object, is not valid UTF-8, repeats a member name in
// any object, escapes a lone surrogate or nests deeper than MaxDepth.
func referenceObject(data []byte) (map[string]json.RawMessage, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return nil, err
	}
	if members == nil {
		return nil, errors.New("null")
	}
	if !utf8.Valid(data) {
		return nil, errors.New("invalid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // a number out of float64's range (1e700) is still JSON
	type frame struct {
		object bool
		names  map[string]bool
		key    bool // the next string token is a member name
	}
	var stack []*frame
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err == io.EOF {
			break // encoding/json already accepted the whole input
		}
		if err != nil {
			return nil, err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch tok := tok.(type) {
		case json.Delim:
			switch tok {
			case '{', '[':
				if top != nil && top.object {
					top.key = true
				}
				stack = append(stack, &frame{object: tok == '{', names: map[string]bool{}, key: true})
				if len(stack) > MaxDepth {
					return nil, errors.New("too deep")
				}
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].key = true
				}
			}
			continue
		case string:
			if lit := data[start:dec.InputOffset()]; loneSurrogate(lit[bytes.IndexByte(lit, '"'):]) {
				return nil, errors.New("lone surrogate")
			}
			if top != nil && top.object && top.key {
				if top.names[tok] {
					return nil, errors.New("duplicate name")
				}
				top.names[tok] = true
				top.key = false
				continue
			}
		}
		if top != nil && top.object {
			top.key = true
		}
	}
	return members, nil
}

// loneSurrogate reports whether a JSON string literal that encoding/json
// accepted escapes a UTF-16 surrogate that is not part of a high-low pair.
func loneSurrogate(lit []byte) bool {
	hex4 := func(i int) rune {
		r, _ := strconv.ParseUint(string(lit[i:i+4]), 16, 16)
		return rune(r)
	}
	for i := 1; i < len(lit)-1; i++ {
		if lit[i] != '\\' {
			continue
		}
		if lit[i+1] != 'u' {
			i++ // a two-character escape
			continue
		}
		r := hex4(i + 2)
		i += 5
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return true
		case r >= 0xD800 && r <= 0xDBFF:
			if i+6 >= len(lit) || lit[i+1] != '\\' || lit[i+2] != 'u' {
				return true
			}
			if low := hex4(i + 3); low < 0xDC00 || low > 0xDFFF {
				return true
			}
			i += 6
		}
	}
	return false
}
