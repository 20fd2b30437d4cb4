// Command emsqlite is the release check's consumer of the entity manager on
// SQLite: it opens an in-memory database, flushes and finds.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/mikrogo/mikro/em"
	_ "modernc.org/sqlite"
)

type Book struct {
	ID    int64  `db:"id" orm:"pk"`
	Title string `db:"title"`
}

func main() {
	ctx := context.Background()
	orm, err := em.Open(ctx, em.Config{Driver: "sqlite", DSN: "file:consumer?mode=memory", Entities: []any{Book{}}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer orm.Close()
	if err := orm.RefreshSchema(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	e := orm.Fork()
	if err := e.Persist(&Book{Title: "Go"}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := e.Flush(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	books, err := em.FindAll[Book](ctx, orm.Fork())
	if err != nil || len(books) != 1 {
		fmt.Fprintln(os.Stderr, "find:", len(books), err)
		os.Exit(1)
	}
}
