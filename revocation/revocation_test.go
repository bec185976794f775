package revocation_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/revocation"
)

var now = time.Unix(1_800_000_000, 0)

func TestCheck(t *testing.T) {
	exp := now.Add(time.Hour).Unix()
	for _, tc := range []struct {
		name string
		e    revocation.Entry
		want string // "" valid
	}{
		{"jti", revocation.Entry{JTI: "0987c6d3", Exp: exp}, ""},
		{"signature", revocation.Entry{Signature: "abc-_DEF09", Exp: exp}, ""},
		{"neither", revocation.Entry{Exp: exp}, "give jti or signature"},
		{"both", revocation.Entry{JTI: "a", Signature: "b", Exp: exp}, "not both"},
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
	if err := b.Sync(ctx, storage, now, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if !b.Revoked("j1", "x") || !b.Revoked("y", "sig2") || b.Len() != 2 {
		t.Fatalf("list B after Sync: %v", b.Entries())
	}
	// j1 expires at now+1m: kept within the skew, removed after it, from storage too.
	later := now.Add(time.Minute + 4*time.Second)
	if err := b.Sync(ctx, storage, later, 5*time.Second); err != nil || !b.Revoked("j1", "") {
		t.Fatalf("within the skew: %v, revoked %v", err, b.Revoked("j1", ""))
	}
	later = now.Add(time.Minute + 6*time.Second)
	if err := b.Sync(ctx, storage, later, 5*time.Second); err != nil || b.Revoked("j1", "") {
		t.Fatalf("after exp+skew: %v, revoked %v", err, b.Revoked("j1", ""))
	}
	keys, _ := storage.List(ctx, revocation.Prefix, false)
	if len(keys) != 1 {
		t.Fatalf("storage holds %v, want only the signature's entry", keys)
	}
	if err := a.Sync(ctx, storage, later, 5*time.Second); err != nil || a.Revoked("j1", "") || !a.Revoked("", "sig2") {
		t.Fatalf("list A after Sync: %v %v", err, a.Entries())
	}
}

func TestSyncOfEmptyStorage(t *testing.T) {
	l := revocation.NewList()
	if err := l.Sync(context.Background(), &certmagic.FileStorage{Path: t.TempDir()}, now, time.Second); err != nil || l.Len() != 0 {
		t.Fatalf("Sync of a storage without revocations: %v, %d entries", err, l.Len())
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
