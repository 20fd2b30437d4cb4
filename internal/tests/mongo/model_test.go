package mongo_test

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/internal/emtest"
	mikromongo "github.com/mikrogo/mikro/mongo"
)

// TestModel runs em's model-based test of the unit of work
// (emtest.RunModel) on MongoDB, on one database for all its sequences.
// FerretDB has no transactions: the model checks the weaker contract.
func TestModel(t *testing.T) {
	db := server(t)
	emtest.RunModel(t, emtest.ModelStore{Name: "mongodb"}, func(t *testing.T, cfg em.Config) (*em.ORM, emtest.ModelKit) {
		t.Helper()
		ctx := context.Background()
		orm, err := mikromongo.Open(ctx, db, cfg)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if err := mikromongo.EnsureIndexes(ctx, orm); err != nil {
			t.Fatal(err)
		}
		var colls []string
		for _, m := range orm.Metas() {
			colls = append(colls, m.Table)
		}
		return orm, emtest.ModelKit{Reset: func(ctx context.Context) error {
			for _, c := range colls {
				if _, err := db.Collection(c).DeleteMany(ctx, bson.D{}); err != nil {
					return err
				}
			}
			return nil
		}}
	})
}
