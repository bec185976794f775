package introspection

import (
	"context"
	"crypto/sha256"
	"testing"
)

// BenchmarkIntrospectCacheHit measures an opaque token answered from the
// cache: the hot path of an introspected token.
//
//	go test -run x -bench IntrospectCacheHit -benchmem ./introspection
func BenchmarkIntrospectCacheHit(b *testing.B) {
	k := newKM(b, respond(active(253402300799, `"scope":"read write"`)))
	in := newAnswers(b, k.config())
	digest := sha256.Sum256([]byte(testToken))
	ctx := context.Background()
	if _, _, err := in.Introspect(ctx, testToken, digest); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, cached, err := in.Introspect(ctx, testToken, digest); !cached || err != nil {
			b.Fatalf("cached %v, %v", cached, err)
		}
	}
}
