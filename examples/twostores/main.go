// Command twostores runs one small library domain on SQLite and on MongoDB
// with the same code: only opening the ORM differs (openSQLite, openMongo).
//
//	go run ./examples/twostores                      # SQLite in memory
//	MIKRO_MONGO_URI=mongodb://127.0.0.1:27017/ go run ./examples/twostores mongo
//
// For a MongoDB without a server, run the FerretDB program of tools/ferretdb.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/mikrogo/mikro/em"
	mikromongo "github.com/mikrogo/mikro/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	_ "modernc.org/sqlite"
)

// Author and Book are plain structs; the same tags map them to tables and to
// collections. String keys: UUIDs on SQLite need the uuid option, so the keys
// here are integers, which both stores generate.
type Author struct {
	ID    int64               `db:"id" orm:"pk"`
	Name  string              `db:"name" orm:"unique"`
	Books em.Collection[Book] `orm:"mappedBy=author"`
}

type Book struct {
	ID      int64          `db:"id" orm:"pk"`
	Title   string         `db:"title"`
	Price   int            `db:"price"`
	Author  em.Ref[Author] `db:"author_id"`
	Version int            `db:"version" orm:"version"`
}

var entities = []any{Author{}, Book{}}

func main() {
	store := "sqlite"
	if len(os.Args) > 1 {
		store = os.Args[1]
	}
	if err := run(context.Background(), store, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "twostores:", err)
		os.Exit(1)
	}
}

// run opens the store, then does the same work on either.
func run(ctx context.Context, store string, out io.Writer) error {
	var (
		orm   *em.ORM
		close func()
		err   error
	)
	switch store {
	case "sqlite":
		orm, close, err = openSQLite(ctx)
	case "mongo":
		orm, close, err = openMongo(ctx, os.Getenv("MIKRO_MONGO_URI"))
	default:
		return fmt.Errorf("unknown store %q (sqlite or mongo)", store)
	}
	if err != nil {
		return err
	}
	defer close()
	return library(ctx, orm, out)
}

func openSQLite(ctx context.Context) (*em.ORM, func(), error) {
	orm, err := em.Open(ctx, em.Config{Driver: "sqlite", DSN: "file::memory:", Entities: entities})
	if err != nil {
		return nil, nil, err
	}
	if err := orm.CreateSchema(ctx); err != nil {
		return nil, nil, err
	}
	return orm, func() { _ = orm.Close() }, nil
}

func openMongo(ctx context.Context, uri string) (*em.ORM, func(), error) {
	if uri == "" {
		return nil, nil, errors.New("set MIKRO_MONGO_URI (tools/ferretdb starts a server without MongoDB)")
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return nil, nil, err
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	db := client.Database("twostores_" + hex.EncodeToString(b)) // a fresh database per run
	orm, err := mikromongo.Open(ctx, db, em.Config{Entities: entities})
	if err == nil {
		err = mikromongo.EnsureIndexes(ctx, orm)
	}
	if err != nil {
		_ = client.Disconnect(ctx)
		return nil, nil, err
	}
	return orm, func() {
		_ = db.Drop(context.Background())
		_ = client.Disconnect(context.Background())
	}, nil
}

// library is the program: nothing in it knows which store it runs on.
func library(ctx context.Context, orm *em.ORM, out io.Writer) error {
	e := orm.Fork()
	ursula := &Author{Name: "Ursula"}
	ursula.Books.Add(&Book{Title: "A Wizard of Earthsea", Price: 9}, &Book{Title: "The Dispossessed", Price: 12})
	iain := &Author{Name: "Iain"}
	iain.Books.Add(&Book{Title: "Excession", Price: 11})
	if err := e.Persist(ursula, iain); err != nil { // the books come along
		return err
	}
	if err := e.Flush(ctx); err != nil {
		return err
	}

	r := orm.Fork() // a new unit of work, as a new request would have
	cheap, err := em.Find[Book](ctx, r, em.F{"price": em.Lt(12)}, em.FindOptions{OrderBy: []string{"title"}, Populate: []string{"author"}})
	if err != nil {
		return err
	}
	for _, b := range cheap {
		a, err := b.Author.Get()
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s by %s, %d\n", b.Title, a.Name, b.Price)
	}

	cheap[0].Price++ // only this column is written, and the version checked
	if err := r.Flush(ctx); err != nil {
		return err
	}
	n, err := em.Count[Book](ctx, r, em.F{"author.name": "Ursula"})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Ursula has %d books; %s is now %d (version %d)\n", n, cheap[0].Title, cheap[0].Price, cheap[0].Version)

	// A duplicate is the same typed error on both stores.
	if err := e.Persist(&Author{Name: "Iain"}); err != nil {
		return err
	}
	err = e.Flush(ctx)
	fmt.Fprintf(out, "second Iain: unique violation %v\n", errors.Is(err, em.ErrUniqueViolation))
	return nil
}
