package em

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// TestErrorsInOneFile keeps every error of package em in errors.go: a
// package-level variable made by errors.New or fmt.Errorf, or a type with an
// Error method, declared in any other file fails it, naming file and line.
func TestErrorsInOneFile(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	seen := 0
	for _, de := range entries {
		name := de.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.GenDecl:
				if d.Tok != token.VAR {
					continue
				}
				for _, sp := range d.Specs {
					vs := sp.(*ast.ValueSpec)
					for i, v := range vs.Values {
						if !isErrorCall(v) {
							continue
						}
						seen++
						if name != "errors.go" {
							t.Errorf("%s: the error %s belongs in errors.go", fset.Position(v.Pos()), vs.Names[i].Name)
						}
					}
				}
			case *ast.FuncDecl:
				if d.Recv == nil || d.Name.Name != "Error" || d.Type.Params.NumFields() != 0 {
					continue
				}
				seen++
				if name != "errors.go" {
					t.Errorf("%s: an error type (its Error method) belongs in errors.go", fset.Position(d.Pos()))
				}
			}
		}
	}
	if seen == 0 {
		t.Fatal("found no error at all: the test reads the wrong folder")
	}
}

// isErrorCall reports whether e is a call of errors.New or fmt.Errorf.
func isErrorCall(e ast.Expr) bool {
	c, ok := e.(*ast.CallExpr)
	if !ok {
		return false
	}
	s, ok := c.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	p, ok := s.X.(*ast.Ident)
	return ok && (p.Name == "errors" && s.Sel.Name == "New" || p.Name == "fmt" && s.Sel.Name == "Errorf")
}
