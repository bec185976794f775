package caddyfile_test

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// TestExampleCaddyJSON keeps examples/caddy.json equal to the adapted
// examples/Caddyfile (-update rewrites it).
func TestExampleCaddyJSON(t *testing.T) {
	text, err := os.ReadFile("../examples/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := adapt(string(text))
	if err != nil {
		t.Fatalf("adapting examples/Caddyfile: %v", err)
	}
	var got bytes.Buffer
	if err := json.Indent(&got, cfg, "", "\t"); err != nil {
		t.Fatal(err)
	}
	got.WriteByte('\n')
	if *update {
		if err := os.WriteFile("../examples/caddy.json", got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("../examples/caddy.json")
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Fatalf("examples/caddy.json is not the adapted examples/Caddyfile; run go test ./caddyfile_test -run TestExampleCaddyJSON -update\n%s", got.String())
	}
}
