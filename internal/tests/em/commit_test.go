package em_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/em/dbconn"
	"github.com/mikrogo/mikro/internal/dbtest"
	"github.com/mikrogo/mikro/internal/faultconn"
)

// TestCommitOutcome (issue 11, bug 8; contract C4): a COMMIT whose answer
// is lost is never reported as "nothing happened". The connection's COMMIT
// is made to fail after the server committed (lost acknowledgement) or
// without committing. PostgreSQL learns the outcome (txid_status): success,
// or a rollback with the unit of work restored. MariaDB and SQLite cannot:
// ErrCommitUnknown, and the unit of work is kept as committed. In every
// case flushing again afterwards leaves each row in the database at most
// once.
func TestCommitOutcome(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		for _, mode := range []faultconn.Mode{faultconn.LostAck, faultconn.LostBefore} {
			name := map[faultconn.Mode]string{faultconn.LostAck: "lost_ack", faultconn.LostBefore: "lost_before"}[mode]
			t.Run(name, func(t *testing.T) {
				ctx := context.Background()
				db := faultconn.Wrap(dbconn.SQL(tg.DB))
				o, err := em.OpenConn(ctx, db, em.Config{Dialect: dialectOf[tg.Name], Entities: []any{Acct{}}})
				must(t, err)
				must(t, o.RefreshSchema(ctx))
				commitOutcome(t, tg.Name == dbtest.Postgres, o, mode, db.SetMode,
					func() (int64, int64) { return countAccts(t, tg) })
			})
		}
	})
}

// commitOutcome runs one TestCommitOutcome case on o; learns says whether
// the store can learn a commit's outcome.
func commitOutcome(t *testing.T, learns bool, o *em.ORM, mode faultconn.Mode, setMode func(faultconn.Mode), count func() (int64, int64)) {
	t.Helper()
	ctx := context.Background()
	const n = 50
	e := o.Fork()
	accts := make([]*Acct, n)
	setMode(mode)
	err := e.Transactional(ctx, func(tx *em.EntityManager) error {
		for i := range accts {
			accts[i] = &Acct{Name: fmt.Sprintf("a%d", i), Balance: 1}
			if err := tx.Persist(accts[i]); err != nil {
				return err
			}
		}
		return nil
	})
	setMode(faultconn.Pass)
	committed := mode == faultconn.LostAck
	switch {
	case learns && committed:
		if err != nil {
			t.Fatalf("PostgreSQL committed, and Transactional returned %v; want nil (the outcome is learnt)", err)
		}
	case learns:
		if err == nil || errors.Is(err, em.ErrCommitUnknown) || !errors.Is(err, faultconn.ErrLost) {
			t.Fatalf("PostgreSQL rolled back, and Transactional returned %v; want the COMMIT's error, not ErrCommitUnknown", err)
		}
	default:
		if !errors.Is(err, em.ErrCommitUnknown) || !errors.Is(err, faultconn.ErrLost) {
			t.Fatalf("a COMMIT with no answer returned %v; want an error matching em.ErrCommitUnknown and the driver's", err)
		}
	}
	// The unit of work: as committed unless the store knows it rolled back.
	keep := committed || !learns
	for _, a := range accts {
		if (a.ID != 0) != keep || (keep && !e.IsManaged(a)) {
			t.Fatalf("after the commit: %s has key %d, managed %v; want kept as committed: %v", a.Name, a.ID, e.IsManaged(a), keep)
		}
	}
	// The retry a caller would make: flush again, or, after a rollback,
	// run the transaction again.
	if keep {
		must(t, e.Flush(ctx))
	} else {
		must(t, e.Transactional(ctx, func(tx *em.EntityManager) error {
			for _, a := range accts {
				if err := tx.Persist(a); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	rows, _ := count()
	want := int64(n)
	if !committed && !learns {
		want = 0 // rolled back, and nothing written twice; the caller reloads to know
	}
	if rows != want {
		t.Fatalf("rows after the commit and a retry: %d, want %d", rows, want)
	}
}
