package validator

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

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
