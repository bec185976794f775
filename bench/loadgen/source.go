package main

import (
	"fmt"
	"sync/atomic"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/bench/internal/benchkit"
)

// source hands out the Bearer token of each request; it is safe for
// concurrent use.
type source interface {
	// next returns the token of the next request ("" for none).
	next() (string, error)
	// warm reports whether every token has been sent once, so the caches
	// the run is meant to hit are full.
	warm() bool
}

// noTokens sends requests without Authorization.
type noTokens struct{}

func (noTokens) next() (string, error) { return "", nil }
func (noTokens) warm() bool            { return true }

// cycling sends a fixed set of tokens round and round.
type cycling struct {
	tokens []string
	n      atomic.Uint64
}

func (s *cycling) next() (string, error) {
	i := s.n.Add(1) - 1
	return s.tokens[i%uint64(len(s.tokens))], nil
}

func (s *cycling) warm() bool { return s.n.Load() >= uint64(len(s.tokens)) }

// rotating sends a fixed set of tokens round and round like cycling, but
// does not wait for a round before the window: the soak sends more tokens
// than the caches hold, so every request is meant to miss and evict.
type rotating struct{ cycling }

func (s *rotating) warm() bool { return true }

// fresh sends every token once: the minted ones first, then tokens minted
// on the spot if the run outlasts them (counted in live, since that minting
// competes with Caddy for the cores).
type fresh struct {
	tokens []string
	minter *benchkit.Minter
	n      atomic.Int64
	live   atomic.Int64
}

func (s *fresh) next() (string, error) {
	i := s.n.Add(1) - 1
	if i < int64(len(s.tokens)) {
		t := s.tokens[i]
		s.tokens[i] = "" // each is sent once; let it go
		return t, nil
	}
	s.live.Add(1)
	t, err := s.minter.Mint(int(i))
	if err != nil {
		return "", fmt.Errorf("minting token %d: %w", i, err)
	}
	return t, nil
}

func (s *fresh) warm() bool { return true }
