package migrate

import (
	"fmt"
	"strings"
)

// WSO2 API Microgateway 3.x defaults and built-in classes.
const (
	mgwGenerator       = "org.wso2.micro.gateway.jwt.generator.MGWJWTGeneratorImpl"
	mgwRetriever       = "org.wso2.micro.gateway.jwt.generator.MGWClaimRetrieverImpl"
	mgwJWTTransformer  = "org.wso2.micro.gateway.jwtTransformer.DefaultJwtTransformer"
	mgwDefaultKMURL    = "https://localhost:9443"
	mgwDefaultUser     = "admin"
	mgwDataContext     = "/internal/data/v1"
	mgwAuthorization   = "Authorization"
	mgwTrustStorePath  = "listenerConfig.trustStorePath"
	mgwKeyStorePath    = "listenerConfig.keyStorePath"
	mgwGeneratorConfig = "jwtGeneratorConfig"
	mgwClaimRetrieval  = "jwtGeneratorConfig.claimRetrieval"
)

// microGateway converts a micro-gw.conf.
func (c *converter) microGateway() error {
	d := c.d
	generate := false
	if v, ok := d.boolean(mgwGeneratorConfig + ".jwtGeneratorEnabled"); ok {
		generate = v
	}
	d.skip("keyManager.remoteUserClaimRetrievalEnabled", "claim retrieval for opaque tokens, which MGW validated at the key manager")
	retrieverImpl, _ := d.peek(mgwClaimRetrieval + ".retrieverImpl")
	retrieval := generate && retrieverImpl != nil && retrieverImpl != ""
	// Whether any issuer retrieves remote claims decides the claims block,
	// which remote_claims needs.
	remote := false
	for _, p := range d.tables("jwtTokenConfig") {
		if v, ok := d.peek(p + ".remoteUserClaimRetrievalEnabled"); ok && (v == true || v == "true") {
			remote = remote || retrieval
		}
	}

	subscriptions, err := c.mgwIssuers(generate, retrieval)
	if err != nil {
		return err
	}
	if subscriptions {
		c.apiHint()
	}
	c.mgwClockSkew()
	if h, ok := d.str("jwtConfig.header"); ok && h != "" {
		c.w.line("header", h)
	}
	c.mgwAuthConfig()
	if err := c.mgwAPIKeys(); err != nil {
		return err
	}
	if generate {
		if err := c.mgwGenerate(); err != nil {
			return err
		}
	} else {
		c.reasonAll(mgwGeneratorConfig, "jwtGeneratorEnabled is not true: no backend JWT is generated")
	}
	if remote {
		c.mgwClaims()
	} else if retrieval {
		c.reasonAll(mgwClaimRetrieval, "no [[jwtTokenConfig]] has remoteUserClaimRetrievalEnabled = true")
	}
	c.mgwEventHub()
	return nil
}

// mgwIssuers writes an issuer block per [[jwtTokenConfig]] and reports
// whether one validates subscriptions.
func (c *converter) mgwIssuers(generate, retrieval bool) (bool, error) {
	d, w := c.d, &c.w
	seen := map[string]bool{}
	subscriptions := false
	trustStore, _ := d.peek(mgwTrustStorePath)
	trustStorePath, _ := trustStore.(string)
	for _, p := range d.tables("jwtTokenConfig") {
		iss, _ := d.str(p + ".issuer")
		jwks, _ := d.str(p + ".jwksURL")
		alias, _ := d.str(p + ".certificateAlias")
		var problem string
		switch {
		case iss == "":
			problem = "it has no issuer"
		case seen[iss]:
			problem = fmt.Sprintf("issuer %s is configured twice", iss)
		case jwks == "" && alias == "":
			problem = "it has neither jwksURL nor certificateAlias: backend_jwt needs a key source"
		}
		if jwks != "" {
			if r, ok := c.resolve(jwks); ok {
				jwks = r
			} else if alias != "" {
				c.unuse(p+".jwksURL", "holds a placeholder this command cannot resolve")
				jwks = ""
			} else {
				problem = "its jwksURL holds a placeholder this command cannot resolve"
			}
		}
		if problem != "" {
			for _, k := range []string{"issuer", "jwksURL", "certificateAlias"} {
				delete(d.done, p+"."+k)
			}
			c.reasonAll(p, "issuer not converted: "+problem)
			c.w.comment("%s: not converted: %s", p, problem)
			c.leftovers(p)
			continue
		}
		seen[iss] = true
		var certFile string
		var notes []string
		if alias != "" {
			var err error
			if certFile, notes, err = c.trustedCertificate(alias, trustStorePath); err != nil {
				return false, fmt.Errorf("%s.certificateAlias: %w", p, err)
			}
		}
		w.open("issuer", iss)
		if aud, ok := d.stringList(p + ".audience"); ok && len(aud) > 0 {
			w.line(append([]string{"audience"}, aud...)...)
		}
		if jwks != "" {
			w.line("jwks_url", jwks)
		}
		if certFile != "" {
			for _, n := range notes {
				w.comment("%s", n)
			}
			w.line("certificate", certFile)
		}
		validate, ok := d.boolean(p + ".validateSubscription")
		if !ok && !d.has(p+".validateSubscription") {
			// MGW's default for an issuer is [security] validateSubscriptions.
			if v, found := d.peek("security.validateSubscriptions"); found && (v == true || v == "true") {
				validate = true
				d.use("security.validateSubscriptions")
			}
		}
		if validate {
			w.line("validate_subscription")
			subscriptions = true
		}
		if v, ok := d.str(p + ".consumerKeyClaim"); ok && v != "" {
			w.line("consumer_key_claim", v)
		}
		if v, ok := d.boolean(p + ".remoteUserClaimRetrievalEnabled"); ok && v {
			switch {
			case !generate:
				c.unuse(p+".remoteUserClaimRetrievalEnabled", "jwtGeneratorEnabled is not true: retrieved claims go into the generated JWT")
			case !retrieval:
				c.unuse(p+".remoteUserClaimRetrievalEnabled", "no [jwtGeneratorConfig.claimRetrieval] retrieverImpl: MGW retrieves no claims")
			default:
				w.line("remote_claims")
			}
		}
		if v, ok := d.str(p + ".claimMapperClassName"); ok && v != "" && v != mgwJWTTransformer {
			c.unuse(p+".claimMapperClassName", "a custom claim transformer: claim_map only renames")
		}
		c.claimMaps(p+".claims", "remoteClaim", "localClaim")
		c.leftovers(p)
		w.close()
	}
	if len(seen) == 0 {
		return false, fmt.Errorf("%s: no [[jwtTokenConfig]] with an issuer and a key source (jwksURL or certificateAlias): backend_jwt needs at least one issuer", c.name)
	}
	return subscriptions, nil
}

// apiHint says that subscription validation needs the route's API.
func (c *converter) apiHint() {
	c.w.comment("api NAME VERSION CONTEXT: add it per route; validate_subscription checks the token's\n" +
		"subscription to the API a route serves (WSO2 took it from the API's definition)")
}

// mgwClockSkew converts [server] timestampSkew, or the older [keyManager]
// timestampSkew, both in milliseconds.
func (c *converter) mgwClockSkew() {
	for _, path := range []string{"server.timestampSkew", "keyManager.timestampSkew"} {
		ms, ok := c.d.integer(path)
		if !ok {
			continue
		}
		if ms < 0 {
			c.unuse(path, "a negative skew")
			continue
		}
		c.w.line("clock_skew", millis(ms))
		return
	}
}

// mgwAuthConfig converts [authConfig]: MGW removes the Authorization
// header unless removeAuthHeaderFromOutMessage is false.
func (c *converter) mgwAuthConfig() {
	d := c.d
	if h, ok := d.str("authConfig.authorizationHeader"); ok && !strings.EqualFold(h, mgwAuthorization) {
		c.unuse("authConfig.authorizationHeader", "backend_jwt reads Authorization; token_from takes a header that holds the bare token")
	}
	remove, ok := d.boolean("authConfig.removeAuthHeaderFromOutMessage")
	switch {
	case !ok && !d.has("authConfig.removeAuthHeaderFromOutMessage"):
		c.w.comment("MGW removes the Authorization header by default (removeAuthHeaderFromOutMessage = true)")
		c.w.line("strip_authorization")
	case ok && remove:
		c.w.line("strip_authorization")
	}
}

// mgwAPIKeys converts [apikey.tokenConfigs] (a table or an array) to
// api_keys.
func (c *converter) mgwAPIKeys() error {
	d := c.d
	trustStore, _ := d.peek(mgwTrustStorePath)
	trustStorePath, _ := trustStore.(string)
	var certs []string
	var notes [][]string
	validate := false
	for _, p := range d.tables("apikey.tokenConfigs") {
		alias, _ := d.str(p + ".certificateAlias")
		if alias == "" {
			c.reasonAll(p, "no certificateAlias")
			continue
		}
		file, n, err := c.trustedCertificate(alias, trustStorePath)
		if err != nil {
			return fmt.Errorf("%s.certificateAlias: %w", p, err)
		}
		certs, notes = append(certs, file), append(notes, n)
		if v, ok := d.boolean(p + ".validateAllowedAPIs"); ok && v {
			validate = true
		}
		if _, ok := d.peek(p + ".issuer"); ok {
			d.skip(p+".issuer", "api_keys trusts a key by its signing certificate, whatever its iss")
		}
	}
	if len(certs) == 0 {
		return nil
	}
	c.w.open("api_keys")
	for i, f := range certs {
		for _, n := range notes[i] {
			c.w.comment("%s", n)
		}
		c.w.line("certificate", f)
	}
	if validate {
		c.w.line("validate_subscription")
	}
	for _, p := range d.tables("apikey.tokenConfigs") {
		c.leftovers(p)
	}
	c.w.close()
	return nil
}

// mgwGenerate converts [jwtGeneratorConfig] to generate.
func (c *converter) mgwGenerate() error {
	d, w := c.d, &c.w
	p := mgwGeneratorConfig
	w.open("generate")
	if v, ok := d.str(p + ".issuer"); ok && v != "" {
		w.line("issuer", v)
	}
	if aud, ok := d.stringList(p + ".audience"); ok && len(aud) > 0 {
		w.comment("MGW stored this audience but never wrote it into the JWT; with this line the backend\n" +
			"JWT has an aud claim: remove it if the backend refuses tokens with an aud it does not expect")
		w.line(append([]string{"audience"}, aud...)...)
	}
	if v, ok := d.str(p + ".claimDialect"); ok {
		w.line("dialect", v)
	}
	none := false
	if v, ok := d.str(p + ".signingAlgorithm"); ok {
		switch {
		case strings.EqualFold(v, "NONE"):
			none = true
			w.line("algorithm", "none")
		case v != "SHA256withRSA":
			c.unuse(p+".signingAlgorithm", "MGW signs with SHA256withRSA or NONE")
		}
	}
	keyAlias, _ := d.str(p + ".privateKeyAlias")
	certAlias, _ := d.str(p + ".certificateAlias")
	switch {
	case none:
		if keyAlias != "" {
			c.unuse(p+".privateKeyAlias", "signingAlgorithm is NONE: nothing is signed")
		}
		if certAlias != "" {
			c.unuse(p+".certificateAlias", "signingAlgorithm is NONE: nothing is signed")
		}
	case keyAlias == "":
		w.comment("no privateKeyAlias: MGW signed with its keystore's key \"ballerina\"; without signing_key,\n" +
			"backend_jwt signs with a managed key (publish it with jwks_path)")
		if certAlias != "" {
			c.unuse(p+".certificateAlias", "a certificate needs privateKeyAlias's key")
		}
	default:
		keyStore, _ := d.peek(mgwKeyStorePath)
		keyStorePath, _ := keyStore.(string)
		s, err := c.signingKey(keyAlias, certAlias, keyStorePath)
		if err != nil {
			return fmt.Errorf("%s.privateKeyAlias/certificateAlias: %w", p, err)
		}
		c.writeSigning(s, p+".certificateAlias")
	}
	if ms, ok := d.integer(p + ".tokenExpiry"); ok {
		if ms > 0 {
			w.line("expiry", millis(ms))
		} else {
			c.unuse(p+".tokenExpiry", "want more than 0")
		}
	}
	if claims, ok := d.stringList(p + ".restrictedClaims"); ok && len(claims) > 0 {
		w.line(append([]string{"restricted_claims"}, claims...)...)
	}
	if v, ok := d.str(p + ".generatorImpl"); ok && v != "" && v != mgwGenerator {
		c.unuse(p+".generatorImpl", "a custom generator: write a module of http.backend_jwt.generators and name it with generate { generator NAME }")
	}
	c.mgwCache(p + ".jwtGeneratorCaching")
	c.leftovers(p, mgwClaimRetrieval)
	w.close()
	return nil
}

// writeSigning writes the signing key and certificate lines.
func (c *converter) writeSigning(s signing, certSetting string) {
	w := &c.w
	for _, n := range s.notes {
		w.comment("%s", n)
	}
	if s.algorithm != "" && s.algorithm != "RS256" {
		w.line("algorithm", s.algorithm)
	}
	if s.keyFile != "" {
		w.line("signing_key", s.keyFile)
	}
	if s.certProblem != "" {
		c.unuse(certSetting, s.certProblem)
	} else if s.certFile != "" {
		w.line("certificate", s.certFile)
	}
}

// mgwCache converts [jwtGeneratorConfig.jwtGeneratorCaching].
func (c *converter) mgwCache(p string) {
	d, w := c.d, &c.w
	if on, ok := d.boolean(p + ".tokenCacheEnable"); ok && !on {
		w.line("cache", "off")
		c.reasonAll(p, "tokenCacheEnable is false")
		return
	}
	var lines [][]string
	if ms, ok := d.integer(p + ".tokenCacheExpiryTime"); ok {
		if ms > 0 {
			lines = append(lines, []string{"expiry", millis(ms)})
		} else {
			c.unuse(p+".tokenCacheExpiryTime", "want more than 0")
		}
	}
	if n, ok := d.integer(p + ".tokenCacheCapacity"); ok {
		if n > 0 {
			lines = append(lines, []string{"capacity", fmt.Sprint(n)})
		} else {
			c.unuse(p+".tokenCacheCapacity", "want more than 0")
		}
	}
	if f, ok := d.number(p + ".tokenCacheEvictionFactor"); ok {
		if f > 0 && f <= 1 {
			lines = append(lines, []string{"eviction_factor", fmt.Sprint(f)})
		} else {
			c.unuse(p+".tokenCacheEvictionFactor", "want a share above 0 and at most 1")
		}
	}
	if len(lines) == 0 {
		return
	}
	w.open("cache")
	for _, l := range lines {
		w.line(l...)
	}
	w.close()
}

// mgwClaims writes claims wso2 from [jwtGeneratorConfig.claimRetrieval]:
// each of serverUrl, username and password from its configuration table,
// else (as MGW does) from [keyManager] serverUrl and [apim.credentials].
func (c *converter) mgwClaims() {
	d, w := c.d, &c.w
	p := mgwClaimRetrieval
	w.open("claims", "wso2")
	if v, ok := d.str(p + ".retrieverImpl"); ok && v != mgwRetriever {
		c.unuse(p+".retrieverImpl", "a custom retriever: write a module of http.backend_jwt.retrievers and name it instead of wso2")
	}
	conf := p + ".configuration"
	pick := func(key, fallback string) string {
		if _, ok := d.peek(conf + "." + key); ok {
			return conf + "." + key
		}
		return fallback
	}
	serverPath := pick("serverUrl", "keyManager.serverUrl")
	userPath := pick("username", "apim.credentials.username")
	passwordPath := pick("password", "apim.credentials.password")
	server, _ := d.str(serverPath)
	if server == "" {
		server = mgwDefaultKMURL
		w.comment("%s is not set: MGW's default", serverPath)
	}
	if r, ok := c.resolve(server); ok {
		server = r
	}
	w.line("server_url", server)
	user, _ := d.str(userPath)
	if user == "" {
		user = mgwDefaultUser
		w.comment("%s is not set: MGW's default", userPath)
	}
	w.line("username", user)
	token, note := c.password(passwordPath, EnvKeyManagerPassword)
	w.comment("%s", note)
	w.line("password", token)
	w.comment("ca_cert FILE: the CA of the key manager's TLS certificate (MGW trusted its trust store); none: the system roots")
	c.leftovers(p)
	w.close()
}

// mgwEventHub converts [apim.eventHub] to api_manager.
func (c *converter) mgwEventHub() {
	d := c.d
	p := "apim.eventHub"
	if !d.has(p) {
		return
	}
	if on, _ := d.boolean(p + ".enable"); !on {
		c.reasonAll(p, "the event hub is not enabled")
		return
	}
	if v, ok := d.str(p + ".internalDataContext"); ok && strings.TrimSuffix(v, "/") != mgwDataContext {
		c.unuse(p+".internalDataContext", "backend_jwt reads {server_url}/internal/data/v1")
	}
	d.skip(p+".eventListeningEndpoints", "backend_jwt re-reads API Manager's data every refresh instead of listening to its events")
	c.apiManagerBlock(p, p+".serviceUrl", p+".username", p+".password")
}

// apiManagerBlock writes api_manager from the settings at the paths given.
func (c *converter) apiManagerBlock(table, urlPath, userPath, passwordPath string) {
	d, w := c.d, &c.w
	server, _ := d.str(urlPath)
	if server == "" {
		server = mgwDefaultKMURL
	}
	server, ok := c.resolve(server)
	if ok {
		server = strings.TrimSuffix(strings.TrimSuffix(server, "/"), "/services")
		if problem := checkServerURL(server); problem != "" {
			c.unuse(urlPath, problem)
			ok = false
		}
	} else {
		c.unuse(urlPath, "holds a placeholder this command cannot resolve")
	}
	if !ok {
		c.reasonAll(table, "api_manager not converted: no usable server URL")
		return
	}
	w.open("api_manager")
	w.line("server_url", server)
	user, _ := d.str(userPath)
	switch r, resolved := c.resolve(user); {
	case user == "":
		w.comment("%s is not set: WSO2's default", userPath)
		w.line("username", mgwDefaultUser)
	case resolved:
		w.line("username", r)
	default:
		w.comment("set %s to the user of %s (%s)", EnvAPIManagerUsername, userPath, user)
		w.line("username", env(EnvAPIManagerUsername))
	}
	token, note := c.password(passwordPath, EnvAPIManagerPassword)
	w.comment("%s", note)
	w.line("password", token)
	c.leftovers(table)
	w.close()
}
