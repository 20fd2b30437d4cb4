package em_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/internal/dbtest"
	"github.com/mikrogo/mikro/internal/emtest"
	"github.com/mikrogo/mikro/qb"
)

// TestPopulate70000Parents: select-in populate of 70,000 distinct parents on
// PostgreSQL stays under its 65,535-parameter limit by chunking, in a handful
// of queries.
func TestPopulate70000Parents(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 140,000 rows")
	}
	tg := dbtest.Open(t, dbtest.Postgres)
	ctx := context.Background()
	l := &emtest.QueryLog{}
	o, err := em.Open(ctx, em.Config{DB: tg.DB, Dialect: qb.Postgres, Entities: emtest.Entities, Debug: true, Logger: slog.New(l)})
	must(t, err)
	must(t, o.RefreshSchema(ctx))
	// Rows go in through plain SQL: this test is about reading.
	for _, s := range []string{
		`INSERT INTO em_author (id, name, rating, version) SELECT g, 'author ' || g, 0, 1 FROM generate_series(1, 70000) g`,
		`INSERT INTO em_review (id, text, author_id) SELECT g, 'review ' || g, g FROM generate_series(1, 70000) g`,
	} {
		if _, err := tg.DB.ExecContext(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	l.Reset()
	e := o.Fork()
	reviews, err := em.Find[emtest.Review](ctx, e, nil, em.FindOptions{Populate: []string{"author"}})
	must(t, err)
	if len(reviews) != 70000 {
		t.Fatalf("%d reviews", len(reviews))
	}
	for _, i := range []int{0, 34567, 69999} {
		a, err := reviews[i].Author.Get()
		if err != nil || a == nil || a.Name != fmt.Sprintf("author %v", reviews[i].Author.ID()) {
			t.Fatalf("review %d: author %+v, %v", i, a, err)
		}
	}
	if n := l.Count("SELECT"); n != 3 {
		t.Fatalf("%d SELECTs for 70,000 parents, want 3 (one for the reviews, two chunks of authors)", n)
	}
}
