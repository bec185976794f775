package validator

import (
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// restrictionsOf reads restrictions from the two claims as an API key
// holds them; nil values are absent claims.
func restrictionsOf(t testing.TB, permittedIP, permittedReferer any) (*Restrictions, error) {
	t.Helper()
	claims := map[string]json.RawMessage{}
	for name, v := range map[string]any{"permittedIP": permittedIP, "permittedReferer": permittedReferer} {
		if v != nil {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			claims[name] = b
		}
	}
	return readRestrictions(claims)
}

func TestReadRestrictions(t *testing.T) {
	tests := []struct {
		name                   string
		ip, referer            any
		wantNil                bool
		wantInvalid            bool
		addresses              []string // as netip.Prefix.String
		referers               []string
		wantAddrs, wantPattern int
	}{
		{name: "neither claim", wantNil: true},
		{name: "both empty (as API Manager writes no restriction)", ip: "", referer: "", wantNil: true},
		{name: "both blank", ip: " \t ", referer: "  ", wantNil: true},
		{name: "null", ip: json.RawMessage("null"), wantNil: true},
		{name: "IPv4", ip: "192.0.2.10", addresses: []string{"192.0.2.10/32"}},
		{name: "IPv6", ip: "2001:db8::1", addresses: []string{"2001:db8::1/128"}},
		{name: "CIDR, both families", ip: "10.0.0.0/8,2001:db8::/32", addresses: []string{"10.0.0.0/8", "2001:db8::/32"}},
		{name: "host bits masked", ip: "10.1.2.3/8", addresses: []string{"10.0.0.0/8"}},
		{name: "IPv4-mapped entries held as IPv4", ip: "::ffff:192.0.2.1, ::ffff:10.0.0.0/104",
			addresses: []string{"192.0.2.1/32", "10.0.0.0/8"}},
		{name: "short IPv4-mapped range stays IPv6", ip: "::ffff:0:0/80", addresses: []string{"::/80"}},
		{name: "spaces around entries", ip: " 192.0.2.10 ,\t2001:db8::1 ,", addresses: []string{"192.0.2.10/32", "2001:db8::1/128"}},
		{name: "empty entries skipped", ip: "192.0.2.10,,192.0.2.11", addresses: []string{"192.0.2.10/32", "192.0.2.11/32"}},
		{name: "referer patterns trimmed", referer: " https://example.com/* , *.example.org ", referers: []string{"https://example.com/*", "*.example.org"}},
		{name: "bad address", ip: "192.0.2.300", wantInvalid: true},
		{name: "hostname", ip: "intranet.example.com", wantInvalid: true},
		{name: "prefix too long", ip: "10.0.0.0/33", wantInvalid: true},
		{name: "IPv6 zone", ip: "fe80::1%eth0", wantInvalid: true},
		{name: "leading zeros", ip: "010.0.0.1", wantInvalid: true},
		{name: "one bad entry among good ones", ip: "10.0.0.1, nope, 10.0.0.2", wantInvalid: true},
		{name: "only commas", ip: " , ,", wantInvalid: true},
		{name: "referer only commas", referer: ",", wantInvalid: true},
		{name: "address list not a string", ip: []string{"10.0.0.1"}, wantInvalid: true},
		{name: "referer list not a string", referer: 7, wantInvalid: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := restrictionsOf(t, tc.ip, tc.referer)
			switch {
			case tc.wantInvalid:
				if !errors.Is(err, ErrInvalid) || r != nil {
					t.Fatalf("got %+v, %v; want ErrInvalid", r, err)
				}
				return
			case err != nil:
				t.Fatal(err)
			case tc.wantNil:
				if r != nil {
					t.Fatalf("got %+v, want none", r)
				}
				return
			case r == nil:
				t.Fatal("no restrictions")
			}
			var got []string
			for _, p := range r.Addresses {
				got = append(got, p.String())
			}
			if strings.Join(got, " ") != strings.Join(tc.addresses, " ") || strings.Join(r.Referers, " ") != strings.Join(tc.referers, " ") {
				t.Fatalf("addresses %q referers %q, want %q %q", got, r.Referers, tc.addresses, tc.referers)
			}
		})
	}
}

func TestPermits(t *testing.T) {
	addr := netip.MustParseAddr
	tests := []struct {
		name        string
		ip, referer string // the claims
		client      netip.Addr
		from        string // the Referer
		allowed     bool
		mentions    string // in the error
	}{
		{"no restriction", "", "", netip.Addr{}, "", true, ""},
		{"IPv4 listed", "192.0.2.10", "", addr("192.0.2.10"), "", true, ""},
		{"IPv4 not listed", "192.0.2.10", "", addr("192.0.2.11"), "", false, "192.0.2.11"},
		{"IPv6 listed", "2001:db8::1", "", addr("2001:db8::1"), "", true, ""},
		{"IPv6 written another way", "2001:db8:0:0::1", "", addr("2001:db8::1"), "", true, ""},
		{"IPv6 not listed", "2001:db8::1", "", addr("2001:db8::2"), "", false, "permittedIP"},
		{"in an IPv4 range", "10.0.0.0/8", "", addr("10.200.3.4"), "", true, ""},
		{"outside an IPv4 range", "10.0.0.0/8", "", addr("11.0.0.1"), "", false, ""},
		{"in an IPv6 range", "2001:db8::/32", "", addr("2001:db8:ffff::1"), "", true, ""},
		{"outside an IPv6 range", "2001:db8::/32", "", addr("2001:db9::1"), "", false, ""},
		{"IPv4-mapped client, IPv4 entry", "10.0.0.0/8", "", addr("::ffff:10.1.2.3"), "", true, ""},
		{"IPv4-mapped client, IPv4-mapped entry", "::ffff:10.1.2.3", "", addr("::ffff:10.1.2.3"), "", true, ""},
		{"IPv4 client, IPv4-mapped entry", "::ffff:10.1.2.3", "", addr("10.1.2.3"), "", true, ""},
		{"IPv4 client, IPv6 entry", "2001:db8::/32", "", addr("10.1.2.3"), "", false, ""},
		{"zoned client", "fe80::/10", "", addr("fe80::1%eth0"), "", true, ""},
		{"entries with spaces, second matches", " 192.0.2.1 , 192.0.2.2 ", "", addr("192.0.2.2"), "", true, ""},
		{"unknown client address", "10.0.0.0/8", "", netip.Addr{}, "", false, "unknown"},
		{"exact referer", "", "https://example.com/app", netip.Addr{}, "https://example.com/app", true, ""},
		{"exact referer, longer", "", "https://example.com/app", netip.Addr{}, "https://example.com/app/x", false, "permittedReferer"},
		{"exact referer is case-sensitive", "", "https://example.com/", netip.Addr{}, "https://EXAMPLE.com/", false, ""},
		{"dot is literal", "", "https://example.com/", netip.Addr{}, "https://exampleXcom/", false, ""},
		{"star at the end", "", "https://example.com/*", netip.Addr{}, "https://example.com/a/b?c=d", true, ""},
		{"star at the end matches nothing", "", "https://example.com/*", netip.Addr{}, "https://example.com/", true, ""},
		{"star at the start", "", "*.example.com/", netip.Addr{}, "https://www.example.com/", true, ""},
		{"star in the middle", "", "https://*.example.com/", netip.Addr{}, "https://a.b.example.com/", true, ""},
		{"star in the middle, no subdomain", "", "https://*.example.com/", netip.Addr{}, "https://example.com/", false, ""},
		{"several stars", "", "*://*.example.com/*", netip.Addr{}, "http://shop.example.com/cart", true, ""},
		{"several stars, no match", "", "*://*.example.com/*", netip.Addr{}, "http://shop.example.org/cart", false, ""},
		{"star matches spaces", "", "https://example.com/*", netip.Addr{}, "https://example.com/a b", true, ""},
		{"second pattern matches", "", "https://a.example/*, https://b.example/*", netip.Addr{}, "https://b.example/x", true, ""},
		{"missing Referer", "", "https://example.com/*", netip.Addr{}, "", false, "no Referer"},
		{"missing Referer, pattern *", "", "*", netip.Addr{}, "", false, "no Referer"},
		{"pattern * matches any Referer", "", "*", netip.Addr{}, "x", true, ""},
		{"both, both pass", "10.0.0.0/8", "https://example.com/*", addr("10.0.0.1"), "https://example.com/", true, ""},
		{"both, address fails", "10.0.0.0/8", "https://example.com/*", addr("11.0.0.1"), "https://example.com/", false, "permittedIP"},
		{"both, referer fails", "10.0.0.0/8", "https://example.com/*", addr("10.0.0.1"), "https://evil.example/", false, "permittedReferer"},
		{"long referer truncated in the error", "", "https://example.com/*", netip.Addr{}, "https://evil.example/" + strings.Repeat("a", 200), false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := restrictionsOf(t, tc.ip, tc.referer)
			if err != nil {
				t.Fatal(err)
			}
			err = r.Permits(tc.client, tc.from)
			if tc.allowed {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrForbidden) {
				t.Fatalf("got %v, want ErrForbidden", err)
			}
			if !strings.Contains(err.Error(), tc.mentions) {
				t.Fatalf("error %q does not mention %q", err, tc.mentions)
			}
			if len(tc.from) > 64 && strings.Contains(err.Error(), tc.from[:65]) {
				t.Fatalf("error %q holds more than 64 bytes of the Referer", err)
			}
		})
	}
}

// TestPermitsAllocations: the check that runs on every request allocates
// nothing when it permits.
func TestPermitsAllocations(t *testing.T) {
	r, err := restrictionsOf(t, "192.0.2.0/24, 2001:db8::/32", "https://*.example.com/*, https://example.org/*")
	if err != nil {
		t.Fatal(err)
	}
	client := netip.MustParseAddr("::ffff:192.0.2.7")
	if n := testing.AllocsPerRun(100, func() {
		if err := r.Permits(client, "https://example.org/page"); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("Permits makes %v allocations", n)
	}
}

func TestMatchReferer(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"**", "abc", true},
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"a*", "a", true},
		{"a*", "ba", false},
		{"*a", "ba", true},
		{"*a", "ab", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "acb", false},
		{"a*bc*bc", "abcbc", true},
		{"a*bc*bc", "abc", false}, // the suffix may not reuse the middle part
		{"ab*ba", "aba", false},   // nor the prefix
		{"*ab*ab*", "xabyab", true},
		{"*aa*aa", "aaa", false},
		{"*aa*aa", "aaaa", true},
		{"h*://x", "h://x", true},
	}
	for _, tc := range tests {
		if got := matchReferer(tc.pattern, tc.s); got != tc.want {
			t.Errorf("matchReferer(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
	// Many stars and a long referer that almost matches: a backtracking
	// matcher takes time exponential in the stars here, this one linear.
	pattern := strings.Repeat("*a", 5000) + "*b"
	referer := strings.Repeat("a", 200000)
	if matchReferer(pattern, referer) {
		t.Fatal("matched a referer without b")
	}
	if !matchReferer(pattern, referer+"b") {
		t.Fatal("did not match")
	}
}

// referenceMatch is matchReferer as a regular expression: the pattern
// quoted, each star any run of characters, anchored at both ends.
func referenceMatch(pattern, s string) bool {
	re := regexp.MustCompile(`(?s)\A` + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, `.*`) + `\z`)
	return re.MatchString(s)
}

// dynamicMatch is matchReferer by dynamic programming over bytes, for
// inputs that are not valid UTF-8 (which regexp reads as runes).
func dynamicMatch(pattern, s string) bool {
	// can[j]: pattern[:i] matches s[:j].
	can := make([]bool, len(s)+1)
	can[0] = true
	for i := 0; i < len(pattern); i++ {
		next := make([]bool, len(s)+1)
		for j := 0; j <= len(s); j++ {
			if pattern[i] == '*' {
				next[j] = can[j] || (j > 0 && next[j-1])
			} else {
				next[j] = j > 0 && can[j-1] && s[j-1] == pattern[i]
			}
		}
		can = next
	}
	return can[len(s)]
}

// FuzzRefererMatch: matchReferer never panics and agrees with a regular
// expression made from the pattern (and, for any bytes, with a dynamic
// programming matcher).
func FuzzRefererMatch(f *testing.F) {
	for _, seed := range [][2]string{
		{"https://*.example.com/*", "https://www.example.com/a"},
		{"*", ""}, {"", ""}, {"a*b*c", "abc"}, {"a*bc*bc", "abc"}, {"*aa*aa", "aaa"},
		{"https://example.com/", "https://exampleXcom/"}, {"\\*", "\\x"}, {".*", "ab"},
		{"*\xff*", "a\xffb"}, {"日本*語", "日本の語"}, {"a\nb*", "a\nbc"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if len(pattern) > 512 || len(s) > 2048 {
			return // the references are quadratic
		}
		got := matchReferer(pattern, s)
		if want := dynamicMatch(pattern, s); got != want {
			t.Fatalf("matchReferer(%q, %q) = %v, dynamic programming %v", pattern, s, got, want)
		}
		if utf8.ValidString(pattern) && utf8.ValidString(s) {
			if want := referenceMatch(pattern, s); got != want {
				t.Fatalf("matchReferer(%q, %q) = %v, regexp %v", pattern, s, got, want)
			}
		}
	})
}

// FuzzPermittedIP: the permittedIP parser never panics; it refuses with
// ErrInvalid or gives one masked, zone-free prefix per non-empty entry, and
// it accepts no entry that package net refuses; for every entry net reads,
// whether the client address falls in it agrees with net.IPNet.Contains.
func FuzzPermittedIP(f *testing.F) {
	for _, seed := range []string{
		"", " ", ",", "192.0.2.10", "2001:db8::1", "10.0.0.0/8, 2001:db8::/32", "::ffff:10.0.0.0/104",
		"::ffff:0:0/80", "::ffff:0:0/96", "10.1.2.3/8", " 1.2.3.4 ,, 5.6.7.8 ", "fe80::1%eth0", "010.0.0.1",
		"1.2.3.4/33", "1.2.3.4/08", "::1.2.3.4", "host.example", "1.2.3.4\x00", "1.2.3.4/-1",
	} {
		f.Add(seed, []byte{10, 1, 2, 3})
		f.Add(seed, []byte(netip.MustParseAddr("::ffff:10.1.2.3").AsSlice()))
	}
	f.Fuzz(func(t *testing.T, list string, clientBytes []byte) {
		prefixes, err := parsePermittedIP(list)
		if err != nil {
			if !errors.Is(err, ErrInvalid) || prefixes != nil {
				t.Fatalf("error %v with %d prefixes", err, len(prefixes))
			}
			if len(list) > 100 && strings.Contains(err.Error(), list) {
				t.Fatal("the error quotes the whole list")
			}
			return
		}
		var entries []string
		for e := range strings.SplitSeq(list, ",") {
			if e = strings.TrimFunc(e, func(r rune) bool { return r <= ' ' }); e != "" {
				entries = append(entries, e)
			}
		}
		if len(prefixes) != len(entries) {
			t.Fatalf("%d prefixes from %d entries of %q", len(prefixes), len(entries), list)
		}
		client, _ := netip.AddrFromSlice(clientBytes)
		r := &Restrictions{Addresses: prefixes}
		for i, p := range prefixes {
			if !p.IsValid() || p != p.Masked() || p.Addr().Zone() != "" || (p.Addr().Is4In6() && p.Bits() >= 96) {
				t.Fatalf("entry %q read as %v", entries[i], p)
			}
			ipnet := referenceNet(entries[i])
			if ipnet == nil {
				t.Fatalf("entry %q accepted, package net refuses it", entries[i])
			}
			if !client.IsValid() {
				continue
			}
			one := &Restrictions{Addresses: []netip.Prefix{p}}
			if got, want := one.Permits(client, "") == nil, ipnet.Contains(net.IP(clientBytes)); got != want {
				t.Fatalf("entry %q (%v), client %v: permitted %v, net says %v", entries[i], p, client, got, want)
			}
		}
		if len(prefixes) > 0 && !client.IsValid() && r.Permits(client, "") == nil {
			t.Fatal("an unknown client address permitted")
		}
	})
}

// referenceNet reads a permittedIP entry with package net: a CIDR range,
// or an address as the range of its full length; nil when net refuses it.
func referenceNet(entry string) *net.IPNet {
	if strings.Contains(entry, "/") {
		_, n, err := net.ParseCIDR(entry)
		if err != nil {
			return nil
		}
		return n
	}
	ip := net.ParseIP(entry)
	if ip == nil {
		return nil
	}
	if v4 := ip.To4(); v4 != nil && !strings.Contains(entry, ":") {
		return &net.IPNet{IP: v4, Mask: net.CIDRMask(32, 32)}
	}
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(128, 128)}
}
