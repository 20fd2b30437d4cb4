package bench

import (
	"context"
	"os"
	"testing"

	"github.com/mikrogo/mikro/em"
	mikromongo "github.com/mikrogo/mikro/mongo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Doc is the document of the MongoDB benchmark: the Model row with an
// ObjectID key, mapped for the raw driver (bson tags) and for mikro (db
// tags, the key as its hex string).
type Doc struct {
	ID      string        `db:"id" orm:"pk" bson:"-"`
	OID     bson.ObjectID `db:"-" bson:"_id,omitempty"`
	Name    string        `db:"name" bson:"name"`
	Title   string        `db:"title" bson:"title"`
	Fax     string        `db:"fax" bson:"fax"`
	Web     string        `db:"web" bson:"web"`
	Age     int           `db:"age" bson:"age"`
	Right   bool          `db:"right" bson:"right"`
	Counter int64         `db:"counter" bson:"counter"`
}

func (Doc) TableName() string { return "docs" }

func newDoc(i int) *Doc {
	return &Doc{Name: "Orm Benchmark", Title: "Just a Benchmark for fun", Fax: "99909990",
		Web: "http://blog.milkpod29.me", Age: 100, Right: true, Counter: int64(1000 + i)}
}

// BenchmarkMongo inserts 100 documents in one call (one Flush for mikro)
// and reads 100 back into structs (a fresh fork each time for mikro, so
// every document enters an identity map with its snapshot), against the
// raw driver doing the same on the same collection.
func BenchmarkMongo(b *testing.B) {
	uri := os.Getenv("MIKRO_MONGO_URI")
	if uri == "" {
		b.Skip("MIKRO_MONGO_URI is not set")
	}
	ctx := context.Background()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	fatal(b, err)
	defer client.Disconnect(ctx)
	db := client.Database("mikro_bench")
	fatal(b, db.Drop(ctx))
	coll := db.Collection("docs")
	orm, err := mikromongo.Open(ctx, db, em.Config{Entities: []any{Doc{}}})
	fatal(b, err)
	seed := make([]any, 100)
	for i := range seed {
		seed[i] = newDoc(i)
	}
	_, err = coll.InsertMany(ctx, seed)
	fatal(b, err)
	batch := func(i int) []*Doc {
		ds := make([]*Doc, 100)
		for j := range ds {
			ds[j] = newDoc(i*100 + j)
		}
		return ds
	}

	b.Run("Insert100", func(b *testing.B) {
		b.Run("driver", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				ds := batch(i)
				docs := make([]any, len(ds))
				for j, d := range ds {
					d.OID = bson.NewObjectID()
					docs[j] = d
				}
				_, err := coll.InsertMany(ctx, docs)
				fatal(b, err)
			}
		})
		b.Run("mikro", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				e := orm.Fork()
				for _, d := range batch(i) {
					fatal(b, e.Persist(d))
				}
				fatal(b, e.Flush(ctx))
			}
		})
	})
	// The reads see exactly the 100 seeded documents, whatever the inserts added.
	fatal(b, coll.Drop(ctx))
	for _, d := range seed {
		d.(*Doc).OID = bson.ObjectID{}
	}
	_, err = coll.InsertMany(ctx, seed)
	fatal(b, err)
	b.Run("Read100", func(b *testing.B) {
		b.Run("driver", func(b *testing.B) {
			for b.Loop() {
				cur, err := coll.Find(ctx, bson.D{}, options.Find().SetLimit(100))
				fatal(b, err)
				var out []*Doc
				for cur.Next(ctx) {
					d := new(Doc)
					fatal(b, cur.Decode(d))
					out = append(out, d)
				}
				fatal(b, cur.Close(ctx))
				if len(out) != 100 {
					b.Fatalf("%d documents", len(out))
				}
			}
		})
		b.Run("mikro", func(b *testing.B) {
			for b.Loop() {
				out, err := em.Find[Doc](ctx, orm.Fork(), nil, em.FindOptions{Limit: 100})
				fatal(b, err)
				if len(out) != 100 {
					b.Fatalf("%d documents", len(out))
				}
			}
		})
	})
}
