package caddyfile_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestCaddyfilesFormatted: every Caddyfile in examples/ and every caddyfile
// block of the README and docs/ is as `caddy fmt` writes it, so a reader
// who copies one gets no "not formatted" warning.
func TestCaddyfilesFormatted(t *testing.T) {
	texts := map[string]string{}
	files, err := filepath.Glob("../examples/*/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../examples/Caddyfile")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		texts[f] = string(b)
	}
	docs, _ := filepath.Glob("../docs/*.md")
	block := regexp.MustCompile("(?s)```caddyfile\n(.*?)```")
	for _, f := range append(docs, "../README.md") {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range block.FindAllStringSubmatch(string(b), -1) {
			texts[f+" block "+strconv.Itoa(i+1)] = m[1]
		}
	}
	if len(texts) < 8 {
		t.Fatalf("found only %d Caddyfiles", len(texts))
	}
	for name, text := range texts {
		if got := string(caddyfile.Format([]byte(text))); got != text {
			t.Errorf("%s is not as caddy fmt writes it; caddy fmt gives:\n%s", name, strings.TrimSpace(got))
		}
	}
}

// TestDocsPaths: every link of the README and docs/ leads to a file of the
// repository or a heading of the page, and every repository path they
// quote in backticks exists, so a reader who follows one finds it.
func TestDocsPaths(t *testing.T) {
	pages, _ := filepath.Glob("../docs/*.md")
	pages = append(pages, "../README.md")
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	quoted := regexp.MustCompile("`(?:\\./)?((?:examples|docs|cmd|caddymodule|caddyfile_test|validator|jwtgen|apimdata|retriever|introspection|revocation|migrate|internal|bench)/[\\w./-]*)`")
	checked := 0
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for _, m := range link.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			path := page
			if file != "" {
				path = filepath.Join(filepath.Dir(page), file)
				if _, err := os.Stat(path); err != nil {
					t.Errorf("%s links to %s, which does not exist", page, target)
					continue
				}
			}
			if anchor != "" && !hasHeading(t, path, anchor) {
				t.Errorf("%s links to %s: no such heading", page, target)
			}
			checked++
		}
		for _, m := range quoted.FindAllStringSubmatch(text, -1) {
			if _, err := os.Stat(filepath.Join("..", strings.TrimSuffix(m[1], "/"))); err != nil {
				t.Errorf("%s names %s, which does not exist", page, m[1])
			}
			checked++
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d links and paths", checked)
	}
}

// hasHeading reports whether the markdown file has a heading whose GitHub
// anchor is anchor.
func hasHeading(t *testing.T, file, anchor string) bool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		title, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " ")
		if !ok || !strings.HasPrefix(line, "#") {
			continue
		}
		var a strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				a.WriteByte('-')
			case r == '-' || r == '_' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9':
				a.WriteRune(r)
			}
		}
		if a.String() == anchor {
			return true
		}
	}
	return false
}
