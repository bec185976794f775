package jwtgen

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fuzzNow is the request time of every fuzzed generation.
var fuzzNow = time.Unix(1700000000, 0)

// fuzzAPI and fuzzSubscription are the route's API and the matched
// subscription of every fuzzed generation.
var (
	fuzzAPI          = &API{Name: "PizzaShackAPI", Version: "1.0.0", Context: "/pizzashack"}
	fuzzSubscription = &Subscription{Tier: "Gold", TenantDomain: "carbon.super"}
)

// fuzzRestricted are the restricted_claims of the fuzzed generators.
var fuzzRestricted = []string{"scope", "azp", "http://wso2.org/claims/secret"}

// fuzzEd25519 is a fixed Ed25519 key, so a crash reproduces with the same
// signatures.
func fuzzEd25519() crypto.Signer {
	seed := sha256.Sum256([]byte("caddy-backend-jwt FuzzGenerate fixed key"))
	return ed25519.NewKeyFromSeed(seed[:])
}

// fuzzDialectMap is the dialect_map of the fuzzed generator that converts:
// one pair added, one that converts to the name of a default pair, one to a
// standard claim.
var fuzzDialectMap = map[string]string{"mail": "emailaddress", "uid": "username", "who": "enduser"}

// fuzzGenerators are the generators an input may be given to: EdDSA with
// the defaults and dialect conversion, ES256 with the WSO2 legacy
// encoding, a dialect ending in "/" and one audience, and none with no
// dialect and no audience. Each has the restricted claims fuzzRestricted.
func fuzzGenerators(tb testing.TB) []*Generator {
	configs := []Config{
		{Issuer: "gateway.example.com", Audience: []string{"aud-a", "aud-b"}, Dialect: DefaultDialect, Algorithm: EdDSA, Key: fuzzEd25519(),
			ConvertDialect: true, DialectMap: fuzzDialectMap},
		{Audience: []string{DefaultAudience}, Dialect: "http://example.com/claims/", Algorithm: ES256, Key: testP256(), Encoding: EncodingBase64, Lifetime: time.Hour},
		{Algorithm: None, Lifetime: time.Minute},
	}
	gens := make([]*Generator, len(configs))
	for i, cfg := range configs {
		cfg.RestrictedClaims = fuzzRestricted
		gens[i] = mustNew(tb, cfg)
	}
	return gens
}

// FuzzGenerate gives Generate an arbitrary JSON object as the access
// token's claims (its members as raw JSON, as the validator hands them
// over, and those of odd-length names also as retrieved claims). Whatever
// the input claims, the token verifies with the standard library; its
// header and payload are JSON without duplicate member names; iss, aud,
// jti, iat, exp and the dialect claims hold the generator's values (sub,
// enduser, the application claims and keytype the access token's, by SPEC
// sections 6 and 14); no restricted or standard claim is copied; and every
// other claim is copied (converted, for the generator that converts) as it
// was written, or as retrieved when it was also retrieved.
func FuzzGenerate(f *testing.F) {
	for _, s := range []string{
		exampleAccessToken,
		`{}`,
		`{"iss":"evil","aud":"evil","jti":"evil","iat":1,"exp":99999999999,"nbf":1}`,
		`{"http://wso2.org/claims/apiname":"evil","http://wso2.org/claims/usertype":"admin","http://wso2.org/claims/keytype":"SANDBOX"}`,
		`{"http://example.com/claims/tier":"Platinum","tier":"x","apiname":"x","usertype":"x"}`,
		`{"scope":"admin","azp":"x","http://wso2.org/claims/secret":"s","backendJwt":"a.b.c","tierInfo":{},"subscribedAPIs":[]}`,
		`{"sub":{"nested":["x"]},"keytype":null,"application":{"id":"\u0069d","\u0069d":7,"name":[1,2]}}`,
		`{"application":"not an object","sub":"a\u2028b\"c"}`,
		`{"a":1,"a":2,"b":{"c":1,"c":2}}`,
		`{"\u0000":"nul","\ud83d\ude00":"emoji","a\"b":"quote","<>&":"html"}`,
		`{"x": 1.5e300 , "y":  [ 1 ,2 ] , "z" : "\/"}`,
		"{\"bad\":\"\xff\"}",
		`{"application":{"id":1,"uuid":"u","owner":"o","name":"n","tier":"t"},"keytype":"SANDBOX","sub":"admin@carbon.super"}`,
		`{"sub":"bob","aut":"APPLICATION_USER","email":"a@x","http://wso2.org/claims/emailaddress":"old","mail":"m@x","who":"x","given_name":"G"}`,
		`{"sub":"bob@carbon.super","aut":"application_user","upn":"u","uid":"bob","username":"b"}`,
		`{"aut":"application","application":{"owner":"o@carbon.super","id":-3.5e2},"sub":"c"}`,
		`{"aut":"APPLICATION","sub":"c","application":{"owner":7}}`,
		`{"aut":7,"sub":"\u0061dmin"}`,
	} {
		f.Add([]byte(s))
	}
	gens := fuzzGenerators(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var claims map[string]json.RawMessage
		if json.Unmarshal(data, &claims) != nil || claims == nil {
			return // not a JSON object: the validator never hands one over
		}
		retrieved := make(map[string]any, len(claims))
		for name, raw := range claims {
			var v any
			if len(name)%2 == 1 && json.Unmarshal(raw, &v) == nil {
				retrieved[name] = v
			}
		}
		g := gens[len(data)%len(gens)]
		in := &Input{
			Claims:       claims,
			API:          fuzzAPI,
			Subscription: fuzzSubscription,
			Retrieved:    retrieved,
			Now:          fuzzNow,
			NotAfter:     fuzzNow.Add(2 * time.Hour),
		}
		tok, expires, err := g.Generate(in)
		if err != nil {
			t.Fatalf("Generate: %v", err)
		}
		checkGenerated(t, g, in, tok, expires)
	})
}

// checkGenerated checks a token Generate made from in: its signature, its
// header, and each claim against what SPEC section 6 says it holds.
func checkGenerated(t *testing.T, g *Generator, in *Input, tok string, expires time.Time) {
	t.Helper()
	encoding := EncodingBase64URL
	if g.enc == base64.RawStdEncoding {
		encoding = EncodingBase64
	}
	d := decode(t, tok, encoding)
	if g.alg == None {
		if len(d.sig) != 0 {
			t.Fatal("a signature on an alg none token")
		}
	} else if err := verifyStd(g.alg, g.pub, d.signingInput, d.sig); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if d.header["alg"] != g.alg || d.header["typ"] != "JWT" || (g.kid != "" && d.header["kid"] != g.kid) {
		t.Fatalf("header %v", d.header)
	}
	if dup, err := duplicateName(d.payload); err != nil || (dup != "" && !inputHasDuplicates(in)) {
		t.Fatalf("payload: duplicate member %q (%v): %s", dup, err, d.payload)
	}
	if keys := payloadKeys(t, d.payload); len(keys) != len(slices.Compact(slices.Sorted(slices.Values(keys)))) {
		t.Fatalf("duplicate top-level claim: %v", keys)
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(d.payload, &out); err != nil {
		t.Fatalf("payload: %v", err)
	}

	s := &g.s
	str := func(v string) json.RawMessage { return appendJSONString(nil, v) }
	want := map[string]json.RawMessage{
		"iss":                            str(s.issuer),
		"iat":                            json.RawMessage(strconv.FormatInt(fuzzNow.Unix(), 10)),
		"exp":                            json.RawMessage(strconv.FormatInt(fuzzNow.Unix()+g.lifetime, 10)),
		s.names[nameAPIName]:             str(fuzzAPI.Name),
		s.names[nameVersion]:             str(fuzzAPI.Version),
		s.names[nameAPIContext]:          str(fuzzAPI.Context),
		s.names[nameTier]:                str(fuzzSubscription.Tier),
		s.names[nameEnduserTenantDomain]: str(fuzzSubscription.TenantDomain),
		s.names[nameKeytype]:             str("PRODUCTION"),
		s.names[nameUsertype]:            str("Application_User"),
	}
	switch len(s.audience) {
	case 0:
	case 1:
		want["aud"] = str(s.audience[0])
	default:
		want["aud"] = appendJSONStrings(nil, s.audience)
	}
	if sub, ok := in.Claims["sub"]; ok {
		want["sub"] = sub
	}
	if eu, ok := wantEnduser(in); ok {
		want[s.names[nameEnduser]] = eu
	}
	if kt, ok := in.Claims["keytype"]; ok {
		want[s.names[nameKeytype]] = kt
	}
	var app map[string]json.RawMessage
	if json.Unmarshal(in.Claims["application"], &app) == nil {
		for member, n := range map[string]int{"uuid": nameApplicationUUID,
			"owner": nameSubscriber, "name": nameApplicationName, "tier": nameApplicationTier} {
			if v, ok := app[member]; ok {
				want[s.names[n]] = v
			}
		}
		if id := bytes.TrimSpace(app["id"]); len(id) > 0 {
			switch {
			case id[0] == '"':
				want[s.names[nameApplicationID]] = id
			case id[0] == '-' || ('0' <= id[0] && id[0] <= '9'):
				want[s.names[nameApplicationID]] = json.RawMessage(`"` + string(id) + `"`)
			}
		}
	}
	if expires.Unix() != fuzzNow.Unix()+g.lifetime {
		t.Fatalf("expires %v", expires)
	}
	for name, w := range want {
		got, ok := out[name]
		if !ok {
			t.Fatalf("claim %q absent, want %s", name, w)
		}
		if name == s.names[nameEnduser] && sameString(got, w) {
			continue
		}
		if !bytes.Equal(got, bytes.TrimSpace(w)) {
			t.Fatalf("claim %q = %s, want %s", name, got, w)
		}
	}
	var jti string
	if json.Unmarshal(out["jti"], &jti) != nil || !uuidV4.MatchString(jti) {
		t.Fatalf("jti %s is not a fresh version 4 UUID", out["jti"])
	}
	custom := wantCustom(t, g, in)
	for name, got := range out {
		if _, standard := want[name]; standard || name == "jti" {
			continue
		}
		if _, restricted := s.restricted[name]; restricted {
			t.Fatalf("restricted claim %q copied: %s", name, got)
		}
		if _, standard := s.standard[name]; standard {
			t.Fatalf("standard claim %q copied: %s", name, got)
		}
		w, ok := custom[name]
		if !ok {
			t.Fatalf("claim %q = %s is neither standard nor the access token's", name, got)
		}
		if !bytes.Equal(got, w) {
			t.Fatalf("claim %q = %s, want %s", name, got, w)
		}
	}
	for name, w := range custom {
		if _, ok := out[name]; !ok {
			t.Fatalf("claim %q (%s) not copied", name, w)
		}
	}
}

// sameString reports whether two JSON values are strings of the same value.
func sameString(a, b []byte) bool {
	var x, y string
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && x == y
}

// wantEnduser is D/enduser by SPEC sections 6 and 14, written afresh: the
// sub, unless the token has a string aut and the subscriber's tenant is
// known.
func wantEnduser(in *Input) (json.RawMessage, bool) {
	sub, hasSub := in.Claims["sub"]
	tenant := in.SubscriberTenant
	if tenant == "" && in.Subscription != nil {
		tenant = in.Subscription.TenantDomain
	}
	var aut string
	if json.Unmarshal(in.Claims["aut"], &aut) != nil || tenant == "" {
		return sub, hasSub
	}
	str := func(s string) json.RawMessage { b, _ := json.Marshal(s); return b }
	if strings.EqualFold(aut, "APPLICATION") {
		var app struct{ Owner *string }
		owner := ""
		if json.Unmarshal(in.Claims["application"], &app) == nil && app.Owner != nil {
			owner = *app.Owner
		} else if in.Application != nil && in.Application.Subscriber != "" {
			owner = in.Application.Subscriber
		} else {
			return sub, hasSub
		}
		if tenant == "carbon.super" && !strings.HasSuffix(owner, "@carbon.super") {
			owner += "@carbon.super"
		}
		return str(owner), true
	}
	var user string
	if json.Unmarshal(sub, &user) != nil {
		return sub, hasSub
	}
	if !strings.HasSuffix(user, "@"+tenant) {
		user += "@" + tenant
	}
	return str(user), true
}

// wantCustom returns the copied and retrieved claims by SPEC sections 6
// and 14, written afresh: restricted and standard names dropped before and
// after conversion, a converted claim over one of its name from the same
// source (the first source name in order among several), a retrieved over
// a copied one.
func wantCustom(t *testing.T, g *Generator, in *Input) map[string]json.RawMessage {
	t.Helper()
	s := &g.s
	table := map[string]string{}
	if r := s.rules["mail"]; r.to != "" { // the generator that converts
		table = DefaultDialectTable()
		for k, v := range fuzzDialectMap {
			table[k] = v
		}
	}
	type candidate struct {
		rank  int
		src   string
		value json.RawMessage
	}
	best := map[string]candidate{}
	dropped := func(name string) bool {
		_, r := s.restricted[name]
		_, std := s.standard[name]
		return r || std
	}
	offer := func(name string, base int, value json.RawMessage) {
		if dropped(name) {
			return
		}
		final, rank := name, base
		if local, ok := table[name]; ok {
			final, rank = s.prefix+local, base+1
			if dropped(final) {
				return
			}
		}
		c, ok := best[final]
		if !ok || rank > c.rank || (rank == c.rank && name < c.src) {
			best[final] = candidate{rank, name, value}
		}
	}
	for name, raw := range in.Claims {
		offer(name, 1, bytes.TrimSpace(raw))
	}
	for name, v := range in.Retrieved {
		// A string as appendJSONString writes it (the payload's own
		// escaping, checked against encoding/json elsewhere); anything
		// else as encoding/json does.
		var b []byte
		if str, ok := v.(string); ok {
			b = appendJSONString(nil, str)
		} else {
			var err error
			if b, err = json.Marshal(v); err != nil {
				t.Fatal(err)
			}
		}
		offer(name, 3, b)
	}
	out := make(map[string]json.RawMessage, len(best))
	for name, c := range best {
		out[name] = c.value
	}
	return out
}

// inputHasDuplicates reports whether a claim value of in repeats a member
// name, which Generate copies as it is.
func inputHasDuplicates(in *Input) bool {
	for _, raw := range in.Claims {
		if dup, err := duplicateName(raw); err != nil || dup != "" {
			return true
		}
	}
	return false
}

// duplicateName returns a member name that an object of the JSON value
// data repeats (at any depth), or "".
func duplicateName(data []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // numbers beyond float64 (1e1000) are valid JSON
	type frame struct {
		object bool
		names  map[string]bool
		key    bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch tok := tok.(type) {
		case json.Delim:
			if tok == '{' || tok == '[' {
				if top != nil && top.object {
					top.key = true
				}
				stack = append(stack, &frame{object: tok == '{', names: map[string]bool{}, key: true})
			} else {
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if top != nil && top.object && top.key {
				if top.names[tok] {
					return tok, nil
				}
				top.names[tok], top.key = true, false
				continue
			}
		}
		if top != nil && top.object {
			top.key = true
		}
	}
}
