package mongo_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// server returns a fresh database on the test server (MIKRO_MONGO_URI),
// dropped when the test ends, or skips; under CI=true a missing server
// fails the test. (The mongo module's own tests, which stay beside the
// code to reach mongo/internal, have their twin of this.)
func server(t *testing.T) *mongo.Database {
	t.Helper()
	uri := os.Getenv("MIKRO_MONGO_URI")
	if uri == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("MIKRO_MONGO_URI is not set, and CI=true needs every server (scripts/test.sh starts FerretDB)")
		}
		t.Skip("MIKRO_MONGO_URI is not set; skipping (scripts/test.sh starts FerretDB and sets it)")
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetTimeout(20 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Ping(context.Background(), nil); err != nil {
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
