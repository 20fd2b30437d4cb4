// Package imports_test holds the import rules between mikro's packages: what
// each package may reach, read from `go list -deps`, so that a change that
// breaks a rule fails here the moment it is made (not when a user's go.sum
// grows). Test-only imports are not counted: they live in this test module.
package imports_test

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/mikrogo/mikro/"

// A rule says what the packages matching Pkgs (a go list pattern) may
// depend on, directly or not, besides the standard library: a dependency is
// allowed when it starts with one of Allow and none of Deny. Every rule must
// match at least one package, so that a rule cannot go quiet when a package
// moves.
type rule struct {
	pkgs  string
	why   string
	allow []string // prefixes of import paths; nil allows everything not denied
	deny  []string
}

var rules = []rule{
	{pkgs: mod + "qb/...", why: "the query builder stands alone: standard library only",
		allow: []string{mod + "qb"}},
	{pkgs: mod + "em/dbconn", why: "the connection interface is below em: it imports neither em nor a driver",
		allow: []string{mod + "em/dbconn"}},
	{pkgs: mod + "em", why: "em imports no database driver and nothing but qb and its own packages",
		allow: []string{mod + "em", mod + "qb"}, deny: []string{mod + "em/pgxdriver"}},
	{pkgs: mod + "em/pgxdriver", why: "pgx enters through em/pgxdriver only",
		allow: []string{mod + "em", mod + "qb", "github.com/jackc/", "golang.org/x/sync", "golang.org/x/text"}},
	{pkgs: mod + "mongo/...", why: "the MongoDB store reaches no SQL driver",
		deny: []string{"github.com/jackc/", "github.com/go-sql-driver/", "modernc.org/", "github.com/lib/pq", "github.com/mattn/", mod + "em/pgxdriver", mod + "migrate"}},
	{pkgs: mod + "migrate/...", why: "migrate is SQL only: no MongoDB driver",
		deny: []string{"go.mongodb.org/", mod + "mongo"}},
}

// listed runs go list with a template over pattern and returns its lines.
func listed(t *testing.T, template string, pattern ...string) []string {
	t.Helper()
	args := append([]string{"list", "-f", template}, pattern...)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// under reports whether import path s is one of prefixes or below one: a
// prefix ending in "/" matches any path that starts with it, another matches
// itself and the paths below it.
func under(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasSuffix(p, "/") && strings.HasPrefix(s, p) || s == p || strings.HasPrefix(s, p+"/") {
			return true
		}
	}
	return false
}

// violations lists the dependencies of the packages of r that break r.
func violations(t *testing.T, r rule) []string {
	t.Helper()
	pkgs := listed(t, "{{.ImportPath}}", r.pkgs)
	if len(pkgs) == 0 || pkgs[0] == "" {
		t.Fatalf("%s matches no package: fix the rule", r.pkgs)
	}
	var out []string
	for _, p := range pkgs {
		for _, d := range listed(t, `{{range .Deps}}{{.}}{{"\n"}}{{end}}`, p) {
			d = strings.TrimSpace(d)
			if d == "" || !strings.Contains(strings.SplitN(d, "/", 2)[0], ".") {
				continue // the standard library (and its vendor/)
			}
			if under(d, r.deny) || (r.allow != nil && !under(d, r.allow)) {
				out = append(out, p+" depends on "+d)
			}
		}
	}
	return out
}

func TestImportRules(t *testing.T) {
	for _, r := range rules {
		t.Run(strings.TrimPrefix(r.pkgs, mod), func(t *testing.T) {
			for _, v := range violations(t, r) {
				t.Errorf("%s: %s", v, r.why)
			}
		})
	}
}

// TestRulesCanFail: rules that the tree breaks are found broken.
func TestRulesCanFail(t *testing.T) {
	for _, r := range []rule{
		{pkgs: mod + "em/pgxdriver", allow: []string{mod + "em/pgxdriver", mod + "qb"}}, // it reaches em and pgx
		{pkgs: mod + "em", deny: []string{mod + "qb"}},
		{pkgs: mod + "migrate/...", deny: []string{"modernc.org/"}},
	} {
		if len(violations(t, r)) == 0 {
			t.Errorf("the rule on %s (allow %v, deny %v) finds nothing to object to", r.pkgs, r.allow, r.deny)
		}
	}
	if !under(mod+"em/dbconn", []string{mod + "em"}) || under(mod+"emx", []string{mod + "em"}) || !under("github.com/jackc/pgx/v5", []string{"github.com/jackc/"}) {
		t.Error("under matches wrongly")
	}
}
