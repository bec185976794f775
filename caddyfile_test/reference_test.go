package caddyfile_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// parserSubDirectives returns every sub-directive the module's Caddyfile
// parsers know: the string cases of the switches in functions whose names
// start with Unmarshal or unmarshal, in caddymodule.
func parserSubDirectives(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("../caddymodule/*.go")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || !strings.HasPrefix(strings.ToLower(fn.Name.Name), "unmarshal") {
				continue
			}
			ast.Inspect(fn, func(n ast.Node) bool {
				cc, ok := n.(*ast.CaseClause)
				if !ok {
					return true
				}
				for _, e := range cc.List {
					if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						if name, err := strconv.Unquote(lit.Value); err == nil && regexp.MustCompile(`^[a-z_0-9]+$`).MatchString(name) {
							found[name] = true
						}
					}
				}
				return true
			})
		}
	}
	return found
}

// readmeRowNames returns the sub-directive names that open a row of a
// table in the README: "| `name …`" or "| ↳ `name …`".
func readmeRowNames(t *testing.T) map[string]bool {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| (?:↳ )?`([a-z_0-9]+)")
	names := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		names[m[1]] = true
	}
	return names
}

// TestReferenceTableCoversParser fails when the Caddyfile parser knows a
// sub-directive that no README table row documents.
func TestReferenceTableCoversParser(t *testing.T) {
	parsed, documented := parserSubDirectives(t), readmeRowNames(t)
	if len(parsed) < 30 {
		t.Fatalf("found only %d sub-directives in the parser: %v", len(parsed), parsed)
	}
	var missing []string
	for name := range parsed {
		if !documented[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("sub-directives without a row in the README's tables: %s", strings.Join(missing, ", "))
	}
}
