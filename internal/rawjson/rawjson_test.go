package rawjson

import (
	"slices"
	"strings"
	"testing"
)

func TestRawJSONIteration(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string // elements, or name=value pairs
		wantErr bool
	}{
		{"array", ` [1, "a,]", {"b": [2, 3]}, [], null, -1.5e3 ] `, []string{`1`, `"a,]"`, `{"b": [2, 3]}`, `[]`, `null`, `-1.5e3`}, false},
		{"empty array", `[]`, nil, false},
		{"object", `{"a": 1, "b\"": "x}", "c": {"d": []}}`, []string{`"a"=1`, `"b\""="x}"`, `"c"={"d": []}`}, false},
		{"empty object", `{ }`, nil, false},
		{"unterminated array", `[1, 2`, []string{`1`, `2`}, true},
		{"unterminated string", `["a`, nil, true},
		{"missing value", `[1,,2]`, []string{`1`}, true},
		{"trailing data", `[1] 2`, []string{`1`}, true},
		{"not an array or object", `"a"`, nil, true},
		{"empty", ``, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			var err error
			if strings.HasPrefix(strings.TrimSpace(tc.in), "{") {
				err = EachMember([]byte(tc.in), func(name, value []byte) { got = append(got, string(name)+"="+string(value)) })
			} else {
				err = EachElement([]byte(tc.in), func(value []byte) { got = append(got, string(value)) })
			}
			if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, err %v; want %q, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
