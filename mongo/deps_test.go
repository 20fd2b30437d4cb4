package mongo_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestNoSQLDriverDependencies holds the module boundary: the mongo module
// imports em and the MongoDB driver, and no SQL driver (pgx, mysql,
// sqlite) gets in through em. (em's database/sql, the standard library, may.)
func TestNoSQLDriverDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !slices.Contains(deps, "github.com/mikrogo/mikro/em") || !slices.Contains(deps, "go.mongodb.org/mongo-driver/v2/mongo") {
		t.Fatalf("go list -deps printed an unexpected list (%d packages)", len(deps))
	}
	for _, d := range deps {
		for _, sql := range []string{"github.com/jackc/pgx", "github.com/mikrogo/mikro/em/pgxdriver", "github.com/go-sql-driver/mysql", "modernc.org/sqlite"} {
			if strings.HasPrefix(d, sql) {
				t.Errorf("the mongo module depends on %s", d)
			}
		}
	}
}
