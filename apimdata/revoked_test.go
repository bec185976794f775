package apimdata_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/apimdata"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/apimfake"
)

// revokedAt is the revocation_time of the bulk entries of the tests, in
// milliseconds: iat 1_800_000_000 (seconds) is exactly at it.
const revokedAt int64 = 1_800_000_000_000

// iat is a token's iat, seconds after revokedAt/1000.
func iat(seconds int64) time.Time { return time.Unix(revokedAt/1000+seconds, 0) }

// serveRevoked is the fake's data API, with /revokedjwt answering body.
func serveRevoked(t *testing.T, body string) *httptest.Server {
	t.Helper()
	fake := apimfake.New(user, pass, "carbon.super", fixture("UNBLOCKED"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == apimdata.DataPath+"/revokedjwt" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, body)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestRevokedBulkShapes: /revokedjwt's object form is read with its three
// lists, in API Manager's member names (and their camelCase forms), as it
// streams; the array form has no bulk list.
func TestRevokedBulkShapes(t *testing.T) {
	sig := `{"jwt_signature":"sigA","expiry_time":1893456000000}`
	for _, tc := range []struct {
		name, body     string
		sigs, keys     int // records read
		subjects       int
		wantKeys       int // Counts
		wantSubjects   int
		revokedKey     string // revoked in bulk, if not ""
		revokedSubject string
	}{
		{name: "array", body: `[` + sig + `]`, sigs: 1},
		{name: "object with the three lists", body: `{"revokedJWTList":[` + sig + `],` +
			`"revokedJWTConsumerKeyList":[{"consumer_key":"ck1","revocation_time":1800000000000,"type":null,"organization":"carbon.super"}],` +
			`"revokedJWTSubjectEntityList":[{"entity_id":"alice","entity_type":"USER_ID","revocation_time":1800000000000,"organization":"carbon.super"},` +
			`{"entity_id":"ck2","entity_type":"CLIENT_ID","revocation_time":1800000000000,"organization":"carbon.super"}]}`,
			sigs: 1, keys: 1, subjects: 2, wantKeys: 2, wantSubjects: 1, revokedKey: "ck2", revokedSubject: "alice"},
		{name: "lists in another order, members unknown skipped", body: `{"revokedJWTSubjectEntityList":[{"entity_type":"USER_ID","entity_id":"alice","revocation_time":1800000000000,"x":{"y":[1]}}],` +
			`"extra":{"a":[1,2]},"revokedJWTConsumerKeyList":[],"revokedJWTList":[` + sig + `]}`,
			sigs: 1, subjects: 1, wantSubjects: 1, revokedSubject: "alice"},
		{name: "null lists", body: `{"revokedJWTList":null,"revokedJWTConsumerKeyList":null,"revokedJWTSubjectEntityList":null}`},
		{name: "camelCase members and a time as a string", body: `{"revokedJWTConsumerKeyList":[{"consumerKey":"ck1","revocationTime":"1800000000000","isRevokeAppOnly":false}],` +
			`"revokedJWTSubjectEntityList":[{"entityId":"alice","entityType":"USER_ID","revocationTime":1800000000000}]}`,
			keys: 1, subjects: 1, wantKeys: 1, wantSubjects: 1, revokedKey: "ck1", revokedSubject: "alice"},
		{name: "an older release's app-only entry and tenant_id", body: `{"revokedJWTConsumerKeyList":[{"consumer_key":"ck1","is_revoke_app_only":true,"revocation_time":1800000000000,"type":"DEFAULT","tenant_id":"-1234"}]}`,
			keys: 1, wantKeys: 1},
		{name: "entries without a time, a key or a known type left out", body: `{"revokedJWTConsumerKeyList":[{"consumer_key":"ck1"},{"consumer_key":"","revocation_time":1}],` +
			`"revokedJWTSubjectEntityList":[{"entity_id":"alice","entity_type":"USER","revocation_time":1800000000000},{"entity_id":"bob","entity_type":"USER_ID","revocation_time":null}]}`,
			keys: 2, subjects: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := readAll(t, serveRevoked(t, tc.body).URL, apimdata.ClientOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Revoked) != tc.sigs || len(d.RevokedConsumerKeys) != tc.keys || len(d.RevokedSubjects) != tc.subjects {
				t.Fatalf("read %d signatures, %d consumer keys, %d subjects; want %d, %d, %d",
					len(d.Revoked), len(d.RevokedConsumerKeys), len(d.RevokedSubjects), tc.sigs, tc.keys, tc.subjects)
			}
			snap := apimdata.NewSnapshot(d, "", time.Time{})
			if c := snap.Counts; c.Revoked != tc.sigs || c.RevokedConsumerKeys != tc.wantKeys || c.RevokedSubjects != tc.wantSubjects {
				t.Fatalf("counts %+v", c)
			}
			if tc.sigs > 0 && !snap.Revoked("sigA") {
				t.Error("the signature of revokedJWTList is not revoked")
			}
			if tc.revokedKey != "" && !snap.RevokedBefore(tc.revokedKey, "", iat(0), false) {
				t.Errorf("consumer key %s not revoked", tc.revokedKey)
			}
			if tc.revokedSubject != "" && !snap.RevokedBefore("", tc.revokedSubject, iat(0), false) {
				t.Errorf("subject %s not revoked", tc.revokedSubject)
			}
		})
	}
}

// TestRevokedBulkBadAnswers: a bulk list of the wrong shape or types fails
// the read, naming the answer.
func TestRevokedBulkBadAnswers(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"list not a list", `{"revokedJWTConsumerKeyList":{}}`, "revokedJWTConsumerKeyList is not a list"},
		{"time not a number", `{"revokedJWTConsumerKeyList":[{"consumer_key":"k","revocation_time":"soon"}]}`, "not a whole number of milliseconds"},
		{"key not a string", `{"revokedJWTSubjectEntityList":[{"entity_id":7,"entity_type":"USER_ID","revocation_time":1}]}`, "reading the list"},
		{"truncated", `{"revokedJWTSubjectEntityList":[{"entity_id":"a"`, "malformed answer"},
		{"data after the object", `{"revokedJWTList":[]}[]`, "data after the answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readAll(t, serveRevoked(t, tc.body).URL, apimdata.ClientOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "GET /revokedjwt") {
				t.Fatalf("error %v, want %q about /revokedjwt", err, tc.want)
			}
		})
	}
}

// TestRevokedBulkWithinMaxDataSize: the bulk lists are read within
// max_data_size, bytes and records alike, as every list is.
func TestRevokedBulkWithinMaxDataSize(t *testing.T) {
	const maxData = 1 << 20
	entry := `{"consumer_key":"` + strings.Repeat("k", 100) + `","revocation_time":1800000000000},`
	for _, tc := range []struct{ name, list, elements string }{
		{"large consumer-key list", "revokedJWTConsumerKeyList", strings.Repeat(entry, maxData/len(entry)+1)},
		{"tiny subject entities", "revokedJWTSubjectEntityList", strings.Repeat("{},", maxData/apimdata.ElementCost+1)},
		{"tiny consumer keys", "revokedJWTConsumerKeyList", strings.Repeat("{},", maxData/apimdata.ElementCost+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"` + tc.list + `":[` + tc.elements + `{}]}`
			_, err := readAll(t, serveRevoked(t, body).URL, apimdata.ClientOptions{MaxDataSize: maxData})
			if err == nil || !strings.Contains(err.Error(), "max_data_size") {
				t.Fatalf("ReadAll of %d bytes: %v, want an error naming max_data_size", len(body), err)
			}
		})
	}
}

// TestFakeRevokedForms: the fake serves /revokedjwt as an array while it
// holds signatures only, and as the object form once it holds bulk
// entries; the Store reads both.
func TestFakeRevokedForms(t *testing.T) {
	e := newEnv(t, fixture("UNBLOCKED"), "")
	get := func() string {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+apimdata.DataPath+"/revokedjwt", nil)
		req.SetBasicAuth(user, pass)
		req.Header.Set("xWSO2Tenant", "carbon.super")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if body := get(); !strings.HasPrefix(body, "[") {
		t.Fatalf("with signatures only: %s, want an array", body)
	}
	e.fake.Update(func(d *apimfake.Data) {
		d.RevokedConsumerKeys = []apimfake.Record{apimfake.RevokedConsumerKey("prodKey", revokedAt)}
		d.RevokedSubjects = []apimfake.Record{apimfake.RevokedSubjectEntity("alice", apimfake.EntityUserID, revokedAt)}
	})
	body := get()
	for _, member := range []string{`"revokedJWTList":[{`, `"revokedJWTConsumerKeyList":[{`, `"revokedJWTSubjectEntityList":[{`,
		`"consumer_key":"prodKey"`, `"entity_type":"USER_ID"`, `"revocation_time":1800000000000`} {
		if !strings.Contains(body, member) {
			t.Fatalf("object form %s lacks %s", body, member)
		}
	}
	e.reload(t)
	snap := e.store.Snapshot()
	if !snap.Revoked("revokedSig") || !snap.RevokedBefore("prodKey", "", iat(0), false) || !snap.RevokedBefore("", "alice", iat(0), false) {
		t.Fatal("the object form's entries are not in force")
	}
	if c := snap.Counts; c.Revoked != 1 || c.RevokedConsumerKeys != 1 || c.RevokedSubjects != 1 {
		t.Fatalf("counts %+v", c)
	}
}

// bulkSnapshot is a snapshot read through the fake, holding every kind of
// bulk entry the tests of RevokedBefore ask about.
func bulkSnapshot(t testing.TB) *apimdata.Snapshot {
	t.Helper()
	data := fixture("UNBLOCKED")
	data.RevokedConsumerKeys = []apimfake.Record{
		apimfake.RevokedConsumerKey("ck", revokedAt),
		apimfake.RevokedConsumerKey("ms", revokedAt+500), // not on a whole second
		apimfake.RevokedConsumerKey("twice", revokedAt-100_000),
		apimfake.RevokedConsumerKey("twice", revokedAt), // the later one counts
		apimfake.RevokedConsumerKeyAppOnly("apponly", revokedAt),
		apimfake.RevokedConsumerKey("mixed", revokedAt-10_000), // every token until -10s
		apimfake.RevokedConsumerKeyAppOnly("mixed", revokedAt), // APPLICATION tokens until 0s
		{"consumer_key": "other-tenant", "revocation_time": revokedAt, "type": "X", "organization": "wso2.com"},
	}
	data.RevokedSubjects = []apimfake.Record{
		apimfake.RevokedSubjectEntity("alice", apimfake.EntityUserID, revokedAt),
		apimfake.RevokedSubjectEntity("client9", apimfake.EntityClientID, revokedAt),
	}
	srv := httptest.NewServer(apimfake.New(user, pass, "carbon.super", data))
	t.Cleanup(srv.Close)
	d, err := readAll(t, srv.URL, apimdata.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return apimdata.NewSnapshot(d, "", time.Time{})
}

// TestSnapshotRevokedBefore: a bulk entry covers the tokens of its
// consumer key or subject whose iat × 1000 is not after its
// revocation_time, without clock skew; a token without iat always.
func TestSnapshotRevokedBefore(t *testing.T) {
	snap := bulkSnapshot(t)
	for _, tc := range []struct {
		name      string
		key, sub  string
		iat       time.Time
		app, want bool
	}{
		{name: "iat before", key: "ck", iat: iat(-1), want: true},
		{name: "iat × 1000 equal to revocation_time", key: "ck", iat: iat(0), want: true},
		{name: "iat a second after", key: "ck", iat: iat(1)},
		{name: "iat a millisecond after", key: "ck", iat: iat(0).Add(time.Millisecond)},
		{name: "revocation_time past a whole second: iat at that second", key: "ms", iat: iat(0), want: true},
		{name: "revocation_time past a whole second: iat the next second", key: "ms", iat: iat(1)},
		{name: "no iat", key: "ck", iat: time.Time{}, want: true},
		{name: "no iat, the subject's entry", sub: "alice", want: true},
		{name: "the later of two entries of a key", key: "twice", iat: iat(-50), want: true},
		{name: "type and organization ignored", key: "other-tenant", iat: iat(0), want: true},
		{name: "USER_ID by sub", sub: "alice", iat: iat(-1), want: true},
		{name: "USER_ID after its time", sub: "alice", iat: iat(1)},
		{name: "USER_ID in another case", sub: "Alice", iat: iat(-1)},
		{name: "USER_ID with a tenant added", sub: "alice@carbon.super", iat: iat(-1)},
		{name: "USER_ID is not a consumer key", key: "alice", iat: iat(-1)},
		{name: "CLIENT_ID by consumer key", key: "client9", iat: iat(-1), want: true},
		{name: "CLIENT_ID for a user token too", key: "client9", sub: "bob", iat: iat(-1), want: true},
		{name: "CLIENT_ID is not a sub", sub: "client9", iat: iat(-1)},
		{name: "consumer-key entry by the sub of a client-credentials token", key: "unknown", sub: "ck", iat: iat(-1)},
		{name: "app-only entry, APPLICATION token", key: "apponly", iat: iat(-1), app: true, want: true},
		{name: "app-only entry, APPLICATION_USER token", key: "apponly", iat: iat(-1)},
		{name: "app-only entry, APPLICATION token without iat", key: "apponly", app: true, want: true},
		{name: "app-only and general: user token between their times", key: "mixed", iat: iat(-5)},
		{name: "app-only and general: APPLICATION token between their times", key: "mixed", iat: iat(-5), app: true, want: true},
		{name: "app-only and general: user token before both", key: "mixed", iat: iat(-20), want: true},
		{name: "unknown key and subject", key: "nobody", sub: "nobody", iat: iat(-1)},
		{name: "no key and no subject", iat: time.Time{}},
		{name: "either matches", key: "nobody", sub: "alice", iat: iat(-1), want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := snap.RevokedBefore(tc.key, tc.sub, tc.iat, tc.app); got != tc.want {
				t.Fatalf("RevokedBefore(%q, %q, %v, app %v) = %v, want %v", tc.key, tc.sub, tc.iat, tc.app, got, tc.want)
			}
		})
	}
}

// TestSnapshotRevokedBeforeAllocs: the request path's question does not
// allocate, found or not.
func TestSnapshotRevokedBeforeAllocs(t *testing.T) {
	snap := bulkSnapshot(t)
	key, sub := strings.Clone("mixed"), strings.Clone("alice")
	if n := testing.AllocsPerRun(100, func() {
		snap.RevokedBefore(key, sub, iat(-5), true)
		snap.RevokedBefore("nobody", "nobody", iat(-5), false)
		snap.RevokedBefore(key, "", time.Time{}, false)
	}); n != 0 {
		t.Fatalf("RevokedBefore allocates %v times per run", n)
	}
	var empty apimdata.Snapshot
	if empty.RevokedBefore("ck", "alice", time.Time{}, true) {
		t.Fatal("a snapshot without bulk entries revokes")
	}
}

// BenchmarkSnapshotRevokedBefore is the request path's bulk question with
// 10,000 consumer keys and 10,000 users revoked: it must not allocate.
func BenchmarkSnapshotRevokedBefore(b *testing.B) {
	var d apimdata.Data
	for i := range 10000 {
		d.RevokedConsumerKeys = append(d.RevokedConsumerKeys, apimdata.RevokedConsumerKey{ConsumerKey: fmt.Sprintf("key%08d", i), RevocationMillis: revokedAt})
		d.RevokedSubjects = append(d.RevokedSubjects, apimdata.RevokedSubjectEntity{EntityID: fmt.Sprintf("user%d", i), EntityType: apimdata.EntityTypeUserID, RevocationMillis: revokedAt})
	}
	snap := apimdata.NewSnapshot(&d, "", time.Time{})
	if c := snap.Counts; c.RevokedConsumerKeys != 10000 || c.RevokedSubjects != 10000 {
		b.Fatalf("counts %+v", c)
	}
	for _, bc := range []struct{ name, key, sub string }{
		{"known, issued after", "key00004242", "user4242"}, // both found, neither covers
		{"unknown", "key-unknown", "user-unknown"},         // the usual token
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if snap.RevokedBefore(bc.key, bc.sub, iat(1), false) {
					b.Fatal("revoked")
				}
			}
		})
	}
}

// TestRevokedBulkReload: bulk entries added in API Manager are in force
// after the next full read, and gone after one that no longer lists them.
func TestRevokedBulkReload(t *testing.T) {
	e := newEnv(t, fixture("UNBLOCKED"), "")
	e.reload(t)
	if e.store.Snapshot().RevokedBefore("prodKey", "", iat(0), false) {
		t.Fatal("revoked before any bulk entry")
	}
	e.fake.Update(func(d *apimfake.Data) {
		d.RevokedConsumerKeys = []apimfake.Record{apimfake.RevokedConsumerKey("prodKey", revokedAt)}
	})
	if err := e.store.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !e.store.Snapshot().RevokedBefore("prodKey", "", iat(0), false) {
		t.Fatal("not revoked after the re-read")
	}
	e.fake.Update(func(d *apimfake.Data) { d.RevokedConsumerKeys = []apimfake.Record{} })
	e.reload(t)
	if e.store.Snapshot().RevokedBefore("prodKey", "", iat(0), false) {
		t.Fatal("still revoked after API Manager stopped listing it")
	}
}
