package caddymodule

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/apimdata"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/jwtgen"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/validator"
)

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	backend_jwt [<matcher>] {
//		issuer <iss> {
//			audience <aud...>
//			jwks_url <url>
//			certificate <pem file>          # repeatable
//			algorithms <alg...>
//			validate_subscription
//			remote_claims
//			consumer_key_claim <claim>      # default: azp, then aud
//			claim_map <remote> <local>      # repeatable
//			introspection {                 # opaque access tokens (RFC 7662)
//				url <url>
//				client_id <id>
//				client_secret <secret>
//				ca_cert <pem file>
//				timeout <duration>          # default: 5s
//				token_pattern <regexp>      # the opaque tokens this issuer takes
//				cache_ttl <duration>        # default: 5m
//				negative_ttl <duration>     # default: 10s
//				max_concurrent <calls>      # default: 32
//			}
//		}
//		api_keys {                          # WSO2 API keys
//			header <field>|off              # default: apikey
//			query <parameter>|off           # default: apikey
//			certificate <pem file>          # repeatable; at least one
//			validate_subscription
//		}
//		token_from header|query|cookie <name>   # repeatable
//		require_scopes <scope...>               # repeatable
//		clock_skew <duration>
//		jwks_refresh <duration>
//		jwks_min_refresh <duration>
//		jwks_timeout <duration>
//		max_token_size <size>
//		validation_cache <entries>
//		api <name> <version> [<context>]
//		header <field>
//		strip_authorization
//		generate {
//			issuer <iss>
//			audience [<aud...>]               # no argument: no aud claim
//			dialect <prefix>
//			algorithm RS256|SHA256withRSA|PS256|ES256|EdDSA|none|NONE
//			signing_key <pem file>
//			key_rotation <duration>          # the managed key only
//			certificate <pem file>
//			x5t wso2|rfc7515|off
//			x5c
//			expiry <duration>
//			restricted_claims <claim...>
//			convert_dialect                   # OIDC claim names to the dialect's
//			dialect_map <oidc name> <local name>   # repeatable
//			include_claims <claim...>         # copy only these
//			claim <name> <value> [string|int|float|bool|json]  # repeatable
//			encoding base64url|base64
//			cache off | cache {
//				expiry <duration>
//				capacity <tokens>
//				eviction_factor <share>
//			}
//			on_error fail|continue
//			generator <module> [{ ... }]   # the built-in one: wso2
//		}
//		claims <retriever module> {     # the built-in one: wso2
//			...                          # the module's options
//		}
//		api_manager {
//			server_url <url>
//			username <user>
//			password <password>
//			ca_cert <pem file>
//			tenant <tenant domain>          # default: carbon.super
//			key_manager <name>              # default: all
//			refresh <duration>              # default: 30s, at least 1s
//			timeout <duration>              # default: 10s
//			max_data_size <size>            # default: 128MiB
//			tenant_id <id>                  # default: -1234 for carbon.super, else -1
//		}
//		revocation_sync <duration>        # default: 10s, at least 1s
//		jwks_path <path>
//		error_response wso2|caddy
//	}
//
// Problems that can be seen here (an unreadable certificate, an algorithm
// that is not allowed, no issuer) are reported with the file and line.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	file, line := d.File(), d.Line()
	if d.NextArg() {
		return d.ArgErr()
	}
	// Where the lines that the checks after the block judge are.
	var claimsAt, jwksPathAt caddyfile.Dispenser
	remoteClaimsAt := map[string]caddyfile.Dispenser{} // by issuer
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "issuer":
			err = h.unmarshalIssuer(d, remoteClaimsAt)
		case "clock_skew":
			err = parseDuration(d, &h.ClockSkew)
		case "jwks_refresh":
			err = parseDuration(d, &h.JWKSRefresh)
		case "jwks_min_refresh":
			err = parseDuration(d, &h.JWKSMinRefresh)
		case "jwks_timeout":
			err = parseDuration(d, &h.JWKSTimeout)
		case "max_token_size":
			var size int64
			if size, err = parseSize(d, 1<<30, "64KiB"); err == nil {
				h.MaxTokenSize = int(size)
			}
		case "validation_cache":
			var arg string
			if arg, err = singleArg(d); err == nil {
				n, perr := strconv.Atoi(arg)
				if perr != nil || n < 0 {
					return d.Errf("validation_cache %q: want a number of entries (0 turns the cache off)", arg)
				}
				h.ValidationCache = &n
			}
		case "api":
			args := d.RemainingArgs()
			if len(args) < 2 || len(args) > 3 {
				return d.Errf("api: want <name> <version> [<context>], got %d arguments", len(args))
			}
			h.API = &APIConfig{Name: args[0], Version: args[1]}
			if len(args) == 3 {
				h.API.Context = args[2]
			}
		case "header":
			if h.Header, err = singleArg(d); err == nil {
				if cerr := checkBackendJWTHeader(h.Header); cerr != nil {
					return d.Errf("%v", cerr)
				}
			}
		case "strip_authorization":
			err = flag(d, &h.StripAuthorization)
		case "generate":
			err = h.unmarshalGenerate(d)
		case "claims":
			if h.ClaimsRaw != nil {
				return d.Err("claims is configured twice")
			}
			claimsAt = *d
			var mod caddyfile.Unmarshaler
			if mod, h.ClaimsRaw, err = unmarshalGuest(d, RetrieversNamespace, "retriever"); err == nil {
				if _, ok := mod.(ClaimsRetriever); !ok {
					return d.Errf("module %T is not a claims retriever", mod)
				}
			}
		case "api_manager":
			err = h.unmarshalAPIManager(d)
		case "api_keys":
			err = h.unmarshalAPIKeys(d)
		case "token_from":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.ArgErr()
			}
			if args[0] != sourceHeader && args[0] != sourceQuery && args[0] != sourceCookie {
				return d.Errf("token_from %q: want header, query or cookie", args[0])
			}
			h.TokenFrom = append(h.TokenFrom, TokenSource{Source: args[0], Name: args[1]})
		case "require_scopes":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			if slices.Contains(args, "") {
				return d.Err("require_scopes: a scope is empty")
			}
			h.RequireScopes = append(h.RequireScopes, args...)
		case "revocation_sync":
			if err = parseDuration(d, &h.RevocationSync); err == nil && time.Duration(h.RevocationSync) < time.Second {
				return d.Errf("revocation_sync %v: must be at least 1s", time.Duration(h.RevocationSync))
			}
		case "jwks_path":
			jwksPathAt = *d
			if h.JWKSPath, err = singleArg(d); err == nil && !strings.HasPrefix(h.JWKSPath, "/") {
				return d.Errf("jwks_path %q: want a path starting with /", h.JWKSPath)
			}
		case "error_response":
			if h.ErrorResponse, err = singleArg(d); err == nil && h.ErrorResponse != "wso2" && h.ErrorResponse != "caddy" {
				return d.Errf("error_response %q: want wso2 or caddy", h.ErrorResponse)
			}
		default:
			return d.Errf("unknown backend_jwt sub-directive %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	if len(h.Issuers) == 0 {
		return fmt.Errorf("backend_jwt needs at least one issuer block, at %s:%d", file, line)
	}
	if h.JWKSPath != "" && h.Generate == nil {
		return jwksPathAt.Err("jwks_path needs a generate block")
	}
	if h.ClaimsRaw != nil && h.Generate == nil {
		return claimsAt.Err("claims needs a generate block: retrieved claims go into the generated backend JWT")
	}
	for _, ic := range h.Issuers {
		if at := remoteClaimsAt[ic.Issuer]; ic.RemoteClaims && h.ClaimsRaw == nil {
			return at.Errf("issuer %q has remote_claims but there is no claims retriever (claims wso2 { ... })", ic.Issuer)
		}
	}
	return nil
}

func (h *Handler) unmarshalGenerate(d *caddyfile.Dispenser) error {
	if h.Generate != nil {
		return d.Err("generate is configured twice")
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	gc := &GenerateConfig{}
	var keyFile, certFile string
	var where string // file:line of the signing_key, else of the certificate
	var rotationAt string
	var claimAt []caddyfile.Dispenser // where each static claim is
	var err error
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "issuer":
			gc.Issuer, err = singleArg(d)
		case "audience":
			gc.Audience = append(make([]string, 0), d.RemainingArgs()...)
		case "dialect":
			var dialect string
			if dialect, err = singleArg(d); err == nil {
				gc.Dialect = &dialect
			}
		case "algorithm":
			if gc.Algorithm, err = singleArg(d); err == nil {
				if _, cerr := jwtgen.CanonicalAlgorithm(gc.Algorithm); cerr != nil {
					return d.Errf("algorithm: %v", cerr)
				}
			}
		case "signing_key":
			if gc.SigningKey, err = singleArg(d); err == nil {
				if _, rerr := readSigningKey(gc.SigningKey); rerr != nil {
					return d.Errf("%v", rerr)
				}
				keyFile, where = gc.SigningKey, fmt.Sprintf("%s:%d", d.File(), d.Line())
			}
		case "certificate":
			if gc.Certificate, err = singleArg(d); err == nil {
				if _, rerr := readCertificates(gc.Certificate); rerr != nil {
					return d.Errf("%v", rerr)
				}
				certFile = gc.Certificate
				if keyFile == "" {
					where = fmt.Sprintf("%s:%d", d.File(), d.Line())
				}
			}
		case "x5t":
			if gc.X5T, err = singleArg(d); err == nil && gc.X5T != "wso2" && gc.X5T != "rfc7515" && gc.X5T != "off" {
				return d.Errf("x5t %q: want wso2, rfc7515 or off", gc.X5T)
			}
		case "x5c":
			err = flag(d, &gc.X5C)
		case "expiry":
			err = parseDuration(d, &gc.Expiry)
		case "restricted_claims":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			gc.RestrictedClaims = append(gc.RestrictedClaims, args...)
		case "convert_dialect":
			err = flag(d, &gc.ConvertDialect)
		case "dialect_map":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.ArgErr()
			}
			if gc.DialectMap == nil {
				gc.DialectMap = map[string]string{}
			}
			gc.DialectMap[args[0]] = args[1]
		case "include_claims":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			gc.IncludeClaims = append(gc.IncludeClaims, args...)
		case "claim":
			args := d.RemainingArgs()
			if len(args) != 2 && len(args) != 3 {
				return d.ArgErr()
			}
			c := StaticClaimConfig{Name: args[0], Value: args[1]}
			if len(args) == 3 {
				c.Type = args[2]
			}
			if _, _, verr := c.staticValue(); verr != nil {
				return d.Errf("%v", verr)
			}
			claimAt = append(claimAt, *d)
			gc.StaticClaims = append(gc.StaticClaims, c)
		case "encoding":
			if gc.Encoding, err = singleArg(d); err == nil && gc.Encoding != "base64url" && gc.Encoding != "base64" {
				return d.Errf("encoding %q: want base64url or base64", gc.Encoding)
			}
		case "key_rotation":
			rotationAt = fmt.Sprintf("%s:%d", d.File(), d.Line())
			if err = parseDuration(d, &gc.KeyRotation); err == nil && time.Duration(gc.KeyRotation) < minKeyRotation {
				return d.Errf("key_rotation %s: want at least %s", time.Duration(gc.KeyRotation), minKeyRotation)
			}
		case "cache":
			err = unmarshalCache(d, gc)
		case "on_error":
			if gc.OnError, err = singleArg(d); err == nil && gc.OnError != "fail" && gc.OnError != "continue" {
				return d.Errf("on_error %q: want fail or continue", gc.OnError)
			}
		case "generator":
			if gc.GeneratorRaw != nil {
				return d.Err("generator is configured twice")
			}
			var mod caddyfile.Unmarshaler
			if mod, gc.GeneratorRaw, err = unmarshalGuest(d, GeneratorsNamespace, "generator"); err == nil {
				if _, ok := mod.(jwtgen.ClaimsGenerator); !ok {
					return d.Errf("module %T is not a claims generator", mod)
				}
			}
		default:
			return d.Errf("unknown generate sub-directive %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	// The key, the certificate and the rotation can only be judged
	// against the algorithm once the whole block is read.
	if rotationAt != "" {
		if alg, _ := jwtgen.CanonicalAlgorithm(gc.Algorithm); gc.SigningKey != "" || alg == jwtgen.None {
			return fmt.Errorf("generate: key_rotation rotates the managed key: it takes an algorithm that signs and no signing_key, at %s", rotationAt)
		}
	}
	if err := checkGenerateKey(gc, keyFile, certFile); err != nil {
		return fmt.Errorf("generate: %w, at %s", err, where)
	}
	// A static claim may not take the name of a claim the generator sets,
	// which depends on the dialect, known once the block is read.
	for i, c := range gc.StaticClaims {
		if err := checkStaticClaimName(gc, c.Name); err != nil {
			return claimAt[i].Errf("%v", err)
		}
	}
	h.Generate = gc
	return nil
}

// checkGenerateKey checks that the signing key fits the algorithm and the
// certificate fits the key.
func checkGenerateKey(gc *GenerateConfig, keyFile, certFile string) error {
	alg := gc.Algorithm
	if alg == "" {
		alg = jwtgen.RS256
	}
	if keyFile == "" {
		if certFile != "" {
			return errors.New("certificate needs signing_key: a managed key has no certificate")
		}
		return nil
	}
	key, err := readSigningKey(keyFile)
	if err != nil {
		return err
	}
	if err := jwtgen.CheckKey(alg, key); err != nil {
		return fmt.Errorf("signing_key %s: %w", keyFile, err)
	}
	if certFile != "" {
		certs, err := readCertificates(certFile)
		if err != nil {
			return err
		}
		if !publicKeysEqual(certs[0].PublicKey, key.Public()) {
			return fmt.Errorf("certificate %s is not the certificate of signing_key %s", certFile, keyFile)
		}
	}
	return nil
}

// publicKeysEqual compares two public keys of the standard library.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// unmarshalCache reads "cache off" or a cache block.
func unmarshalCache(d *caddyfile.Dispenser, gc *GenerateConfig) error {
	cc := &CacheConfig{}
	gc.Cache = cc
	if d.NextArg() {
		if d.Val() != "off" || d.NextArg() {
			return d.Errf("cache: want \"cache off\" or a block")
		}
		off := false
		cc.Enabled = &off
		return nil
	}
	var err error
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "expiry":
			err = parseDuration(d, &cc.Expiry)
		case "capacity":
			var arg string
			if arg, err = singleArg(d); err == nil {
				n, perr := strconv.Atoi(arg)
				if perr != nil || n < 1 {
					return d.Errf("capacity %q: want a positive number of tokens", arg)
				}
				cc.Capacity = n
			}
		case "eviction_factor":
			var arg string
			if arg, err = singleArg(d); err == nil {
				f, perr := strconv.ParseFloat(arg, 64)
				if perr != nil || f <= 0 || f > 1 {
					return d.Errf("eviction_factor %q: want a share above 0 and at most 1", arg)
				}
				cc.EvictionFactor = f
			}
		default:
			return d.Errf("unknown cache sub-directive %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// unmarshalIssuer reads an issuer block; remoteClaimsAt gets the place of
// its remote_claims line, which only the whole handler can judge.
func (h *Handler) unmarshalIssuer(d *caddyfile.Dispenser, remoteClaimsAt map[string]caddyfile.Dispenser) error {
	name, err := singleArgKeepBlock(d)
	if err != nil {
		return err
	}
	for _, existing := range h.Issuers {
		if existing.Issuer == name {
			return d.Errf("issuer %q is configured twice", name)
		}
	}
	block := *d // errors about the whole block name its first line
	ic := &IssuerConfig{Issuer: name}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "audience":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			ic.Audience = append(ic.Audience, args...)
		case "jwks_url":
			if ic.JWKSURL, err = singleArg(d); err != nil {
				return err
			}
		case "certificate":
			file, err := singleArg(d)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(file)
			if err != nil {
				return d.Errf("certificate: %v", err)
			}
			if _, err := validator.ParsePublicKeysPEM(data); err != nil {
				return d.Errf("certificate %s: %v", file, err)
			}
			ic.Certificates = append(ic.Certificates, file)
		case "algorithms":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, alg := range args {
				if err := validator.CheckAlgorithm(alg); err != nil {
					return d.Errf("algorithms: %v", err)
				}
			}
			ic.Algorithms = args
		case "validate_subscription":
			if err := flag(d, &ic.ValidateSubscription); err != nil {
				return err
			}
		case "remote_claims":
			remoteClaimsAt[name] = *d
			if err := flag(d, &ic.RemoteClaims); err != nil {
				return err
			}
		case "consumer_key_claim":
			if ic.ConsumerKeyClaim, err = singleArg(d); err != nil {
				return err
			}
		case "claim_map":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.ArgErr()
			}
			if _, dup := ic.ClaimMap[args[0]]; dup {
				return d.Errf("claim_map %s: mapped twice", args[0])
			}
			if ic.ClaimMap == nil {
				ic.ClaimMap = map[string]string{}
			}
			ic.ClaimMap[args[0]] = args[1]
		case "introspection":
			if ic.Introspection != nil {
				return d.Err("introspection is configured twice")
			}
			if ic.Introspection, err = unmarshalIntrospection(d); err != nil {
				return err
			}
		default:
			return d.Errf("unknown issuer sub-directive %q", d.Val())
		}
	}
	if ic.JWKSURL == "" && len(ic.Certificates) == 0 && ic.Introspection == nil {
		return block.Errf("issuer %q needs jwks_url, certificate or introspection", name)
	}
	h.Issuers = append(h.Issuers, ic)
	return nil
}

func (h *Handler) unmarshalAPIManager(d *caddyfile.Dispenser) error {
	if h.APIManager != nil {
		return d.Err("api_manager is configured twice")
	}
	block := *d // errors about the whole block name its first line
	if d.NextArg() {
		return d.ArgErr()
	}
	c := &APIManagerConfig{}
	var err error
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "server_url":
			if c.ServerURL, err = singleArg(d); err == nil && !strings.Contains(c.ServerURL, "{") {
				if _, cerr := apimdata.NewClient(apimdata.Source{ServerURL: c.ServerURL}, apimdata.ClientOptions{}); cerr != nil {
					return d.Errf("%v", cerr)
				}
			}
		case "username":
			c.Username, err = singleArg(d)
		case "password":
			c.Password, err = singleArg(d)
		case "ca_cert":
			if c.CACert, err = singleArg(d); err == nil {
				if _, rerr := readCertPool(c.CACert); rerr != nil {
					return d.Errf("%v", rerr)
				}
			}
		case "tenant":
			c.Tenant, err = singleArg(d)
		case "key_manager":
			c.KeyManager, err = singleArg(d)
		case "refresh":
			if err = parseDuration(d, &c.Refresh); err == nil && time.Duration(c.Refresh) < minAPIManagerRefresh {
				return d.Errf("refresh %v: must be at least %v", time.Duration(c.Refresh), minAPIManagerRefresh)
			}
		case "timeout":
			if err = parseDuration(d, &c.Timeout); err == nil && c.Timeout == 0 {
				return d.Err("timeout: must be more than 0")
			}
		case "max_data_size":
			c.MaxDataSize, err = parseSize(d, 1<<40, "128MiB")
		case "tenant_id":
			var arg string
			if arg, err = singleArg(d); err == nil {
				id, perr := strconv.Atoi(arg)
				if perr != nil {
					return d.Errf("tenant_id %q: want the tenant's id, an integer (-1234 for carbon.super)", arg)
				}
				c.TenantID = &id
			}
		default:
			return d.Errf("unknown api_manager sub-directive %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	switch {
	case c.ServerURL == "":
		return block.Err("api_manager needs server_url")
	case c.Username == "" || c.Password == "":
		return block.Err("api_manager needs username and password")
	}
	h.APIManager = c
	return nil
}

// unmarshalIntrospection reads an issuer's introspection block.
func unmarshalIntrospection(d *caddyfile.Dispenser) (*IntrospectionConfig, error) {
	block := *d // errors about the whole block name its first line
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	c := &IntrospectionConfig{}
	var err error
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "url":
			c.URL, err = singleArg(d)
		case "client_id":
			c.ClientID, err = singleArg(d)
		case "client_secret":
			c.ClientSecret, err = singleArg(d)
		case "ca_cert":
			if c.CACert, err = singleArg(d); err == nil {
				if _, rerr := readCertPool(c.CACert); rerr != nil {
					return nil, d.Errf("%v", rerr)
				}
			}
		case "timeout":
			err = parsePositiveDuration(d, &c.Timeout)
		case "token_pattern":
			if c.TokenPattern, err = singleArg(d); err == nil {
				if _, rerr := regexp.Compile(c.TokenPattern); rerr != nil {
					return nil, d.Errf("token_pattern: %v", rerr)
				}
			}
		case "cache_ttl":
			err = parsePositiveDuration(d, &c.CacheTTL)
		case "negative_ttl":
			err = parsePositiveDuration(d, &c.NegativeTTL)
		case "max_concurrent":
			var arg string
			if arg, err = singleArg(d); err == nil {
				if c.MaxConcurrent, err = strconv.Atoi(arg); err != nil || c.MaxConcurrent < 1 {
					return nil, d.Errf("max_concurrent %q: want a number of calls, at least 1", arg)
				}
			}
		default:
			return nil, d.Errf("unknown introspection sub-directive %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	if c.URL == "" {
		return nil, block.Err("introspection needs url")
	}
	return c, nil
}

// unmarshalAPIKeys reads the api_keys block.
func (h *Handler) unmarshalAPIKeys(d *caddyfile.Dispenser) error {
	if h.APIKeys != nil {
		return d.Err("api_keys is configured twice")
	}
	block := *d // errors about the whole block name its first line
	if d.NextArg() {
		return d.ArgErr()
	}
	c := &APIKeysConfig{}
	var err error
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "header":
			c.Header, err = singleArg(d)
		case "query":
			c.Query, err = singleArg(d)
		case "certificate":
			var file string
			if file, err = singleArg(d); err == nil {
				if _, lerr := loadPublicKeys([]string{file}); lerr != nil {
					return d.Errf("%v", lerr)
				}
				c.Certificates = append(c.Certificates, file)
			}
		case "validate_subscription":
			err = flag(d, &c.ValidateSubscription)
		default:
			return d.Errf("unknown api_keys sub-directive %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	if len(c.Certificates) == 0 {
		return block.Err("api_keys needs a certificate: API Manager's API-key signing certificate")
	}
	h.APIKeys = c
	return nil
}

// unmarshalGuest reads "<directive> <module> [{ ... }]": the module of
// namespace named by the argument parses its own arguments and block. It
// returns the module and its JSON module object with the inline key.
func unmarshalGuest(d *caddyfile.Dispenser, namespace, inlineKey string) (caddyfile.Unmarshaler, json.RawMessage, error) {
	if !d.NextArg() {
		return nil, nil, d.ArgErr()
	}
	name := d.Val()
	unm, err := caddyfile.UnmarshalModule(d, namespace+"."+name)
	if err != nil {
		return nil, nil, err
	}
	return unm, caddyconfig.JSONModuleObject(unm, inlineKey, name, nil), nil
}

// singleArg returns the one argument of the current line.
func singleArg(d *caddyfile.Dispenser) (string, error) {
	args := d.RemainingArgs()
	if len(args) != 1 {
		return "", d.ArgErr()
	}
	return args[0], nil
}

// singleArgKeepBlock returns the one argument before an optional block.
func singleArgKeepBlock(d *caddyfile.Dispenser) (string, error) {
	if !d.NextArg() {
		return "", d.ArgErr()
	}
	arg := d.Val()
	if d.NextArg() {
		return "", d.ArgErr()
	}
	return arg, nil
}

// flag sets a boolean sub-directive, which takes no argument.
func flag(d *caddyfile.Dispenser, b *bool) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	*b = true
	return nil
}

// parseSize reads the one argument of the current line as a size in
// bytes from 1 to most; example shows the syntax in the error.
func parseSize(d *caddyfile.Dispenser, most uint64, example string) (int64, error) {
	name := d.Val()
	arg, err := singleArg(d)
	if err != nil {
		return 0, err
	}
	size, err := humanize.ParseBytes(arg)
	if err != nil || size == 0 || size > most {
		return 0, d.Errf("%s %q: want a size such as %s", name, arg, example)
	}
	return int64(size), nil
}

// parsePositiveDuration is parseDuration refusing 0.
func parsePositiveDuration(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	name := d.Val()
	if err := parseDuration(d, dst); err != nil {
		return err
	}
	if *dst == 0 {
		return d.Errf("%s: must be more than 0", name)
	}
	return nil
}

func parseDuration(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	name := d.Val()
	arg, err := singleArg(d)
	if err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(arg)
	if err != nil || dur < 0 {
		return d.Errf("%s %q: want a duration such as 30s", name, arg)
	}
	*dst = caddy.Duration(dur)
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
