package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// maxFileLines bounds a generated file: longer output is cut into parts.
const maxFileLines = 900

// splitSource cuts a formatted Go file into parts of at most maxLines lines
// at top-level declaration boundaries (a declaration longer than that gets a
// part of its own). Each part keeps the file's header comment and package
// clause and imports only what its declarations use. Parts are named
// <base>_gen.go, <base>2_gen.go, ... after name <base>_gen.go.
func splitSource(name string, src []byte, maxLines int) (map[string][]byte, error) {
	if bytes.Count(src, []byte("\n")) <= maxLines {
		return map[string][]byte{name: src}, nil
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	offset := func(p token.Pos) int { return fset.Position(p).Offset }
	pkgEnd := offset(f.Name.End())
	header := string(src[:pkgEnd]) + "\n"

	type imp struct{ name, spec string }
	var imports []imp
	var body []ast.Decl
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.IMPORT {
			for _, s := range g.Specs {
				is := s.(*ast.ImportSpec)
				path, _ := strconv.Unquote(is.Path.Value)
				n := path[strings.LastIndexByte(path, '/')+1:]
				spec := is.Path.Value
				if is.Name != nil {
					n = is.Name.Name
					spec = is.Name.Name + " " + spec
				}
				imports = append(imports, imp{n, spec})
			}
			continue
		}
		body = append(body, d)
	}
	start := func(d ast.Decl) int {
		var doc *ast.CommentGroup
		switch d := d.(type) {
		case *ast.FuncDecl:
			doc = d.Doc
		case *ast.GenDecl:
			doc = d.Doc
		}
		if doc != nil {
			return offset(doc.Pos())
		}
		return offset(d.Pos())
	}
	// uses reports the import names a declaration refers to.
	uses := func(d ast.Decl) map[string]bool {
		out := map[string]bool{}
		ast.Inspect(d, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok {
					out[id.Name] = true
				}
			}
			return true
		})
		return out
	}

	base := strings.TrimSuffix(name, "_gen.go")
	parts := map[string][]byte{}
	var chunk strings.Builder
	used := map[string]bool{}
	lines := 0
	flush := func() error {
		if chunk.Len() == 0 {
			return nil
		}
		var b strings.Builder
		b.WriteString(header)
		var specs []string
		for _, im := range imports {
			if used[im.name] || im.name == "_" {
				specs = append(specs, "\t"+im.spec+"\n")
			}
		}
		if len(specs) > 0 {
			b.WriteString("\nimport (\n" + strings.Join(specs, "") + ")\n")
		}
		b.WriteString("\n" + chunk.String())
		out, err := format.Source([]byte(b.String()))
		if err != nil {
			return fmt.Errorf("part %d of %s: %w", len(parts)+1, name, err)
		}
		n := base + "_gen.go"
		if len(parts) > 0 {
			n = fmt.Sprintf("%s%d_gen.go", base, len(parts)+1)
		}
		parts[n] = out
		chunk.Reset()
		used = map[string]bool{}
		lines = 0
		return nil
	}
	for i, d := range body {
		end := len(src)
		if i+1 < len(body) {
			end = start(body[i+1])
		}
		text := string(src[start(d):end])
		n := strings.Count(text, "\n")
		if lines > 0 && lines+n > maxLines {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		chunk.WriteString(text)
		for k := range uses(d) {
			used[k] = true
		}
		lines += n
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return parts, nil
}

// removeParts deletes the parts an earlier run split name into, so a file
// that shrank leaves no stale part behind.
func removeParts(dir, name string) error {
	base := strings.TrimSuffix(name, "_gen.go")
	re := regexp.MustCompile("^" + regexp.QuoteMeta(base) + `[0-9]+_gen\.go$`)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if re.MatchString(e.Name()) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}
