package mongo_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/mikrogo/mikro/em"
	mikromongo "github.com/mikrogo/mikro/mongo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

type Writer struct {
	ID      string                `db:"id" orm:"pk"` // an ObjectID
	Name    string                `db:"name" orm:"unique"`
	Email   *string               `db:"email"`
	Rating  float64               `db:"rating"`
	Novels  em.Collection[Novel]  `orm:"mappedBy=writer"`
	Profile em.Ref[WriterProfile] `orm:"mappedBy=writer"`
}

type Novel struct {
	ID        string         `db:"id" orm:"pk"`
	Title     string         `db:"title" orm:"index"`
	Price     int            `db:"price"`
	Writer    em.Ref[Writer] `db:"writer_id"`
	Meta      map[string]any `db:"meta" orm:"type=json"`
	Version   int            `db:"version" orm:"version"`
	CreatedAt time.Time      `db:"created_at" orm:"onCreate=now"`
	UpdatedAt time.Time      `db:"updated_at" orm:"onCreate=now,onUpdate=now"`
}

type WriterProfile struct {
	ID     string         `db:"id" orm:"pk"`
	Bio    string         `db:"bio"`
	Writer em.Ref[Writer] `db:"writer_id" orm:"unique"`
}

// Shelf has an application-assigned integer key.
type Shelf struct {
	ID   int64  `db:"id" orm:"pk,assigned"`
	Name string `db:"name"`
}

// hooked records its hooks, to show they run on MongoDB too.
type Hooked struct {
	ID   string `db:"id" orm:"pk"`
	Name string `db:"name"`
}

var hookTrail []string

func (h *Hooked) BeforeCreate(context.Context, *em.EntityManager) error {
	hookTrail = append(hookTrail, "BeforeCreate:"+h.Name)
	return nil
}
func (h *Hooked) AfterCreate(context.Context, *em.EntityManager) error {
	hookTrail = append(hookTrail, "AfterCreate:"+h.Name)
	return nil
}
func (h *Hooked) BeforeUpdate(context.Context, *em.EntityManager) error {
	hookTrail = append(hookTrail, "BeforeUpdate:"+h.Name)
	return nil
}

var entities = []any{Writer{}, Novel{}, WriterProfile{}, Shelf{}, Hooked{}}

// server returns a fresh database on the test server (MIKRO_MONGO_URI), or
// skips; under CI=true a missing server fails the test.
func server(t *testing.T) *mongo.Database {
	t.Helper()
	uri := os.Getenv("MIKRO_MONGO_URI")
	if uri == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("MIKRO_MONGO_URI is not set, and CI=true needs every server (.ci/run starts FerretDB)")
		}
		t.Skip("MIKRO_MONGO_URI is not set; skipping (run tools/ferretdb and set it)")
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetTimeout(20 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := client.Ping(ctx, nil); err != nil {
		t.Fatalf("MongoDB at %s: %v", uri, err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	db := client.Database("mikro_test_" + hex.EncodeToString(b))
	t.Cleanup(func() {
		_ = db.Drop(context.Background())
		_ = client.Disconnect(context.Background())
	})
	return db
}

func open(t *testing.T, db *mongo.Database, cfg em.Config) *em.ORM {
	t.Helper()
	if cfg.Entities == nil {
		cfg.Entities = entities
	}
	orm, err := mikromongo.Open(context.Background(), db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := mikromongo.EnsureIndexes(context.Background(), orm); err != nil {
		t.Fatal(err)
	}
	return orm
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestUnitOfWorkOnMongo(t *testing.T) {
	db := server(t)
	ctx := context.Background()
	orm := open(t, db, em.Config{})
	e := orm.Fork()

	ann := &Writer{Name: "Ann", Rating: 4, Profile: em.RefTo(&WriterProfile{Bio: "hi"})}
	ann.Novels.Add(&Novel{Title: "Go", Price: 10, Meta: map[string]any{"pages": 300}}, &Novel{Title: "Rust", Price: 20})
	bob := &Writer{Name: "Bob"}
	must(t, e.Persist(ann, bob))
	if len(ann.ID) != 24 {
		t.Fatalf("Persist gives an ObjectID key in hex, got %q", ann.ID)
	}
	must(t, e.Flush(ctx))

	// Stored as documents with ObjectID keys and references.
	var doc bson.M
	must(t, db.Collection("novel").FindOne(ctx, bson.D{{Key: "title", Value: "Go"}}).Decode(&doc))
	if _, ok := doc["_id"].(bson.ObjectID); !ok {
		t.Fatalf("_id is %T, want an ObjectID", doc["_id"])
	}
	if id, ok := doc["writer_id"].(bson.ObjectID); !ok || id.Hex() != ann.ID {
		t.Fatalf("writer_id is %v, want the ObjectID of Ann", doc["writer_id"])
	}
	if doc["version"] != int64(1) && doc["version"] != int32(1) {
		t.Fatalf("version %v (%T)", doc["version"], doc["version"])
	}

	// The identity map: one instance per key; FindOne by key answers from it.
	f := orm.Fork()
	w1, err := em.FindOneOrFail[Writer](ctx, f, em.F{"name": "Ann"})
	must(t, err)
	w2, err := em.FindOne[Writer](ctx, f, w1.ID)
	must(t, err)
	if w1 != w2 || w1.ID != ann.ID || w1.Rating != 4 {
		t.Fatalf("identity map: %p %p %+v", w1, w2, w1)
	}

	// Filters: operators, like, relation paths resolved into key lists.
	novels, err := em.Find[Novel](ctx, f, em.F{"writer.name": "Ann", "price": em.Gte(15)})
	must(t, err)
	if len(novels) != 1 || novels[0].Title != "Rust" {
		t.Fatalf("novels of Ann from 15: %v", titles(novels))
	}
	novels, err = em.Find[Novel](ctx, f, em.F{"$or": []em.F{{"title": em.Like("G%")}, {"title": em.ILike("rus_")}}}, em.FindOptions{OrderBy: []string{"title DESC"}})
	must(t, err)
	if !slices.Equal(titles(novels), []string{"Rust", "Go"}) {
		t.Fatalf("like/ilike: %v", titles(novels))
	}
	ws, err := em.Find[Writer](ctx, f, em.F{"novels": em.F{"price": em.Gt(15)}})
	must(t, err)
	if len(ws) != 1 || ws[0] != w1 {
		t.Fatalf("writers of expensive novels: %v", len(ws))
	}
	n, err := em.Count[Novel](ctx, f, em.F{"writer": w1})
	must(t, err)
	if n != 2 {
		t.Fatalf("count by reference: %d", n)
	}

	// Populate: references, collections and the inverse one-to-one by $in.
	g := orm.Fork()
	list, err := em.Find[Novel](ctx, g, nil, em.FindOptions{OrderBy: []string{"title"}, Populate: []string{"writer.profile", "writer.novels"}})
	must(t, err)
	w, err := list[0].Writer.Get()
	must(t, err)
	p, err := w.Profile.Get()
	must(t, err)
	items, err := w.Novels.Items()
	must(t, err)
	if w.Name != "Ann" || p == nil || p.Bio != "hi" || len(items) != 2 || list[0].Meta["pages"] == nil {
		t.Fatalf("populated graph: %+v / %+v / %d / %v", w, p, len(items), list[0].Meta)
	}

	// Change sets: only changed fields, the version checked and incremented,
	// onUpdate values written.
	novel := list[0]
	before := novel.UpdatedAt
	novel.Price = 11
	novel.Meta = nil
	must(t, g.Flush(ctx))
	if novel.Version != 2 || !novel.UpdatedAt.After(before) && !novel.UpdatedAt.Equal(before) {
		t.Fatalf("after update: version %d, updated %v (was %v)", novel.Version, novel.UpdatedAt, before)
	}
	doc = nil
	must(t, db.Collection("novel").FindOne(ctx, bson.D{{Key: "title", Value: "Go"}}).Decode(&doc))
	if _, has := doc["meta"]; has || doc["price"] != int64(11) && doc["price"] != int32(11) {
		t.Fatalf("after $set/$unset: %v", doc)
	}

	// Optimistic locking between two forks.
	h := orm.Fork()
	stale, err := em.FindOneOrFail[Novel](ctx, h, novel.ID)
	must(t, err)
	novel.Price = 12
	must(t, g.Flush(ctx))
	stale.Price = 99
	err = h.Flush(ctx)
	var lock *em.OptimisticLockError
	if !errors.As(err, &lock) || lock.Entity != "Novel" || lock.ID != novel.ID {
		t.Fatalf("stale update: %v", err)
	}
	if stale.Version != 2 {
		t.Fatalf("a failed flush must put the version back: %d", stale.Version)
	}
	must(t, h.Refresh(ctx, stale))
	if stale.Price != 12 || stale.Version != 3 {
		t.Fatalf("refreshed: %+v", stale)
	}

	// Remove, with the collection kept in sync.
	must(t, g.Remove(novel))
	must(t, g.Flush(ctx))
	left, err := em.Count[Novel](ctx, orm.Fork(), nil)
	must(t, err)
	if left != 1 {
		t.Fatalf("after remove: %d novels", left)
	}

	// Assigned integer keys.
	must(t, e.Persist(&Shelf{ID: 7, Name: "top"}))
	must(t, e.Flush(ctx))
	s, err := em.FindOneOrFail[Shelf](ctx, orm.Fork(), int64(7))
	must(t, err)
	if s.Name != "top" {
		t.Fatalf("shelf %+v", s)
	}
}

// TestFailedFlushIsRetryable: a duplicate key in the middle of a flush
// leaves the writes before it applied and managed, the rest pending; fixed,
// the next Flush writes only what is left.
func TestFailedFlushIsRetryable(t *testing.T) {
	db := server(t)
	ctx := context.Background()
	orm := open(t, db, em.Config{})
	e := orm.Fork()
	must(t, e.Persist(&Writer{Name: "Ann"}))
	must(t, e.Flush(ctx))

	f := orm.Fork()
	a, b, c := &Writer{Name: "A"}, &Writer{Name: "Ann"}, &Writer{Name: "C"}
	must(t, f.Persist(a, b, c))
	err := f.Flush(ctx)
	var dbe *em.DBError
	if !errors.Is(err, em.ErrUniqueViolation) || !errors.As(err, &dbe) || dbe.Entity != "Writer" {
		t.Fatalf("duplicate name: %v", err)
	}
	n, err := em.Count[Writer](ctx, orm.Fork(), nil)
	must(t, err)
	if n != 2 {
		t.Fatalf("documents after the failed flush: %d, want Ann and A", n)
	}
	b.Name = "Bea"
	must(t, f.Flush(ctx))
	n, err = em.Count[Writer](ctx, orm.Fork(), nil)
	must(t, err)
	if n != 4 {
		t.Fatalf("documents after the retry: %d, want 4 (A written once)", n)
	}
	if err := f.Transactional(ctx, func(*em.EntityManager) error { return nil }); !errors.Is(err, em.ErrTransactionsUnavailable) {
		t.Fatalf("Transactional on a server without transactions: %v", err)
	}
}

func TestHooksAndUnsupportedOnMongo(t *testing.T) {
	db := server(t)
	ctx := context.Background()
	orm := open(t, db, em.Config{})
	e := orm.Fork()
	hookTrail = nil
	h := &Hooked{Name: "x"}
	must(t, e.Persist(h))
	must(t, e.Flush(ctx))
	h.Name = "y"
	must(t, e.Flush(ctx))
	if !slices.Equal(hookTrail, []string{"BeforeCreate:x", "AfterCreate:x", "BeforeUpdate:y"}) {
		t.Fatalf("hooks: %v", hookTrail)
	}
	if _, err := em.QB[Writer](e, "w").All(ctx); !errors.Is(err, em.ErrUnsupported) {
		t.Fatalf("QB on MongoDB: %v", err)
	}
	if _, err := em.Find[Writer](ctx, e, nil, em.FindOptions{Populate: []string{"novels"}, Strategy: em.Joined}); !errors.Is(err, em.ErrUnsupported) {
		t.Fatalf("joined strategy on MongoDB: %v", err)
	}
	if _, err := em.Find[Writer](ctx, e, em.F{"name": em.F{"$where": "1"}}); !errors.Is(err, em.ErrInvalidFilter) {
		t.Fatalf("an operator the filter language lacks: %v", err)
	}
	// A value that looks like an operator stays a value.
	got, err := em.Find[Writer](ctx, e, em.F{"name": "$gt"})
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("a $-string matched %d writers", len(got))
	}
}

// Counter has a generated integer key: MongoDB has none, the driver takes
// blocks from a sequence collection.
type Counter struct {
	ID   int64                `db:"id" orm:"pk"`
	Name string               `db:"name"`
	Tags em.Collection[Shelf] `orm:"manyToMany"`
}

func TestGeneratedIntegerKeysAndManyToMany(t *testing.T) {
	db := server(t)
	ctx := context.Background()
	orm := open(t, db, em.Config{Entities: []any{Counter{}, Shelf{}}})
	e := orm.Fork()
	a, b := &Counter{Name: "a"}, &Counter{Name: "b"}
	must(t, e.Persist(a, b))
	must(t, e.Flush(ctx))
	c := &Counter{Name: "c"}
	must(t, e.Persist(c))
	must(t, e.Flush(ctx))
	if a.ID != 1 || b.ID != 2 || c.ID != 3 {
		t.Fatalf("keys %d %d %d, want 1 2 3", a.ID, b.ID, c.ID)
	}
	got, err := em.FindOneOrFail[Counter](ctx, orm.Fork(), int64(2))
	must(t, err)
	if got.Name != "b" {
		t.Fatalf("counter 2: %+v", got)
	}
	// Many-to-many links live on the owning document as an array of keys.
	s1, s2 := &Shelf{ID: 1, Name: "s"}, &Shelf{ID: 2, Name: "t"}
	must(t, e.Persist(s1, s2)) // assigned keys: not cascaded, as they could be existing rows
	c.Tags.Add(s1, s2)
	must(t, e.Flush(ctx))
	var doc bson.M
	must(t, db.Collection("counter").FindOne(ctx, bson.D{{Key: "_id", Value: int64(3)}}).Decode(&doc))
	if arr, ok := doc["tags"].(bson.A); !ok || len(arr) != 2 {
		t.Fatalf("the owner's array of item keys: %v", doc["tags"])
	}
	withTags, err := em.Find[Counter](ctx, orm.Fork(), em.F{"tags": em.F{"name": "t"}}, em.FindOptions{Populate: []string{"tags"}})
	must(t, err)
	if len(withTags) != 1 || withTags[0].Name != "c" {
		t.Fatalf("counters tagged t: %d", len(withTags))
	}
	if items, err := withTags[0].Tags.Items(); err != nil || len(items) != 2 {
		t.Fatalf("populated tags: %d %v", len(items), err)
	}
}

func titles(ns []*Novel) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Title
	}
	return out
}
