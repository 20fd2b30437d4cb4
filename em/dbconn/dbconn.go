// Package dbconn is the small connection interface the entity manager runs
// its SQL through, and its adapter for a database/sql pool (SQL). The module
// em/pgxdriver implements it on a pgx pool; a program can implement or wrap
// it too (to trace, meter or fault-inject statements) and pass it to
// em.OpenConn.
//
// Errors are the driver's own, unchanged: the entity manager translates
// them (into *em.DBError and the like), so an implementation must not wrap
// them in a way errors.As cannot see through.
package dbconn

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Rows is a result set being read, as *sql.Rows reads one: Next advances
// (false at the end or on an error), Err tells which, and Close may be
// called more than once.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// Result is the outcome of a statement that returns no rows. A method the
// database cannot answer (LastInsertId on PostgreSQL) returns an error.
type Result interface {
	RowsAffected() (int64, error)
	LastInsertId() (int64, error)
}

// Querier runs statements. query holds the dialect's placeholders and args
// their values, in order. Both methods return the driver's error when the
// statement fails, and ctx's error when it ends first.
type Querier interface {
	Exec(ctx context.Context, query string, args []any) (Result, error)
	Query(ctx context.Context, query string, args []any) (Rows, error)
}

// Tx is an open transaction. Commit returns an error when the transaction
// is not committed, or may not be (a connection lost during COMMIT); the
// entity manager finds out which. Rollback of a transaction already ended
// returns nil.
type Tx interface {
	Querier
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// Session is one connection held for a sequence of statements that share
// session state (DDL with foreign key checks off).
type Session interface {
	Querier
	Close() error
}

// DB is a connection pool. Begin returns an error when no transaction
// could be started, Session when no connection could be had; Close closes
// the pool.
type DB interface {
	Querier
	Begin(ctx context.Context) (Tx, error)
	Session(ctx context.Context) (Session, error)
	Close() error
}

// SQL adapts a database/sql pool. A nil pool gives a DB every method of
// which returns ErrNilPool.
func SQL(db *sql.DB) DB {
	if db == nil {
		return nilDB{}
	}
	return sqlDB{db}
}

// ErrNilPool is what every method of SQL(nil) returns.
var ErrNilPool = errors.New("dbconn: SQL was given a nil *sql.DB; open the pool with sql.Open first")

type nilDB struct{}

func (nilDB) Exec(context.Context, string, []any) (Result, error) { return nil, ErrNilPool }
func (nilDB) Query(context.Context, string, []any) (Rows, error)  { return nil, ErrNilPool }
func (nilDB) Begin(context.Context) (Tx, error)                   { return nil, ErrNilPool }
func (nilDB) Session(context.Context) (Session, error)            { return nil, ErrNilPool }
func (nilDB) Close() error                                        { return nil }

type sqlDB struct{ db *sql.DB }

func (s sqlDB) Exec(ctx context.Context, q string, args []any) (Result, error) {
	return s.db.ExecContext(ctx, q, args...)
}

func (s sqlDB) Query(ctx context.Context, q string, args []any) (Rows, error) {
	return s.db.QueryContext(ctx, q, args...)
}

// Begin begins a transaction. Until Commit, the transaction follows ctx as
// database/sql has it (a context that ends rolls the transaction back), but
// Commit first cuts it off from ctx: pgx's stdlib sends COMMIT with the
// context the transaction was begun with, so a deadline could cut off a
// COMMIT the server then carries out.
func (s sqlDB) Begin(ctx context.Context) (Tx, error) {
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	t, err := s.db.BeginTx(bctx, nil)
	if err != nil {
		stop()
		cancel()
		return nil, err
	}
	return sqlTx{t, ctx, stop, cancel}, nil
}

// ErrNotCommitted wraps the error of a Commit that sent no COMMIT: the
// transaction is rolled back.
var ErrNotCommitted = errors.New("dbconn: the transaction was rolled back, not committed")

func (s sqlDB) Session(ctx context.Context) (Session, error) {
	c, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	return sqlConn{c}, nil
}

func (s sqlDB) Close() error { return s.db.Close() }

type sqlTx struct {
	t      *sql.Tx
	ctx    context.Context    // the context Begin was given
	stop   func() bool        // cuts the transaction off from ctx
	cancel context.CancelFunc // ends the context the transaction was begun with
}

func (s sqlTx) Exec(ctx context.Context, q string, args []any) (Result, error) {
	return s.t.ExecContext(ctx, q, args...)
}

func (s sqlTx) Query(ctx context.Context, q string, args []any) (Rows, error) {
	return s.t.QueryContext(ctx, q, args...)
}

// Commit commits the transaction, which the context given to Begin can no
// longer interrupt; if that context has ended, database/sql is rolling the
// transaction back and the error wraps ErrNotCommitted.
func (s sqlTx) Commit(context.Context) error {
	defer s.cancel()
	if !s.stop() {
		_ = s.t.Rollback()
		return fmt.Errorf("%w: the context it was begun with ended: %w", ErrNotCommitted, context.Cause(s.ctx))
	}
	return s.t.Commit()
}

// Rollback ends the transaction; one already ended is not an error.
func (s sqlTx) Rollback(context.Context) error {
	defer s.cancel()
	if err := s.t.Rollback(); err != nil && err != sql.ErrTxDone {
		return err
	}
	return nil
}

type sqlConn struct{ c *sql.Conn }

func (s sqlConn) Exec(ctx context.Context, q string, args []any) (Result, error) {
	return s.c.ExecContext(ctx, q, args...)
}

func (s sqlConn) Query(ctx context.Context, q string, args []any) (Rows, error) {
	return s.c.QueryContext(ctx, q, args...)
}

func (s sqlConn) Close() error { return s.c.Close() }
