package em_test

import (
	"context"
	"testing"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/internal/dbtest"
)

// Acct is the fault tests' entity: a balance under a version field.
type Acct struct {
	ID      int64  `orm:"pk"`
	Name    string `orm:"unique"`
	Balance int64
	Version int64 `orm:"version"`
}

func (Acct) TableName() string { return "em_fault_acct" }

// openAccts opens an ORM on tg with an empty em_fault_acct table.
func openAccts(t *testing.T, tg dbtest.Target, cfg em.Config) *em.ORM {
	t.Helper()
	ctx := context.Background()
	cfg.DB, cfg.Dialect, cfg.Entities = tg.DB, dialectOf[tg.Name], []any{Acct{}}
	o, err := em.Open(ctx, cfg)
	must(t, err)
	must(t, o.RefreshSchema(ctx))
	return o
}

// countAccts counts the rows of em_fault_acct, and sums their balances.
func countAccts(t *testing.T, tg dbtest.Target) (n, sum int64) {
	t.Helper()
	if err := tg.DB.QueryRow("SELECT COUNT(*), COALESCE(SUM(balance), 0) FROM em_fault_acct").Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	return n, sum
}
