// Command emonly is the release check's consumer of the entity manager with
// no database driver: it maps an entity and prints the schema em would
// create on PostgreSQL. Its go.sum must hold em and qb alone, and it is
// built with the oldest Go that em's go line allows.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/qb"
)

type Book struct {
	ID    int64  `db:"id" orm:"pk"`
	Title string `db:"title" orm:"length=200"`
}

func main() {
	// No driver is linked in: Open fails, and says so, when it connects.
	_, err := em.Open(context.Background(), em.Config{Dialect: qb.Postgres, Driver: "pgx", DSN: "postgres://localhost/none", Entities: []any{Book{}}})
	fmt.Fprintln(os.Stderr, "open without a driver:", err)
}
