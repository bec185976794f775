package revocation_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/revocation"
)

var now = time.Unix(1_800_000_000, 0)

// skew is the clock skew the tests sync with.
const skew = 5 * time.Second

func TestCheck(t *testing.T) {
	exp := now.Add(time.Hour).Unix()
	for _, tc := range []struct {
		name string
		e    revocation.Entry
		want string // "" valid
	}{
		{"jti", revocation.Entry{JTI: "0987c6d3", Exp: exp}, ""},
		{"signature", revocation.Entry{Signature: "abc-_DEF09", Exp: exp}, ""},
		{"token_sha256", revocation.Entry{TokenSHA256: strings.Repeat("0f", 32), Exp: exp}, ""},
		{"none", revocation.Entry{Exp: exp}, "give jti, signature or token_sha256"},
		{"jti and signature", revocation.Entry{JTI: "a", Signature: "b", Exp: exp}, "not several"},
		{"signature and token_sha256", revocation.Entry{Signature: "b", TokenSHA256: strings.Repeat("0f", 32), Exp: exp}, "not several"},
		{"token_sha256 in upper case", revocation.Entry{TokenSHA256: strings.Repeat("0F", 32), Exp: exp}, "64 lowercase hex digits"},
		{"token_sha256 too short", revocation.Entry{TokenSHA256: strings.Repeat("0f", 31), Exp: exp}, "64 lowercase hex digits"},
		{"exp in the past", revocation.Entry{JTI: "a", Exp: now.Unix() - 1}, "in the past"},
		{"exp now", revocation.Entry{JTI: "a", Exp: now.Unix()}, "in the past"},
		{"exp more than a year ahead", revocation.Entry{JTI: "a", Exp: now.Add(367 * 24 * time.Hour).Unix()}, "more than a year ahead"},
		{"signature with a dot", revocation.Entry{Signature: "a.b", Exp: exp}, "not base64url"},
		{"jti with a newline", revocation.Entry{JTI: "a\nb", Exp: exp}, "control character"},
		{"jti too long", revocation.Entry{JTI: strings.Repeat("x", 4097), Exp: exp}, "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.e.Check(now)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Check: %v, want %q", err, tc.want)
			}
		})
	}
}

func TestKey(t *testing.T) {
	exp := now.Add(time.Hour).Unix()
	form := regexp.MustCompile(`^backend_jwt/revocations/(jti|sig)-[0-9a-f]{32}-[0-9]+\.json$`)
	for _, tc := range []struct {
		name         string
		a, b         revocation.Entry
		wantSameKeys bool
	}{
		{"same jti and exp, added at other times", revocation.Entry{JTI: "j", Exp: exp}, revocation.Entry{JTI: "j", Exp: exp, Added: 5}, true},
		{"same jti, other exp", revocation.Entry{JTI: "j", Exp: exp}, revocation.Entry{JTI: "j", Exp: exp + 1}, false},
		{"jti and signature of one value", revocation.Entry{JTI: "abc", Exp: exp}, revocation.Entry{Signature: "abc", Exp: exp}, false},
		{"other jti", revocation.Entry{JTI: "j1", Exp: exp}, revocation.Entry{JTI: "j2", Exp: exp}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ka, kb := tc.a.Key(), tc.b.Key()
			if !form.MatchString(ka) || !form.MatchString(kb) {
				t.Fatalf("keys %q, %q are not of the form %s", ka, kb, form)
			}
			if (ka == kb) != tc.wantSameKeys {
				t.Fatalf("keys %q, %q: same %v, want %v", ka, kb, ka == kb, tc.wantSameKeys)
			}
		})
	}
}

func TestAddSyncExpire(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	a, b := revocation.NewList(), revocation.NewList()
	if _, err := a.Add(ctx, storage, revocation.Entry{JTI: "j1", Exp: now.Add(time.Minute).Unix()}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Add(ctx, storage, revocation.Entry{Signature: "sig2", Exp: now.Add(time.Hour).Unix()}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Add(ctx, storage, revocation.Entry{Exp: now.Add(time.Hour).Unix()}, now); err == nil {
		t.Fatal("an entry without jti or signature was added")
	}
	if !a.Revoked("j1", "") || !a.Revoked("", "sig2") || a.Revoked("j2", "sig1") || a.Revoked("", "") {
		t.Fatal("list A does not hold what was added")
	}
	if b.Revoked("j1", "") {
		t.Fatal("list B knows j1 before syncing")
	}
	if err := b.Sync(ctx, storage, now, skew); err != nil {
		t.Fatal(err)
	}
	if !b.Revoked("j1", "x") || !b.Revoked("y", "sig2") || b.Len() != 2 {
		t.Fatalf("list B after Sync: %v", b.Entries(now, skew))
	}
	// j1 expires at now+1m: kept within the skew, removed after it, from storage too.
	later := now.Add(time.Minute + 4*time.Second)
	if err := b.Sync(ctx, storage, later, skew); err != nil || !b.Revoked("j1", "") {
		t.Fatalf("within the skew: %v, revoked %v", err, b.Revoked("j1", ""))
	}
	later = now.Add(time.Minute + 6*time.Second)
	if err := b.Sync(ctx, storage, later, skew); err != nil || b.Revoked("j1", "") {
		t.Fatalf("after exp+skew: %v, revoked %v", err, b.Revoked("j1", ""))
	}
	keys, _ := storage.List(ctx, revocation.Prefix, false)
	if len(keys) != 1 {
		t.Fatalf("storage holds %v, want only the signature's entry", keys)
	}
	if err := a.Sync(ctx, storage, later, skew); err != nil || a.Revoked("j1", "") || !a.Revoked("", "sig2") {
		t.Fatalf("list A after Sync: %v %v", err, a.Entries(later, skew))
	}
}

func TestSyncOfEmptyStorage(t *testing.T) {
	l := revocation.NewList()
	if err := l.Sync(context.Background(), &certmagic.FileStorage{Path: t.TempDir()}, now, time.Second); err != nil || l.Len() != 0 {
		t.Fatalf("Sync of a storage without revocations: %v, %d entries", err, l.Len())
	}
}

// TestHeldThroughSkew: an entry is in force through its end (a token's
// exp, a bulk entry's until) plus the skew, in Revoked or RevokedBefore and
// in Entries, and is dropped, here and in storage, after.
func TestHeldThroughSkew(t *testing.T) {
	end := now.Add(time.Minute)
	kinds := []struct {
		name    string
		entry   revocation.Entry
		revoked func(*revocation.List) bool
	}{
		{"token", revocation.Entry{JTI: "j", Exp: end.Unix()},
			func(l *revocation.List) bool { return l.Revoked("j", "") }},
		{"bulk", revocation.Entry{Subject: "alice", Before: now.Unix(), Until: end.Unix()},
			func(l *revocation.List) bool { return l.RevokedBefore("", "alice", now) }},
	}
	times := []struct {
		name     string
		at       time.Time
		wantHeld bool
	}{
		{"before its end", end.Add(-time.Second), true},
		{"at its end", end, true},
		{"within the skew", end.Add(skew - time.Second), true},
		{"at its end plus skew", end.Add(skew), true},
		{"after its end plus skew", end.Add(skew + time.Second), false},
	}
	for _, kind := range kinds {
		for _, tc := range times {
			t.Run(kind.name+" "+tc.name, func(t *testing.T) {
				ctx := context.Background()
				storage := &certmagic.FileStorage{Path: t.TempDir()}
				l := revocation.NewList()
				if _, err := l.Add(ctx, storage, kind.entry, now); err != nil {
					t.Fatal(err)
				}
				if listed := len(l.Entries(tc.at, skew)) == 1; listed != tc.wantHeld {
					t.Fatalf("before syncing, Entries lists it: %v, want %v", listed, tc.wantHeld)
				}
				if err := l.Sync(ctx, storage, tc.at, skew); err != nil {
					t.Fatal(err)
				}
				keys, _ := storage.List(ctx, revocation.Prefix, false)
				held, listed, stored := kind.revoked(l), len(l.Entries(tc.at, skew)) == 1, len(keys) == 1
				if held != tc.wantHeld || listed != tc.wantHeld || stored != tc.wantHeld {
					t.Fatalf("after syncing: revoked %v, entries %v, stored %v; want held %v",
						held, l.Entries(tc.at, skew), keys, tc.wantHeld)
				}
			})
		}
	}
}

// TestEntriesLatestPerToken: Entries gives each token once, with its
// latest exp, and only the entries in force.
func TestEntriesLatestPerToken(t *testing.T) {
	l := revocation.NewList()
	l.Put(
		revocation.Entry{JTI: "j", Exp: now.Add(time.Minute).Unix()},
		revocation.Entry{JTI: "j", Exp: now.Add(time.Hour).Unix()},
		revocation.Entry{Signature: "s", Exp: now.Add(time.Minute).Unix()},
	)
	if l.Len() != 2 {
		t.Fatalf("Len %d, want 2 tokens", l.Len())
	}
	for _, tc := range []struct {
		name string
		at   time.Time
		want map[string]int64 // jti or signature -> exp
	}{
		{"both in force", now, map[string]int64{"j": now.Add(time.Hour).Unix(), "s": now.Add(time.Minute).Unix()}},
		{"the minute passed", now.Add(2 * time.Minute), map[string]int64{"j": now.Add(time.Hour).Unix()}},
		{"the hour passed", now.Add(2 * time.Hour), map[string]int64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]int64{}
			for _, e := range l.Entries(tc.at, skew) {
				got[e.JTI+e.Signature] = e.Exp
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("Entries %v, want %v", got, tc.want)
			}
		})
	}
}

// BenchmarkRevoked is the request path's question with 10,000 entries in
// force: it must not allocate.
func BenchmarkRevoked(b *testing.B) {
	l := revocation.NewList()
	var entries []revocation.Entry
	for i := range 10000 {
		entries = append(entries, revocation.Entry{JTI: fmt.Sprintf("jti-%d", i), Exp: now.Add(time.Hour).Unix()})
	}
	l.Put(entries...)
	b.ReportAllocs()
	for b.Loop() {
		if l.Revoked("not-revoked", "nor-this-signature") {
			b.Fatal("revoked")
		}
	}
}

// TestTokenDigest: an entry naming the token by its SHA-256 refuses that
// token, on this list at once and on another after a Sync.
func TestTokenDigest(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	token := "an-opaque-token-3c1f"
	digest := sha256.Sum256([]byte(token))
	a, b := revocation.NewList(), revocation.NewList()
	if a.RevokedDigest(digest) {
		t.Fatal("revoked before any entry")
	}
	e := revocation.Entry{TokenSHA256: hex.EncodeToString(digest[:]), Exp: now.Add(time.Hour).Unix()}
	if _, err := a.Add(ctx, storage, e, now); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(ctx, storage, now, time.Second); err != nil {
		t.Fatal(err)
	}
	for name, l := range map[string]*revocation.List{"A": a, "B": b} {
		if !l.RevokedDigest(digest) || l.RevokedDigest(sha256.Sum256([]byte("another"))) || l.Revoked(e.TokenSHA256, "") {
			t.Errorf("list %s: the digest entry does not refuse exactly its token", name)
		}
		if got := l.Entries(now, time.Second); len(got) != 1 || got[0].TokenSHA256 != e.TokenSHA256 {
			t.Errorf("list %s entries: %+v", name, got)
		}
	}
}
