package caddyfile_test

// SPEC 15's `caddy backend-jwt revoke`: every form posted to a running
// Caddy's admin API, the token then refused by the gateway, and the
// refusals shown as one-line reasons.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testcaddy"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

// revokeSite is a gateway taking access tokens, with revocations read from
// storage every second.
func revokeSite(t *testing.T) *gateway {
	k := testkit.Keys()
	g, upstream := newGateway(t), testkit.NewUpstream(t)
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: k.RSA})
	g.Start(fmt.Sprintf(`
	backend_jwt {
		issuer %s {
			jwks_url %s
		}
		clock_skew 1s
		revocation_sync 1s
	}
	reverse_proxy %s`, wso2Issuer, jwks.URL, upstream.Listener.Addr()))
	return g
}

func TestRevoke(t *testing.T) {
	g := revokeSite(t)
	address := fmt.Sprintf("127.0.0.1:%d", g.AdminPort)
	now := time.Now()
	exp := now.Add(time.Hour)
	old := now.Add(-time.Hour).Unix()
	// Names unique to this test: revocations outlive it in this process.
	name := func(s string) string { return "revoke-cmd-" + s + "-" + fmt.Sprint(now.UnixNano()) }
	token := func(changes map[string]any) string {
		c := map[string]any{"exp": exp.Unix()}
		for k, v := range changes {
			c[k] = v // nil deletes the claim
		}
		return testkit.AccessToken(t, wso2Issuer, c)
	}
	signature := func(tok string) string { return tok[strings.LastIndexByte(tok, '.')+1:] }

	byJTI := token(map[string]any{"jti": name("jti")})
	bySig := token(map[string]any{"jti": name("sig")})
	byToken := token(map[string]any{"jti": name("token")})
	byStdin := token(map[string]any{"jti": name("stdin")})
	noJTI := token(map[string]any{"jti": nil})
	byHash := token(map[string]any{"jti": name("hash")})
	sum := sha256.Sum256([]byte(byHash))
	opaque := "opaque-" + name("token")
	opaqueSum := sha256.Sum256([]byte(opaque))
	byConsumerKey := token(map[string]any{"jti": name("ck-token"), "azp": name("ck"), "iat": old, "nbf": old})
	bySubject := token(map[string]any{"jti": name("sub-token"), "sub": name("sub"), "iat": old, "nbf": old})

	for _, tc := range []struct {
		name    string
		token   string // refused by the gateway afterwards
		stdin   string
		args    []string
		wantOut string // in the admin API's answer
		wantErr string // in stderr
	}{
		{name: "jti, exp in RFC 3339", token: byJTI,
			args:    []string{"--jti", name("jti"), "--exp", exp.UTC().Format(time.RFC3339)},
			wantOut: fmt.Sprintf(`"jti": %q`, name("jti"))},
		{name: "signature", token: bySig,
			args:    []string{"--signature", signature(bySig), "--exp", fmt.Sprint(exp.Unix())},
			wantOut: fmt.Sprintf(`"signature": %q`, signature(bySig)[:16])},
		{name: "token: its jti and exp", token: byToken, args: []string{"--token", byToken},
			wantOut: fmt.Sprintf(`"exp": %d`, exp.Unix()), wantErr: fmt.Sprintf("revoking the token by its jti %q, exp %d", name("token"), exp.Unix())},
		{name: "token from stdin", token: byStdin, stdin: "Bearer " + byStdin + "\n", args: []string{"--token", "-"},
			wantOut: fmt.Sprintf(`"jti": %q`, name("stdin"))},
		{name: "token without jti: its signature", token: noJTI, args: []string{"--token", noJTI},
			wantOut: fmt.Sprintf(`"signature": %q`, signature(noJTI)[:16]), wantErr: "by its signature"},
		{name: "token_sha256", token: byHash,
			args:    []string{"--token-sha256", hex.EncodeToString(sum[:]), "--exp", fmt.Sprint(exp.Unix())},
			wantOut: fmt.Sprintf(`"token_sha256": %q`, hex.EncodeToString(sum[:])[:16])},
		{name: "opaque token: its SHA-256", args: []string{"--token", opaque, "--exp", fmt.Sprint(exp.Unix())},
			wantOut: fmt.Sprintf(`"token_sha256": %q`, hex.EncodeToString(opaqueSum[:])[:16]), wantErr: "(it is not a JWT)"},
		{name: "consumer key before", token: byConsumerKey,
			args:    []string{"--consumer-key", name("ck"), "--before", fmt.Sprint(now.Add(-time.Minute).Unix()), "--address", "http://" + address + "/"},
			wantOut: fmt.Sprintf(`"consumer_key": %q`, name("ck"))},
		{name: "subject before until", token: bySubject,
			args: []string{"--subject", name("sub"), "--before", now.Add(-time.Minute).UTC().Format(time.RFC3339),
				"--until", fmt.Sprint(now.Add(24 * time.Hour).Unix())},
			wantOut: fmt.Sprintf(`"until": %d`, now.Add(24*time.Hour).Unix())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.token != "" {
				if r := g.Get("/", bearer(tc.token)...); r.Status != 200 {
					t.Fatalf("before the revocation: %d %s", r.Status, r.Body)
				}
			}
			args := append([]string{"backend-jwt", "revoke"}, tc.args...)
			if !strings.Contains(strings.Join(tc.args, " "), "--address") {
				args = append(args, "--address", address)
			}
			stdout, stderr, code := runCaddy(t, tc.stdin, args...)
			if code != 0 || !strings.Contains(stdout, tc.wantOut) || !strings.Contains(stderr, tc.wantErr) {
				t.Fatalf("exit %d, want 0 with %q in stdout and %q in stderr\nstdout:\n%s\nstderr:\n%s", code, tc.wantOut, tc.wantErr, stdout, stderr)
			}
			if strings.Contains(stdout+stderr, opaque) {
				t.Fatalf("the output shows the opaque token:\n%s%s", stdout, stderr)
			}
			if tc.token != "" {
				wantNoSecret(t, stdout+stderr, tc.token)
				wantFault(t, g.Get("/", bearer(tc.token)...), 401, 900901)
			}
		})
	}

	// Refused: by the admin API (400, its reason shown) or before asking it.
	// Nothing is revoked, so the cases run side by side.
	future := fmt.Sprint(now.Add(time.Hour).Unix())
	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			args    []string
			wantErr string
		}{
			{"consumer key without before", []string{"--consumer-key", name("x")}, "(400 Bad Request): before is missing"},
			{"before in the future", []string{"--subject", name("x"), "--before", future}, "(400 Bad Request): before " + future + " is in the future"},
			{"jti without exp", []string{"--jti", name("x")}, "(400 Bad Request): exp is missing"},
			{"exp in the past", []string{"--jti", name("x"), "--exp", fmt.Sprint(old)}, "in the past"},
			{"opaque token without exp", []string{"--token", "opaque"}, "needs --exp"},
			{"expired token", []string{"--token", token(map[string]any{"jti": name("expired"), "iat": old - 60, "exp": old})}, "in the past"},
			{"no identifying flag", []string{"--exp", future}, "give one of --jti"},
			{"two identifying flags", []string{"--jti", "a", "--signature", "b", "--exp", future}, "not --jti and --signature"},
			{"empty jti", []string{"--jti", "", "--exp", future}, "--jti is empty"},
			{"bad time", []string{"--jti", "a", "--exp", "tomorrow"}, `--exp: "tomorrow" is neither seconds since the epoch nor an RFC 3339 time`},
			{"before with jti", []string{"--jti", "a", "--before", future}, "--before and --until go with --consumer-key or --subject"},
			{"exp with consumer key", []string{"--consumer-key", "a", "--exp", future}, "--exp is for one token"},
			{"no admin API there", []string{"--jti", "a", "--exp", future, "--address", fmt.Sprintf("127.0.0.1:%d", testcaddy.FreePort(t))},
				"reaching the admin API at 127.0.0.1:"},
			{"not an admin API", []string{"--jti", "a", "--exp", future, "--address", fmt.Sprintf("127.0.0.1:%d", g.Port)},
				"answered 401 Unauthorized"},
			{"remote admin over TLS", []string{"--jti", "a", "--exp", future, "--address", "https://" + address}, "not supported"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				args := append([]string{"backend-jwt", "revoke"}, tc.args...)
				if !strings.Contains(strings.Join(tc.args, " "), "--address") {
					args = append(args, "--address", address)
				}
				stdout, stderr, code := runCaddy(t, "", args...)
				lines := strings.Split(strings.TrimSpace(stderr), "\n")
				if last := lines[len(lines)-1]; code == 0 || !strings.HasPrefix(last, "Error: ") || !strings.Contains(last, tc.wantErr) {
					t.Fatalf("exit %d, want non-zero with a last line of stderr holding %q\nstdout:\n%s\nstderr:\n%s", code, tc.wantErr, stdout, stderr)
				}
			})
		}
	})

	// 503 "local": storage fails, the revocation is in force here only.
	t.Run("storage down", func(t *testing.T) {
		folder := filepath.Join(g.Storage, "backend_jwt", "revocations")
		if err := os.Rename(folder, folder+".aside"); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(folder, nil, 0o600); err != nil { // a file where storage wants the folder
			t.Fatal(err)
		}
		tok := token(map[string]any{"jti": name("local")})
		_, stderr, code := runCaddy(t, "", "backend-jwt", "revoke", "--token", tok, "--address", address)
		if code == 0 || !strings.Contains(stderr, "the revocation is in force on the instance at "+address) {
			t.Fatalf("exit %d, stderr:\n%s", code, stderr)
		}
		wantFault(t, g.Get("/", bearer(tok)...), 401, 900901)
		if err := os.Remove(folder); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(folder+".aside", folder); err != nil {
			t.Fatal(err)
		}
		testkit.WaitFor(t, "the revocation to be written", func() bool {
			_, st := admin(t, g, "GET", "/backend_jwt/status", "")
			return st["revocations_unstored"] == 0.0
		})
	})
}
