package dbconn_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mikrogo/mikro/em/dbconn"
)

// TestSQLNilPool: a nil pool is a caller's mistake; every method says so
// instead of panicking on first use.
func TestSQLNilPool(t *testing.T) {
	ctx := context.Background()
	db := dbconn.SQL(nil)
	if _, err := db.Exec(ctx, "SELECT 1", nil); !errors.Is(err, dbconn.ErrNilPool) {
		t.Errorf("Exec: %v", err)
	}
	if _, err := db.Query(ctx, "SELECT 1", nil); !errors.Is(err, dbconn.ErrNilPool) {
		t.Errorf("Query: %v", err)
	}
	if _, err := db.Begin(ctx); !errors.Is(err, dbconn.ErrNilPool) {
		t.Errorf("Begin: %v", err)
	}
	if _, err := db.Session(ctx); !errors.Is(err, dbconn.ErrNilPool) {
		t.Errorf("Session: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
