package validator

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestParseObject(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		ok      bool
		members int
	}{
		{"simple", `{"a":1,"b":"x","c":[1,2,{"d":null}],"e":{"f":true}}`, true, 4},
		{"white space", " \t\n{ \"a\" : 1 }\r\n", true, 1},
		{"empty", `{}`, true, 0},
		{"escapes", `{"a\"b":"\u00e9\n","\ud83d\ude00":1}`, true, 2},
		{"numbers", `{"a":-0,"b":1.5e+10,"c":0.25,"d":1E3}`, true, 4},
		{"duplicate top level", `{"a":1,"a":2}`, false, 0},
		{"duplicate after unescaping", `{"a":1,"\u0061":2}`, false, 0},
		{"duplicate nested", `{"a":{"b":1,"b":2}}`, false, 0},
		{"duplicate inside array", `{"a":[{"b":1,"b":2}]}`, false, 0},
		{"same name at different levels", `{"a":{"a":1}}`, true, 1},
		{"array", `[1]`, false, 0},
		{"string", `"a"`, false, 0},
		{"trailing data", `{"a":1} x`, false, 0},
		{"trailing comma", `{"a":1,}`, false, 0},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", false, 0},
		{"lone high surrogate", `{"a":"\ud800"}`, false, 0},
		{"lone low surrogate", `{"a":"\udc00x"}`, false, 0},
		{"control character", "{\"a\":\"\x01\"}", false, 0},
		{"leading zero", `{"a":01}`, false, 0},
		{"bare fraction", `{"a":1.}`, false, 0},
		{"plus sign", `{"a":+1}`, false, 0},
		{"single quotes", `{'a':1}`, false, 0},
		{"bad literal", `{"a":tru}`, false, 0},
		{"bad escape", `{"a":"\x"}`, false, 0},
		{"unterminated", `{"a":"b`, false, 0},
		{"deep nesting", `{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, false, 0},
		{"nesting at the limit", `{"a":` + strings.Repeat("[", maxJSONDepth-1) + strings.Repeat("]", maxJSONDepth-1) + `}`, true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := parseObject([]byte(tc.in))
			if tc.ok != (err == nil) {
				t.Fatalf("ok=%v, err=%v", tc.ok, err)
			}
			if tc.ok && len(m) != tc.members {
				t.Fatalf("%d members, want %d", len(m), tc.members)
			}
		})
	}
}

func TestParseObjectKeepsRawValues(t *testing.T) {
	m, err := parseObject([]byte(`{"id": 1, "app": {"name": "x"}, "s": "a\"b"}`))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"id": `1`, "app": `{"name": "x"}`, "s": `"a\"b"`} {
		if got := string(m[name]); got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
}

func TestParseObjectDuplicatesInLargeObjects(t *testing.T) {
	// object returns an object of n members named m0, m1, ..., with the
	// member at index dup (if not -1) named as the one before it, written
	// with an escape.
	object := func(n, dup int) string {
		var b strings.Builder
		b.WriteByte('{')
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			name := fmt.Sprintf(`"m%d"`, i)
			if i == dup {
				name = fmt.Sprintf(`"\u006d%d"`, i-1)
			}
			fmt.Fprintf(&b, `%s:%d`, name, i)
		}
		b.WriteByte('}')
		return b.String()
	}
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"9 members", object(9, -1), true},
		{"9 members, last repeats", object(9, 8), false},
		{"17 members", object(17, -1), true},
		{"17 members, second repeats", object(17, 1), false},
		{"40 members, last repeats", object(40, 39), false},
		{"300 members", object(300, -1), true},
		{"300 members, one repeats", object(300, 150), false},
		{"nested, 20 members, one repeats", `{"a":[` + object(20, 10) + `]}`, false},
		{"nested, 20 members", `{"a":[` + object(20, -1) + `],"b":` + object(20, -1) + `}`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseObject([]byte(tc.in)); tc.ok != (err == nil) {
				t.Fatalf("ok=%v, err=%v", tc.ok, err)
			}
		})
	}
}

// TestJSONString checks the reading of string values. jsonString is given
// values the strict reader accepted; the refusals here are of what an
// escape can get wrong.
func TestJSONString(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want string
		ok   bool
	}{
		{"plain", `"abc"`, "abc", true},
		{"empty", `""`, "", true},
		{"short escapes", `"\"\\\/\b\f\n\r\t"`, "\"\\/\b\f\n\r\t", true},
		{"unicode escape", `"caf\u00e9"`, "café", true},
		{"NUL escape", `"a\u0000b"`, "a\x00b", true},
		{"surrogate pair", `"\ud83d\ude00"`, "😀", true},
		{"upper-case hex", `"\u00C9\uD83D\uDE00"`, "É😀", true},
		{"raw UTF-8", `"é😀"`, "é😀", true},
		{"number", `1`, "", false},
		{"null", `null`, "", false},
		{"array", `["a"]`, "", false},
		{"lone high surrogate", `"\ud800"`, "", false},
		{"lone low surrogate", `"\udc00"`, "", false},
		{"high then not low", `"\ud800\u0041"`, "", false},
		{"bad escape", `"\x"`, "", false},
		{"short unicode escape", `"\u00"`, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := jsonString([]byte(tc.raw))
			if ok != tc.ok || got != tc.want {
				t.Fatalf("got %q %v, want %q %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestSplitTokenAlphabet(t *testing.T) {
	valid := []byte(sign(t, "EdDSA", keys(t).Ed, map[string]any{"alg": "EdDSA"}, claimsFor(testIssuer)))
	if _, err := splitToken(valid); err != nil {
		t.Fatalf("valid token: %v", err)
	}
	first := bytes.IndexByte(valid, '.')
	// Each byte is put into the header, the payload and the signature.
	for _, c := range []byte{'\n', '\r', '=', '+', '/', ' ', '\t', '.', 0, 0xc3, 0xff} {
		for _, at := range []int{1, first + 2, len(valid) - 2} {
			token := slices.Concat(valid[:at], []byte{c}, valid[at:])
			if _, err := splitToken(token); !errors.Is(err, ErrInvalid) {
				t.Errorf("byte %q at %d: got %v, want ErrInvalid", c, at, err)
			}
		}
	}
}
