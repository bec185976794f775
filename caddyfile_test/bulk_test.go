package caddyfile_test

// SPEC 14's bulk revocation: every token of a consumer key or of a user
// issued before a time, from API Manager 4.x's revoked lists and from the
// admin API.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/apimfake"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

// TestBulkRevocationFromAPIManager: a token issued at or before an entry
// of revokedJWTConsumerKeyList or revokedJWTSubjectEntityList is refused,
// even when cached; one issued after it passes.
func TestBulkRevocationFromAPIManager(t *testing.T) {
	s := newAPIMSite(t, false)
	now := time.Now()
	old, fresh := now.Add(-time.Hour).Unix(), now.Unix()
	issued := func(azp, sub string, iat int64) string {
		return apimToken(t, map[string]any{"azp": azp, "sub": sub, "iat": iat, "nbf": iat, "jti": fmt.Sprintf("%s-%s-%d", azp, sub, iat)})
	}
	tokens := map[string]string{
		"consumer key, old":  issued("UNBLOCKED-prod", "alice@carbon.super", old),
		"consumer key, new":  issued("UNBLOCKED-prod", "alice@carbon.super", fresh+1),
		"client id, old":     issued("UNBLOCKED-sand", "alice@carbon.super", old),
		"user id, old":       issued("TIER_UPDATE_PENDING-prod", "mallory@carbon.super", old),
		"user id, other sub": issued("TIER_UPDATE_PENDING-prod", "mallory", old),
		"untouched":          issued("TIER_UPDATE_PENDING-sand", "alice@carbon.super", old),
	}
	for name, tok := range tokens {
		testkit.WaitFor(t, name+" to pass before the revocation", func() bool { return s.g.Get("/", bearer(tok)...).Status == 200 })
	}
	at := now.Add(-time.Minute).UnixMilli() // after the old tokens, before the new one
	s.apim.Update(func(d *apimfake.Data) {
		d.RevokedConsumerKeys = []apimfake.Record{apimfake.RevokedConsumerKey("UNBLOCKED-prod", at)}
		d.RevokedSubjects = []apimfake.Record{
			apimfake.RevokedSubjectEntity("UNBLOCKED-sand", apimfake.EntityClientID, at),
			apimfake.RevokedSubjectEntity("mallory@carbon.super", apimfake.EntityUserID, at),
		}
	})
	testkit.WaitFor(t, "the bulk revocations to be read", func() bool {
		return s.g.Get("/", bearer(tokens["consumer key, old"])...).Status == http.StatusUnauthorized
	})
	for name, want := range map[string]int{
		"consumer key, old": 401, "consumer key, new": 200, "client id, old": 401,
		"user id, old": 401, "user id, other sub": 200, "untouched": 200,
	} {
		r := s.g.Get("/", bearer(tokens[name])...)
		if want == 401 {
			wantFault(t, r, 401, 900901)
		} else if r.Status != 200 {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
}

// TestBulkRevocationFromAdminAPI: consumer_key and subject entries posted
// to one instance refuse the tokens issued before them on both instances
// sharing a storage; bad entries are refused and change nothing.
func TestBulkRevocationFromAdminAPI(t *testing.T) {
	k := testkit.Keys()
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: k.RSA})
	upstream := testkit.NewUpstream(t)
	a, b := newGateway(t), newGateway(t)
	b.Storage = a.Storage
	site := fmt.Sprintf(`
	backend_jwt {
		issuer %s {
			jwks_url %s
		}
		clock_skew 1s
		revocation_sync 1s
	}
	reverse_proxy %s`, wso2Issuer, jwks.URL, upstream.Listener.Addr())
	b.StartChild(site)
	a.Start(site)
	testkit.WaitFor(t, "B to answer", func() bool { _, err := b.TryGet("/"); return err == nil })
	now := time.Now()
	issued := func(azp, sub string, iat int64) string {
		return testkit.AccessToken(t, wso2Issuer, map[string]any{"azp": azp, "sub": sub, "iat": iat, "nbf": iat, "jti": fmt.Sprintf("%s-%s-%d", azp, sub, iat)})
	}
	oldApp, newApp := issued("app-key", "alice", now.Add(-time.Hour).Unix()), issued("app-key", "alice", now.Unix()+2)
	oldUser, otherUser := issued("other-key", "bob@carbon.super", now.Add(-time.Hour).Unix()), issued("other-key", "carol", now.Add(-time.Hour).Unix())
	before := now.Add(-time.Minute).Unix()

	for _, tc := range []struct{ name, body, want string }{
		{"no before", `{"consumer_key":"app-key"}`, "before is missing"},
		{"before in the future", fmt.Sprintf(`{"consumer_key":"app-key","before":%d}`, now.Add(time.Hour).Unix()), "future"},
		{"until over a year", fmt.Sprintf(`{"subject":"bob","before":%d,"until":%d}`, before, now.Add(400*24*time.Hour).Unix()), "year"},
		{"exp with a bulk form", fmt.Sprintf(`{"consumer_key":"app-key","before":%d,"exp":%d}`, before, now.Add(time.Hour).Unix()), "not exp"},
		{"consumer key and subject", fmt.Sprintf(`{"consumer_key":"app-key","subject":"bob","before":%d}`, before), "not several"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, v := admin(t, a, "POST", "/backend_jwt/revocations", tc.body)
			if msg, _ := v["error"].(string); status != http.StatusBadRequest || !strings.Contains(msg, tc.want) {
				t.Fatalf("%d %v, want 400 with %q", status, v, tc.want)
			}
		})
	}
	if _, list := admin(t, a, "GET", "/backend_jwt/revocations", ""); list["count"] != 0.0 {
		t.Fatalf("bad entries changed the list: %v", list)
	}

	for _, body := range []string{
		fmt.Sprintf(`{"consumer_key":"app-key","before":%d}`, before),
		fmt.Sprintf(`{"subject":"bob@carbon.super","before":%d,"until":%d}`, before, now.Add(24*time.Hour).Unix()),
	} {
		if status, v := admin(t, a, "POST", "/backend_jwt/revocations", body); status != http.StatusCreated {
			t.Fatalf("POST %s: %d %v", body, status, v)
		}
	}
	refused := func(g *gateway, tok string) bool {
		r, err := g.TryGet("/", bearer(tok)...)
		return err == nil && r.Status == http.StatusUnauthorized
	}
	testkit.WaitFor(t, "both instances to refuse the old tokens", func() bool {
		return refused(a, oldApp) && refused(b, oldApp) && refused(a, oldUser) && refused(b, oldUser)
	})
	for _, g := range []*gateway{a, b} {
		for _, tok := range []string{newApp, otherUser} {
			if r := g.Get("/", bearer(tok)...); r.Status != 200 {
				t.Fatalf("a token not covered: %d %s", r.Status, r.Body)
			}
		}
	}
	_, list := admin(t, b, "GET", "/backend_jwt/revocations", "")
	body := fmt.Sprint(list)
	if list["count"] != 2.0 || !strings.Contains(body, "consumer_key:app-key") || !strings.Contains(body, "subject:bob@carbon.super") {
		t.Fatalf("B lists %v", list)
	}
}
