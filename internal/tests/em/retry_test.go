package em_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/internal/dbtest"
)

// warnLog records the Warn records of a logger: message and attempt.
type warnLog struct {
	mu       sync.Mutex
	attempts []int64
}

func (l *warnLog) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelWarn }
func (l *warnLog) Handle(_ context.Context, r slog.Record) error {
	if r.Level != slog.LevelWarn || !strings.Contains(r.Message, "running it again") {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "attempt" {
			l.mu.Lock()
			l.attempts = append(l.attempts, a.Value.Int64())
			l.mu.Unlock()
		}
		return true
	})
	return nil
}
func (l *warnLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *warnLog) WithGroup(string) slog.Handler      { return l }

func (l *warnLog) all() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int64(nil), l.attempts...)
}

// TestTransactionalRetry (contract C5): a retryable failure runs the
// callback again on a new fork, at most Attempts times, each retry logged
// with its attempt number; a failure that is not retryable is returned at
// once; nothing of a failed attempt is written, and the caller's manager
// is not touched.
func TestTransactionalRetry(t *testing.T) {
	tg := dbtest.Open(t, dbtest.SQLite)
	ctx := context.Background()
	logs := &warnLog{}
	o := openAccts(t, tg, em.Config{Logger: slog.New(logs)})
	serialization := &em.DBError{Kind: em.ErrSerialization, Err: errors.New("test: could not serialize access")}
	opts := em.RetryOptions{Attempts: 4, Backoff: time.Millisecond}

	e := o.Fork()
	var forks []*em.EntityManager
	var persisted []*Acct
	err := e.TransactionalRetry(ctx, opts, func(tx *em.EntityManager) error {
		forks = append(forks, tx)
		a := &Acct{Name: "ok"}
		persisted = append(persisted, a)
		if err := tx.Persist(a); err != nil {
			return err
		}
		if err := tx.Flush(ctx); err != nil {
			return err
		}
		if len(forks) < 3 {
			return fmt.Errorf("transfer: %w", serialization)
		}
		return nil
	})
	must(t, err)
	if len(forks) != 3 || forks[0] == forks[1] || forks[1] == forks[2] || forks[0] == e {
		t.Fatalf("attempts ran on %d managers %p; want 3 distinct new forks", len(forks), forks)
	}
	if got := logs.all(); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("logged retries: %v, want attempts [1 2]", got)
	}
	if e.ManagedCount() != 0 || !forks[2].IsManaged(persisted[2]) || persisted[2].ID == 0 {
		t.Fatal("the caller's manager took the entities, or the committed attempt's fork does not hold its entity")
	}
	if n, _ := countAccts(t, tg); n != 1 {
		t.Fatalf("rows after two failed attempts and one committed: %d, want 1", n)
	}

	// Not retryable: once.
	calls := 0
	err = o.Fork().TransactionalRetry(ctx, opts, func(*em.EntityManager) error {
		calls++
		return &em.OptimisticLockError{Entity: "Acct", ID: 1, ExpectedVersion: 1}
	})
	if calls != 1 || !errors.Is(err, em.ErrOptimisticLock) {
		t.Fatalf("a failure that is not retryable ran %d times and returned %v; want once, its error", calls, err)
	}
	// Always retryable: Attempts times, the last error returned.
	calls = 0
	err = o.Fork().TransactionalRetry(ctx, opts, func(*em.EntityManager) error {
		calls++
		return serialization
	})
	if calls != 4 || !errors.Is(err, em.ErrSerialization) {
		t.Fatalf("an always retryable failure ran %d times and returned %v; want 4 times, ErrSerialization", calls, err)
	}
	// Inside a transaction a retry cannot run the whole of it.
	in := o.Fork()
	must(t, in.Begin(ctx))
	defer func() { _ = in.Rollback(ctx) }()
	if err := in.TransactionalRetry(ctx, opts, func(*em.EntityManager) error { return nil }); err == nil {
		t.Fatal("TransactionalRetry inside a transaction returned nil")
	}
}

// TestTransactionalRetryTransfers (contract C5): 20 concurrent transfers
// between 4 accounts in SERIALIZABLE transactions, which the databases fail
// with serialization failures (PostgreSQL) and deadlocks (MariaDB),
// retried by TransactionalRetry: the total balance is unchanged and every
// transfer committed exactly once (one ledger row each, unique).
func TestTransactionalRetryTransfers(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		db := tg.DB
		switch tg.Name {
		case dbtest.Postgres:
			db = reopen(t, tg.Driver, tg.DSN+"&default_transaction_isolation=serializable")
		case dbtest.MariaDB:
			db = reopen(t, tg.Driver, tg.DSN+"&tx_isolation=%27SERIALIZABLE%27")
		}
		logs := &warnLog{}
		o := openAccts(t, dbtest.Target{Name: tg.Name, DB: db}, em.Config{Logger: slog.New(logs)})
		seed := o.Fork()
		const accounts, transfers, amount = 4, 20, 7
		ids := make([]int64, accounts)
		for i := range accounts {
			a := &Acct{Name: fmt.Sprintf("acct%d", i), Balance: 100}
			must(t, seed.Persist(a))
			must(t, seed.Flush(ctx))
			ids[i] = a.ID
		}
		var wg sync.WaitGroup
		errs := make(chan error, transfers)
		start := make(chan struct{})
		for n := range transfers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				from, to := ids[n%accounts], ids[(n+1)%accounts]
				errs <- o.Fork().TransactionalRetry(ctx, em.RetryOptions{Attempts: 100, Backoff: 2 * time.Millisecond, MaxBackoff: 100 * time.Millisecond},
					func(tx *em.EntityManager) error {
						src, err := em.FindOneOrFail[Acct](ctx, tx, from)
						if err != nil {
							return err
						}
						dst, err := em.FindOneOrFail[Acct](ctx, tx, to)
						if err != nil {
							return err
						}
						src.Balance -= amount
						dst.Balance += amount
						return tx.Persist(&Acct{Name: fmt.Sprintf("ledger%d", n)})
					})
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			must(t, err)
		}
		rows, sum := countAccts(t, dbtest.Target{DB: db})
		if rows != accounts+transfers || sum != accounts*100 {
			t.Fatalf("after %d transfers: %d rows with a total balance of %d; want %d rows (a ledger row per transfer) and %d",
				transfers, rows, sum, accounts+transfers, accounts*100)
		}
		t.Logf("%d retries", len(logs.all()))
	})
}

// reopen opens another pool on the same database with other settings.
func reopen(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	must(t, err)
	t.Cleanup(func() { _ = db.Close() })
	must(t, db.Ping())
	return db
}
