package mongo_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mikrogo/mikro/em"
	mikromongo "github.com/mikrogo/mikro/mongo"
)

// TestNilContextAndORMRejected: the module's functions return an error for
// a nil context or ORM instead of panicking inside the driver.
func TestNilContextAndORMRejected(t *testing.T) {
	db := server(t)
	var noCtx context.Context
	if _, err := mikromongo.Open(noCtx, db, em.Config{Entities: entities}); !errors.Is(err, em.ErrNilContext) {
		t.Fatalf("Open with a nil context: %v, want ErrNilContext", err)
	}
	orm := open(t, db, em.Config{})
	if err := mikromongo.EnsureIndexes(noCtx, orm); !errors.Is(err, em.ErrNilContext) {
		t.Fatalf("EnsureIndexes with a nil context: %v, want ErrNilContext", err)
	}
	if err := mikromongo.Drop(noCtx, orm); !errors.Is(err, em.ErrNilContext) {
		t.Fatalf("Drop with a nil context: %v, want ErrNilContext", err)
	}
	for name, call := range map[string]func() error{
		"EnsureIndexes": func() error { return mikromongo.EnsureIndexes(context.Background(), nil) },
		"Drop":          func() error { return mikromongo.Drop(context.Background(), nil) },
	} {
		err := func() (err error) {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("%s with a nil ORM panicked: %v", name, p)
				}
			}()
			return call()
		}()
		if err == nil {
			t.Fatalf("%s with a nil ORM: no error", name)
		}
	}
}
