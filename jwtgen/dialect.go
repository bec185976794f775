package jwtgen

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// defaultDialectTable is WSO2 Identity Server's default mapping of OIDC
// claim names to the local names of the http://wso2.org/claims dialect
// (SPEC section 14, "Dialect conversion"), the pairs API Manager's
// ConvertClaimsToConsumerDialect converts with.
var defaultDialectTable = map[string]string{
	"email":                 "emailaddress",
	"given_name":            "givenname",
	"family_name":           "lastname",
	"phone_number":          "telephone",
	"name":                  "fullname",
	"preferred_username":    "displayName",
	"middle_name":           "middleName",
	"nickname":              "nickname",
	"profile":               "url",
	"picture":               "photourl",
	"website":               "websiteurl",
	"upn":                   "userprincipal",
	"groups":                "groups",
	"roles":                 "roles",
	"email_verified":        "identity/emailVerified",
	"phone_number_verified": "identity/phoneVerified",
	"gender":                "gender",
	"birthdate":             "dob",
	"zoneinfo":              "timeZone",
	"locale":                "local",
	"address":               "addresses",
	"updated_at":            "modified",
	"street_address":        "streetaddress",
	"locality":              "locality",
	"region":                "region",
	"postal_code":           "postalcode",
	"country":               "country",
	"username":              "username",
}

// DefaultDialectTable returns a copy of the OIDC claim names that
// Config.ConvertDialect converts, each with its local name: the claim
// becomes the dialect, a "/" (by the rule of Config.Dialect) and the local
// name, so email becomes http://wso2.org/claims/emailaddress under the
// default dialect.
func DefaultDialectTable() map[string]string { return maps.Clone(defaultDialectTable) }

// StandardClaimNames returns the names of the claims of SPEC section 6's
// table under cfg's dialect: iss, aud, jti, iat, exp, sub and the dialect
// claims (enduser, applicationid, applicationUUId, subscriber,
// applicationname, applicationtier, apiname, version, apicontext, tier,
// enduserTenantDomain, keytype, usertype, enduserTenantId,
// applicationAttributes), whether or not a token carries them. A copied,
// retrieved or converted claim of one of these names is never written; a
// static claim of one is skipped by Generate, and a caller refuses it at
// configuration time.
func StandardClaimNames(cfg Config) []string {
	prefix := dialectPrefix(cfg.Dialect)
	names := make([]string, 0, len(registeredStandard)+numNames)
	names = append(names, registeredStandard...)
	for _, suffix := range dialectSuffixes {
		names = append(names, prefix+suffix)
	}
	return names
}

// registeredStandard are the registered claims of SPEC section 6's table.
var registeredStandard = []string{"iss", "aud", "jti", "iat", "exp", "sub"}

// IsStandardClaim reports whether name is a claim of SPEC section 6's table
// under the Generator's dialect (see StandardClaimNames).
func (g *Generator) IsStandardClaim(name string) bool {
	_, ok := g.s.standard[name]
	return ok
}

// rule is what happens to a copied or retrieved claim of one name: dropped,
// or written under to (when converted) or its own name.
type rule struct {
	drop bool
	// to is the converted name, "" when the claim keeps its name.
	to string
	// prio orders the conversions that produce the same name: the lower
	// one wins (the source names in sorted order).
	prio uint16
}

// maxDialectMap bounds Config.DialectMap, so that prio fits.
const maxDialectMap = 1 << 12

// buildRules makes the per-name rules of s from cfg: the restricted and
// standard names dropped, the conversions (with their targets checked
// against the restricted names and the included ones), and the included
// names. Every name is formatted here, so that Generate builds none.
func (s *settings) buildRules(cfg Config) error {
	drop := make(map[string]struct{}, len(s.restricted)+len(s.standard))
	for n := range s.restricted {
		drop[n] = struct{}{}
	}
	for n := range s.standard {
		drop[n] = struct{}{}
	}
	var include map[string]struct{}
	if len(cfg.IncludeClaims) > 0 {
		include = make(map[string]struct{}, len(cfg.IncludeClaims))
		for _, n := range cfg.IncludeClaims {
			if n == "" {
				return errors.New("include_claims: an empty claim name")
			}
			include[n] = struct{}{}
		}
	}
	s.keepOthers = include == nil
	kept := func(name string) bool {
		if _, dropped := drop[name]; dropped {
			return false
		}
		if include == nil {
			return true
		}
		_, ok := include[name]
		return ok
	}

	s.rules = make(map[string]rule, len(drop)+len(include)+len(defaultDialectTable))
	if cfg.ConvertDialect {
		if len(cfg.DialectMap) > maxDialectMap {
			return fmt.Errorf("dialect_map: %d pairs, more than the %d allowed", len(cfg.DialectMap), maxDialectMap)
		}
		table := DefaultDialectTable()
		for oidc, local := range cfg.DialectMap {
			if oidc == "" || local == "" {
				return fmt.Errorf("dialect_map: an empty name in the pair %q %q", oidc, local)
			}
			table[oidc] = local
		}
		for i, oidc := range slices.Sorted(maps.Keys(table)) {
			to := s.prefix + table[oidc]
			if _, dropped := drop[oidc]; dropped { // restricted before conversion
				s.rules[oidc] = rule{drop: true}
				continue
			}
			s.rules[oidc] = rule{to: to, drop: !kept(to), prio: uint16(i)}
		}
	}
	for n := range drop {
		if _, ok := s.rules[n]; !ok {
			s.rules[n] = rule{drop: true}
		}
	}
	for n := range include {
		if _, ok := s.rules[n]; !ok {
			s.rules[n] = rule{}
		}
	}
	return nil
}

// route returns the name under which a copied (or retrieved) claim name is
// written and its rank: base, or base+1 when converted (a converted claim
// replaces one already of its name). ok is false when it is not written.
func (s *settings) route(name string, base uint8) (to string, rank uint8, prio uint16, ok bool) {
	r, found := s.rules[name]
	switch {
	case !found:
		return name, base, 0, s.keepOthers
	case r.drop:
		return "", 0, 0, false
	case r.to != "":
		return r.to, base + 1, r.prio, true
	}
	return name, base, 0, true
}
