package redisstorage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/redis/go-redis/v9"
)

// cleanKey is key as this storage names it: slash-separated, without
// empty, "." or ".." parts and without a leading or trailing slash; the
// root folder is "".
func cleanKey(key string) string {
	return strings.TrimPrefix(path.Clean("/"+key), "/")
}

// splitKey returns the folder holding key and key's name in it.
func splitKey(key string) (folder, name string) {
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		return key[:i], key[i+1:]
	}
	return "", key
}

func (s *Storage) dataPrefix() string { return s.Prefix + ":data:" }
func (s *Storage) dirPrefix() string  { return s.Prefix + ":dir:" }

// The scripts. Each runs atomically, so no other command sees a value
// stored but not listed in its folders, or a folder unlisted that a
// concurrent Store has just listed a child in.
var (
	// storeScript sets the value hash KEYS[1] to ARGV[1] stored at
	// ARGV[2], and adds the name ARGV[i+1] to the folder set KEYS[i]
	// for each folder above it (i >= 2).
	storeScript = redis.NewScript(`
redis.call("hset", KEYS[1], "v", ARGV[1], "m", ARGV[2])
for i = 2, #KEYS do
	redis.call("sadd", KEYS[i], ARGV[i + 1])
end
return 1`)

	// deleteScript deletes the key ARGV[3] (values under the Redis key
	// prefix ARGV[1], folder sets under ARGV[2]): its value, and the value
	// and set of everything under it, walking the sets; then it unlists
	// the key from its folder, and each folder it left with no value and
	// no child from the folder above.
	deleteScript = redis.NewScript(`
local data, dir, key = ARGV[1], ARGV[2], ARGV[3]
local function join(folder, name)
	if folder == "" then return name end
	return folder .. "/" .. name
end
local stack = {key}
while #stack > 0 do
	local k = table.remove(stack)
	redis.call("del", data .. k)
	for _, name in ipairs(redis.call("smembers", dir .. k)) do
		table.insert(stack, join(k, name))
	end
	redis.call("del", dir .. k)
end
local k = key
while k ~= "" do
	local folder, name = string.match(k, "^(.*)/([^/]*)$")
	if folder == nil then folder, name = "", k end
	redis.call("srem", dir .. folder, name)
	if folder == "" or redis.call("exists", data .. folder, dir .. folder) > 0 then break end
	k = folder
end
return 1`)

	// listScript returns the keys in the folder ARGV[2] (folder sets
	// under the Redis key prefix ARGV[1]): its direct children, or with
	// ARGV[3] = "1" everything under it, files and folders.
	listScript = redis.NewScript(`
local dir, recursive = ARGV[1], ARGV[3] == "1"
local function join(folder, name)
	if folder == "" then return name end
	return folder .. "/" .. name
end
local out, queue, i = {}, {ARGV[2]}, 1
while i <= #queue do
	local folder = queue[i]
	i = i + 1
	for _, name in ipairs(redis.call("smembers", dir .. folder)) do
		local k = join(folder, name)
		table.insert(out, k)
		if recursive then table.insert(queue, k) end
	end
end
return out`)
)

// Store puts value under key, listing key in its folders.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	k := cleanKey(key)
	if k == "" {
		return fmt.Errorf("storing %q: an empty key names no value", key)
	}
	keys := []string{s.dataPrefix() + k}
	args := []any{value, time.Now().UnixNano()}
	for child := k; child != ""; {
		folder, name := splitKey(child)
		keys = append(keys, s.dirPrefix()+folder)
		args = append(args, name)
		child = folder
	}
	if err := storeScript.Run(ctx, s.client, keys, args...).Err(); err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	return nil
}

// Load returns the value under key, or an error wrapping fs.ErrNotExist.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	v, err := s.client.HGet(ctx, s.dataPrefix()+cleanKey(key), "v").Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("loading %s: %w", key, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", key, err)
	}
	return v, nil
}

// Delete removes key and, as a folder, everything under it. Deleting a
// key that does not exist is not an error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	if err := deleteScript.Run(ctx, s.client, nil, s.dataPrefix(), s.dirPrefix(), cleanKey(key)).Err(); err != nil {
		return fmt.Errorf("deleting %s: %w", key, err)
	}
	return nil
}

// Exists tells whether key holds a value or is a folder of some.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	k := cleanKey(key)
	n, err := s.client.Exists(ctx, s.dataPrefix()+k, s.dirPrefix()+k).Result()
	return err == nil && n > 0
}

// List returns the keys in the folder prefix, sorted: all of them when
// recursive (files and folders), else its direct children. A folder with
// nothing in it does not exist: List returns an error wrapping
// fs.ErrNotExist.
func (s *Storage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	flag := "0"
	if recursive {
		flag = "1"
	}
	keys, err := listScript.Run(ctx, s.client, nil, s.dirPrefix(), cleanKey(prefix), flag).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", prefix, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("listing %s: %w", prefix, fs.ErrNotExist)
	}
	slices.Sort(keys)
	return keys, nil
}

// Stat describes key: a value (terminal, with its size and the time it
// was stored) or a folder.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	k := cleanKey(key)
	var isValue, isFolder *redis.IntCmd
	var size *redis.IntCmd
	var modified *redis.StringCmd
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		isValue = p.Exists(ctx, s.dataPrefix()+k)
		size = p.HStrLen(ctx, s.dataPrefix()+k, "v")
		modified = p.HGet(ctx, s.dataPrefix()+k, "m")
		isFolder = p.Exists(ctx, s.dirPrefix()+k)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return certmagic.KeyInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	switch {
	case isValue.Val() > 0:
		nanos, _ := strconv.ParseInt(modified.Val(), 10, 64)
		return certmagic.KeyInfo{Key: key, Modified: time.Unix(0, nanos), Size: size.Val(), IsTerminal: true}, nil
	case isFolder.Val() > 0:
		return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
	default:
		return certmagic.KeyInfo{}, fmt.Errorf("stat %s: %w", key, fs.ErrNotExist)
	}
}
