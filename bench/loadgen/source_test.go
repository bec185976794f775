package main

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/bench/internal/benchkit"
)

// Tokens read from a token file come first, in order; a fresh run that
// outlasts them mints the next ones on the spot, and a cycling run refuses
// a file too short for its round.
func TestSourceFromTokenFile(t *testing.T) {
	dir := t.TempDir()
	if err := benchkit.WriteKeys(dir, "EdDSA"); err != nil {
		t.Fatal(err)
	}
	keyFile, tokenFile := filepath.Join(dir, benchkit.IssuerKeyFile), filepath.Join(dir, "tokens")
	key, err := benchkit.LoadSigner(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	m, err := benchkit.NewMinter(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := benchkit.ExtendTokenFile(tokenFile, m, 5); err != nil {
		t.Fatal(err)
	}
	inFile, err := benchkit.ReadTokens(tokenFile, 5)
	if err != nil {
		t.Fatal(err)
	}

	var res benchkit.LoadResult
	src, err := newSource("fresh", keyFile, tokenFile, 8, &res)
	if err != nil {
		t.Fatal(err)
	}
	var sent []string
	for range 8 {
		tok, err := src.next()
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, tok)
	}
	if !slices.Equal(sent[:5], inFile) {
		t.Error("the first tokens sent are not the file's, in order")
	}
	if got := src.(*fresh).live.Load(); got != 3 {
		t.Errorf("%d tokens minted on the spot, want 3", got)
	}
	if slices.Sort(sent); len(slices.Compact(sent)) != 8 {
		t.Error("a token was sent twice")
	}
	if res.Tokens != 5 || res.AccessAlg != "EdDSA" {
		t.Errorf("result says %d %s tokens, want 5 EdDSA", res.Tokens, res.AccessAlg)
	}

	if _, err := newSource("cycle", keyFile, tokenFile, 8, &res); err == nil {
		t.Error("cycling over 8 tokens from a file of 5 gave no error")
	}
}
