package strictjson

import (
	"fmt"
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
		{"nesting at the limit", `{"a":` + strings.Repeat("[", MaxDepth-1) + strings.Repeat("]", MaxDepth-1) + `}`, true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseObject([]byte(tc.in))
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
	m, err := ParseObject([]byte(`{"id": 1, "app": {"name": "x"}, "s": "a\"b"}`))
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
			if _, err := ParseObject([]byte(tc.in)); tc.ok != (err == nil) {
				t.Fatalf("ok=%v, err=%v", tc.ok, err)
			}
		})
	}
}
