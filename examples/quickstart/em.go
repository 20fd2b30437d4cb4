package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/mikrogo/mikro/em"
)

// Author and Book are plain structs: db tags name the columns (as for sqlx),
// orm tags add the mapping options. Book.Author is a many-to-one reference;
// Author.Books is its inverse side.
type Author struct {
	ID      int64               `db:"id" orm:"pk"`
	Name    string              `db:"name" orm:"unique,length=100"`
	Version int                 `db:"version" orm:"version"`
	Books   em.Collection[Book] `orm:"mappedBy=author"`
}

type Book struct {
	ID        int64          `db:"id" orm:"pk"`
	Title     string         `db:"title" orm:"index"`
	Price     int            `db:"price"`
	Author    em.Ref[Author] `db:"author_id"`
	CreatedAt time.Time      `db:"created_at" orm:"onCreate=now"`
}

// sqlLog prints each statement the ORM runs (Config.Debug logs them as "em:
// query" records), so that the quickstart shows what every step costs.
type sqlLog struct{ w io.Writer }

func (l sqlLog) Enabled(context.Context, slog.Level) bool { return true }
func (l sqlLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l sqlLog) WithGroup(string) slog.Handler            { return l }
func (l sqlLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "em: query" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "sql" {
			fmt.Fprintf(l.w, "   SQL: %s\n", a.Value.String())
		}
		return true
	})
	return nil
}

// runEM shows the entity manager on an in-memory SQLite database, printing
// the SQL each step runs.
func runEM(ctx context.Context, w io.Writer) error {
	orm, err := em.Open(ctx, em.Config{
		Driver:   "sqlite",
		DSN:      "file::memory:",
		Entities: []any{Author{}, Book{}},
		Debug:    true,
		Logger:   slog.New(sqlLog{w}),
	})
	if err != nil {
		return err
	}
	defer orm.Close()
	if err := orm.CreateSchema(ctx); err != nil {
		return err
	}

	// A unit of work: a graph of new entities, written by one flush (the
	// author first, for its key, then the books in one multi-row INSERT,
	// in one transaction).
	fmt.Fprintln(w, "-- persist an author and three books, flush once")
	e := orm.Fork()
	ann := &Author{Name: "Ann"}
	for i, title := range []string{"Go in Practice", "SQL Basics", "Go Deeper"} {
		ann.Books.Add(&Book{Title: title, Price: 10 * (i + 1)})
	}
	if err := e.Persist(ann); err != nil { // cascades to the books
		return err
	}
	if err := e.Flush(ctx); err != nil {
		return err
	}

	// A new unit of work reads them back.
	fmt.Fprintln(w, "-- find in a new unit of work")
	e = orm.Fork()
	books, err := em.Find[Book](ctx, e, em.F{"title": em.Like("Go%"), "price": em.Gte(10)}, em.FindOptions{OrderBy: []string{"price DESC"}})
	if err != nil {
		return err
	}
	for _, b := range books {
		fmt.Fprintf(w, "%s (%d)\n", b.Title, b.Price)
	}

	// The identity map keeps one instance per row: a find by key of a
	// managed entity runs no query.
	fmt.Fprintln(w, "-- find by key again: no SQL")
	same, err := em.FindOneOrFail[Book](ctx, e, books[0].ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "same instance: %v\n", same == books[0])

	// Flush compares each entity with what was loaded and writes only the
	// column that changed.
	fmt.Fprintln(w, "-- change one field, flush: an UPDATE of that column")
	books[0].Price = 25
	if err := e.Flush(ctx); err != nil {
		return err
	}
	fmt.Fprintln(w, "-- flush with nothing changed: no SQL")
	if err := e.Flush(ctx); err != nil {
		return err
	}

	fmt.Fprintln(w, "-- count in a new unit of work")
	n, err := em.Count[Book](ctx, orm.Fork(), em.F{"price": em.Lt(26)})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "books under 26: %d\n", n)
	return nil
}
