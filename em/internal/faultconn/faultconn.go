// Package faultconn wraps a dbconn.DB for tests, to make its transactions'
// COMMIT fail in the ways a network can: after the server committed (the
// acknowledgement is lost) or before it did.
package faultconn

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/mikrogo/mikro/em/internal/dbconn"
)

// ErrLost is the error a faulty COMMIT returns: what a driver says when the
// connection dies with COMMIT on its way.
var ErrLost = errors.New("faultconn: the connection was lost during COMMIT")

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
	mode atomic.Int32
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
	return &tx{Tx: t, mode: Mode(d.mode.Load())}, nil
}

type tx struct {
	dbconn.Tx
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
