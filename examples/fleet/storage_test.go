package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/examples/fleet/redisstorage"
)

// storageFiles is what the storage tests store: key and value.
var storageFiles = map[string]string{
	"a/b/c":    "1",
	"a/b/d":    "22",
	"a/e":      "333",
	"f":        "4444",
	"g/[x]*?":  "55555", // glob characters are plain characters in a key
	"h/i/j/k":  "6",
	"h/i/j/k2": "7",
}

// filesWithout returns storageFiles without the keys given.
func filesWithout(keys ...string) map[string]string {
	out := maps.Clone(storageFiles)
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

// freshStorage empties Redis and stores storageFiles.
func freshStorage(t *testing.T, srv *redisServer, s *redisstorage.Storage) {
	t.Helper()
	ctx := context.Background()
	if err := srv.client.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for k, v := range storageFiles {
		if err := s.Store(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
}

// layout is what the storage of files holds: every key (files and the
// folders above them, sorted) and the Redis keys, as the package godoc
// describes them under the prefix "caddy".
func layout(files map[string]string) (keys, redisKeys []string) {
	set := map[string]bool{}
	for f := range files {
		redisKeys = append(redisKeys, "caddy:data:"+f)
		for k := f; k != ""; {
			set[k] = true
			i := strings.LastIndexByte(k, '/')
			if i < 0 {
				break
			}
			k = k[:i]
		}
	}
	keys = slices.Sorted(maps.Keys(set))
	folders := map[string]bool{}
	for _, k := range keys {
		folder := ""
		if i := strings.LastIndexByte(k, '/'); i >= 0 {
			folder = k[:i]
		}
		folders[folder] = true
	}
	for f := range folders {
		redisKeys = append(redisKeys, "caddy:dir:"+f)
	}
	slices.Sort(redisKeys)
	return keys, redisKeys
}

// checkLayout fails the test unless the storage holds exactly files: all
// keys listed, and no Redis key other than theirs and their folders'.
func checkLayout(t *testing.T, srv *redisServer, s *redisstorage.Storage, files map[string]string) {
	t.Helper()
	ctx := context.Background()
	wantKeys, wantRedis := layout(files)
	keys, err := s.List(ctx, "", true)
	if len(wantKeys) == 0 && errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if err != nil || !slices.Equal(keys, wantKeys) {
		t.Errorf("List(\"\", recursive) = %q, %v; want %q", keys, err, wantKeys)
	}
	redisKeys, err := srv.client.Keys(ctx, "caddy:*").Result()
	slices.Sort(redisKeys)
	if err != nil || !slices.Equal(redisKeys, wantRedis) {
		t.Errorf("Redis keys %q, %v; want %q", redisKeys, err, wantRedis)
	}
}

func TestStorageKeys(t *testing.T) {
	srv := startRedis(t)
	s := mustStorage(t, map[string]any{"address": srv.addr})
	ctx := context.Background()
	freshStorage(t, srv, s)
	checkLayout(t, srv, s, storageFiles)

	t.Run("Load", func(t *testing.T) {
		for _, c := range []struct {
			key, want string
			missing   bool
		}{
			{key: "a/b/c", want: "1"},
			{key: "/a//b/c/", want: "1"}, // the same key, cleaned
			{key: "g/[x]*?", want: "55555"},
			{key: "a/b", missing: true}, // a folder
			{key: "a/b/", missing: true},
			{key: "nope", missing: true},
		} {
			got, err := s.Load(ctx, c.key)
			if c.missing {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("Load(%q) = %q, %v; want fs.ErrNotExist", c.key, got, err)
				}
			} else if err != nil || string(got) != c.want {
				t.Errorf("Load(%q) = %q, %v; want %q", c.key, got, err, c.want)
			}
		}
	})

	t.Run("List", func(t *testing.T) {
		for _, c := range []struct {
			prefix    string
			recursive bool
			want      []string // nil: fs.ErrNotExist
		}{
			{"", false, []string{"a", "f", "g", "h"}},
			{"a", false, []string{"a/b", "a/e"}},
			{"a/", false, []string{"a/b", "a/e"}},
			{"a", true, []string{"a/b", "a/b/c", "a/b/d", "a/e"}},
			{"a/b", false, []string{"a/b/c", "a/b/d"}},
			{"h", false, []string{"h/i"}},
			{"h", true, []string{"h/i", "h/i/j", "h/i/j/k", "h/i/j/k2"}},
			{"g", true, []string{"g/[x]*?"}},
			{"[a-z]", true, nil}, // not a pattern
			{"a/e", false, nil},  // a file
			{"nope", true, nil},
		} {
			got, err := s.List(ctx, c.prefix, c.recursive)
			if c.want == nil {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("List(%q, %v) = %q, %v; want fs.ErrNotExist", c.prefix, c.recursive, got, err)
				}
			} else if err != nil || !slices.Equal(got, c.want) {
				t.Errorf("List(%q, %v) = %q, %v; want %q", c.prefix, c.recursive, got, err, c.want)
			}
		}
	})

	t.Run("Stat and Exists", func(t *testing.T) {
		for _, c := range []struct {
			key              string
			exists, terminal bool
			size             int64
		}{
			{key: "a/b/c", exists: true, terminal: true, size: 1},
			{key: "g/[x]*?", exists: true, terminal: true, size: 5},
			{key: "a/b", exists: true},
			{key: "a", exists: true},
			{key: "h/i/j", exists: true},
			{key: "h/i/j/k3"},
			{key: "a/b/c/d"},
			{key: "g/*"},
			{key: "nope"},
		} {
			if got := s.Exists(ctx, c.key); got != c.exists {
				t.Errorf("Exists(%q) = %v, want %v", c.key, got, c.exists)
			}
			info, err := s.Stat(ctx, c.key)
			switch {
			case !c.exists:
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("Stat(%q) = %+v, %v; want fs.ErrNotExist", c.key, info, err)
				}
			case err != nil || info.Key != c.key || info.IsTerminal != c.terminal || info.Size != c.size:
				t.Errorf("Stat(%q) = %+v, %v; want terminal %v, size %d", c.key, info, err, c.terminal, c.size)
			case c.terminal && info.Modified.IsZero():
				t.Errorf("Stat(%q): no modification time", c.key)
			}
		}
	})

	t.Run("Store", func(t *testing.T) {
		before, err := s.Stat(ctx, "a/e")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Store(ctx, "a/e", []byte("replaced")); err != nil {
			t.Fatal(err)
		}
		after, err := s.Stat(ctx, "a/e")
		if got, _ := s.Load(ctx, "a/e"); string(got) != "replaced" || err != nil || after.Size != 8 || after.Modified.Before(before.Modified) {
			t.Fatalf("after a second Store: %q, %+v, %v", got, after, err)
		}
		if err := s.Store(ctx, "/", []byte("x")); err == nil {
			t.Fatal("Store of the root folder succeeded")
		}
		checkLayout(t, srv, s, storageFiles)
	})
}

func TestStorageDelete(t *testing.T) {
	srv := startRedis(t)
	s := mustStorage(t, map[string]any{"address": srv.addr})
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		delete []string
		want   map[string]string
	}{
		{"a file beside another", []string{"a/b/c"}, filesWithout("a/b/c")},
		{"a folder", []string{"a/b"}, filesWithout("a/b/c", "a/b/d")},
		{"a folder, with a trailing slash", []string{"a/b/"}, filesWithout("a/b/c", "a/b/d")},
		{"a folder of folders", []string{"a"}, filesWithout("a/b/c", "a/b/d", "a/e")},
		{"the last files of a folder, one by one", []string{"a/b/c", "a/b/d", "a/e"}, filesWithout("a/b/c", "a/b/d", "a/e")},
		{"the only file of nested folders", []string{"h/i/j/k", "h/i/j/k2"}, filesWithout("h/i/j/k", "h/i/j/k2")},
		{"a key with glob characters", []string{"g/[x]*?"}, filesWithout("g/[x]*?")},
		{"a glob pattern", []string{"g/*", "[a-h]"}, storageFiles},
		{"a key that does not exist", []string{"nope", "a/b/c/d", "a/z"}, storageFiles},
		{"everything", []string{"a", "f", "g", "h"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			freshStorage(t, srv, s)
			for _, k := range c.delete {
				if err := s.Delete(ctx, k); err != nil {
					t.Fatalf("Delete(%q): %v", k, err)
				}
				if s.Exists(ctx, k) {
					t.Fatalf("Exists(%q) after Delete", k)
				}
			}
			checkLayout(t, srv, s, c.want)
		})
	}
}

// TestStorageDeleteBesideStore deletes the last file of a folder while a
// file is stored in it: the folder, emptied and filled at once, must list
// the new file.
func TestStorageDeleteBesideStore(t *testing.T) {
	srv := startRedis(t)
	s := mustStorage(t, map[string]any{"address": srv.addr})
	ctx := context.Background()
	for i := range 200 {
		if err := s.Store(ctx, "race/old", []byte("x")); err != nil {
			t.Fatal(err)
		}
		newKey := fmt.Sprintf("race/new-%d", i)
		var wg sync.WaitGroup
		var delErr, storeErr error
		wg.Go(func() { delErr = s.Delete(ctx, "race/old") })
		wg.Go(func() { storeErr = s.Store(ctx, newKey, []byte("y")) })
		wg.Wait()
		if delErr != nil || storeErr != nil {
			t.Fatal(delErr, storeErr)
		}
		if got, err := s.List(ctx, "race", false); err != nil || !slices.Equal(got, []string{newKey}) {
			t.Fatalf("round %d: List(race) = %q, %v; want [%s]", i, got, err, newKey)
		}
		if got, err := s.List(ctx, "", false); err != nil || !slices.Equal(got, []string{"race"}) {
			t.Fatalf("round %d: List(\"\") = %q, %v; want [race]", i, got, err)
		}
		if err := s.Delete(ctx, newKey); err != nil {
			t.Fatal(err)
		}
	}
	checkLayout(t, srv, s, nil)
}

// TestStorageScansNothing: with many unrelated keys in Redis, no
// operation scans the keyspace.
func TestStorageScansNothing(t *testing.T) {
	srv := startRedis(t)
	s := mustStorage(t, map[string]any{"address": srv.addr})
	ctx := context.Background()
	freshStorage(t, srv, s)
	pipe := srv.client.Pipeline()
	for i := range 20000 {
		pipe.Set(ctx, fmt.Sprintf("unrelated:%d", i), "x", 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.client.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a/b/c", "a/b", "a", "nope", ""} {
		s.Exists(ctx, k)
		_, _ = s.Stat(ctx, k)
		_, _ = s.List(ctx, k, false)
		_, _ = s.List(ctx, k, true)
	}
	for _, k := range []string{"a/b/c", "a", "nope", "h/i/j/k", "h/i/j/k2"} {
		if err := s.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	stats, err := srv.client.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stats, "cmdstat_exists:") {
		t.Fatalf("INFO commandstats counts no EXISTS after Exists calls:\n%s", stats)
	}
	for _, cmd := range []string{"scan", "keys"} {
		if strings.Contains(stats, "cmdstat_"+cmd+":") {
			t.Errorf("%s was called; INFO commandstats:\n%s", strings.ToUpper(cmd), stats)
		}
	}
	checkLayout(t, srv, s, filesWithout("a/b/c", "a/b/d", "a/e", "h/i/j/k", "h/i/j/k2"))
}
