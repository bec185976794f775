package validator

import (
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
