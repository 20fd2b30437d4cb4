package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/mikrogo/mikro/em"
)

// Author and Book are plain structs: db tags name the columns (as for sqlx),
// orm tags add the mapping options.
type Author struct {
	ID      int64  `db:"id" orm:"pk"`
	Name    string `db:"name" orm:"unique,length=100"`
	Version int    `db:"version" orm:"version"`
}

type Book struct {
	ID        int64     `db:"id" orm:"pk"`
	Title     string    `db:"title" orm:"index"`
	Price     int       `db:"price"`
	AuthorID  int64     `db:"author_id" orm:"ref=Author"`
	CreatedAt time.Time `db:"created_at" orm:"onCreate=now"`
}

// runEM shows the entity manager on an in-memory SQLite database.
func runEM(ctx context.Context, w io.Writer) error {
	orm, err := em.Open(ctx, em.Config{
		Driver:   "sqlite",
		DSN:      "file::memory:?_pragma=foreign_keys(1)",
		Entities: []any{Author{}, Book{}},
	})
	if err != nil {
		return err
	}
	defer orm.Close()
	if err := orm.CreateSchema(ctx); err != nil {
		return err
	}

	// A unit of work: persist a graph of new entities, flush once.
	e := orm.Fork()
	ann, err := em.Create[Author](e, map[string]any{"name": "Ann"})
	if err != nil {
		return err
	}
	if err := e.Flush(ctx); err != nil { // one transaction: INSERT … RETURNING id
		return err
	}
	for i, title := range []string{"Go in Practice", "SQL Basics", "Go Deeper"} {
		if err := e.Persist(&Book{Title: title, Price: 10 * (i + 1), AuthorID: ann.ID}); err != nil {
			return err
		}
	}
	if err := e.Flush(ctx); err != nil { // one multi-row INSERT for the three books
		return err
	}

	// A new unit of work reads them back; the identity map keeps one instance
	// per row, and Flush writes only what changed.
	e = orm.Fork()
	books, err := em.Find[Book](ctx, e, em.F{"title": em.Like("Go%"), "price": em.Gte(10)}, em.FindOptions{OrderBy: []string{"price DESC"}})
	if err != nil {
		return err
	}
	for _, b := range books {
		fmt.Fprintf(w, "%s (%d)\n", b.Title, b.Price)
	}
	books[0].Price = 25 // a discount
	if err := e.Flush(ctx); err != nil {
		return err
	}
	same, err := em.FindOneOrFail[Book](ctx, e, books[0].ID) // answered from the identity map
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "same instance: %v, price now %d\n", same == books[0], same.Price)
	n, err := em.Count[Book](ctx, orm.Fork(), em.F{"price": em.Lt(26)})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "books under 26: %d\n", n)
	return nil
}
