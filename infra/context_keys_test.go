package infra

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestContextKeysListsEveryConstant: every Ctx* constant of the package is
// in ContextKeys, so that CheckContextKeys never refuses a key the app reads.
func TestContextKeysListsEveryConstant(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Ctx") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, _ := strconv.Unquote(lit.Value)
				if !slices.Contains(ContextKeys, v) {
					t.Errorf("%s: %s = %q is not in ContextKeys", f, name.Name, v)
				}
			}
			return true
		})
	}
}

func TestCheckContextKeys(t *testing.T) {
	tests := []struct {
		name string
		ctx  map[string]any
		want string // "" for no error
	}{
		{"known and cdk's own", map[string]any{"securityHub": "true", "@aws-cdk/core:newStyleStackSynthesis": true, "aws:cdk:enable-path-metadata": true, "availability-zones:account=1:region=us-east-1": []any{"a"}}, ""},
		{"case typo", map[string]any{"securityhub": "true"}, `unknown context key "securityhub"; did you mean "securityHub"?`},
		{"edit typo", map[string]any{"defaultMod": "enforce"}, `did you mean "defaultMode"?`},
		{"nothing near", map[string]any{"frobnicate": "1"}, `unknown context key "frobnicate"; the keys`},
		{"several", map[string]any{"zz": 1, "aa": 2}, `unknown context key "aa" (and 1 more: zz)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckContextKeys(tt.ctx)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v; want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v; want an error containing %q", err, tt.want)
			}
		})
	}
}
