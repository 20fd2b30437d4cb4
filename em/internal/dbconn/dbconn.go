// Package dbconn is the small interface the entity manager runs statements
// through, with an adapter for database/sql. The em/pgxdriver package adapts
// pgx to it, so the entity manager can run on either without importing pgx.
package dbconn

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Rows is a result set being read.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// Result is the outcome of a statement that returns no rows.
type Result interface {
	RowsAffected() (int64, error)
	LastInsertId() (int64, error)
}

// Querier runs statements.
type Querier interface {
	Exec(ctx context.Context, query string, args []any) (Result, error)
	Query(ctx context.Context, query string, args []any) (Rows, error)
}

// Tx is an open transaction.
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

// DB is a connection pool.
type DB interface {
	Querier
	Begin(ctx context.Context) (Tx, error)
	Session(ctx context.Context) (Session, error)
	Close() error
}

// SQL adapts a database/sql pool.
func SQL(db *sql.DB) DB { return sqlDB{db} }

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
