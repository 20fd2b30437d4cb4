package em_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/internal/dbtest"
)

// TestDeadlockIsRetryable: two transactions that lock two rows in opposite
// order; the database kills one, and the error says so in a form a caller can
// test and retry on.
func TestDeadlockIsRetryable(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		if tg.Name == dbtest.SQLite {
			t.Skip("SQLite has one writer at a time: no deadlocks between row locks")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		o, err := em.Open(ctx, em.Config{DB: tg.DB, Dialect: dialectOf[tg.Name], Entities: []any{Parent{}, Child{}}})
		must(t, err)
		must(t, o.RefreshSchema(ctx))
		seed := o.Fork()
		a, b := &Parent{}, &Parent{}
		must(t, seed.Persist(a, b))
		must(t, seed.Flush(ctx))

		lock := func(e *em.EntityManager, id int64) error {
			_, err := em.FindOneOrFail[Parent](ctx, e, id, em.FindOptions{Lock: em.LockPessimisticWrite, Refresh: true})
			return err
		}
		e1, e2 := o.Fork(), o.Fork()
		must(t, e1.Begin(ctx))
		must(t, e2.Begin(ctx))
		must(t, lock(e1, a.ID))
		must(t, lock(e2, b.ID))
		err1, err2 := make(chan error, 1), make(chan error, 1)
		go func() { err1 <- lock(e1, b.ID) }()
		time.Sleep(200 * time.Millisecond) // let e1 wait on b first
		go func() { err2 <- lock(e2, a.ID) }()
		// One statement fails as the deadlock's victim; rolling its
		// transaction back (MariaDB already did) lets the other through.
		var r1, r2 error
		select {
		case r1 = <-err1:
			_ = e1.Rollback(ctx)
			r2 = <-err2
			_ = e2.Rollback(ctx)
		case r2 = <-err2:
			_ = e2.Rollback(ctx)
			r1 = <-err1
			_ = e1.Rollback(ctx)
		}
		if (r1 == nil) == (r2 == nil) {
			t.Fatalf("want exactly one victim, got %v and %v", r1, r2)
		}
		err = errors.Join(r1, r2)
		var dbe *em.DBError
		if !errors.Is(err, em.ErrDeadlock) || !errors.As(err, &dbe) || !dbe.Retryable() {
			t.Fatalf("want a retryable ErrDeadlock, got %v", err)
		}
	})
}
