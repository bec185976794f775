package introspection

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzParseAnswer feeds the answer parser, and the checks that follow it,
// valid and hostile answers. It must never panic; every error must wrap
// exactly one sentinel; an answer it accepts must be a JSON object whose
// one active member is true, with active, token_type and token_use gone
// from its claims.
//
//	go test -run x -fuzz FuzzParseAnswer -fuzztime 60s ./introspection
func FuzzParseAnswer(f *testing.F) {
	seeds := []string{
		`{"active":true}`,
		`{"active":false}`,
		`{"active":true,"iss":"https://km.example.com:9443/oauth2/token","username":"admin@carbon.super","sub":"u",` +
			`"client_id":"ck","scope":"read write","token_type":"Bearer","exp":1900000000,"iat":1800000000,` +
			`"nbf":1800000000,"jti":"j","aud":["gw","x"],"aut":"APPLICATION_USER"}`,
		`{"active":true,"scope":["a","b"],"aud":"gw","token_use":"access_token"}`,
		`{"active":true,"token_use":"refresh_token"}`,
		`{"active":false,"active":true}`,
		`{"active":true,"active":false}`,
		`{"active":false,"\u0061ctive":true}`,
		`{"active":true,"x":{"a":1,"a":2}}`,
		`{"active":true,"x":[[{"b":[],"b":{}}]]}`,
		`{"Active":true}`,
		`{"active":"true"}`,
		`{"active":1}`,
		`{"active":true} {}`,
		`{"active":true}x`,
		`[{"active":true}]`,
		`"active"`,
		`null`,
		``,
		"\xef\xbb\xbf{\"active\":true}",
		"{\"active\":true,\"sub\":\"\xff\"}",
		`{"active":true,"sub":"\ud800"}`,
		`{"active":true,"sub":"\udc00\ud800"}`,
		`{"active":true,"sub":"\ud83d\ude00"}`,
		`{"active":true,"exp":1e9}`,
		`{"active":true,"exp":1.0}`,
		`{"active":true,"exp":-0}`,
		`{"active":true,"exp":253402300800}`,
		`{"active":true,"exp":99999999999999999999999999}`,
		`{"active":true,"iat":"1"}`,
		`{"active":true,"aud":[null]}`,
		`{"active":true,"scope":[1]}`,
		`{"active":true,"sub":null}`,
		strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40),
		`{"active":true,"x":` + strings.Repeat(`[`, 31) + strings.Repeat(`]`, 31) + `}`,
		`{"active":true,,}`,
		`{"active":true,}`,
		`{"active" true}`,
		`{"active":tru}`,
	}
	for _, seed := range seeds {
		f.Add([]byte(seed))
	}
	in, err := New(Config{Issuer: testIssuer, URL: "https://km.example.com/introspect", Audiences: []string{"gw"}},
		func(a *Answer) (*Answer, error) { return a, nil })
	if err != nil {
		f.Fatal(err)
	}
	at := time.Unix(1850000000, 0)
	// Every worker reads the seeds once first, so that encoding/json's
	// caches of type decoders are warm: code that runs only on a cache's
	// first use is coverage that no input reproduces, which the fuzzer
	// would spend its minimization time on.
	for _, seed := range seeds {
		if a, err := parseAnswer([]byte(seed)); err == nil {
			_ = in.check(a, at)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := bytes.Clone(body)
		a, err := parseAnswer(body)
		if !bytes.Equal(body, orig) {
			t.Fatalf("the parser changed its input")
		}
		if err != nil {
			if a != nil {
				t.Fatalf("an answer with the error %v", err)
			}
			if n := countKinds(err); n != 1 || errors.Is(err, ErrExpired) {
				t.Fatalf("error %v wraps %d sentinels", err, n)
			}
			return
		}
		var members map[string]json.RawMessage
		if err := json.Unmarshal(body, &members); err != nil {
			t.Fatalf("accepted what encoding/json refuses: %v", err)
		}
		if string(members["active"]) != "true" {
			t.Fatalf("accepted an answer whose active is %s", members["active"])
		}
		checkTopLevelOnce(t, body, "active")
		for _, gone := range []string{"active", "token_type", "token_use"} {
			if _, ok := a.Claims[gone]; ok {
				t.Fatalf("claims hold %s", gone)
			}
		}
		if err := in.check(a, at); err != nil && countKinds(err) != 1 {
			t.Fatalf("check: error %v wraps %d sentinels", err, countKinds(err))
		}
	})
}

// checkTopLevelOnce fails t when the top-level object of body has name more
// than once, counted with encoding/json's tokenizer.
func checkTopLevelOnce(t *testing.T, body []byte, name string) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		if tok == name {
			seen++
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	if seen != 1 {
		t.Fatalf("accepted an answer with %d top-level %s members", seen, name)
	}
}

func TestParseAnswerStrictJSON(t *testing.T) {
	nested := func(depth int) string {
		return `{"active":true,"x":` + strings.Repeat(`[`, depth) + strings.Repeat(`]`, depth) + `}`
	}
	tests := []struct {
		name string
		body string
		want error // nil: accepted
	}{
		{"surrogate pair", `{"active":true,"sub":"\ud83d\ude00"}`, nil},
		{"escaped backslash before u", `{"active":true,"sub":"\\ud800"}`, nil},
		{"escapes of every kind", `{"active":true,"sub":"\"\\\/\b\f\n\r\t\u00e9"}`, nil},
		{"lone high surrogate", `{"active":true,"sub":"\ud800x"}`, ErrUnavailable},
		{"high surrogate then a non-low escape", `{"active":true,"sub":"\ud800\u0041"}`, ErrUnavailable},
		{"lone low surrogate", `{"active":true,"sub":"\udc00"}`, ErrUnavailable},
		{"lone surrogate in a name", `{"active":true,"\ud800":1}`, ErrUnavailable},
		{"invalid UTF-8", "{\"active\":true,\"sub\":\"\xc3\x28\"}", ErrUnavailable},
		{"byte order mark", "\xef\xbb\xbf{\"active\":true}", ErrUnavailable},
		{"nested 32 deep", nested(31), nil},
		{"nested 33 deep", nested(32), ErrUnavailable},
		{"same name in sibling objects", `{"active":true,"x":{"a":1},"y":{"a":1}}`, nil},
		{"same name at two depths", `{"active":true,"x":{"active":false}}`, nil},
		{"duplicate in an object in a list", `{"active":true,"x":[1,{"b":1,"c":2,"b":3}]}`, ErrUnavailable},
		{"trailing white space", "{\"active\":true}\r\n\t ", nil},
		{"trailing comma", `{"active":true,}`, ErrUnavailable},
		{"leading zero", `{"active":true,"n":01}`, ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseAnswer([]byte(tc.body))
			if (tc.want == nil) != (err == nil) || !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}
