// Package pgxdriver runs the entity manager on a pgx connection pool directly,
// without database/sql in between: fewer allocations per row and pgx's own
// statement cache. It is a module of its own
// (github.com/mikrogo/mikro/em/pgxdriver), so that em requires no driver: a
// program gets pgx only when it imports this package. It implements the
// public connection interface em/dbconn on a pgx pool.
//
//	pool, err := pgxpool.New(ctx, dsn)
//	orm, err := pgxdriver.Open(ctx, pool, em.Config{Entities: []any{Book{}}})
package pgxdriver

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/em/dbconn"
	"github.com/mikrogo/mikro/qb"
)

// Open opens the ORM on pool (PostgreSQL; Config.Dialect is set to
// qb.Postgres). The pool stays the caller's: ORM.Close does not close it. It
// returns the errors of em.Open.
func Open(ctx context.Context, pool *pgxpool.Pool, cfg em.Config) (*em.ORM, error) {
	if pool == nil {
		return nil, errors.New("pgxdriver: nil pool")
	}
	cfg.Dialect = qb.Postgres
	return em.OpenConn(ctx, poolConn{pool}, cfg)
}

type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func exec(ctx context.Context, q querier, sql string, args []any) (dbconn.Result, error) {
	tag, err := q.Exec(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return result(tag), nil
}

func query(ctx context.Context, q querier, sql string, args []any) (dbconn.Rows, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgxRows{rows}, nil
}

type poolConn struct{ p *pgxpool.Pool }

func (c poolConn) Exec(ctx context.Context, sql string, args []any) (dbconn.Result, error) {
	return exec(ctx, c.p, sql, args)
}

func (c poolConn) Query(ctx context.Context, sql string, args []any) (dbconn.Rows, error) {
	return query(ctx, c.p, sql, args)
}

func (c poolConn) Begin(ctx context.Context) (dbconn.Tx, error) {
	t, err := c.p.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return pgxTx{t}, nil
}

func (c poolConn) Session(ctx context.Context) (dbconn.Session, error) {
	conn, err := c.p.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return session{conn}, nil
}

// Close leaves the pool open: it belongs to the caller.
func (c poolConn) Close() error { return nil }

type pgxTx struct{ t pgx.Tx }

func (t pgxTx) Exec(ctx context.Context, sql string, args []any) (dbconn.Result, error) {
	return exec(ctx, t.t, sql, args)
}

func (t pgxTx) Query(ctx context.Context, sql string, args []any) (dbconn.Rows, error) {
	return query(ctx, t.t, sql, args)
}

func (t pgxTx) Commit(ctx context.Context) error { return t.t.Commit(ctx) }

func (t pgxTx) Rollback(ctx context.Context) error {
	if err := t.t.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return err
	}
	return nil
}

type session struct{ c *pgxpool.Conn }

func (s session) Exec(ctx context.Context, sql string, args []any) (dbconn.Result, error) {
	return exec(ctx, s.c, sql, args)
}

func (s session) Query(ctx context.Context, sql string, args []any) (dbconn.Rows, error) {
	return query(ctx, s.c, sql, args)
}

func (s session) Close() error {
	s.c.Release()
	return nil
}

type pgxRows struct{ r pgx.Rows }

func (r pgxRows) Next() bool             { return r.r.Next() }
func (r pgxRows) Scan(dest ...any) error { return r.r.Scan(dest...) }
func (r pgxRows) Err() error             { return r.r.Err() }
func (r pgxRows) Close() error {
	r.r.Close()
	return r.r.Err()
}

type result pgconn.CommandTag

func (r result) RowsAffected() (int64, error) { return pgconn.CommandTag(r).RowsAffected(), nil }

func (r result) LastInsertId() (int64, error) {
	return 0, errors.New("pgxdriver: PostgreSQL has no last insert id; use RETURNING")
}
