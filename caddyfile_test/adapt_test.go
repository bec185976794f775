package caddyfile_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite the expected JSON of the adapt tests")

// TestAdapt adapts every testdata/adapt/*.caddyfile and compares the JSON
// with the .json file beside it. Run with -update to rewrite them, then
// read the diff.
func TestAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/adapt/*.caddyfile")
	if err != nil || len(files) == 0 {
		t.Fatalf("no adapt tests: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".caddyfile")
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := adapt(string(in))
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			var got bytes.Buffer
			if err := json.Indent(&got, cfg, "", "\t"); err != nil {
				t.Fatal(err)
			}
			got.WriteByte('\n')
			wantFile := strings.TrimSuffix(file, ".caddyfile") + ".json"
			if *update {
				if err := os.WriteFile(wantFile, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != string(want) {
				t.Fatalf("adapted JSON differs from %s:\n%s", wantFile, got.String())
			}
		})
	}
}

// TestBrokenConfigs checks that each configuration error stops adapting with
// a message naming the file, line and problem.
func TestBrokenConfigs(t *testing.T) {
	tests := []struct {
		name string
		body string // the backend_jwt block's content; the block opens on line 2
		line int
		want string
	}{
		{"no issuer", "api A 1", 2, "backend_jwt needs at least one issuer block"},
		{"unknown sub-directive", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\nsecret_mode on", 6, `unknown backend_jwt sub-directive "secret_mode"`},
		{"unknown issuer sub-directive", "issuer x {\n\tjwks http://127.0.0.1/j\n}", 4, `unknown issuer sub-directive "jwks"`},
		{"issuer without keys", "issuer x {\n\taudience a\n}", 3, `issuer "x" needs jwks_url, certificate or introspection`},
		{"issuer without a name", "issuer {\n\tjwks_url http://127.0.0.1/j\n}", 3, "wrong argument count"},
		{"issuer twice", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\nissuer x {\n\tjwks_url http://127.0.0.1/j\n}", 6, `issuer "x" is configured twice`},
		{"missing argument", "issuer x {\n\tjwks_url\n}", 4, "wrong argument count"},
		{"HMAC algorithm", "issuer x {\n\tjwks_url http://127.0.0.1/j\n\talgorithms RS256 HS256\n}", 5, `algorithms: algorithm "HS256" is refused`},
		{"none algorithm", "issuer x {\n\tjwks_url http://127.0.0.1/j\n\talgorithms none\n}", 5, `algorithms: algorithm "none" is refused`},
		{"unknown algorithm", "issuer x {\n\tjwks_url http://127.0.0.1/j\n\talgorithms RS257\n}", 5, `algorithms: unknown algorithm "RS257"`},
		{"unreadable certificate", "issuer x {\n\tcertificate testdata/missing.pem\n}", 4, "certificate: open testdata/missing.pem: no such file or directory"},
		{"certificate not PEM", "issuer x {\n\tcertificate testdata/garbage.pem\n}", 4, "certificate testdata/garbage.pem: no PEM certificate or public key found"},
		{"private key as certificate", "issuer x {\n\tcertificate testdata/private.pem\n}", 4, "certificate testdata/private.pem: PEM block 1 is a private key"},
		{"bad duration", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\nclock_skew soon", 6, `clock_skew "soon": want a duration`},
		{"bad size", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\nmax_token_size lots", 6, `max_token_size "lots": want a size`},
		{"negative cache", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\nvalidation_cache -1", 6, `validation_cache "-1"`},
		{"api without version", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\napi Pizza", 6, "api: want <name> <version> [<context>], got 1 arguments"},
		{"flag with an argument", "issuer x {\n\tjwks_url http://127.0.0.1/j\n\tvalidate_subscription yes\n}", 5, "wrong argument count"},
		{"remote_claims without claims", "issuer x {\n\tjwks_url http://127.0.0.1/j\n\tremote_claims\n}\ngenerate", 5, `issuer "x" has remote_claims but there is no claims retriever`},
		{"jwks_path without generate", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\njwks_path /jwks", 6, "jwks_path needs a generate block"},
		{"header not a header name", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\nheader \"Bad Header\"", 6, `header "Bad Header" is not a valid header field name`},
		{"header that cannot carry it", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\nheader authorization", 6, `header "authorization" cannot carry the backend JWT`},
		{"empty scope", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\nrequire_scopes read \"\"", 6, "require_scopes: a scope is empty"},
		{"claims without generate", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\nclaims wso2 {\n\tserver_url http://127.0.0.1:1\n}", 6, "claims needs a generate block"},
		{"unknown retriever", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\nclaims ldap", 6, "getting module named 'http.backend_jwt.retrievers.ldap'"},
		{"claims wso2 without server_url", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\ngenerate\nclaims wso2 {\n\tusername admin\n}", 7, "claims wso2 needs server_url"},
		{"unknown claims option", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\ngenerate\nclaims wso2 {\n\tserver_url http://127.0.0.1:1\n\tretries 3\n}", 9, `unknown claims wso2 sub-directive "retries"`},
		{"bad claims on_error", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\ngenerate\nclaims wso2 {\n\tserver_url http://127.0.0.1:1\n\ton_error retry\n}", 9, `on_error "retry": want continue or fail`},
		{"unreadable ca_cert", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\ngenerate\nclaims wso2 {\n\tserver_url http://127.0.0.1:1\n\tca_cert testdata/missing.pem\n}", 9, "reading ca_cert"},
		{"api_manager without server_url", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\napi_manager {\n\tusername u\n\tpassword p\n}", 6, "api_manager needs server_url"},
		{"api_manager without password", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\napi_manager {\n\tserver_url https://apim:9443\n\tusername u\n}", 6, "api_manager needs username and password"},
		{"api_manager refresh too short", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\napi_manager {\n\trefresh 500ms\n}", 7, "refresh 500ms: must be at least 1s"},
		{"api_manager server_url with credentials", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\napi_manager {\n\tserver_url https://u:p@apim:9443\n}", 7, "server_url must not hold credentials"},
		{"api_manager http server_url", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\napi_manager {\n\tserver_url http://apim.example.com:9763\n}", 7, "want https (http only for a loopback host)"},
		{"api_manager bad max_data_size", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\napi_manager {\n\tmax_data_size lots\n}", 7, `max_data_size "lots": want a size`},
		{"api_manager unknown option", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\napi_manager {\n\tjms_url tcp://x\n}", 7, `unknown api_manager sub-directive "jms_url"`},
		{"api_manager unreadable ca_cert", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\napi_manager {\n\tca_cert testdata/missing.pem\n}", 7, "reading ca_cert"},
		{"introspection without url", "issuer x {\n\tintrospection {\n\t\tclient_id c\n\t}\n}", 4, "introspection needs url"},
		{"bad token_pattern", "issuer x {\n\tintrospection {\n\t\turl https://km/introspect\n\t\ttoken_pattern ^[a-\n\t}\n}", 6, "token_pattern: error parsing regexp"},
		{"zero max_concurrent", "issuer x {\n\tintrospection {\n\t\turl https://km/introspect\n\t\tmax_concurrent 0\n\t}\n}", 6, `max_concurrent "0": want a number of calls`},
		{"unknown introspection option", "issuer x {\n\tintrospection {\n\t\turl https://km/introspect\n\t\tclient_auth post\n\t}\n}", 6, `unknown introspection sub-directive "client_auth"`},
		{"zero cache_ttl", "issuer x {\n\tintrospection {\n\t\turl https://km/introspect\n\t\tcache_ttl 0s\n\t}\n}", 6, "cache_ttl: must be more than 0"},
		{"api_keys without certificate", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\napi_keys {\n\theader x-api-key\n}", 6, "api_keys needs a certificate"},
		{"api_keys unreadable certificate", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\napi_keys {\n\tcertificate testdata/missing.pem\n}", 7, "reading certificate"},
		{"api_keys unknown option", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\napi_keys {\n\tissuer y\n}", 7, `unknown api_keys sub-directive "issuer"`},
		{"token_from bad source", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\ntoken_from body token", 6, `token_from "body": want header, query or cookie`},
		{"token_from without a name", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\ntoken_from cookie", 6, "wrong argument count"},
		{"require_scopes without a scope", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\nrequire_scopes", 6, "wrong argument count"},
		{"claim_map without a local name", "issuer x {\n\tjwks_url http://127.0.0.1/j\n\tclaim_map email\n}", 5, "wrong argument count"},
		{"claim_map twice", "issuer x {\n\tjwks_url http://127.0.0.1/j\n\tclaim_map a b\n\tclaim_map a c\n}", 6, "claim_map a: mapped twice"},
		{"static claim named like a standard one", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\ngenerate {\n\tclaim x 1 int\n\tclaim http://wso2.org/claims/enduser bob\n}", 8, `claim "http://wso2.org/claims/enduser": the generator sets that claim itself`},
		{"static claim named like a standard one of another dialect", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\ngenerate {\n\tclaim urn:x/apiname y\n\tdialect urn:x\n}", 7, `claim "urn:x/apiname": the generator sets that claim itself`},
		{"static claim iss", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\ngenerate {\n\tclaim iss me\n}", 7, `claim "iss": the generator sets that claim itself`},
		{"static claim bad int", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\ngenerate {\n\tclaim n 1.5 int\n}", 7, "claim n: value for type int"},
		{"static claim bad bool", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\ngenerate {\n\tclaim b yes bool\n}", 7, "claim b: value for type bool"},
		{"static claim bad json", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\ngenerate {\n\tclaim j {rpm:60} json\n}", 7, "claim j: value for type json"},
		{"static claim unknown type", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\ngenerate {\n\tclaim d 2026-01-01 date\n}", 7, `type "date": want string, int, float, bool or json`},
		{"dialect_map without a name", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\ngenerate {\n\tdialect_map email\n}", 7, "wrong argument count"},
		{"api_manager tenant_id not a number", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\napi_manager {\n\ttenant_id wso2\n}", 7, `tenant_id "wso2": want the tenant's id`},
		{"bad error_response", "issuer x {\n\tjwks_url http://127.0.0.1/j\n}\nerror_response html", 6, `error_response "html": want wso2 or caddy`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantAdaptError(t, ":8080 {\n\tbackend_jwt {\n"+indent(indent(tc.body))+"\n\t}\n\treverse_proxy localhost:9090\n}\n", tc.line, tc.want)
		})
	}
}

// TestBrokenGenerateConfigs checks the generate block's key and
// certificate errors, each naming the line of the signing_key (or of the
// problem).
func TestBrokenGenerateConfigs(t *testing.T) {
	k := testkit.Keys()
	rsa1024, p384, rsa2048, p256 := keyFile(t, k.RSA1024), keyFile(t, k.P384), keyFile(t, k.RSA), keyFile(t, k.P256)
	otherCert := writeFile(t, "other.crt", testkit.CertificatePEM(t, k.RSA2, "someone else"))
	tests := []struct {
		name string
		body string // the generate block's content; the block opens on line 6
		line int
		want string
	}{
		{"RSA 1024 for RS256", "signing_key " + rsa1024, 7, "RS256 needs an RSA key of at least 2048 bits"},
		{"P-384 for ES256", "algorithm ES256\nsigning_key " + p384, 8, "ES256"},
		{"RSA for EdDSA", "signing_key " + rsa2048 + "\nalgorithm EdDSA", 7, "EdDSA"},
		{"P-256 for the default RS256", "signing_key " + p256, 7, "RS256"},
		{"certificate of another key", "signing_key " + rsa2048 + "\ncertificate " + otherCert, 7, "is not the certificate of signing_key"},
		{"certificate without signing_key", "certificate " + otherCert, 7, "certificate needs signing_key"},
		{"unreadable signing_key", "signing_key testdata/missing.key", 7, "reading signing_key: open testdata/missing.key"},
		{"certificate as signing_key", "signing_key testdata/issuer.pem", 7, "signing_key testdata/issuer.pem"},
		{"unknown algorithm", "algorithm HS256", 7, `algorithm: unknown algorithm "HS256"`},
		{"unknown sub-directive", "lifetime 5m", 7, `unknown generate sub-directive "lifetime"`},
		{"unknown generator", "generator fancy", 7, "getting module named 'http.backend_jwt.generators.fancy'"},
		{"generator wso2 with options", "generator wso2 {\n\tx 1\n}", 8, "generator wso2 takes no options"},
		{"bad x5t", "x5t sha1", 7, `x5t "sha1": want wso2, rfc7515 or off`},
		{"bad encoding", "encoding hex", 7, `encoding "hex": want base64url or base64`},
		{"bad on_error", "on_error retry", 7, `on_error "retry": want fail or continue`},
		{"bad cache", "cache on", 7, `cache: want "cache off" or a block`},
		{"bad eviction_factor", "cache {\n\teviction_factor 2\n}", 8, `eviction_factor "2"`},
		{"key_rotation with signing_key", "signing_key " + rsa2048 + "\nkey_rotation 24h", 8, "key_rotation rotates the managed key"},
		{"key_rotation with algorithm none", "key_rotation 24h\nalgorithm none", 7, "key_rotation rotates the managed key"},
		{"key_rotation too short", "key_rotation 500ms", 7, "key_rotation 500ms: want at least 1s"},
		{"key_rotation not a duration", "key_rotation daily", 7, `key_rotation "daily": want a duration`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantAdaptError(t, ":8080 {\n\tbackend_jwt {\n\t\tissuer x {\n\t\t\tjwks_url http://127.0.0.1/j\n\t\t}\n\t\tgenerate {\n"+
				indent(indent(indent(tc.body)))+"\n\t\t}\n\t}\n\treverse_proxy localhost:9090\n}\n", tc.line, tc.want)
		})
	}
}

// wantAdaptError checks that adapting text fails with a message that
// contains want and names the line.
func wantAdaptError(t *testing.T, text string, line int, want string) {
	t.Helper()
	_, err := adapt(text)
	if err == nil {
		t.Fatalf("adapted without error:\n%s", text)
	}
	at := fmt.Sprintf(", at Caddyfile:%d", line)
	if !strings.Contains(err.Error(), want) || !strings.HasSuffix(err.Error(), at) {
		t.Fatalf("error %q\nwant it to contain %q and end in %q; config:\n%s", err, want, at, text)
	}
}
