package migrate

import (
	"fmt"
	"net/url"
	"strings"
)

// WSO2 API Manager 4.x defaults and built-in classes.
const (
	apimGatewayGenerator    = "org.wso2.carbon.apimgt.common.gateway.jwtgenerator.APIMgtGatewayJWTGeneratorImpl"
	apimGatewayGeneratorOld = "org.wso2.carbon.apimgt.gateway.handlers.security.jwt.generator.APIMgtGatewayJWTGeneratorImpl"
	apimKeyAlias            = "wso2carbon"
	apimKeyStore            = "repository/resources/security/wso2carbon.jks"
	apimJWT                 = "apim.jwt"
	apimEventHub            = "apim.event_hub"
	apimKeyManager          = "apim.key_manager"
	apimOAuthConfig         = "apim.oauth_config"
)

// apiManager converts a deployment.toml.
func (c *converter) apiManager() error {
	d, w := c.d, &c.w
	eventHub := false
	if v, ok := d.peek(apimEventHub + ".enable"); ok && (v == true || v == "true") {
		eventHub = true
	}
	seen := map[string]bool{}
	for _, p := range d.tables(apimJWT + ".issuer") {
		c.apimIssuer(p, seen)
	}
	base, from := c.residentKeyManager()
	if iss := base + "/oauth2/token"; seen[iss] {
		c.reasonAll(apimKeyManager, "its issuer is configured by [[apim.jwt.issuer]]")
	} else {
		seen[iss] = true
		w.comment("API Manager's Resident Key Manager at %s (from %s):\n"+
			"check the issuer against the iss of one of its tokens", base, from)
		w.open("issuer", iss)
		w.line("jwks_url", base+"/oauth2/jwks")
		if eventHub {
			w.line("validate_subscription")
		}
		c.reasonAll(apimKeyManager, "the key manager's own settings: backend_jwt validates its JWTs with its JWKS")
		c.leftovers(apimKeyManager)
		w.close()
	}
	if eventHub {
		c.apiHint()
	}
	c.apimAuthorization()
	if h, ok := d.str(apimJWT + ".header"); ok && h != "" {
		c.w.line("header", h)
	}
	if on, _ := d.boolean(apimJWT + ".enable"); on {
		if err := c.apimGenerate(); err != nil {
			return err
		}
	} else {
		c.reasonAll(apimJWT, "apim.jwt.enable is not true: no backend JWT is generated")
	}
	if d.has(apimEventHub) {
		if eventHub {
			d.boolean(apimEventHub + ".enable")
			for _, k := range []string{"event_listening_endpoints", "event_duplicate_url", "event_waiting_time", "init_delay"} {
				d.skip(apimEventHub+"."+k, "backend_jwt re-reads API Manager's data every refresh instead of listening to its events")
			}
			c.apiManagerBlock(apimEventHub, apimEventHub+".service_url", apimEventHub+".username", apimEventHub+".password")
		} else {
			c.reasonAll(apimEventHub, "the event hub is not enabled")
		}
	}
	return nil
}

// apimIssuer writes an issuer block for one [[apim.jwt.issuer]].
func (c *converter) apimIssuer(p string, seen map[string]bool) {
	d, w := c.d, &c.w
	name, _ := d.str(p + ".name")
	jwks, _ := d.str(p + ".jwks.url")
	problem := ""
	if r, ok := c.resolve(jwks); ok {
		jwks = r
	} else {
		problem = "its jwks url holds a placeholder this command cannot resolve"
	}
	switch {
	case name == "":
		problem = "it has no name"
	case seen[name]:
		problem = fmt.Sprintf("issuer %s is configured twice", name)
	case jwks == "":
		problem = "it has no jwks url (a certificate in API Manager's trust store, by kid, is not converted)"
	}
	if problem != "" {
		delete(d.done, p+".name")
		delete(d.done, p+".jwks.url")
		c.reasonAll(p, "issuer not converted: "+problem)
		w.comment("%s: not converted: %s", p, problem)
		c.leftovers(p)
		return
	}
	seen[name] = true
	w.open("issuer", name)
	w.line("jwks_url", jwks)
	if v, ok := d.str(p + ".consumer_key_claim"); ok && v != "" {
		w.line("consumer_key_claim", v)
	}
	c.claimMaps(p+".claim_mapping", "remote_claim", "local_claim")
	c.leftovers(p)
	w.close()
}

// residentKeyManager returns the base URL of API Manager's own key
// manager: [apim.key_manager] service_url without its /services path, or
// else https://[server] hostname and the management port.
func (c *converter) residentKeyManager() (base, from string) {
	d := c.d
	if raw, found := d.str(apimKeyManager + ".service_url"); found && raw != "" {
		if r, resolved := c.resolve(raw); resolved {
			if u, err := url.Parse(r); err == nil && u.Scheme != "" && u.Host != "" {
				return u.Scheme + "://" + u.Host, "[apim.key_manager] service_url"
			}
		}
		c.unuse(apimKeyManager+".service_url", "not a URL this command can resolve")
	}
	host, _ := d.str("server.hostname")
	if host == "" {
		host = "localhost"
	}
	if _, found := d.peek("server.offset"); found {
		d.integer("server.offset")
	}
	base, _ = c.resolve("https://" + host + ":${mgt.transport.https.port}")
	return base, "[server] hostname and offset"
}

// apimAuthorization converts [apim.oauth_config]: API Manager removes the
// Authorization header unless remove_outbound_auth_header is false (or,
// before 4.0, enable_outbound_auth_header is true).
func (c *converter) apimAuthorization() {
	d := c.d
	p := apimOAuthConfig
	if h, ok := d.str(p + ".auth_header"); ok && !strings.EqualFold(h, mgwAuthorization) {
		c.unuse(p+".auth_header", "backend_jwt reads Authorization; token_from takes a header that holds the bare token")
	}
	if remove, ok := d.boolean(p + ".remove_outbound_auth_header"); ok {
		if remove {
			c.w.line("strip_authorization")
		}
		return
	}
	if keep, ok := d.boolean(p + ".enable_outbound_auth_header"); ok {
		if !keep {
			c.w.line("strip_authorization")
		}
		return
	}
	c.w.comment("API Manager removes the Authorization header by default (remove_outbound_auth_header = true)")
	c.w.line("strip_authorization")
}

// apimGenerate converts [apim.jwt] and [apim.jwt.gateway_generator] to
// generate.
func (c *converter) apimGenerate() error {
	d, w := c.d, &c.w
	p := apimJWT
	w.open("generate")
	switch v, ok := d.str(p + ".encoding"); {
	case !ok && !d.has(p+".encoding"):
		w.comment("API Manager encodes the backend JWT in base64 unless apim.jwt.encoding is base64url")
		w.line("encoding", "base64")
	case v == "base64" || v == "base64url":
		w.line("encoding", v)
	case ok:
		c.unuse(p+".encoding", "want base64 or base64url")
	}
	if v, ok := d.str(p + ".claim_dialect"); ok {
		w.line("dialect", v)
	}
	if v, ok := d.boolean(p + ".convert_dialect"); ok && v {
		w.line("convert_dialect")
	}
	none := false
	if v, ok := d.str(p + ".signing_algorithm"); ok {
		switch {
		case strings.EqualFold(v, "NONE"):
			none = true
			w.line("algorithm", "none")
		case v != "SHA256withRSA":
			c.unuse(p+".signing_algorithm", "API Manager signs with SHA256withRSA or NONE")
		}
	}
	if !none {
		alias, _ := d.str("keystore.primary.alias")
		if alias == "" {
			alias = apimKeyAlias
			w.comment("API Manager signs with the key of its primary keystore, alias %s by default", alias)
		}
		store := apimKeyStore
		if f, ok := d.peek("keystore.primary.file_name"); ok {
			if fs, ok := f.(string); ok && fs != "" {
				store = "repository/resources/security/" + fs
			}
		}
		s, err := c.signingKey(alias, alias, store)
		if err != nil {
			return fmt.Errorf("[keystore.primary] alias: %w", err)
		}
		c.writeSigning(s, "keystore.primary.alias")
	}
	if claims, ok := d.stringList(p + ".gateway_generator.excluded_claims"); ok && len(claims) > 0 {
		w.line(append([]string{"restricted_claims"}, claims...)...)
	}
	if v, ok := d.str(p + ".gateway_generator.impl"); ok && v != "" && v != apimGatewayGenerator && v != apimGatewayGeneratorOld {
		c.unuse(p+".gateway_generator.impl", "a custom generator: write a module of http.backend_jwt.generators and name it with generate { generator NAME }")
	}
	d.skip(p+".generator_impl", "the key manager's generator for opaque tokens; the gateway's is gateway_generator.impl")
	d.skip(p+".enable_user_claims", "user-store claims: claims wso2 and an issuer's remote_claims add a user's claims")
	d.skip(p+".claims_extractor_impl", "user-store claims: claims wso2 and an issuer's remote_claims add a user's claims")
	d.skip(p+".use_sha256_hash", "x5t is the certificate's SHA-1 (x5t wso2 or rfc7515)")
	if v, ok := d.boolean(p + ".use_kid_property"); ok && !v {
		c.unuse(p+".use_kid_property", "backend_jwt always writes kid")
	}
	c.leftovers(p, p+".issuer")
	w.close()
	return nil
}
