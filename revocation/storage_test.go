package revocation_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/revocation"
)

// errDown is the error of a testStorage that is down.
var errDown = errors.New("storage down")

// testStorage is a FileStorage in the test's folder with switches that
// make its calls fail or hang, a hook in List, and a record of the calls.
// Every call must carry a deadline: the tests pass contexts without one.
type testStorage struct {
	*certmagic.FileStorage
	failStore atomic.Bool // Store fails
	down      atomic.Bool // every call fails
	hang      atomic.Bool // every call waits for its context to end
	// afterList, when set before the storage is used, runs in List after
	// the listing was read and before it is returned.
	afterList func()
	// listErr, when set before a Sync, is List's error, with the keys.
	listErr error

	mu    sync.Mutex
	calls []string // "Load <key>", "Delete <key>", …
}

func newTestStorage(t *testing.T) *testStorage {
	return &testStorage{FileStorage: &certmagic.FileStorage{Path: t.TempDir()}}
}

func (s *testStorage) enter(ctx context.Context, op, key string) error {
	s.mu.Lock()
	s.calls = append(s.calls, op+" "+key)
	s.mu.Unlock()
	if _, ok := ctx.Deadline(); !ok {
		return fmt.Errorf("%s %s without a deadline", op, key)
	}
	if s.hang.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	if s.down.Load() {
		return errDown
	}
	return nil
}

// Store stores unless the storage fails or hangs.
func (s *testStorage) Store(ctx context.Context, key string, value []byte) error {
	if err := s.enter(ctx, "Store", key); err != nil {
		return err
	}
	if s.failStore.Load() {
		return errDown
	}
	return s.FileStorage.Store(ctx, key, value)
}

// Load loads unless the storage fails or hangs.
func (s *testStorage) Load(ctx context.Context, key string) ([]byte, error) {
	if err := s.enter(ctx, "Load", key); err != nil {
		return nil, err
	}
	return s.FileStorage.Load(ctx, key)
}

// Delete deletes unless the storage fails or hangs.
func (s *testStorage) Delete(ctx context.Context, key string) error {
	if err := s.enter(ctx, "Delete", key); err != nil {
		return err
	}
	return s.FileStorage.Delete(ctx, key)
}

// List lists unless the storage fails or hangs, and runs afterList.
func (s *testStorage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	if err := s.enter(ctx, "List", prefix); err != nil {
		return nil, err
	}
	keys, err := s.FileStorage.List(ctx, prefix, recursive)
	if s.afterList != nil {
		s.afterList()
	}
	if err == nil {
		err = s.listErr
	}
	return keys, err
}

// recorded returns the calls made so far.
func (s *testStorage) recorded() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// stored returns the keys the storage holds under Prefix.
func stored(t *testing.T, s *testStorage) []string {
	t.Helper()
	keys, err := s.FileStorage.List(context.Background(), revocation.Prefix, false)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestAddDuringSyncIsKept: a revocation added while a Sync lists the
// storage, and stored after the listing was read, stays in force.
func TestAddDuringSyncIsKept(t *testing.T) {
	ctx := context.Background()
	s := newTestStorage(t)
	l := revocation.NewList()
	if _, err := l.Add(ctx, s, revocation.Entry{JTI: "before", Exp: now.Add(time.Hour).Unix()}, now); err != nil {
		t.Fatal(err)
	}
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
	<-listed // the Sync holds a listing without "during"
	if _, err := l.Add(ctx, s, revocation.Entry{JTI: "during", Exp: now.Add(time.Hour).Unix()}, now); err != nil {
		t.Fatal(err)
	}
	close(proceed)
	if err := <-synced; err != nil {
		t.Fatal(err)
	}
	if !l.Revoked("during", "") || !l.Revoked("before", "") || l.Pending() != 0 {
		t.Fatalf("after the Sync: during %v, before %v, pending %d", l.Revoked("during", ""), l.Revoked("before", ""), l.Pending())
	}
	if err := l.Sync(ctx, s, now, skew); err != nil || !l.Revoked("during", "") {
		t.Fatalf("after the next Sync: %v, revoked %v", err, l.Revoked("during", ""))
	}
}

// TestConcurrentAddAndSync: two instances add and sync at once on one
// storage (run it with -race); no revocation is ever lost, here or there.
func TestConcurrentAddAndSync(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	const perList = 100
	lists := []*revocation.List{revocation.NewList(), revocation.NewList()}
	jti := func(list, i int) string { return fmt.Sprintf("list%d-%d", list, i) }
	var adders, syncers sync.WaitGroup
	stop := make(chan struct{})
	for n, l := range lists {
		adders.Go(func() {
			for i := range perList {
				if _, err := l.Add(ctx, storage, revocation.Entry{JTI: jti(n, i), Exp: now.Add(time.Hour).Unix()}, now); err != nil {
					t.Errorf("Add: %v", err)
					return
				}
				for j := range i + 1 {
					if !l.Revoked(jti(n, j), "") {
						t.Errorf("list %d lost %s after adding %s", n, jti(n, j), jti(n, i))
						return
					}
				}
			}
		})
		syncers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := l.Sync(ctx, storage, now, skew); err != nil {
					t.Errorf("Sync: %v", err)
					return
				}
			}
		})
	}
	adders.Wait()
	close(stop)
	syncers.Wait()
	for n, l := range lists {
		if err := l.Sync(ctx, storage, now, skew); err != nil {
			t.Fatal(err)
		}
		for other := range lists {
			for i := range perList {
				if !l.Revoked(jti(other, i), "") {
					t.Fatalf("list %d does not refuse %s", n, jti(other, i))
				}
			}
		}
		if l.Len() != len(lists)*perList {
			t.Fatalf("list %d holds %d tokens, want %d", n, l.Len(), len(lists)*perList)
		}
	}
}

// TestRepostedLaterExpWins: a token posted again with a later exp stays
// revoked on every instance until that exp plus the skew, though an
// instance knew it with the earlier exp; and every Delete reads the key
// back first.
func TestRepostedLaterExpWins(t *testing.T) {
	ctx := context.Background()
	s := newTestStorage(t)
	a, b := revocation.NewList(), revocation.NewList()
	first, later := now.Add(time.Minute), now.Add(time.Hour)
	if _, err := a.Add(ctx, s, revocation.Entry{JTI: "j", Exp: first.Unix()}, now); err != nil {
		t.Fatal(err)
	}
	for _, l := range []*revocation.List{a, b} {
		if err := l.Sync(ctx, s, now, skew); err != nil {
			t.Fatal(err)
		}
	}
	e, err := b.Add(ctx, s, revocation.Entry{JTI: "j", Exp: later.Unix()}, now.Add(time.Second))
	if err != nil || e.Exp != later.Unix() {
		t.Fatalf("posting again with a later exp: %+v, %v", e, err)
	}
	laterKey := e.Key()

	pastFirst := first.Add(skew + time.Second)
	if err := a.Sync(ctx, s, pastFirst, skew); err != nil {
		t.Fatal(err)
	}
	if !a.Revoked("j", "") {
		t.Fatal("A forgot j when its first exp passed")
	}
	if keys := stored(t, s); !slices.Equal(keys, []string{laterKey}) {
		t.Fatalf("storage holds %v, want only %s", keys, laterKey)
	}
	for _, at := range []time.Time{pastFirst, later, later.Add(skew)} {
		for name, l := range map[string]*revocation.List{"A": a, "B": b} {
			if err := l.Sync(ctx, s, at, skew); err != nil {
				t.Fatal(err)
			}
			if !l.Revoked("j", "") {
				t.Fatalf("%s does not refuse j at exp%+v", name, at.Sub(later))
			}
			if got := l.Entries(at, skew); len(got) != 1 || got[0].Exp != later.Unix() {
				t.Fatalf("%s lists %+v at exp%+v, want the later entry", name, got, at.Sub(later))
			}
		}
	}
	gone := later.Add(skew + time.Second)
	for name, l := range map[string]*revocation.List{"A": a, "B": b} {
		if err := l.Sync(ctx, s, gone, skew); err != nil || l.Revoked("j", "") {
			t.Fatalf("%s after the later exp plus skew: %v, revoked %v", name, err, l.Revoked("j", ""))
		}
	}
	if keys := stored(t, s); len(keys) != 0 {
		t.Fatalf("storage still holds %v", keys)
	}
	checkLoadedBeforeDeleted(t, s)
}

// checkLoadedBeforeDeleted fails the test if s saw a key deleted that was
// not read back first (a sync must not delete what another instance may
// have just written).
func checkLoadedBeforeDeleted(t *testing.T, s *testStorage) {
	t.Helper()
	calls := s.recorded()
	for i, c := range calls {
		if key, ok := strings.CutPrefix(c, "Delete "); ok && !slices.Contains(calls[:i], "Load "+key) {
			t.Fatalf("%s without reading the key back first: %v", c, calls[:i+1])
		}
	}
}

// TestRepost: posting a token again keeps the entry with the later exp;
// Add returns the entry in force.
func TestRepost(t *testing.T) {
	exp := now.Add(time.Hour).Unix()
	for _, tc := range []struct {
		name       string
		again      int64 // the second post's exp
		wantExp    int64
		wantAdded  int64
		wantStored int
	}{
		{"earlier exp", exp - 60, exp, now.Unix(), 1},
		{"same exp", exp, exp, now.Unix(), 1},
		{"later exp", exp + 60, exp + 60, now.Unix() + 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := newTestStorage(t)
			l := revocation.NewList()
			if _, err := l.Add(ctx, s, revocation.Entry{Signature: "sig", Exp: exp}, now); err != nil {
				t.Fatal(err)
			}
			e, err := l.Add(ctx, s, revocation.Entry{Signature: "sig", Exp: tc.again}, now.Add(time.Second))
			if err != nil || e.Exp != tc.wantExp || e.Added != tc.wantAdded {
				t.Fatalf("Add again: %+v, %v; want exp %d added %d", e, err, tc.wantExp, tc.wantAdded)
			}
			if keys := stored(t, s); len(keys) != tc.wantStored {
				t.Fatalf("storage holds %v, want %d keys", keys, tc.wantStored)
			}
			if err := l.Sync(ctx, s, now, skew); err != nil || l.Len() != 1 {
				t.Fatalf("after Sync: %v, %d tokens", err, l.Len())
			}
			if got := l.Entries(now, skew); len(got) != 1 || got[0].Exp != tc.wantExp {
				t.Fatalf("Entries %+v, want exp %d", got, tc.wantExp)
			}
		})
	}
}

// TestStorageFails: a revocation the storage does not take is in force at
// once, stays pending through failing Syncs, and is written by the first
// Sync after the storage recovers, for the other instances to read.
func TestStorageFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(s *testStorage, failing bool)
	}{
		{"Store fails", func(s *testStorage, failing bool) { s.failStore.Store(failing) }},
		{"every call fails", func(s *testStorage, failing bool) { s.down.Store(failing) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := newTestStorage(t)
			l := revocation.NewList()
			tc.fail(s, true)
			e, err := l.Add(ctx, s, revocation.Entry{JTI: "j", Exp: now.Add(time.Hour).Unix()}, now)
			if !errors.Is(err, revocation.ErrNotStored) || !errors.Is(err, errDown) || e.JTI != "j" || e.Added != now.Unix() {
				t.Fatalf("Add: %+v, %v; want the entry and ErrNotStored", e, err)
			}
			if !l.Revoked("j", "") || l.Pending() != 1 || l.Len() != 1 {
				t.Fatalf("after Add: revoked %v, pending %d, len %d", l.Revoked("j", ""), l.Pending(), l.Len())
			}
			if err := l.Sync(ctx, s, now.Add(time.Minute), skew); err == nil {
				t.Fatal("Sync with the storage failing: no error")
			}
			if !l.Revoked("j", "") || l.Pending() != 1 {
				t.Fatalf("after a failing Sync: revoked %v, pending %d", l.Revoked("j", ""), l.Pending())
			}
			tc.fail(s, false)
			if err := l.Sync(ctx, s, now.Add(2*time.Minute), skew); err != nil {
				t.Fatal(err)
			}
			if !l.Revoked("j", "") || l.Pending() != 0 || !slices.Equal(stored(t, s), []string{e.Key()}) {
				t.Fatalf("after the storage recovered: revoked %v, pending %d, stored %v", l.Revoked("j", ""), l.Pending(), stored(t, s))
			}
			other := revocation.NewList()
			if err := other.Sync(ctx, s, now.Add(3*time.Minute), skew); err != nil || !other.Revoked("j", "") {
				t.Fatalf("another instance: %v, revoked %v", err, other.Revoked("j", ""))
			}
		})
	}
}

// TestPendingExpires: a pending entry leaves once its exp plus the skew
// passed, though never written.
func TestPendingExpires(t *testing.T) {
	ctx := context.Background()
	s := newTestStorage(t)
	s.down.Store(true)
	l := revocation.NewList()
	exp := now.Add(time.Minute)
	if _, err := l.Add(ctx, s, revocation.Entry{JTI: "j", Exp: exp.Unix()}, now); !errors.Is(err, revocation.ErrNotStored) {
		t.Fatalf("Add: %v", err)
	}
	for _, tc := range []struct {
		name        string
		at          time.Time
		wantPending int
	}{
		{"at exp plus skew", exp.Add(skew), 1},
		{"after exp plus skew", exp.Add(skew + time.Second), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_ = l.Sync(ctx, s, tc.at, skew) // the storage is down
			if l.Pending() != tc.wantPending || l.Revoked("j", "") != (tc.wantPending == 1) {
				t.Fatalf("pending %d, revoked %v; want pending %d", l.Pending(), l.Revoked("j", ""), tc.wantPending)
			}
		})
	}
}

// TestStorageHangs: with a storage whose calls wait for their context to
// end, Add and Sync return after the storage timeout, and what was in
// force stays so.
func TestStorageHangs(t *testing.T) {
	revocation.SetStorageTimeout(t, time.Millisecond)
	ctx := context.Background()
	s := newTestStorage(t)
	l := revocation.NewList()
	if _, err := l.Add(ctx, s, revocation.Entry{JTI: "stored", Exp: now.Add(time.Hour).Unix()}, now); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(ctx, s, now, skew); err != nil {
		t.Fatal(err)
	}
	s.hang.Store(true)
	_, err := l.Add(ctx, s, revocation.Entry{JTI: "local", Exp: now.Add(time.Hour).Unix()}, now)
	if !errors.Is(err, revocation.ErrNotStored) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Add: %v, want ErrNotStored after a timeout", err)
	}
	if err := l.Sync(ctx, s, now, skew); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sync: %v, want a timeout", err)
	}
	if !l.Revoked("stored", "") || !l.Revoked("local", "") || l.Pending() != 1 {
		t.Fatalf("after the timeouts: stored %v, local %v, pending %d", l.Revoked("stored", ""), l.Revoked("local", ""), l.Pending())
	}
}

// TestAddBadInput: Add returns Check's error unchanged, adds nothing and
// calls no storage.
func TestAddBadInput(t *testing.T) {
	exp := now.Add(time.Hour).Unix()
	for _, tc := range []struct {
		name string
		e    revocation.Entry
	}{
		{"neither jti nor signature", revocation.Entry{Exp: exp}},
		{"both", revocation.Entry{JTI: "j", Signature: "s", Exp: exp}},
		{"exp in the past", revocation.Entry{JTI: "j", Exp: now.Unix() - 1}},
		{"signature not base64url", revocation.Entry{Signature: "a.b", Exp: exp}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestStorage(t)
			s.down.Store(true)
			l := revocation.NewList()
			_, err := l.Add(context.Background(), s, tc.e, now)
			want := tc.e.Check(now)
			if err == nil || want == nil || err.Error() != want.Error() || errors.Is(err, revocation.ErrNotStored) {
				t.Fatalf("Add: %v, want Check's %v", err, want)
			}
			if l.Len() != 0 || l.Pending() != 0 || len(s.recorded()) != 0 {
				t.Fatalf("after a bad Add: len %d, pending %d, storage calls %v", l.Len(), l.Pending(), s.recorded())
			}
		})
	}
}

// TestFull: a List holds at most MaxEntries entries; Add refuses more,
// Sync reads no more.
func TestFull(t *testing.T) {
	revocation.SetMaxEntries(t, 2)
	ctx := context.Background()
	s := newTestStorage(t)
	a := revocation.NewList()
	for _, j := range []string{"j1", "j2"} {
		if _, err := a.Add(ctx, s, revocation.Entry{JTI: j, Exp: now.Add(time.Hour).Unix()}, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Add(ctx, s, revocation.Entry{JTI: "j3", Exp: now.Add(time.Hour).Unix()}, now); !errors.Is(err, revocation.ErrFull) {
		t.Fatalf("a third Add: %v, want ErrFull", err)
	}
	if _, err := a.Add(ctx, s, revocation.Entry{JTI: "j1", Exp: now.Add(time.Minute).Unix()}, now); err != nil {
		t.Fatalf("posting j1 again with an earlier exp when full: %v", err)
	}
	// A third entry, written by an instance with room.
	third := revocation.Entry{JTI: "j3", Exp: now.Add(time.Hour).Unix()}
	data := fmt.Appendf(nil, `{"jti":"j3","exp":%d,"added":%d}`, third.Exp, now.Unix())
	if err := s.FileStorage.Store(ctx, third.Key(), data); err != nil {
		t.Fatal(err)
	}
	c := revocation.NewList()
	if err := c.Sync(ctx, s, now, skew); err == nil || !strings.Contains(err.Error(), "more than 2") || c.Len() != 2 {
		t.Fatalf("Sync of 3 entries into a List of 2: %v, len %d", err, c.Len())
	}
}

// TestSyncOfOtherKeys: keys not of an entry's form (a FileStorage's
// temporary file, another version's) are passed over; a key of the form
// whose content is not its entry is an error, and is never deleted.
func TestSyncOfOtherKeys(t *testing.T) {
	j := revocation.Entry{JTI: "j", Exp: now.Add(time.Minute).Unix()}
	for _, tc := range []struct {
		name    string
		key     string
		content string
		wantErr string // "" none
	}{
		{"temporary file", revocation.Prefix + "/3719204671", `{"jti":"j"`, ""},
		{"key without the exp", revocation.Prefix + "/jti-0123456789abcdef0123456789abcdef.json", `{"jti":"j","exp":1}`, ""},
		{"unknown kind", revocation.Prefix + "/xyz-0123456789abcdef0123456789abcdef-1.json", `{}`, ""},
		{"not JSON", j.Key(), `{"jti":`, "not the JSON of a revocation"},
		{"another entry's content", j.Key(), fmt.Sprintf(`{"jti":"j","exp":%d}`, j.Exp+1), "another key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := newTestStorage(t)
			if err := s.FileStorage.Store(ctx, tc.key, []byte(tc.content)); err != nil {
				t.Fatal(err)
			}
			l := revocation.NewList()
			for _, at := range []time.Time{now, now.Add(time.Hour)} { // the second after j's exp
				err := l.Sync(ctx, s, at, skew)
				if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
					t.Fatalf("Sync at %v: %v, want %q", at, err, tc.wantErr)
				}
				if l.Len() != 0 || !slices.Equal(stored(t, s), []string{tc.key}) {
					t.Fatalf("Sync at %v: len %d, stored %v", at, l.Len(), stored(t, s))
				}
			}
		})
	}
}

// TestDeletedElsewhere: an entry written and then removed from the storage
// (by an operator) leaves at the next Sync; a pending one does not.
func TestDeletedElsewhere(t *testing.T) {
	ctx := context.Background()
	s := newTestStorage(t)
	l := revocation.NewList()
	e, err := l.Add(ctx, s, revocation.Entry{JTI: "j", Exp: now.Add(time.Hour).Unix()}, now)
	if err != nil {
		t.Fatal(err)
	}
	s.failStore.Store(true)
	if _, err := l.Add(ctx, s, revocation.Entry{JTI: "p", Exp: now.Add(time.Hour).Unix()}, now); !errors.Is(err, revocation.ErrNotStored) {
		t.Fatal(err)
	}
	if err := s.FileStorage.Delete(ctx, e.Key()); err != nil {
		t.Fatal(err)
	}
	_ = l.Sync(ctx, s, now, skew) // p's write fails again
	if l.Revoked("j", "") || !l.Revoked("p", "") {
		t.Fatalf("after Sync: j %v, p %v", l.Revoked("j", ""), l.Revoked("p", ""))
	}
}

// TestListingNotExist: a listing that ends with fs.ErrNotExist (a
// FileStorage's temporary file vanished while it was listed) is read, but
// drops nothing for its absence from it.
func TestListingNotExist(t *testing.T) {
	ctx := context.Background()
	s := newTestStorage(t)
	l, other := revocation.NewList(), revocation.NewList()
	e, err := l.Add(ctx, s, revocation.Entry{JTI: "j", Exp: now.Add(time.Hour).Unix()}, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FileStorage.Delete(ctx, e.Key()); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Add(ctx, s, revocation.Entry{JTI: "k", Exp: now.Add(time.Hour).Unix()}, now); err != nil {
		t.Fatal(err)
	}
	s.listErr = fs.ErrNotExist
	if err := l.Sync(ctx, s, now, skew); err != nil || !l.Revoked("j", "") || !l.Revoked("k", "") {
		t.Fatalf("Sync of a listing that ended with ErrNotExist: %v, j %v, k %v", err, l.Revoked("j", ""), l.Revoked("k", ""))
	}
	s.listErr = nil
	if err := l.Sync(ctx, s, now, skew); err != nil || l.Revoked("j", "") || !l.Revoked("k", "") {
		t.Fatalf("Sync of a whole listing: %v, j %v, k %v", err, l.Revoked("j", ""), l.Revoked("k", ""))
	}
}
