package mongo_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mikrogo/mikro/em"
	mikromongo "github.com/mikrogo/mikro/mongo"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// The MongoDB side of the native operations and upserts: what the shared
// suite (internal/emtest, cases_native.go) cannot show because it holds on
// every store alike.

// Ticket has an integer key from the sequence collection and a unique name.
type Ticket struct {
	ID   int64  `db:"id" orm:"pk"`
	Name string `db:"name" orm:"unique"`
	N    int    `db:"n"`
}

// Defaulted has a SQL default, which MongoDB cannot evaluate.
type Defaulted struct {
	ID   int64  `db:"id" orm:"pk,assigned"`
	Kind string `db:"kind" orm:"default='plain'"`
}

// TestUpsertNeedsUniqueIndex: onConflict properties other than the key
// need a unique index of exactly those fields in the collection; without
// one the error says what to do and nothing is written.
func TestUpsertNeedsUniqueIndex(t *testing.T) {
	db := server(t)
	ctx := context.Background()
	orm, err := mikromongo.Open(ctx, db, em.Config{Entities: entities})
	must(t, err)
	e := orm.Fork()
	_, err = em.Upsert(ctx, e, &Writer{Name: "Ann"}, "name")
	var fe *em.FilterError
	if !errors.As(err, &fe) || fe.Entity != "Writer" || fe.Property != "name" || !strings.Contains(err.Error(), "mongo.EnsureIndexes") || !strings.Contains(err.Error(), "declares the unique index") {
		t.Fatalf("Upsert on a declared unique index not created: %v", err)
	}
	_, err = em.Upsert(ctx, e, &Writer{Name: "Ann", Rating: 2}, "rating")
	if !errors.As(err, &fe) || fe.Property != "rating" || !strings.Contains(err.Error(), `orm:"unique"`) {
		t.Fatalf("Upsert on a field without a unique index: %v", err)
	}
	if n, err := em.Count[Writer](ctx, orm.Fork(), nil); err != nil || n != 0 {
		t.Fatalf("a refused upsert wrote %d writers (%v)", n, err)
	}
	must(t, mikromongo.EnsureIndexes(ctx, orm))
	w, err := em.Upsert(ctx, e, &Writer{Name: "Ann"}, "name")
	must(t, err)
	// An ObjectID key is made as Persist makes it: hex in the struct, an
	// ObjectID in the document.
	var doc bson.M
	must(t, db.Collection("writer").FindOne(ctx, bson.D{{Key: "name", Value: "Ann"}}).Decode(&doc))
	if id, ok := doc["_id"].(bson.ObjectID); !ok || id.Hex() != w.ID {
		t.Fatalf("stored _id %v (%T), entity key %q", doc["_id"], doc["_id"], w.ID)
	}
}

// TestNativeInsertKeysOnMongo: NativeInsert of an ObjectID-keyed entity
// returns the new key in hex and stores an ObjectID; a generated integer
// key that collides with a stored document (the sequence was passed by
// hand) is taken again, for NativeInsert and for Upsert alike.
func TestNativeInsertKeysOnMongo(t *testing.T) {
	db := server(t)
	ctx := context.Background()
	orm := open(t, db, em.Config{Entities: []any{Writer{}, Novel{}, WriterProfile{}, Ticket{}, Defaulted{}}})
	e := orm.Fork()
	id, err := em.NativeInsert[Writer](ctx, e, map[string]any{"name": "Ann", "rating": 3})
	must(t, err)
	hex, ok := id.(string)
	if !ok || len(hex) != 24 {
		t.Fatalf("NativeInsert of a writer returned %v (%T), want an ObjectID in hex", id, id)
	}
	var doc bson.M
	must(t, db.Collection("writer").FindOne(ctx, bson.D{{Key: "name", Value: "Ann"}}).Decode(&doc))
	if oid, ok := doc["_id"].(bson.ObjectID); !ok || oid.Hex() != hex || doc["rating"] != 3.0 {
		t.Fatalf("stored %v, want _id ObjectID %s and rating 3.0 (converted to the field's float64)", doc, hex)
	}
	if _, ok := doc["email"]; ok {
		t.Fatalf("a field not given was stored: %v", doc)
	}

	// The next keys of the sequence are already taken by documents
	// written around the entity manager.
	_, err = db.Collection("ticket").InsertMany(ctx, []any{bson.D{{Key: "_id", Value: int64(1)}, {Key: "name", Value: "raw1"}}, bson.D{{Key: "_id", Value: int64(2)}, {Key: "name", Value: "raw2"}}})
	must(t, err)
	key, err := em.NativeInsert[Ticket](ctx, e, map[string]any{"name": "c", "n": 1})
	must(t, err)
	if key != any(int64(3)) {
		t.Fatalf("NativeInsert past taken keys 1 and 2 returned %v, want 3", key)
	}
	_, err = db.Collection("ticket").InsertOne(ctx, bson.D{{Key: "_id", Value: int64(4)}, {Key: "name", Value: "raw4"}})
	must(t, err)
	c, err := em.Upsert(ctx, e, &Ticket{Name: "d", N: 2}, "name")
	must(t, err)
	if c.ID != 5 {
		t.Fatalf("Upsert past the taken key 4 stored key %d, want 5", c.ID)
	}
	if n, err := em.Count[Ticket](ctx, orm.Fork(), nil); err != nil || n != 5 {
		t.Fatalf("tickets: %d, %v, want 5", n, err)
	}
}

// TestNativeLimitsOnMongo: what MongoDB cannot do is an error naming the
// entity and the field, and nothing is written.
func TestNativeLimitsOnMongo(t *testing.T) {
	db := server(t)
	ctx := context.Background()
	orm := open(t, db, em.Config{Entities: []any{Writer{}, Novel{}, WriterProfile{}, Ticket{}, Defaulted{}}})
	e := orm.Fork()
	_, err := em.NativeInsert[Ticket](ctx, e, map[string]any{"id": 7, "name": "c", "n": 0})
	must(t, err)
	_, err = em.NativeUpdate[Ticket](ctx, e, em.F{"name": "c"}, map[string]any{"id": 8})
	if !errors.Is(err, em.ErrUnsupported) || !strings.Contains(err.Error(), "Ticket.id") {
		t.Fatalf("NativeUpdate of the key: %v, want ErrUnsupported naming Ticket.id", err)
	}
	_, err = em.NativeInsert[Defaulted](ctx, e, map[string]any{"id": 1})
	if !errors.Is(err, em.ErrUnsupported) || !strings.Contains(err.Error(), "kind") || !strings.Contains(err.Error(), "'plain'") {
		t.Fatalf("NativeInsert leaving a SQL default to the store: %v, want ErrUnsupported naming kind and its default", err)
	}
	if _, err := em.NativeInsert[Defaulted](ctx, e, map[string]any{"id": 1, "kind": "given"}); err != nil {
		t.Fatalf("NativeInsert giving the defaulted field: %v", err)
	}
	if n, err := em.Count[Ticket](ctx, orm.Fork(), em.F{"id": 7}); err != nil || n != 1 {
		t.Fatalf("the ticket after the refused key change: %d, %v", n, err)
	}
}

// TestNativeMisuseOnMongo: the caller mistakes of em's no-panic sweep
// (which runs on SQLite) reach the MongoDB path too and are errors there,
// never panics, with nothing written.
func TestNativeMisuseOnMongo(t *testing.T) {
	db := server(t)
	ctx := context.Background()
	orm := open(t, db, em.Config{Entities: []any{Writer{}, Novel{}, WriterProfile{}, Ticket{}}})
	e := orm.Fork()
	for name, call := range map[string]func() error{
		"NativeInsert nil data": func() error { _, err := em.NativeInsert[Ticket](ctx, e, nil); return err },
		"NativeInsert unknown":  func() error { _, err := em.NativeInsert[Ticket](ctx, e, map[string]any{"nope": 1}); return err },
		"NativeInsert wrong type": func() error {
			_, err := em.NativeInsert[Ticket](ctx, e, map[string]any{"name": make(chan int), "n": 1})
			return err
		},
		"NativeInsert bad ObjectID": func() error {
			_, err := em.NativeInsert[Writer](ctx, e, map[string]any{"id": "zz", "name": "a", "rating": 1})
			return err
		},
		"NativeUpdate nil data":        func() error { _, err := em.NativeUpdate[Ticket](ctx, e, nil, nil); return err },
		"NativeUpdate bad filter":      func() error { _, err := em.NativeUpdate[Ticket](ctx, e, "one", map[string]any{"n": 1}); return err },
		"NativeUpdate wrong type":      func() error { _, err := em.NativeUpdate[Ticket](ctx, e, nil, map[string]any{"n": "x"}); return err },
		"NativeDelete bad filter":      func() error { _, err := em.NativeDelete[Ticket](ctx, e, em.F{"n": em.F{"$where": 1}}); return err },
		"NativeDelete unregistered":    func() error { _, err := em.NativeDelete[Shelf](ctx, e, nil); return err },
		"Upsert nil entity":            func() error { _, err := em.Upsert(ctx, e, (*Ticket)(nil)); return err },
		"UpsertMany nil element":       func() error { _, err := em.UpsertMany(ctx, e, []*Ticket{{Name: "a"}, nil}, "name"); return err },
		"Upsert bad ObjectID key":      func() error { _, err := em.Upsert(ctx, e, &Writer{ID: "zz", Name: "a"}); return err },
		"Upsert unknown conflict prop": func() error { _, err := em.Upsert(ctx, e, &Ticket{Name: "a"}, "nope"); return err },
	} {
		err := func() (err error) {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("%s panicked: %v", name, p)
				}
			}()
			return call()
		}()
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// A property given by its name and its Go name is refused before the
	// store sees a document with two fields of one name.
	var fe *em.FilterError
	if _, err := em.NativeInsert[Ticket](ctx, e, map[string]any{"name": "a", "Name": "b", "n": 1}); !errors.As(err, &fe) || fe.Property != "name" {
		t.Errorf("NativeInsert of name and Name: %v, want a *FilterError naming name", err)
	}
	for _, coll := range []string{"ticket", "writer"} {
		if n, err := db.Collection(coll).CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
			t.Fatalf("the mistakes wrote %d documents into %s (%v)", n, coll, err)
		}
	}
}
