// Command empg is the release check's consumer of the entity manager on
// PostgreSQL through em/pgxdriver (it is built, not run).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/em/pgxdriver"
)

type Book struct {
	ID    int64  `db:"id" orm:"pk"`
	Title string `db:"title"`
}

func main() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	orm, err := pgxdriver.Open(ctx, pool, em.Config{Entities: []any{Book{}}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer orm.Close()
}
