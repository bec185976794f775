package validator

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
)

// Restrictions are the limits a WSO2 API key carries on where it may be
// used from: its permittedIP and permittedReferer claims, read once when
// the key is validated. Like the Token that holds them they are shared
// between requests and must not be changed.
type Restrictions struct {
	// Addresses are the permittedIP entries, IPv4 addresses held as such
	// (an IPv4-mapped IPv6 entry too) and every prefix masked: the client
	// address must fall in one of them. Empty: no address restriction.
	Addresses []netip.Prefix
	// Referers are the permittedReferer patterns: the request's Referer
	// must match one of them wholly, byte for byte (so case-sensitively),
	// '*' matching any run of bytes, none included. Empty: no Referer
	// restriction.
	Referers []string
}

// Permits returns nil when a request from the client address with the
// Referer header value referer ("" when it has none) may use the key, else
// an error wrapping ErrForbidden that names the restriction that failed.
// Both restrictions apply when the key has both. The client address must
// be known (valid) when the key restricts addresses, and the Referer
// present when it restricts referers. A nil Restrictions permits every
// request. It does not allocate unless it refuses, and each pattern is
// matched in time linear in the lengths of the pattern and of referer.
func (r *Restrictions) Permits(client netip.Addr, referer string) error {
	if r == nil {
		return nil
	}
	if len(r.Addresses) > 0 && !r.permitsAddress(client) {
		if !client.IsValid() {
			return fmt.Errorf("%w: permittedIP is set and the client address is unknown", ErrForbidden)
		}
		return fmt.Errorf("%w: client address %s is not in permittedIP", ErrForbidden, client)
	}
	if len(r.Referers) > 0 {
		if referer == "" {
			return fmt.Errorf("%w: permittedReferer is set and the request has no Referer", ErrForbidden)
		}
		if !r.permitsReferer(referer) {
			return fmt.Errorf("%w: Referer %.64q matches no permittedReferer pattern", ErrForbidden, referer)
		}
	}
	return nil
}

// permitsAddress reports whether client falls in one of r.Addresses. An
// IPv4-mapped IPv6 address is compared as the IPv4 address it maps, and a
// zone is ignored.
func (r *Restrictions) permitsAddress(client netip.Addr) bool {
	if !client.IsValid() {
		return false
	}
	client = client.Unmap().WithZone("")
	for _, p := range r.Addresses {
		if p.Contains(client) {
			return true
		}
	}
	return false
}

// permitsReferer reports whether referer matches one of r.Referers.
func (r *Restrictions) permitsReferer(referer string) bool {
	for _, pattern := range r.Referers {
		if matchReferer(pattern, referer) {
			return true
		}
	}
	return false
}

// matchReferer reports whether s matches pattern wholly, where '*' in the
// pattern matches any run of bytes (none included) and every other byte
// itself. It takes time linear in len(s) plus len(pattern), whatever the
// number of stars: the part before the first star must begin s, the part
// after the last must end it, and the parts between are found in order,
// each at its leftmost place after the one before (which is the best
// place: it leaves the most room to the rest), so nothing is tried twice.
func matchReferer(pattern, s string) bool {
	star := strings.IndexByte(pattern, '*')
	if star < 0 {
		return pattern == s
	}
	if !strings.HasPrefix(s, pattern[:star]) {
		return false
	}
	s, pattern = s[star:], pattern[star+1:]
	middle, suffix := "", pattern
	if last := strings.LastIndexByte(pattern, '*'); last >= 0 {
		middle, suffix = pattern[:last], pattern[last+1:]
	}
	if !strings.HasSuffix(s, suffix) {
		return false
	}
	s = s[:len(s)-len(suffix)]
	for middle != "" {
		var part string
		part, middle, _ = strings.Cut(middle, "*")
		if part == "" {
			continue
		}
		i := strings.Index(s, part)
		if i < 0 {
			return false
		}
		s = s[i+len(part):]
	}
	return true
}

// readRestrictions reads an API key's permittedIP and permittedReferer
// claims: nil when neither restricts anything. A claim that is not a string
// (null is absent), an entry that is not an address or range, or a list
// that is not blank but holds no entry makes the key invalid.
func readRestrictions(claims map[string]json.RawMessage) (*Restrictions, error) {
	ips, err := restrictionClaim(claims, "permittedIP")
	if err != nil {
		return nil, err
	}
	referers, err := restrictionClaim(claims, "permittedReferer")
	if err != nil {
		return nil, err
	}
	var r Restrictions
	if r.Addresses, err = parsePermittedIP(ips); err != nil {
		return nil, err
	}
	if r.Referers, err = parsePermittedReferer(referers); err != nil {
		return nil, err
	}
	if len(r.Addresses) == 0 && len(r.Referers) == 0 {
		return nil, nil
	}
	return &r, nil
}

// restrictionClaim returns the string claim name, "" when it is absent or
// null.
func restrictionClaim(claims map[string]json.RawMessage, name string) (string, error) {
	raw, ok := claims[name]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	return stringValue(raw, name)
}

// parsePermittedIP reads a permittedIP list: entries separated by commas,
// each trimmed, an IPv4 or IPv6 address or a CIDR range. Empty entries are
// skipped; a blank list is no restriction (nil).
func parsePermittedIP(list string) ([]netip.Prefix, error) {
	var prefixes []netip.Prefix
	err := eachEntry(list, "permittedIP", func(entry string) error {
		p, ok := parseAddressEntry(entry)
		if !ok {
			return invalidf("permittedIP entry %.64q is not an IP address or CIDR range", entry)
		}
		prefixes = append(prefixes, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return prefixes, nil
}

// parseAddressEntry reads one permittedIP entry as a masked prefix: an
// address is the prefix of its full length, and an IPv4-mapped IPv6
// address or range of at least 96 bits is held as the IPv4 one it maps.
// Zones, hostnames and IPv4 parts with leading zeros are refused.
func parseAddressEntry(entry string) (netip.Prefix, bool) {
	var p netip.Prefix
	if strings.IndexByte(entry, '/') >= 0 {
		var err error
		if p, err = netip.ParsePrefix(entry); err != nil {
			return netip.Prefix{}, false
		}
	} else {
		a, err := netip.ParseAddr(entry)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, false
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), true
}

// parsePermittedReferer reads a permittedReferer list: patterns separated
// by commas, each trimmed. Empty entries are skipped; a blank list is no
// restriction (nil).
func parsePermittedReferer(list string) ([]string, error) {
	var patterns []string
	err := eachEntry(list, "permittedReferer", func(entry string) error {
		patterns = append(patterns, entry)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return patterns, nil
}

// eachEntry calls do with each comma-separated entry of list, trimmed as
// Java's String.trim trims (every character up to the space), skipping
// empty ones. A list that is not blank but holds no entry (",") is an
// error wrapping ErrInvalid, as is any error do returns.
func eachEntry(list, claim string, do func(entry string) error) error {
	if trimJava(list) == "" {
		return nil
	}
	entries := 0
	for rest := list; ; {
		entry, more, found := strings.Cut(rest, ",")
		if entry = trimJava(entry); entry != "" {
			entries++
			if err := do(entry); err != nil {
				return err
			}
		}
		if !found {
			break
		}
		rest = more
	}
	if entries == 0 {
		return invalidf("%s %.64q holds no entry", claim, list)
	}
	return nil
}

// trimJava trims s as Java's String.trim does: every leading and trailing
// character from U+0000 to the space.
func trimJava(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
}
