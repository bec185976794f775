package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// fuzzSeedBlocks are backend_jwt blocks like those of
// caddyfile_test/testdata/adapt, with file names relative to this package.
// The checked-in corpus (testdata/fuzz/FuzzCaddyfile) holds those blocks
// themselves.
var fuzzSeedBlocks = []string{
	`backend_jwt {
	issuer https://localhost:9443/oauth2/token {
		audience http://org.wso2.apimgt/gateway
		audience second third
		jwks_url https://localhost:9443/oauth2/jwks
		certificate ../caddyfile_test/testdata/issuer.pem
		algorithms RS256 PS256 ES256 EdDSA RS512
		validate_subscription
		remote_claims
	}
	clock_skew 5s
	jwks_refresh 15m
	jwks_min_refresh 30s
	max_token_size 64KiB
	validation_cache 0
	api PizzaShackAPI 1.0.0 /pizzashack
	header X-Backend-Token
	strip_authorization
	error_response caddy
	generate {
		issuer gateway.example.com
		audience backend-a backend-b
		dialect http://example.com/claims/
		algorithm ES256
		signing_key ../caddyfile_test/testdata/backend.key
		certificate ../caddyfile_test/testdata/backend.crt
		x5t rfc7515
		x5c
		expiry 10m
		restricted_claims scope azp
		encoding base64
		cache {
			expiry 5m
			capacity 500
			eviction_factor 0.5
		}
		on_error continue
		generator wso2
	}
	claims wso2 {
		server_url https://localhost:9443
		username admin
		password {env.KM_PASSWORD}
		ca_cert ../caddyfile_test/testdata/issuer.pem
		timeout 3s
		cache_expiry 10m
		cache_capacity 500
		on_error fail
	}
	jwks_path /.well-known/backend-jwks.json
}`,
	"backend_jwt {\n\tissuer a {\n\t\tjwks_url https://a/jwks\n\t}\n\tgenerate {\n\t\taudience\n\t\tdialect \"\"\n\t\talgorithm NONE\n\t\tcache off\n\t}\n}",
	"backend_jwt /api/* {\n\tissuer a {\n\t\tjwks_url u\n\t}\n}",
	"backend_jwt {\n\tissuer a {\n\t\tcertificate ../caddyfile_test/testdata/garbage.pem\n\t}\n}",
	"backend_jwt {\n\tissuer a {\n\t\tjwks_url u\n\t\talgorithms HS256 none\n\t}\n\tissuer a {\n\t\tjwks_url u\n\t}\n}",
	"backend_jwt {\n\tissuer `a b` {\n\t\tjwks_url <<EOF\n\t\tu\n\t\tEOF\n\t}\n\tmax_token_size 2GiB\n}",
	"backend_jwt {\n\tissuer {\n\t}\n\tgenerate {\n\t\tgenerator\n\t}\n\tclaims nosuchmodule\n}",
	"backend_jwt {\n\tissuer a { jwks_url u }\n\tgenerate { cache { capacity 0 eviction_factor NaN } }\n}",
	"backend_jwt {\n\tissuer a {\n\t\tjwks_url u\n\t}\n\tjwks_timeout 3s\n\tgenerate {\n\t\talgorithm EdDSA\n\t\tkey_rotation 24h\n\t}\n}",
	"backend_jwt {\n\tissuer a {\n\t\tjwks_url u\n\t}\n\tgenerate {\n\t\tkey_rotation 1s\n\t\tsigning_key ../caddyfile_test/testdata/backend.key\n\t}\n}",
	"backend_jwt",
	"",
	"backend_jwt {\n\t{\n}\n}",
}

// FuzzCaddyfile gives UnmarshalCaddyfile arbitrary text as a backend_jwt
// block. It never panics; errors are fine. A block it accepts has an
// issuer and marshals to JSON.
//
// The text is tokenized with caddyfile.Tokenize and dispensed with
// caddyfile.NewDispenser: that is caddyfile.NewTestDispenser without
// {$ENV} substitution, which calls log.Fatalf (ending the whole process)
// on text that does not tokenize, such as an unterminated heredoc. Texts
// naming a file under /dev, /proc or /sys are skipped: the handler reads
// the certificate and key files it is given, and reading /dev/zero never
// ends.
func FuzzCaddyfile(f *testing.F) {
	for _, s := range fuzzSeedBlocks {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		tokens, err := caddyfile.Tokenize([]byte(input), "Caddyfile")
		if err != nil {
			return
		}
		for _, tok := range tokens {
			for _, dir := range []string{"/dev", "/proc", "/sys"} {
				if strings.Contains(tok.Text, dir) {
					return
				}
			}
		}
		h := new(Handler)
		if err := h.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err != nil {
			return
		}
		if len(h.Issuers) == 0 {
			t.Fatal("accepted without an issuer")
		}
		if _, err := json.Marshal(h); err != nil {
			t.Fatalf("the accepted config does not marshal: %v", err)
		}
	})
}
