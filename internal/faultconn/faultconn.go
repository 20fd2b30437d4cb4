// Package faultconn wraps a dbconn.DB for tests, to make its transactions
// fail in the ways a network can: a COMMIT after the server committed (the
// acknowledgement is lost) or before it did, or the nth statement.
package faultconn

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/mikrogo/mikro/em/dbconn"
)

// ErrLost is the error a faulty COMMIT or statement returns: what a driver
// says when the connection dies under it.
var ErrLost = errors.New("faultconn: the connection was lost")

// Mode is how COMMIT fails.
type Mode int32

const (
	// Pass commits normally.
	Pass Mode = iota
	// LostAck commits, then returns ErrLost.
	LostAck
	// LostBefore rolls back, then returns ErrLost.
	LostBefore
)

// DB is a dbconn.DB whose transactions commit as Mode says.
type DB struct {
	dbconn.DB
	mode          atomic.Int32
	failAt, stmts atomic.Int64
}

// Wrap wraps db; its transactions commit normally until SetMode.
func Wrap(db dbconn.DB) *DB { return &DB{DB: db} }

// SetMode sets how the COMMITs of transactions begun from now on fail.
func (d *DB) SetMode(m Mode) { d.mode.Store(int32(m)) }

// Begin begins a transaction of the wrapped DB.
func (d *DB) Begin(ctx context.Context) (dbconn.Tx, error) {
	t, err := d.DB.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &tx{Tx: t, db: d, mode: Mode(d.mode.Load())}, nil
}

type tx struct {
	dbconn.Tx
	db   *DB
	mode Mode
}

func (t *tx) Commit(ctx context.Context) error {
	switch t.mode {
	case LostAck:
		if err := t.Tx.Commit(ctx); err != nil {
			return err
		}
		return ErrLost
	case LostBefore:
		if err := t.Tx.Rollback(ctx); err != nil {
			return err
		}
		return ErrLost
	}
	return t.Tx.Commit(ctx)
}

// FailStatement makes the nth statement (1-based, counted from now) run in
// a transaction of d fail with ErrLost instead of running; 0 turns it off.
func (d *DB) FailStatement(n int64) { d.failAt.Store(n); d.stmts.Store(0) }

// fail reports whether the statement being run is the one to fail.
func (d *DB) fail() bool {
	at := d.failAt.Load()
	return at > 0 && d.stmts.Add(1) == at
}

func (t *tx) Exec(ctx context.Context, q string, args []any) (dbconn.Result, error) {
	if t.db.fail() {
		return nil, ErrLost
	}
	return t.Tx.Exec(ctx, q, args)
}

func (t *tx) Query(ctx context.Context, q string, args []any) (dbconn.Rows, error) {
	if t.db.fail() {
		return nil, ErrLost
	}
	return t.Tx.Query(ctx, q, args)
}
