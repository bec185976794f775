package retriever

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// fuzzMaxBody is the body cap of the fuzzed retriever, small enough that
// the fuzzer reaches it.
const fuzzMaxBody = 4096

// maxFuzzErrorLen bounds the text of an error: a key manager's answer is
// quoted only as a short excerpt, so an error (and the log line made of
// it) stays short whatever the answer.
const maxFuzzErrorLen = 1024

// fuzzKM is a key manager on 127.0.0.1 that answers 200 with whatever body
// the fuzz input set last. Fuzz calls within one process run one at a time.
type fuzzKM struct {
	*httptest.Server
	mu   sync.Mutex
	body []byte
}

// newFuzzKM starts a fuzzKM; it stops with the fuzz test.
func newFuzzKM(f *testing.F) *fuzzKM {
	km := &fuzzKM{}
	km.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		km.mu.Lock()
		body := km.body
		km.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	f.Cleanup(km.Close)
	return km
}

// answer makes the key manager answer body from now on.
func (km *fuzzKM) answer(body []byte) {
	km.mu.Lock()
	km.body = body
	km.mu.Unlock()
}

// FuzzClaimsResponse gives arbitrary bytes as the key manager's answer to
// the claims API. parseClaims never panics and agrees with a reference
// reading of the documented format built on encoding/json; Retrieve, which
// gets the bytes as a 200 answer over HTTP, returns the same claims or an
// error wrapping ErrUnavailable or ErrUserNotFound that holds neither the
// password nor the whole body and stays short.
func FuzzClaimsResponse(f *testing.F) {
	for _, s := range []string{
		okBody,
		`{"count":0,"list":[]}`, `{"list":null}`, `{"list":[{"uri":"u","value":"1"},{"uri":"u","value":"2"}]}`,
		`{"list":[{"uri":null,"value":"a"},{"uri":"","value":"b"},{"uri":"c"},{"uri":"d","value":null}]}`,
		`{"count":"1","list":[]}`, `{"count":1e400,"list":[]}`, `{"count":null,"list":[]}`, `{"extra":1e400,"list":[]}`,
		`{"list":[null]}`, `{"list":["u"]}`, `{"list":{"uri":"u"}}`, `{"list":[{"uri":7,"value":"v"}]}`,
		`{"list":[{"uri":"u","value":{"a":1}}]}`, `{"list":[{"uri":"u","uri":"w","value":"v"}]}`,
		`{"list":[{"uri":"\ud800","value":"\ufffd\u0000"}]}`, "{\"list\":[{\"uri\":\"\xff\",\"value\":\"\xfe\"}]}",
		`{"list":[]} {}`, `null`, `[]`, ``, `<!DOCTYPE html><html><body>Login</body></html>`,
		`{"list":[{"uri":"` + strings.Repeat("u", 300) + `","value":7}]}`,
		`{"list":[{"uri":"u","value":"` + strings.Repeat("v", fuzzMaxBody) + `"}]}`,
	} {
		f.Add([]byte(s))
	}
	km := newFuzzKM(f)
	w, err := NewWSO2(WSO2Config{ServerURL: km.URL, Username: testUser, Password: testPassword, MaxBodyBytes: fuzzMaxBody})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(w.Close)

	f.Fuzz(func(t *testing.T, body []byte) {
		claims, err := parseClaims(body)
		want, wantErr := referenceClaims(body)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("parseClaims error %v, reference error %v", err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(claims, want) {
			t.Fatalf("parseClaims = %v, reference %v", claims, want)
		}
		if err != nil && claims != nil {
			t.Fatalf("claims %v with the error %v", claims, err)
		}

		km.answer(body)
		got, err := w.Retrieve(t.Context(), request("iss", "admin@carbon.super"))
		if err == nil {
			if len(body) > fuzzMaxBody || !reflect.DeepEqual(got, want) {
				t.Fatalf("Retrieve = %v of a body of %d bytes, want %v", got, len(body), want)
			}
			return
		}
		if got != nil {
			t.Fatalf("claims %v with the error %v", got, err)
		}
		if !errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrUserNotFound) {
			t.Fatalf("error %v wraps neither ErrUnavailable nor ErrUserNotFound", err)
		}
		checkNoSecret(t, err)
		msg := err.Error()
		if len(body) > 200 && strings.Contains(msg, string(body)) {
			t.Fatal("the error quotes the whole body")
		}
		if len(msg) > maxFuzzErrorLen {
			t.Fatalf("an error of %d bytes: %.300s...", len(msg), msg)
		}
	})
}

// referenceClaims reads a claims answer as parseClaims documents it, with
// encoding/json's generic decoding: a JSON object with a "list" array
// (null: empty) of objects; "count", when present and not null, a number;
// in each entry, uri and value, when present and not null, strings; entries
// with an empty or absent uri, or an absent value, skipped; the last of two
// entries with one uri wins.
func referenceClaims(data []byte) (map[string]any, error) {
	if !json.Valid(data) {
		return nil, errors.New("not JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return nil, errors.New("not an object")
	}
	if count, ok := top["count"]; ok && count != nil {
		n, isNum := count.(json.Number)
		if !isNum {
			return nil, errors.New("count is not a number")
		}
		if _, err := n.Float64(); err != nil {
			return nil, errors.New("count out of range")
		}
	}
	rawList, ok := top["list"]
	if !ok {
		return nil, errors.New("no list")
	}
	list, ok := rawList.([]any)
	if !ok && rawList != nil {
		return nil, errors.New("list is not an array")
	}
	// A nested entry that is not an object fails the whole list first.
	for _, e := range list {
		if _, ok := e.(map[string]any); !ok && e != nil {
			return nil, errors.New("list is not an array of objects")
		}
	}
	claims := make(map[string]any, len(list))
	for i, e := range list {
		entry, _ := e.(map[string]any)
		if entry == nil {
			return nil, fmt.Errorf("entry %d is null", i)
		}
		uri, present := entry["uri"]
		if !present || uri == nil {
			continue
		}
		u, ok := uri.(string)
		if !ok {
			return nil, fmt.Errorf("entry %d: uri is not a string", i)
		}
		if u == "" {
			continue
		}
		value, present := entry["value"]
		if !present || value == nil {
			continue
		}
		v, ok := value.(string)
		if !ok {
			return nil, fmt.Errorf("entry %d: value is not a string", i)
		}
		if !utf8.ValidString(u) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("entry %d: encoding/json produced invalid UTF-8", i)
		}
		claims[u] = v
	}
	return claims, nil
}
