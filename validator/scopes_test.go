package validator

import (
	"crypto"
	"slices"
	"testing"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

func TestScopes(t *testing.T) {
	v := newValidator(t, Config{
		Issuers: []IssuerConfig{{Issuer: testIssuer, PublicKeys: []crypto.PublicKey{publicOf(keys(t).RSA)}}},
	})
	tests := []struct {
		name    string
		changes map[string]any
		want    []string
	}{
		{"scope string", map[string]any{"scope": "menu:read  menu:write default"}, []string{"menu:read", "menu:write", "default"}},
		{"scope list", map[string]any{"scope": []string{"menu:read", "", "default"}}, []string{"menu:read", "default"}},
		{"scp string", map[string]any{"scope": nil, "scp": " menu:read "}, []string{"menu:read"}},
		{"scp list", map[string]any{"scope": nil, "scp": []string{"menu:read"}}, []string{"menu:read"}},
		{"neither", map[string]any{"scope": nil}, nil},
		{"both: scope wins", map[string]any{"scope": "a", "scp": []string{"b"}}, []string{"a"}},
		{"scope of the wrong type, even with scp", map[string]any{"scope": 7, "scp": "b"}, nil},
		{"scp an object", map[string]any{"scope": nil, "scp": map[string]any{"a": true}}, nil},
		{"list with a number", map[string]any{"scope": []any{"a", 1}}, nil},
		{"empty string", map[string]any{"scope": ""}, nil},
		{"only spaces", map[string]any{"scope": "   "}, nil},
		{"escaped", map[string]any{"scope": []byte(`"a\u0020b"`)}, []string{"a", "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			claims := testkit.With(testkit.AccessClaims(testIssuer), nil)
			for name, value := range tc.changes {
				switch value := value.(type) {
				case nil:
					delete(claims, name)
				case []byte:
					claims[name] = rawJSON(value)
				default:
					claims[name] = value
				}
			}
			tok, err := v.Validate(sign(t, "RS256", keys(t).RSA, map[string]any{"alg": "RS256"}, claims))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(tok.Scopes, tc.want) || (tc.want == nil) != (tok.Scopes == nil) {
				t.Fatalf("scopes %q, want %q", tok.Scopes, tc.want)
			}
		})
	}
}

// rawJSON is a claim value written as it is.
type rawJSON []byte

// MarshalJSON returns r.
func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }

func TestHasScopes(t *testing.T) {
	tok := &Token{Scopes: []string{"menu:read", "menu:write", "default"}}
	tests := []struct {
		name     string
		tok      *Token
		required []string
		want     bool
	}{
		{"none required", tok, nil, true},
		{"one present", tok, []string{"menu:write"}, true},
		{"all present", tok, []string{"default", "menu:read"}, true},
		{"one missing", tok, []string{"menu:read", "admin"}, false},
		{"case matters", tok, []string{"MENU:READ"}, false},
		{"token without scopes (an API key)", &Token{}, []string{"menu:read"}, false},
		{"token without scopes, none required", &Token{}, []string{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.tok.HasScopes(tc.required); got != tc.want {
				t.Fatalf("HasScopes(%q) = %v", tc.required, got)
			}
		})
	}
	required := []string{"default", "menu:read"}
	if n := testing.AllocsPerRun(100, func() { tok.HasScopes(required) }); n != 0 {
		t.Fatalf("HasScopes makes %v allocations", n)
	}
}
