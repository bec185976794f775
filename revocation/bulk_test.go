package revocation_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/revocation"
)

// day is a day, for the bulk entries' times.
const day = 24 * time.Hour

// unix is t in seconds since the epoch.
func unix(t time.Time) int64 { return t.Unix() }

func TestCheckBulk(t *testing.T) {
	before := now.Add(-time.Hour).Unix()
	for _, tc := range []struct {
		name string
		e    revocation.Entry
		want string // "" valid
	}{
		{"consumer_key", revocation.Entry{ConsumerKey: "ck", Before: before}, ""},
		{"subject with until", revocation.Entry{Subject: "alice@carbon.super", Before: before, Until: unix(now.Add(day))}, ""},
		{"before now", revocation.Entry{ConsumerKey: "ck", Before: now.Unix()}, ""},
		{"until a year after before", revocation.Entry{ConsumerKey: "ck", Before: before, Until: before + int64(revocation.MaxAhead/time.Second)}, ""},
		{"no before", revocation.Entry{ConsumerKey: "ck"}, "before is missing"},
		{"no before, until given", revocation.Entry{Subject: "s", Until: unix(now.Add(day))}, "before is missing"},
		{"before in the future", revocation.Entry{ConsumerKey: "ck", Before: now.Unix() + 1}, "in the future"},
		{"until over a year after before", revocation.Entry{ConsumerKey: "ck", Before: before, Until: before + int64(revocation.MaxAhead/time.Second) + 1}, "more than a year after before"},
		{"until in the past", revocation.Entry{ConsumerKey: "ck", Before: before, Until: now.Unix() - 1}, "until"},
		{"until now", revocation.Entry{Subject: "s", Before: before, Until: now.Unix()}, "in the past"},
		{"before over a year ago, no until", revocation.Entry{ConsumerKey: "ck", Before: unix(now.Add(-revocation.MaxAhead))}, "more than a year ago"},
		{"exp given with consumer_key", revocation.Entry{ConsumerKey: "ck", Before: before, Exp: unix(now.Add(time.Hour))}, "not exp"},
		{"exp given with subject", revocation.Entry{Subject: "s", Before: before, Until: unix(now.Add(day)), Exp: unix(now.Add(time.Hour))}, "not exp"},
		{"before given with a jti", revocation.Entry{JTI: "j", Before: before, Exp: unix(now.Add(time.Hour))}, "before and until are for consumer_key and subject"},
		{"until given with a signature", revocation.Entry{Signature: "s", Until: unix(now.Add(day)), Exp: unix(now.Add(time.Hour))}, "before and until are for"},
		{"consumer_key and subject", revocation.Entry{ConsumerKey: "ck", Subject: "s", Before: before}, "not several"},
		{"jti and consumer_key", revocation.Entry{JTI: "j", ConsumerKey: "ck", Before: before}, "not several"},
		{"consumer_key with a newline", revocation.Entry{ConsumerKey: "c\nk", Before: before}, "control character"},
		{"subject too long", revocation.Entry{Subject: strings.Repeat("s", 4097), Before: before}, "longer than"},
		{"nothing named", revocation.Entry{Before: before}, "give jti, signature or token_sha256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.e.Check(now)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Check: %v, want %q", err, tc.want)
			}
		})
	}
}

func TestBulkKey(t *testing.T) {
	before, until := now.Add(-time.Hour).Unix(), unix(now.Add(day))
	form := regexp.MustCompile(`^backend_jwt/revocations/(ck|sub)-[0-9a-f]{32}-[0-9]+-[0-9]+\.json$`)
	for _, tc := range []struct {
		name         string
		a, b         revocation.Entry
		wantSameKeys bool
	}{
		{"same consumer key and times, added at other times", revocation.Entry{ConsumerKey: "k", Before: before, Until: until},
			revocation.Entry{ConsumerKey: "k", Before: before, Until: until, Added: 5}, true},
		{"another before", revocation.Entry{ConsumerKey: "k", Before: before, Until: until}, revocation.Entry{ConsumerKey: "k", Before: before + 1, Until: until}, false},
		{"another until", revocation.Entry{Subject: "s", Before: before, Until: until}, revocation.Entry{Subject: "s", Before: before, Until: until + 1}, false},
		{"consumer key and subject of one value", revocation.Entry{ConsumerKey: "v", Before: before, Until: until}, revocation.Entry{Subject: "v", Before: before, Until: until}, false},
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
	// Add gives an entry without until a year after before, in its key too.
	e, err := revocation.NewList().Add(context.Background(), newTestStorage(t), revocation.Entry{ConsumerKey: "k", Before: before}, now)
	if err != nil || e.Until != before+int64(revocation.MaxAhead/time.Second) || !strings.HasSuffix(e.Key(), fmt.Sprintf("-%d-%d.json", e.Until, before)) {
		t.Fatalf("Add without until: %+v %s, %v", e, e.Key(), err)
	}
	// Stored as API members, without exp.
	data, _ := json.Marshal(e)
	want := fmt.Sprintf(`{"consumer_key":"k","before":%d,"until":%d,"added":%d}`, before, e.Until, now.Unix())
	if string(data) != want {
		t.Fatalf("stored as %s, want %s", data, want)
	}
}

// TestListRevokedBefore: a bulk entry refuses the tokens of its consumer
// key, or of its subject exactly, whose iat is not after before; tokens
// without iat always.
func TestListRevokedBefore(t *testing.T) {
	before := now.Add(-time.Hour)
	l := revocation.NewList()
	l.Put(
		revocation.Entry{ConsumerKey: "ck", Before: before.Unix()},
		revocation.Entry{Subject: "alice", Before: before.Unix()},
		revocation.Entry{ConsumerKey: "twice", Before: before.Add(-time.Hour).Unix()},
		revocation.Entry{ConsumerKey: "twice", Before: before.Unix()},
	)
	for _, tc := range []struct {
		name     string
		key, sub string
		iat      time.Time
		want     bool
	}{
		{"iat before", "ck", "", before.Add(-time.Second), true},
		{"iat equal to before", "ck", "", before, true},
		{"iat half a second after before", "ck", "", before.Add(500 * time.Millisecond), false},
		{"iat after before", "ck", "", before.Add(time.Second), false},
		{"no iat", "ck", "", time.Time{}, true},
		{"the later of two entries", "twice", "", before.Add(-time.Minute), true},
		{"subject exactly", "", "alice", before, true},
		{"subject in another case", "", "Alice", before, false},
		{"subject is not a consumer key", "alice", "", before, false},
		{"consumer key is not a subject", "", "ck", before, false},
		{"either matches", "other", "alice", before, true},
		{"unknown", "other", "bob", time.Time{}, false},
		{"nothing given", "", "", time.Time{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := l.RevokedBefore(tc.key, tc.sub, tc.iat); got != tc.want {
				t.Fatalf("RevokedBefore(%q, %q, %v) = %v, want %v", tc.key, tc.sub, tc.iat, got, tc.want)
			}
		})
	}
	if l.Len() != 3 || l.Revoked("ck", "ck") {
		t.Fatalf("Len %d, or a bulk entry refuses a jti", l.Len())
	}
	if n := testing.AllocsPerRun(100, func() {
		l.RevokedBefore("ck", "alice", before)
		l.RevokedBefore("other", "bob", before)
		l.RevokedBefore("ck", "", time.Time{})
	}); n != 0 {
		t.Fatalf("RevokedBefore allocates %v times per run", n)
	}
}

// BenchmarkRevokedBefore is the request path's bulk question with 10,000
// bulk entries in force (half consumer keys, half subjects): it must not
// allocate.
func BenchmarkRevokedBefore(b *testing.B) {
	l := revocation.NewList()
	var entries []revocation.Entry
	for i := range 5000 {
		entries = append(entries, revocation.Entry{ConsumerKey: fmt.Sprintf("key%08d", i), Before: now.Unix()},
			revocation.Entry{Subject: fmt.Sprintf("user%d", i), Before: now.Unix()})
	}
	l.Put(entries...)
	if l.Len() != 10000 {
		b.Fatalf("Len %d", l.Len())
	}
	for _, bc := range []struct{ name, key, sub string }{
		{"known, issued after", "key00004242", "user4242"}, // both found, neither covers
		{"unknown", "key-unknown", "user-unknown"},         // the usual token
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if l.RevokedBefore(bc.key, bc.sub, now.Add(time.Second)) {
					b.Fatal("revoked")
				}
			}
		})
	}
}

// TestBulkRepost: posting a consumer key again keeps the later before and
// the later until; Add returns the entry in force.
func TestBulkRepost(t *testing.T) {
	before, until := now.Add(-time.Hour).Unix(), unix(now.Add(10*day))
	for _, tc := range []struct {
		name              string
		again             revocation.Entry
		wantBefore        int64
		wantUntil         int64
		wantStored        int
		wantAddedNowAgain bool
	}{
		{"earlier before and until", revocation.Entry{Before: before - 60, Until: until - 60}, before, until, 1, false},
		{"same before and until", revocation.Entry{Before: before, Until: until}, before, until, 1, false},
		{"later before, earlier until", revocation.Entry{Before: before + 60, Until: until - 60}, before + 60, until, 2, true},
		{"earlier before, later until", revocation.Entry{Before: before - 60, Until: until + 60}, before, until + 60, 2, true},
		{"later before and until", revocation.Entry{Before: before + 60, Until: until + 60}, before + 60, until + 60, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := newTestStorage(t)
			l := revocation.NewList()
			if _, err := l.Add(ctx, s, revocation.Entry{ConsumerKey: "ck", Before: before, Until: until}, now); err != nil {
				t.Fatal(err)
			}
			again := tc.again
			again.ConsumerKey = "ck"
			e, err := l.Add(ctx, s, again, now.Add(time.Second))
			wantAdded := now.Unix()
			if tc.wantAddedNowAgain {
				wantAdded++
			}
			if err != nil || e.Before != tc.wantBefore || e.Until != tc.wantUntil || e.Added != wantAdded {
				t.Fatalf("Add again: %+v, %v; want before %d until %d added %d", e, err, tc.wantBefore, tc.wantUntil, wantAdded)
			}
			if keys := stored(t, s); len(keys) != tc.wantStored || !slices.Contains(keys, e.Key()) {
				t.Fatalf("storage holds %v, want %d keys with %s", keys, tc.wantStored, e.Key())
			}
			if err := l.Sync(ctx, s, now.Add(time.Second), skew); err != nil || l.Len() != 1 {
				t.Fatalf("after Sync: %v, %d keys refused", err, l.Len())
			}
			if got := l.Entries(now, skew); len(got) != 1 || got[0].Before != tc.wantBefore || got[0].Until != tc.wantUntil {
				t.Fatalf("Entries %+v, want before %d until %d", got, tc.wantBefore, tc.wantUntil)
			}
		})
	}
}

// TestBulkRepostTwoInstances: a consumer key posted again on either of two
// instances sharing a storage, after a sync or between two, ends with the
// later before and the later until on both, until that until plus the
// skew; every Delete reads its key back first.
func TestBulkRepostTwoInstances(t *testing.T) {
	ctx := context.Background()
	s := newTestStorage(t)
	a, b := revocation.NewList(), revocation.NewList()
	b1, b2, b0 := now.Add(-2*time.Hour), now.Add(-time.Hour), now.Add(-3*time.Hour)
	u1, u2, u3 := now.Add(10*day), now.Add(day), now.Add(20*day)
	syncBoth := func(at time.Time) {
		t.Helper()
		for name, l := range map[string]*revocation.List{"A": a, "B": b} {
			if err := l.Sync(ctx, s, at, skew); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
	if _, err := a.Add(ctx, s, revocation.Entry{ConsumerKey: "ck", Before: b1.Unix(), Until: u1.Unix()}, now); err != nil {
		t.Fatal(err)
	}
	syncBoth(now)
	// B, knowing A's entry, posts a later before with an earlier until.
	e, err := b.Add(ctx, s, revocation.Entry{ConsumerKey: "ck", Before: b2.Unix(), Until: u2.Unix()}, now)
	if err != nil || e.Before != b2.Unix() || e.Until != u1.Unix() {
		t.Fatalf("B's post: %+v, %v; want the later before and A's later until", e, err)
	}
	// A, before it syncs, posts an earlier before with a later until.
	if e, err = a.Add(ctx, s, revocation.Entry{ConsumerKey: "ck", Before: b0.Unix(), Until: u3.Unix()}, now); err != nil || e.Before != b1.Unix() || e.Until != u3.Unix() {
		t.Fatalf("A's post: %+v, %v", e, err)
	}
	syncBoth(now)
	syncBoth(now) // the first of the two Syncs wrote the merged entry, the second reads it
	mergedKey := revocation.Entry{ConsumerKey: "ck", Before: b2.Unix(), Until: u3.Unix()}.Key()
	if keys := stored(t, s); !slices.Contains(keys, mergedKey) {
		t.Fatalf("storage holds %v, want the merged %s", keys, mergedKey)
	}
	for _, at := range []time.Time{now, u1.Add(skew + time.Second), u3, u3.Add(skew)} {
		syncBoth(at)
		for name, l := range map[string]*revocation.List{"A": a, "B": b} {
			if !l.RevokedBefore("ck", "", b2) || l.RevokedBefore("ck", "", b2.Add(time.Second)) {
				t.Fatalf("%s at %v: iat at the later before refused %v, a second after %v", name, at, l.RevokedBefore("ck", "", b2), l.RevokedBefore("ck", "", b2.Add(time.Second)))
			}
			if got := l.Entries(at, skew); len(got) != 1 || got[0].Before != b2.Unix() || got[0].Until != u3.Unix() {
				t.Fatalf("%s lists %+v at %v, want before %d until %d", name, got, at, b2.Unix(), u3.Unix())
			}
		}
	}
	gone := u3.Add(skew + time.Second)
	syncBoth(gone)
	for name, l := range map[string]*revocation.List{"A": a, "B": b} {
		if l.RevokedBefore("ck", "", b0) || l.Len() != 0 || len(l.Entries(gone, skew)) != 0 {
			t.Fatalf("%s after the later until plus skew: still held", name)
		}
	}
	if keys := stored(t, s); len(keys) != 0 {
		t.Fatalf("storage still holds %v", keys)
	}
	checkLoadedBeforeDeleted(t, s)
}

// TestBulkStorageFails: a bulk entry the storage does not take is in
// force at once, stays pending, and is written once the storage recovers.
func TestBulkStorageFails(t *testing.T) {
	ctx := context.Background()
	s := newTestStorage(t)
	s.failStore.Store(true)
	l := revocation.NewList()
	e, err := l.Add(ctx, s, revocation.Entry{ConsumerKey: "ck", Before: now.Unix()}, now)
	if !errors.Is(err, revocation.ErrNotStored) || !l.RevokedBefore("ck", "", now) || l.Pending() != 1 {
		t.Fatalf("Add: %+v, %v; revoked %v, pending %d", e, err, l.RevokedBefore("ck", "", now), l.Pending())
	}
	if err := l.Sync(ctx, s, now.Add(time.Minute), skew); err == nil || !l.RevokedBefore("ck", "", now) || l.Pending() != 1 {
		t.Fatalf("failing Sync: %v, pending %d", err, l.Pending())
	}
	s.failStore.Store(false)
	if err := l.Sync(ctx, s, now.Add(2*time.Minute), skew); err != nil || l.Pending() != 0 || !slices.Equal(stored(t, s), []string{e.Key()}) {
		t.Fatalf("after the storage recovered: %v, pending %d, stored %v", err, l.Pending(), stored(t, s))
	}
	other := revocation.NewList()
	if err := other.Sync(ctx, s, now.Add(3*time.Minute), skew); err != nil || !other.RevokedBefore("ck", "", now) {
		t.Fatalf("another instance: %v", err)
	}
}

// TestBulkAddDuringSync: a bulk entry added while a Sync lists the storage
// stays in force.
func TestBulkAddDuringSync(t *testing.T) {
	ctx := context.Background()
	s := newTestStorage(t)
	l := revocation.NewList()
	listed, proceed := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s.afterList = func() {
		once.Do(func() {
			close(listed)
			<-proceed
		})
	}
	synced := make(chan error)
	go func() { synced <- l.Sync(ctx, s, now, skew) }()
	<-listed
	if _, err := l.Add(ctx, s, revocation.Entry{Subject: "during", Before: now.Unix()}, now); err != nil {
		t.Fatal(err)
	}
	close(proceed)
	if err := <-synced; err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(ctx, s, now, skew); err != nil || !l.RevokedBefore("", "during", now) || l.Pending() != 0 {
		t.Fatalf("after the Syncs: %v, revoked %v, pending %d", err, l.RevokedBefore("", "during", now), l.Pending())
	}
}

// TestBulkEntries: Entries lists bulk entries beside the others, one per
// consumer key or subject, with its later before and until, in force only.
func TestBulkEntries(t *testing.T) {
	l := revocation.NewList()
	b := now.Add(-time.Hour).Unix()
	l.Put(
		revocation.Entry{JTI: "j", Exp: unix(now.Add(time.Hour))},
		revocation.Entry{ConsumerKey: "ck", Before: b, Until: unix(now.Add(day)), Added: 1},
		revocation.Entry{ConsumerKey: "ck", Before: b - 60, Until: unix(now.Add(2 * day)), Added: 2},
		revocation.Entry{Subject: "alice", Before: b, Until: unix(now.Add(time.Minute))},
	)
	for _, tc := range []struct {
		name string
		at   time.Time
		want string
	}{
		{"all in force", now, fmt.Sprintf("ck:%d-%d/2 jti:j sub:alice", b, unix(now.Add(2*day)))},
		{"the subject's until passed", now.Add(time.Hour), fmt.Sprintf("ck:%d-%d/2 jti:j", b, unix(now.Add(2*day)))},
		{"the first consumer-key entry's until passed", now.Add(day + time.Hour), fmt.Sprintf("ck:%d-%d/2", b-60, unix(now.Add(2*day)))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, e := range l.Entries(tc.at, skew) {
				switch {
				case e.JTI != "":
					got = append(got, "jti:"+e.JTI)
				case e.ConsumerKey != "":
					got = append(got, fmt.Sprintf("ck:%d-%d/%d", e.Before, e.Until, e.Added))
				case e.Subject != "":
					got = append(got, "sub:"+e.Subject)
				}
			}
			slices.Sort(got)
			if strings.Join(got, " ") != tc.want {
				t.Fatalf("Entries %v, want %s", got, tc.want)
			}
		})
	}
}

// TestSyncOfOtherBulkKeys: keys of a bulk kind in another form are passed
// over, and a bulk key whose content is another entry's is an error.
func TestSyncOfOtherBulkKeys(t *testing.T) {
	e := revocation.Entry{ConsumerKey: "ck", Before: now.Unix(), Until: unix(now.Add(time.Hour))}
	for _, tc := range []struct {
		name, key, content, wantErr string
	}{
		{"bulk key without before", revocation.Prefix + "/ck-0123456789abcdef0123456789abcdef-1.json", `{}`, ""},
		{"jti key with two times", revocation.Prefix + "/jti-0123456789abcdef0123456789abcdef-1-2.json", `{}`, ""},
		{"another before in the content", e.Key(), fmt.Sprintf(`{"consumer_key":"ck","before":%d,"until":%d}`, e.Before-1, e.Until), "another key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := newTestStorage(t)
			if err := s.FileStorage.Store(ctx, tc.key, []byte(tc.content)); err != nil {
				t.Fatal(err)
			}
			l := revocation.NewList()
			err := l.Sync(ctx, s, now, skew)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Sync: %v, want %q", err, tc.wantErr)
			}
			if l.Len() != 0 || !slices.Equal(stored(t, s), []string{tc.key}) {
				t.Fatalf("Sync: len %d, stored %v", l.Len(), stored(t, s))
			}
		})
	}
}
