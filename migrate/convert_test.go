package migrate

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func errorsIs(err, target error) bool { return err != nil && errors.Is(err, target) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// oneIssuer is the smallest micro-gw.conf: one issuer by JWKS.
const oneIssuer = `
[[jwtTokenConfig]]
  issuer = "https://km.example.com/oauth2/token"
  jwksURL = "https://km.example.com/oauth2/jwks"
`

// convertText converts TOML text with no stores, PEM paths under /out.
func convertText(t *testing.T, text string) string {
	t.Helper()
	r, err := Convert("micro-gw.conf", []byte(text), Options{OutDir: "/out"})
	if err != nil {
		t.Fatalf("Convert: %v", err)
	}
	return r.Caddyfile
}

// lines are the trimmed lines of a block.
func lines(block string) map[string]bool {
	out := map[string]bool{}
	for _, l := range strings.Split(block, "\n") {
		out[strings.TrimSpace(l)] = true
	}
	return out
}

// checkLines fails unless every want line is in the block and no unwanted
// text is anywhere in it.
func checkLines(t *testing.T, block string, want, notWant []string) {
	t.Helper()
	have := lines(block)
	for _, w := range want {
		if !have[w] {
			t.Errorf("no line %q in:\n%s", w, block)
		}
	}
	for _, n := range notWant {
		if strings.Contains(block, n) {
			t.Errorf("%q should not be in:\n%s", n, block)
		}
	}
}

func TestMicroGatewayMapping(t *testing.T) {
	const generator = `
[jwtGeneratorConfig]
  jwtGeneratorEnabled = true
`
	const retrieval = generator + `
  [jwtGeneratorConfig.claimRetrieval]
    retrieverImpl = "org.wso2.micro.gateway.jwt.generator.MGWClaimRetrieverImpl"
`
	tests := []struct {
		name          string
		conf          string
		want, notWant []string
	}{
		{"issuer and JWKS", oneIssuer, []string{"issuer https://km.example.com/oauth2/token {", "jwks_url https://km.example.com/oauth2/jwks"}, []string{"not converted", "generate"}},
		{"audience, one", oneIssuer + `audience = "http://org.wso2.apimgt/gateway"`, []string{"audience http://org.wso2.apimgt/gateway"}, nil},
		{"audience, several", oneIssuer + `audience = ["a", "b"]`, []string{"audience a b"}, nil},
		{"certificateAlias without a store", oneIssuer + `certificateAlias = "wso2apim310"`, []string{
			"certificate /out/wso2apim310.pem",
			"# export it first: keytool -exportcert -rfc -alias wso2apim310 -keystore TRUSTSTORE -file /out/wso2apim310.pem (or run convert again with --truststore)",
		}, nil},
		{"certificate-only issuer", `[[jwtTokenConfig]]
issuer = "i"
certificateAlias = "a"`, []string{"issuer i {", "certificate /out/a.pem"}, []string{"jwks_url"}},
		{"validateSubscription", oneIssuer + `validateSubscription = true`, []string{"validate_subscription",
			"# api NAME VERSION CONTEXT: add it per route; validate_subscription checks the token's"}, nil},
		{"validateSubscription false", oneIssuer + `validateSubscription = false`, nil, []string{"validate_subscription", "not converted"}},
		{"validateSubscriptions of [security]", oneIssuer + "[security]\nvalidateSubscriptions = true", []string{"validate_subscription"}, []string{"not converted"}},
		{"validateSubscription over [security]", oneIssuer + "validateSubscription = false\n[security]\nvalidateSubscriptions = true", []string{
			"# not converted: security.validateSubscriptions = true"}, []string{"validate_subscription\n"}},
		{"consumerKeyClaim", oneIssuer + `consumerKeyClaim = "aud"`, []string{"consumer_key_claim aud"}, nil},
		{"claims mapping", oneIssuer + `
[[jwtTokenConfig.claims]]
  remoteClaim = "scp"
  localClaim = "scope"
[[jwtTokenConfig.claims]]
  remoteClaim = "FName"
  localClaim = "first name"
[[jwtTokenConfig.claims]]
  remoteClaim = "scp"
  localClaim = "scopes"`, []string{"claim_map scp scope", "claim_map FName `first name`",
			`# not converted: jwtTokenConfig[0].claims[2].remoteClaim = "scp" (this claim is mapped twice; the first mapping is kept)`}, nil},
		{"default claim transformer", oneIssuer + `claimMapperClassName = "org.wso2.micro.gateway.jwtTransformer.DefaultJwtTransformer"`, nil, []string{"not converted"}},
		{"custom claim transformer", oneIssuer + `claimMapperClassName = "com.example.T"`, []string{
			`# not converted: jwtTokenConfig[0].claimMapperClassName = "com.example.T" (a custom claim transformer: claim_map only renames)`}, nil},
		{"remote claims", oneIssuer + `remoteUserClaimRetrievalEnabled = true` + retrieval, []string{"remote_claims", "claims wso2 {",
			"server_url https://localhost:9443", "username admin", "password {env.KM_PASSWORD}"}, []string{"not converted"}},
		{"remote claims without a retriever", oneIssuer + `remoteUserClaimRetrievalEnabled = true` + generator, []string{
			"# not converted: jwtTokenConfig[0].remoteUserClaimRetrievalEnabled = true (no [jwtGeneratorConfig.claimRetrieval] retrieverImpl: MGW retrieves no claims)"},
			[]string{"remote_claims", "claims wso2"}},
		{"remote claims without generation", oneIssuer + `remoteUserClaimRetrievalEnabled = true`, []string{
			"# not converted: jwtTokenConfig[0].remoteUserClaimRetrievalEnabled = true (jwtGeneratorEnabled is not true: retrieved claims go into the generated JWT)"},
			[]string{"remote_claims", "claims wso2"}},
		{"a retriever without remote claims", oneIssuer + retrieval, []string{
			`# not converted: jwtGeneratorConfig.claimRetrieval.retrieverImpl = "org.wso2.micro.gateway.jwt.generator.MGWClaimRetrieverImpl" (no [[jwtTokenConfig]] has remoteUserClaimRetrievalEnabled = true)`},
			[]string{"claims wso2"}},
		{"claim retrieval configuration", oneIssuer + `remoteUserClaimRetrievalEnabled = true` + retrieval + `
    [jwtGeneratorConfig.claimRetrieval.configuration]
      serverUrl = "https://km.example.com"
      username = "claims-reader"
      password = "s3cret"
      extra = 1`, []string{"server_url https://km.example.com", "username claims-reader", "password {env.KM_PASSWORD}",
			"# set KM_PASSWORD to the value of jwtGeneratorConfig.claimRetrieval.configuration.password (not copied here)",
			"# not converted: jwtGeneratorConfig.claimRetrieval.configuration.extra = 1"}, []string{"s3cret"}},
		{"claim retrieval from keyManager and apim.credentials", oneIssuer + `remoteUserClaimRetrievalEnabled = true` + retrieval + `
[keyManager]
  serverUrl = "https://km2.example.com"
  remoteUserClaimRetrievalEnabled = true
[apim.credentials]
  username = "apim-user"
  password = "s3cret"`, []string{"server_url https://km2.example.com", "username apim-user",
			"# set KM_PASSWORD to the value of apim.credentials.password (not copied here)",
			"# not converted: keyManager.remoteUserClaimRetrievalEnabled = true (claim retrieval for opaque tokens, which MGW validated at the key manager)"},
			[]string{"s3cret"}},
		{"claim retrieval, each setting with its fallback", oneIssuer + `remoteUserClaimRetrievalEnabled = true` + retrieval + `
    [jwtGeneratorConfig.claimRetrieval.configuration]
      serverUrl = "https://km3.example.com"
[apim.credentials]
  username = "apim-user"`, []string{"server_url https://km3.example.com", "username apim-user",
			"# set KM_PASSWORD to the password (apim.credentials.password is not set; WSO2's default is admin's)"}, nil},
		{"custom retriever", oneIssuer + `remoteUserClaimRetrievalEnabled = true` + generator + `
  [jwtGeneratorConfig.claimRetrieval]
    retrieverImpl = "com.example.R"`, []string{"claims wso2 {",
			`# not converted: jwtGeneratorConfig.claimRetrieval.retrieverImpl = "com.example.R" (a custom retriever: write a module of http.backend_jwt.retrievers and name it instead of wso2)`}, nil},
		{"header", oneIssuer + "[jwtConfig]\nheader = \"X-Backend\"", []string{"header X-Backend"}, nil},
		{"strip Authorization by default", oneIssuer, []string{"strip_authorization",
			"# MGW removes the Authorization header by default (removeAuthHeaderFromOutMessage = true)"}, nil},
		{"keep Authorization", oneIssuer + "[authConfig]\nremoveAuthHeaderFromOutMessage = false\nauthorizationHeader = \"Authorization\"", nil, []string{"strip_authorization", "not converted"}},
		{"another authorization header", oneIssuer + "[authConfig]\nauthorizationHeader = \"X-Auth\"", []string{"strip_authorization",
			`# not converted: authConfig.authorizationHeader = "X-Auth" (backend_jwt reads Authorization; token_from takes a header that holds the bare token)`}, nil},
		{"server timestampSkew", oneIssuer + "[server]\ntimestampSkew = 2500\n[keyManager]\ntimestampSkew = 9000", []string{"clock_skew 2500ms",
			"# not converted: keyManager.timestampSkew = 9000"}, nil},
		{"keyManager timestampSkew", oneIssuer + "[keyManager]\ntimestampSkew = 60000", []string{"clock_skew 1m"}, nil},
		{"generation off", oneIssuer + "[jwtGeneratorConfig]\njwtGeneratorEnabled = false\nclaimDialect = \"d\"", []string{
			`# not converted: jwtGeneratorConfig.claimDialect = "d" (jwtGeneratorEnabled is not true: no backend JWT is generated)`}, []string{"generate {"}},
		{"generation", oneIssuer + generator + `
  claimDialect = ""
  signingAlgorithm = "SHA256withRSA"
  tokenExpiry = 120000
  restrictedClaims = ["a", "b"]
  issuer = "gw.example.com"
  generatorImpl = "org.wso2.micro.gateway.jwt.generator.MGWJWTGeneratorImpl"`, []string{"generate {", "issuer gw.example.com", "dialect ``",
			"expiry 2m", "restricted_claims a b",
			"# no privateKeyAlias: MGW signed with its keystore's key \"ballerina\"; without signing_key,"}, []string{"not converted", "algorithm", "signing_key /"}},
		{"generator audience", oneIssuer + generator + `audience = ["http://org.wso2.apimgt/gateway"]`, []string{"audience http://org.wso2.apimgt/gateway",
			"# MGW stored this audience but never wrote it into the JWT; with this line the backend"}, nil},
		{"signing aliases without a keystore", oneIssuer + generator + `
  certificateAlias = "ballerina"
  privateKeyAlias = "ballerina"
[listenerConfig]
  keyStorePath = "/opt/mgw/ks.p12"`, []string{"signing_key /out/ballerina.key", "certificate /out/ballerina.pem",
			"# certificate: export it first: keytool -exportcert -rfc -alias ballerina -keystore /opt/mgw/ks.p12 -file /out/ballerina.pem"}, nil},
		{"algorithm NONE", oneIssuer + generator + `
  signingAlgorithm = "NONE"
  certificateAlias = "ballerina"
  privateKeyAlias = "ballerina"`, []string{"algorithm none",
			`# not converted: jwtGeneratorConfig.privateKeyAlias = "ballerina" (signingAlgorithm is NONE: nothing is signed)`}, []string{"signing_key"}},
		{"unknown algorithm", oneIssuer + generator + `signingAlgorithm = "SHA512withRSA"`, []string{
			`# not converted: jwtGeneratorConfig.signingAlgorithm = "SHA512withRSA" (MGW signs with SHA256withRSA or NONE)`}, nil},
		{"custom generator", oneIssuer + generator + `generatorImpl = "com.example.G"`, []string{
			`# not converted: jwtGeneratorConfig.generatorImpl = "com.example.G" (a custom generator: write a module of http.backend_jwt.generators and name it with generate { generator NAME })`}, nil},
		{"cache", oneIssuer + generator + `
  [jwtGeneratorConfig.jwtGeneratorCaching]
    tokenCacheEnable = true
    tokenCacheExpiryTime = 3600000
    tokenCacheCapacity = 500
    tokenCacheEvictionFactor = 0.5`, []string{"cache {", "expiry 1h", "capacity 500", "eviction_factor 0.5"}, []string{"not converted"}},
		{"cache off", oneIssuer + generator + `
  [jwtGeneratorConfig.jwtGeneratorCaching]
    tokenCacheEnable = false
    tokenCacheCapacity = 500`, []string{"cache off",
			"# not converted: jwtGeneratorConfig.jwtGeneratorCaching.tokenCacheCapacity = 500 (tokenCacheEnable is false)"}, nil},
		{"bad eviction factor", oneIssuer + generator + `
  [jwtGeneratorConfig.jwtGeneratorCaching]
    tokenCacheEvictionFactor = 2`, []string{
			"# not converted: jwtGeneratorConfig.jwtGeneratorCaching.tokenCacheEvictionFactor = 2 (want a share above 0 and at most 1)"}, []string{"cache {"}},
		{"API keys", oneIssuer + `
[[apikey.tokenConfigs]]
  issuer = "https://localhost:9095/apikey"
  certificateAlias = "k1"
  validateAllowedAPIs = true
[[apikey.tokenConfigs]]
  certificateAlias = "k2"`, []string{"api_keys {", "certificate /out/k1.pem", "certificate /out/k2.pem", "validate_subscription",
			`# not converted: apikey.tokenConfigs[0].issuer = "https://localhost:9095/apikey" (api_keys trusts a key by its signing certificate, whatever its iss)`}, nil},
		{"event hub", oneIssuer + `
[apim.eventHub]
  enable = true
  serviceUrl = "https://apim.example.com:9443"
  internalDataContext = "/internal/data/v1/"
  username = "apim"
  password = "s3cret"
  eventListeningEndpoints = "amqp://admin:s3cret@carbon/carbon?brokerlist='tcp://localhost:5672'"`, []string{"api_manager {",
			"server_url https://apim.example.com:9443", "username apim", "password {env.APIM_PASSWORD}",
			"# set APIM_PASSWORD to the value of apim.eventHub.password (not copied here)",
			`# not converted: apim.eventHub.eventListeningEndpoints = "amqp://admin:<redacted>@carbon/carbon?brokerlist='tcp://localhost:5672'" (backend_jwt re-reads API Manager's data every refresh instead of listening to its events)`},
			[]string{"s3cret"}},
		{"event hub over http", oneIssuer + `
[apim.eventHub]
  enable = true
  serviceUrl = "http://apim.example.com:9763"`, []string{
			`# not converted: apim.eventHub.serviceUrl = "http://apim.example.com:9763" (server_url "http://apim.example.com:9763": want https (http only for a loopback host): Basic credentials would travel in clear text)`},
			[]string{"api_manager"}},
		{"event hub off", oneIssuer + "[apim.eventHub]\nenable = false\nserviceUrl = \"https://x\"", []string{
			`# not converted: apim.eventHub.serviceUrl = "https://x" (the event hub is not enabled)`}, []string{"api_manager"}},
		{"an issuer without a key source", oneIssuer + "[[jwtTokenConfig]]\nissuer = \"https://other\"\naudience = \"a\"", []string{
			"# jwtTokenConfig[1]: not converted: it has neither jwksURL nor certificateAlias: backend_jwt needs a key source",
			`# not converted: jwtTokenConfig[1].issuer = "https://other" (issuer not converted: it has neither jwksURL nor certificateAlias: backend_jwt needs a key source)`},
			[]string{"issuer https://other"}},
		{"an issuer twice", oneIssuer + oneIssuer, []string{
			"# jwtTokenConfig[1]: not converted: issuer https://km.example.com/oauth2/token is configured twice"}, nil},
		{"a single [jwtTokenConfig] table", "[jwtTokenConfig]\nissuer = \"i\"\njwksURL = \"https://j\"", []string{"issuer i {", "jwks_url https://j"}, nil},
		{"unknown settings", oneIssuer + "[b7a.users.admin]\npassword = \"x\"\n[httpClients]\nverifyHostname = true", []string{
			"# not converted: b7a.users.admin.password = <redacted>", "# not converted: httpClients.verifyHostname = true"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLines(t, convertText(t, tt.conf), tt.want, tt.notWant)
		})
	}
}

func TestAPIManagerMapping(t *testing.T) {
	const jwt = "[apim.jwt]\nenable = true\n"
	tests := []struct {
		name          string
		conf          string
		want, notWant []string
	}{
		{"resident key manager from [server]", "[server]\nhostname = \"apim.example.com\"\noffset = 1", []string{
			"issuer https://apim.example.com:9444/oauth2/token {", "jwks_url https://apim.example.com:9444/oauth2/jwks", "strip_authorization",
			"# API Manager removes the Authorization header by default (remove_outbound_auth_header = true)"},
			[]string{"validate_subscription", "generate", "not converted"}},
		{"resident key manager from service_url", "[apim.key_manager]\nservice_url = \"https://km.example.com:${mgt.transport.https.port}${carbon.context}services/\"\nusername = \"admin\"", []string{
			"issuer https://km.example.com:9443/oauth2/token {", "jwks_url https://km.example.com:9443/oauth2/jwks",
			`# not converted: apim.key_manager.username = "admin" (the key manager's own settings: backend_jwt validates its JWTs with its JWKS)`}, nil},
		{"other issuers", `[[apim.jwt.issuer]]
name = "https://idp.example.com"
consumer_key_claim = "client_id"
[apim.jwt.issuer.jwks]
url = "https://idp.example.com/jwks"
[[apim.jwt.issuer.claim_mapping]]
remote_claim = "given"
local_claim = "http://wso2.org/claims/givenname"
[[apim.jwt.issuer]]
name = "https://nokeys.example.com"`, []string{"issuer https://idp.example.com {", "jwks_url https://idp.example.com/jwks", "consumer_key_claim client_id",
			"claim_map given http://wso2.org/claims/givenname", "issuer https://localhost:9443/oauth2/token {",
			"# apim.jwt.issuer[1]: not converted: it has no jwks url (a certificate in API Manager's trust store, by kid, is not converted)"}, nil},
		{"generation", jwt + `claim_dialect = "http://example.com/claims"
convert_dialect = true
header = "X-Backend"
[apim.jwt.gateway_generator]
impl = "org.wso2.carbon.apimgt.common.gateway.jwtgenerator.APIMgtGatewayJWTGeneratorImpl"
excluded_claims = ["scope", "azp"]`, []string{"generate {", "encoding base64", "dialect http://example.com/claims", "convert_dialect",
			"header X-Backend", "restricted_claims scope azp", "signing_key /out/wso2carbon.key", "certificate /out/wso2carbon.pem",
			"# API Manager encodes the backend JWT in base64 unless apim.jwt.encoding is base64url"}, []string{"not converted"}},
		{"base64url", jwt + `encoding = "base64url"`, []string{"encoding base64url"}, nil},
		{"primary keystore alias", jwt + "[keystore.primary]\nfile_name = \"gw.jks\"\nalias = \"gw\"\npassword = \"s3cret\"", []string{
			"signing_key /out/gw.key", "certificate /out/gw.pem", "# not converted: keystore.primary.password = <redacted>",
			"# certificate: export it first: keytool -exportcert -rfc -alias gw -keystore repository/resources/security/gw.jks -file /out/gw.pem"},
			[]string{"s3cret"}},
		{"no signing", jwt + `signing_algorithm = "NONE"`, []string{"algorithm none"}, []string{"signing_key"}},
		{"custom gateway generator", jwt + "[apim.jwt.gateway_generator]\nimpl = \"com.example.G\"", []string{
			`# not converted: apim.jwt.gateway_generator.impl = "com.example.G" (a custom generator: write a module of http.backend_jwt.generators and name it with generate { generator NAME })`}, nil},
		{"opaque-token settings", jwt + "enable_user_claims = true\ngenerator_impl = \"org.wso2.carbon.apimgt.keymgt.token.JWTGenerator\"", []string{
			"# not converted: apim.jwt.enable_user_claims = true (user-store claims: claims wso2 and an issuer's remote_claims add a user's claims)",
			`# not converted: apim.jwt.generator_impl = "org.wso2.carbon.apimgt.keymgt.token.JWTGenerator" (the key manager's generator for opaque tokens; the gateway's is gateway_generator.impl)`}, nil},
		{"generation off", "[apim.jwt]\nenable = false\nheader = \"X-B\"\nclaim_dialect = \"d\"", []string{"header X-B",
			`# not converted: apim.jwt.claim_dialect = "d" (apim.jwt.enable is not true: no backend JWT is generated)`}, []string{"generate {"}},
		{"keep Authorization", "[apim.oauth_config]\nremove_outbound_auth_header = false", nil, []string{"strip_authorization"}},
		{"keep Authorization, 3.x", "[apim.oauth_config]\nenable_outbound_auth_header = true", nil, []string{"strip_authorization"}},
		{"event hub", `[super_admin]
username = "root"
password = "s3cret"
[apim.event_hub]
enable = true
service_url = "https://cp.example.com:${mgt.transport.https.port}/services/"
username = "$ref{super_admin.username}"
password = "$ref{super_admin.password}"
event_listening_endpoints = ["tcp://admin:s3cret@cp.example.com:5672"]`, []string{"api_manager {", "server_url https://cp.example.com:9443", "username root",
			"password {env.APIM_PASSWORD}", "validate_subscription",
			`# not converted: apim.event_hub.event_listening_endpoints = ["tcp://admin:<redacted>@cp.example.com:5672"] (backend_jwt re-reads API Manager's data every refresh instead of listening to its events)`},
			[]string{"s3cret"}},
		{"event hub password from the environment", "[apim.event_hub]\nenable = true\nservice_url = \"https://cp.example.com\"\nusername = \"u\"\npassword = \"$env{CP_PASSWORD}\"", []string{
			"password {env.CP_PASSWORD}", "# the password is read from CP_PASSWORD, as apim.event_hub.password read it"}, nil},
		{"event hub user from [super_admin]", "[super_admin]\nusername = \"root\"\n[apim.event_hub]\nenable = true\nservice_url = \"https://cp.example.com\"\nusername = \"${admin.username}\"", []string{
			"username root"}, nil},
		{"event hub user unresolved", "[apim.event_hub]\nenable = true\nservice_url = \"https://cp.example.com\"\nusername = \"$ref{nowhere.user}\"", []string{
			"username {env.APIM_USERNAME}"}, nil},
		{"event hub off", "[apim.event_hub]\nenable = false\nservice_url = \"https://cp\"", []string{
			`# not converted: apim.event_hub.service_url = "https://cp" (the event hub is not enabled)`}, []string{"api_manager", "validate_subscription"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Convert("deployment.toml", []byte(tt.conf), Options{OutDir: "/out"})
			if err != nil {
				t.Fatalf("Convert: %v", err)
			}
			if r.Kind != APIManager {
				t.Fatalf("kind %s", r.Kind)
			}
			checkLines(t, r.Caddyfile, tt.want, tt.notWant)
		})
	}
}

func TestRedaction(t *testing.T) {
	const secret = "Zq9-s3cret"
	conf := oneIssuer + `
[listenerConfig]
  keyStorePassword = "` + secret + `"
  trustStorePassword = "` + secret + `"
[keymanager.security.oauth2.clientCredential]
  clientSecret = "` + secret + `"
[keymanager.security.oauth2.directToken]
  accessToken = "` + secret + `"
[throttlingConfig]
  throttleEndpointbase64Header = "admin:` + secret + `"
  jmsConnectionProviderUrl = "amqp://admin:` + secret + `@carbon/carbon"
[custom]
  inline = {user = "u", password = "` + secret + `"}
  list = ["https://u:` + secret + `@host/x"]
  pem = "-----BEGIN PRIVATE KEY-----\nMII` + secret + `\n-----END PRIVATE KEY-----"
  multiline = "a\nb"
[encryption]
  key = "` + secret + `"
`
	out := convertText(t, conf)
	if strings.Contains(out, secret) {
		t.Fatalf("a secret is in the output:\n%s", out)
	}
	checkLines(t, out, []string{
		"# not converted: listenerConfig.keyStorePassword = <redacted>",
		"# not converted: keymanager.security.oauth2.clientCredential.clientSecret = <redacted>",
		"# not converted: keymanager.security.oauth2.directToken.accessToken = <redacted>",
		"# not converted: throttlingConfig.throttleEndpointbase64Header = <redacted>",
		`# not converted: throttlingConfig.jmsConnectionProviderUrl = "amqp://admin:<redacted>@carbon/carbon"`,
		`# not converted: custom.inline.password = <redacted>`,
		`# not converted: custom.inline.user = "u"`,
		`# not converted: custom.list = ["https://u:<redacted>@host/x"]`,
		"# not converted: custom.pem = <redacted>",
		`# not converted: custom.multiline = "a\nb"`,
		"# not converted: encryption.key = <redacted>",
	}, nil)
}

func TestConvertErrors(t *testing.T) {
	tests := []struct {
		name, file, text string
		want             string
		wantErr          error
	}{
		{"TOML syntax", "bad.conf", "[[jwtTokenConfig]]\nissuer = = \"x\"\n", "bad.conf:2: TOML syntax error: expected value but found '=' instead", nil},
		{"TOML duplicate key", "dup.conf", "[jwtConfig]\nheader = \"a\"\nheader = \"b\"\n", "dup.conf:3: TOML syntax error", nil},
		{"unknown kind", "other.toml", "[something]\nx = 1\n", "other.toml: unknown kind of file: neither a micro-gw.conf", ErrUnknownKind},
		{"both kinds", "mixed.toml", oneIssuer + "[apim.jwt]\nenable = true\n", "tables of both", ErrUnknownKind},
		{"no usable issuer", "micro-gw.conf", "[jwtConfig]\nheader = \"x\"\n[[jwtTokenConfig]]\nissuer = \"i\"\n", "no [[jwtTokenConfig]] with an issuer and a key source", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Convert(tt.file, []byte(tt.text), Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v is not %v", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error of more than one line: %q", err)
			}
		})
	}
}

// TestConvertWithStores exports the aliases a micro-gw.conf names from a
// JKS trust store and a PKCS#12 keystore.
func TestConvertWithStores(t *testing.T) {
	testKeys(t)
	issuerCert := selfSigned(t, rsaA, "issuer")
	gwCert := selfSigned(t, rsaB, "gateway")
	otherCert := selfSigned(t, ecKey, "other")
	ts := openStore(t, makeJKS(t, "tspass", jksEntry{alias: "wso2apim310", cert: issuerCert}, jksEntry{alias: "apikeys", cert: otherCert}), "tspass")
	p12 := openStore(t, makePKCS12(t, "kspass", rsaB, gwCert), "kspass")
	jksKeys := openStore(t, makeJKS(t, "kspass",
		jksEntry{alias: "gateway", cert: gwCert, key: rsaB},
		jksEntry{alias: "ec", cert: otherCert, key: ecKey},
		jksEntry{alias: "small", cert: selfSigned(t, rsa1k, "small"), key: rsa1k},
		jksEntry{alias: "other", cert: issuerCert}), "kspass")
	conf := func(keyAlias, certAlias string) string {
		return `
[[jwtTokenConfig]]
  issuer = "https://km.example.com/oauth2/token"
  certificateAlias = "wso2apim310"
[apikey.tokenConfigs]
  certificateAlias = "WSO2APIM310"
[jwtGeneratorConfig]
  jwtGeneratorEnabled = true
  privateKeyAlias = "` + keyAlias + `"
  certificateAlias = "` + certAlias + `"
`
	}
	tests := []struct {
		name          string
		keystore      *Store
		keyAlias      string
		certAlias     string
		want, notWant []string
		files         map[string]os.FileMode
	}{
		{"PKCS#12 keystore", p12, "ballerina", "ballerina", []string{"signing_key OUT/ballerina.key", "certificate OUT/ballerina.pem"},
			[]string{"algorithm"}, map[string]os.FileMode{"wso2apim310.pem": 0o644, "ballerina.key": 0o600, "ballerina.pem": 0o644}},
		{"JKS keystore", jksKeys, "gateway", "gateway", []string{"signing_key OUT/gateway.key", "certificate OUT/gateway.pem"}, []string{"not converted"},
			map[string]os.FileMode{"gateway.key": 0o600, "gateway.pem": 0o644}},
		{"ECDSA key", jksKeys, "ec", "ec", []string{"algorithm ES256", "signing_key OUT/ec.key", "certificate OUT/ec.pem"}, nil, nil},
		{"a certificate of another key", jksKeys, "gateway", "other", []string{"signing_key OUT/gateway.key",
			`# not converted: jwtGeneratorConfig.certificateAlias = "other" (not the certificate of alias gateway's key; backend_jwt needs the signing key's own certificate)`},
			[]string{"certificate OUT/other.pem"}, nil},
		{"a key too small", jksKeys, "small", "small", []string{
			"# alias small's key is RSA of 1024 bits (backend_jwt needs at least 2048): backend_jwt signs with a managed key instead (publish it with jwks_path)"},
			[]string{"signing_key OUT"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			r, err := Convert("micro-gw.conf", []byte(conf(tt.keyAlias, tt.certAlias)), Options{OutDir: out, Truststore: ts, Keystore: tt.keystore})
			if err != nil {
				t.Fatal(err)
			}
			block := strings.ReplaceAll(r.Caddyfile, out, "OUT")
			checkLines(t, block, append(tt.want, "certificate OUT/wso2apim310.pem"), tt.notWant)
			if strings.Count(block, "certificate OUT/wso2apim310.pem") != 2 {
				t.Errorf("the issuer and api_keys should share one certificate file:\n%s", block)
			}
			if err := r.WriteFiles(); err != nil {
				t.Fatal(err)
			}
			for name, mode := range tt.files {
				st, err := os.Stat(filepath.Join(out, name))
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode().Perm() != mode {
					t.Errorf("%s: mode %o, want %o", name, st.Mode().Perm(), mode)
				}
			}
			if tt.files == nil {
				return
			}
			issuerPEM, _ := os.ReadFile(filepath.Join(out, "wso2apim310.pem"))
			if b, _ := pem.Decode(issuerPEM); b == nil || string(b.Bytes) != string(issuerCert.Raw) {
				t.Error("wso2apim310.pem is not the issuer's certificate")
			}
			keyPEM, _ := os.ReadFile(filepath.Join(out, tt.keyAlias+".key"))
			b, _ := pem.Decode(keyPEM)
			if b == nil || b.Type != "PRIVATE KEY" {
				t.Fatalf("the key file is not PKCS#8 PEM: %q", keyPEM)
			}
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil || !rsaB.Equal(k) {
				t.Fatalf("the key file does not hold the keystore's key: %v", err)
			}
		})
	}
}

func TestConvertStoreErrors(t *testing.T) {
	testKeys(t)
	ts := openStore(t, makeJKS(t, "tspass", jksEntry{alias: "wso2apim310", cert: selfSigned(t, rsaA, "issuer")}), "tspass")
	tests := []struct {
		name, conf, want string
	}{
		{"unknown issuer alias", "[[jwtTokenConfig]]\nissuer = \"i\"\ncertificateAlias = \"nope\"", `jwtTokenConfig[0].certificateAlias: JKS `},
		{"unknown API-key alias", oneIssuer + "[apikey.tokenConfigs]\ncertificateAlias = \"nope\"", `apikey.tokenConfigs.certificateAlias: JKS `},
		{"unknown key alias", oneIssuer + "[jwtGeneratorConfig]\njwtGeneratorEnabled = true\nprivateKeyAlias = \"nope\"", `jwtGeneratorConfig.privateKeyAlias/certificateAlias: JKS `},
		{"a certificate as the key", oneIssuer + "[jwtGeneratorConfig]\njwtGeneratorEnabled = true\nprivateKeyAlias = \"wso2apim310\"", `alias "wso2apim310": a certificate, not a private key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Convert("micro-gw.conf", []byte(tt.conf), Options{OutDir: t.TempDir(), Truststore: ts, Keystore: ts})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if strings.Contains(tt.name, "unknown") && !errors.Is(err, ErrUnknownAlias) {
				t.Fatalf("error %v is not ErrUnknownAlias", err)
			}
		})
	}
}

// TestSamples converts the sample files: every setting becomes a directive
// or a comment, and no password of theirs is printed.
func TestSamples(t *testing.T) {
	for _, tt := range []struct {
		file string
		kind Kind
		want []string
	}{
		{"../examples/wso2/micro-gw.conf", MicroGateway, []string{"issuer https://localhost:9443/oauth2/token {", "issuer https://idp.example.com/issuer {",
			"remote_claims", "claims wso2 {", "api_keys {", "generate {", "cache {", "clock_skew 5s", "header X-JWT-Assertion", "strip_authorization"}},
		{"../examples/wso2/deployment.toml", APIManager, []string{"issuer https://cp.example.com:9443/oauth2/token {", "generate {", "api_manager {",
			"encoding base64url", "convert_dialect", "restricted_claims scope azp", "server_url https://cp.example.com:9443"}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			r, err := ConvertFile(tt.file, Options{OutDir: "/out"})
			if err != nil {
				t.Fatal(err)
			}
			if r.Kind != tt.kind {
				t.Errorf("kind %s, want %s", r.Kind, tt.kind)
			}
			checkLines(t, r.Caddyfile, tt.want, []string{"db-secret", "wso2carbon\"", "ballerina\"", `password = "`})
			data, _ := os.ReadFile(tt.file)
			d, err := parseDocument(tt.file, data)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := strings.Count(r.Caddyfile, "# not converted: "), len(d.settings); got >= want {
				t.Errorf("%d of %d settings not converted", got, want)
			}
		})
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		path  string
		value any
		want  string
	}{
		{"a.b", "x\ty", `"x\ty"`},
		{"a.b", int64(-3), "-3"},
		{"a.b", 0.5, "0.5"},
		{"a.b", true, "true"},
		{"a.b", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), "2024-01-02T03:04:05Z"},
		{"a.b", []any{"x", int64(1), []any{false}}, `["x", 1, [false]]`},
		{"a.b", map[string]any{"z": int64(1), "secret": "s", "a": "amqp://u:p@h"}, `{a = "amqp://u:<redacted>@h", secret = <redacted>, z = 1}`},
		{"a.b", []map[string]any{{"k": "v"}}, `[{k = "v"}]`},
		{"a.keyStorePassword", "x", redacted},
		{"a.privateKeyAlias", "ballerina", `"ballerina"`},
		{"a[0].password", int64(1234), redacted},
		{"a.cert", "-----BEGIN CERTIFICATE-----", redacted},
	}
	for _, tt := range tests {
		if got := displayValue(tt.path, tt.value); got != tt.want {
			t.Errorf("displayValue(%s, %v) = %s, want %s", tt.path, tt.value, got, tt.want)
		}
	}
}

func TestQuoteAndDurations(t *testing.T) {
	for in, want := range map[string]string{
		"plain": "plain", "": "``", "two words": "`two words`", "#x": "`#x`", "a{b}": "`a{b}`",
		"back`tick and \"quote\"": `"back` + "`" + `tick and \"quote\""`, env("X"): "{env.X}",
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
	for ms, want := range map[int64]string{0: "0s", 5000: "5s", 2500: "2500ms", 900000: "15m", 7200000: "2h", 90000: "90s"} {
		if got := millis(ms); got != want {
			t.Errorf("millis(%d) = %s, want %s", ms, got, want)
		}
	}
}

// TestFileSizeBound: a configuration or store over 16 MiB is refused
// before it is read whole.
func TestFileSizeBound(t *testing.T) {
	big := filepath.Join(t.TempDir(), "micro-gw.conf")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(maxFileSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := ConvertFile(big, Options{}); err == nil || !strings.Contains(err.Error(), "over 16 MiB") {
		t.Errorf("ConvertFile: %v, want over 16 MiB", err)
	}
	if _, err := OpenStore(big, "changeit"); err == nil || !strings.Contains(err.Error(), "over 16 MiB") {
		t.Errorf("OpenStore: %v, want over 16 MiB", err)
	}
}
