package mongo_test

import (
	"context"
	"testing"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/internal/emtest"
	mikromongo "github.com/mikrogo/mikro/mongo"
)

// TestSharedSuite runs em's behaviour suite (package emtest) on MongoDB:
// every case that is not about SQL, from the same table as PostgreSQL,
// MariaDB and SQLite, each on a fresh database.
func TestSharedSuite(t *testing.T) {
	emtest.Run(t, emtest.Store{Name: "mongodb"}, func(t *testing.T, cfg em.Config) *em.ORM {
		t.Helper()
		orm, err := mikromongo.Open(context.Background(), server(t), cfg)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if err := mikromongo.EnsureIndexes(context.Background(), orm); err != nil {
			t.Fatal(err)
		}
		return orm
	})
}
