// Package dbconn is the small interface the entity manager runs statements
// through, with an adapter for database/sql. The em/pgxdriver package adapts
// pgx to it, so the entity manager can run on either without importing pgx.
package dbconn

import (
	"context"
	"database/sql"
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

// Begin begins a transaction. ctx bounds the BEGIN only: database/sql rolls
// a transaction back when the context it was begun with ends, and pgx's
// stdlib sends COMMIT with that context, so a deadline could cut a COMMIT
// the server then carries out. The transaction lives until Commit or
// Rollback; each statement in it is bounded by its own context.
func (s sqlDB) Begin(ctx context.Context) (Tx, error) {
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	t, err := s.db.BeginTx(bctx, nil)
	if !stop() {
		// ctx ended during BEGIN: database/sql rolls the transaction back.
		if err == nil {
			_ = t.Rollback()
			err = ctx.Err()
		}
	}
	if err != nil {
		cancel()
		return nil, err
	}
	return sqlTx{t, cancel}, nil
}

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
	cancel context.CancelFunc // ends the context the transaction was begun with
}

func (s sqlTx) Exec(ctx context.Context, q string, args []any) (Result, error) {
	return s.t.ExecContext(ctx, q, args...)
}

func (s sqlTx) Query(ctx context.Context, q string, args []any) (Rows, error) {
	return s.t.QueryContext(ctx, q, args...)
}

func (s sqlTx) Commit(context.Context) error {
	defer s.cancel()
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
