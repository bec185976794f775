package introspection

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

var (
	uuidPattern   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	githubPattern = regexp.MustCompile(`^ghp_`)
)

func TestRouter(t *testing.T) {
	k := newKM(t, respond(`{"active":true}`))
	wso2, github, other := newAnswers(t, k.config()), newAnswers(t, k.config()), newAnswers(t, k.config())
	tests := []struct {
		name   string
		routes []Route[*Answer]
		token  string
		want   *Introspector[*Answer]
	}{
		{"UUID to its issuer", []Route[*Answer]{{uuidPattern, wso2}, {githubPattern, github}}, testToken, wso2},
		{"ghp_ to its issuer", []Route[*Answer]{{uuidPattern, wso2}, {githubPattern, github}}, "ghp_16C7e42F292c6912E7710c838347Ae178B4a", github},
		{"no pattern matches, no catch-all", []Route[*Answer]{{uuidPattern, wso2}, {githubPattern, github}}, "opaque-xyz", nil},
		{"upper-case UUID is not the pattern's", []Route[*Answer]{{uuidPattern, wso2}}, strings.ToUpper(testToken), nil},
		{"no pattern matches: the catch-all", []Route[*Answer]{{uuidPattern, wso2}, {nil, other}}, "opaque-xyz", other},
		{"a pattern wins over a catch-all listed first", []Route[*Answer]{{nil, other}, {uuidPattern, wso2}}, testToken, wso2},
		{"the first matching pattern in config order", []Route[*Answer]{{regexp.MustCompile(`^ghp_1`), other}, {githubPattern, github}}, "ghp_16C7", other},
		{"only a catch-all", []Route[*Answer]{{nil, other}}, "anything", other},
		{"no routes", nil, testToken, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRouter(tc.routes)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Route(tc.token); got != tc.want {
				t.Fatalf("routed to %p, want %p", got, tc.want)
			}
		})
	}
	if k.calls.Load() != 0 {
		t.Fatalf("routing made %d calls", k.calls.Load())
	}
}

func TestNewRouterRefuses(t *testing.T) {
	k := newKM(t, respond(`{"active":true}`))
	a, b := newAnswers(t, k.config()), newAnswers(t, k.config())
	tests := []struct {
		name   string
		routes []Route[*Answer]
		want   string
	}{
		{"two catch-alls", []Route[*Answer]{{nil, a}, {uuidPattern, a}, {nil, b}}, "more than one"},
		{"no introspector", []Route[*Answer]{{uuidPattern, nil}}, "no introspector"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewRouter(tc.routes); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error about %q", err, tc.want)
			}
		})
	}
}

// TestUnmatchedTokensMakeNoCall routes 10,000 random opaque strings that
// match no pattern: none goes to an introspector, so none makes a call.
func TestUnmatchedTokensMakeNoCall(t *testing.T) {
	k := newKM(t, respond(`{"active":true}`))
	patterned, err := NewRouter([]Route[*Answer]{{uuidPattern, newAnswers(t, k.config())}, {githubPattern, newAnswers(t, k.config())}})
	if err != nil {
		t.Fatal(err)
	}
	empty, err := NewRouter[*Answer](nil)
	if err != nil {
		t.Fatal(err)
	}
	// No '-' (every UUID has one) and no 'g' first (ghp_).
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefhijklmnopqrstuvwxyz0123456789_.~+/="
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for i := range 10000 {
		b.Reset()
		for range 1 + rng.IntN(128) {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		token := b.String()
		for _, r := range []*Router[*Answer]{patterned, empty} {
			if in := r.Route(token); in != nil {
				t.Fatalf("token %d (%q) routed to an introspector", i, token)
			}
		}
	}
	if k.calls.Load() != 0 {
		t.Fatalf("%d calls", k.calls.Load())
	}
}
