package em

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mikrogo/mikro/em/dbconn"
	"github.com/mikrogo/mikro/qb"
)

// guardTx is the SQL transaction of a txState. It refuses every statement
// once the transaction is dead (C3: a deadlock, a serialization failure, a
// lost connection, a context that ended while a statement was running), so
// that nothing runs in autocommit mode on a connection whose transaction
// the server has already rolled back, and it records whether the
// transaction wrote anything (for the commit's outcome, C4).
type guardTx struct {
	dbconn.Tx
	dead  atomic.Pointer[deadTx]
	wrote atomic.Bool
}

// deadTx is why a transaction is dead: the translated error that killed it.
type deadTx struct{ cause error }

// newGuardTx guards t.
func newGuardTx(t dbconn.Tx) *guardTx { return &guardTx{Tx: t} }

// deadErr returns nil while the transaction is usable, or an error that
// matches (errors.Is/As) the one that killed it.
func (g *guardTx) deadErr() error {
	d := g.dead.Load()
	if d == nil {
		return nil
	}
	return &txDeadError{Cause: d.cause}
}

// before refuses a statement in a dead transaction, or one whose context
// is already done (which then sends nothing and leaves the transaction
// usable).
func (g *guardTx) before(ctx context.Context) error {
	if err := g.deadErr(); err != nil {
		return err
	}
	return ctx.Err()
}

// after records what a statement's error does to the transaction.
func (g *guardTx) after(err error) {
	if killsTx(err) {
		g.dead.CompareAndSwap(nil, &deadTx{cause: translateError(err, "")})
	}
}

// Exec runs a statement in the transaction.
func (g *guardTx) Exec(ctx context.Context, q string, args []any) (dbconn.Result, error) {
	if err := g.before(ctx); err != nil {
		return nil, err
	}
	res, err := g.Tx.Exec(ctx, q, args)
	if err != nil {
		g.after(err)
		return nil, err
	}
	if !g.wrote.Load() && writes(q) {
		g.wrote.Store(true)
	}
	return res, nil
}

// Query runs a statement that returns rows in the transaction.
func (g *guardTx) Query(ctx context.Context, q string, args []any) (dbconn.Rows, error) {
	if err := g.before(ctx); err != nil {
		return nil, err
	}
	rows, err := g.Tx.Query(ctx, q, args)
	if err != nil {
		g.after(err)
		return nil, err
	}
	if !g.wrote.Load() && writes(q) {
		g.wrote.Store(true)
	}
	return guardRows{rows, g}, nil
}

// Rollback ends the transaction. A dead one is over on the server (or will
// be when its connection is closed), and so is one whose connection the
// ROLLBACK finds gone (a server ends the transaction of a lost session):
// a failure to say so is not an error.
func (g *guardTx) Rollback(ctx context.Context) error {
	err := g.Tx.Rollback(ctx)
	if err != nil && (g.dead.Load() != nil || connLost(err)) {
		return nil
	}
	return err
}

// guardRows records the errors of reading rows: a deadlock or a lost
// connection may come with the rows rather than with the query.
type guardRows struct {
	dbconn.Rows
	g *guardTx
}

func (r guardRows) Err() error {
	err := r.Rows.Err()
	if err != nil {
		r.g.after(err)
	}
	return err
}

func (r guardRows) Close() error {
	err := r.Rows.Close()
	if err != nil {
		r.g.after(err)
	}
	return err
}

// writes reports whether statement q may write: anything but a read or a
// savepoint statement.
func writes(q string) bool {
	q = strings.TrimLeft(q, " \t\r\n(")
	for _, p := range [...]string{"SELECT", "select", "SAVEPOINT", "RELEASE", "ROLLBACK", "SET ", "set "} {
		if strings.HasPrefix(q, p) {
			return false
		}
	}
	return true
}

// killsTx reports whether a statement's error ends the transaction it ran
// in: a deadlock or serialization failure (MariaDB and MySQL roll the whole
// transaction back; PostgreSQL could return to a savepoint, but the
// transaction's reads are what failed, so it is given up on every dialect),
// a lost connection, or a context that ended while the statement ran (the
// drivers close the connection, or database/sql rolls back).
func killsTx(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if kind, _ := classify(err); kind == ErrDeadlock || kind == ErrSerialization {
		return true
	}
	return connLost(err)
}

// connLost reports whether err says that the connection, and with it any
// transaction on it, is gone.
func connLost(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, sql.ErrTxDone) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var st sqlStater
	if errors.As(err, &st) {
		s := st.SQLState()
		// 08: connection exception; 57P01-57P05: the server ended the
		// session (pg_terminate_backend, shutdown, idle timeouts); 25P03:
		// idle_in_transaction_session_timeout.
		return strings.HasPrefix(s, "08") || strings.HasPrefix(s, "57P0") || s == "25P03"
	}
	if _, n, ok := mysqlNumber(err); ok {
		switch n {
		case 1053, 1927, 2006, 2013: // server shutdown, connection killed, gone away, lost
			return true
		}
		return false
	}
	msg := err.Error()
	// Drivers' own connection errors, which they export as plain values:
	// go-sql-driver's ErrInvalidConn, pgconn's closed connection.
	return strings.Contains(msg, "invalid connection") || strings.Contains(msg, "conn closed") ||
		strings.Contains(msg, "bad connection") || strings.Contains(msg, "broken pipe") ||
		strings.Contains(msg, "connection reset")
}

// kill marks tx dead with err, a failure that left it in a state em cannot
// return from (a ROLLBACK TO SAVEPOINT that failed: on PostgreSQL the
// transaction is then aborted, elsewhere the savepoint's writes stay in
// it). Later calls fail with err until the transaction is rolled back.
func (tx *txState) kill(err error) {
	if g, ok := tx.sqlTx.(*guardTx); ok && err != nil {
		g.dead.CompareAndSwap(nil, &deadTx{cause: translateError(err, "")})
	}
}

// dead returns nil while tx can go on, or the error that ended it: a
// statement's (SQL) or a failed flush's (a backend, which has no savepoint).
func (tx *txState) dead() error {
	if tx == nil {
		return nil
	}
	if tx.failed != nil {
		return fmt.Errorf("a flush in it failed: %w", tx.failed)
	}
	if g, ok := tx.sqlTx.(*guardTx); ok {
		return g.deadErr()
	}
	return nil
}

// commitSQL commits tx (C4). A context already done sends no COMMIT: the
// transaction is rolled back and the context's error returned. Otherwise
// COMMIT is sent with a context the caller's deadline cannot interrupt. A
// COMMIT that fails without an answer from the server has an unknown
// outcome: on PostgreSQL it is asked of the server (txid_status of the id
// read before COMMIT) and a committed transaction is a success; where it
// cannot be learnt the error matches ErrCommitUnknown. Any other error
// means the transaction did not commit.
func (e *EntityManager) commitSQL(ctx context.Context, tx *txState) error {
	g, _ := tx.sqlTx.(*guardTx)
	if g == nil {
		return tx.sqlTx.Commit(context.WithoutCancel(ctx))
	}
	if err := ctx.Err(); err != nil {
		rbErr := g.Rollback(context.WithoutCancel(ctx))
		return errors.Join(fmt.Errorf("em: the transaction was rolled back, not committed: the context ended before COMMIT: %w", err), rbErr)
	}
	cctx := context.WithoutCancel(ctx)
	wrote := g.wrote.Load()
	var txid int64
	if wrote && e.orm.dialect == qb.Postgres {
		id, err := currentTxid(cctx, g.Tx)
		if err != nil {
			// COMMIT was not sent: the transaction cannot have committed.
			_ = g.Tx.Rollback(cctx)
			return fmt.Errorf("em: the transaction was rolled back, not committed: reading its id before COMMIT failed: %w", err)
		}
		txid = id
	}
	err := g.Tx.Commit(cctx)
	if err == nil || !wrote {
		return err
	}
	if errors.Is(err, dbconn.ErrNotCommitted) || serverAnswered(err) && !connLost(err) {
		return err // no COMMIT was sent, or the server refused it: rolled back
	}
	if txid != 0 {
		switch status, serr := e.txStatus(cctx, txid); status {
		case "committed":
			e.orm.log.WarnContext(ctx, "em: COMMIT failed, but the server committed the transaction", "txid", txid, "error", err)
			return nil
		case "aborted":
			return err
		default:
			return fmt.Errorf("%w: COMMIT failed (%w), and asking PostgreSQL for transaction %d's outcome gave %q (%v)", ErrCommitUnknown, err, txid, status, serr)
		}
	}
	return fmt.Errorf("%w: COMMIT failed (%w), and %s cannot tell whether it committed", ErrCommitUnknown, err, e.orm.dialect.Name())
}

// serverAnswered reports whether err is an answer of the database server
// (an error with a code) rather than a failure to reach it.
func serverAnswered(err error) bool {
	var st sqlStater
	if errors.As(err, &st) {
		return true
	}
	if _, _, ok := mysqlNumber(err); ok {
		return true
	}
	_, _, ok := sqliteCode(err)
	return ok
}

// currentTxid reads the PostgreSQL id of the transaction q is in.
func currentTxid(ctx context.Context, q dbconn.Querier) (int64, error) {
	rows, err := q.Query(ctx, "SELECT txid_current()", nil)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var id int64
	if rows.Next() {
		err = rows.Scan(&id)
	} else if err = rows.Err(); err == nil {
		err = errors.New("em: txid_current() returned no row")
	}
	if err == nil {
		err = rows.Close()
	}
	return id, err
}

// txStatus asks PostgreSQL, on a connection of the pool, whether
// transaction txid committed: "committed", "aborted", "in progress" (asked
// again for a while: the server may still be finishing it) or "" when it
// cannot tell.
func (e *EntityManager) txStatus(ctx context.Context, txid int64) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	wait := 10 * time.Millisecond
	for {
		status, err := e.txStatusOnce(ctx, txid)
		if err != nil || status != "in progress" {
			return status, err
		}
		select {
		case <-ctx.Done():
			return status, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

func (e *EntityManager) txStatusOnce(ctx context.Context, txid int64) (string, error) {
	rows, err := e.orm.query(ctx, e.orm.conn, "SELECT COALESCE(txid_status($1), '')", []any{txid})
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var s string
	if rows.Next() {
		err = rows.Scan(&s)
	}
	if err == nil {
		err = rows.Close()
	}
	return s, err
}

// commitBackend commits a backend transaction: not at all when ctx is
// already done (it is rolled back and the context's error returned), and
// otherwise with a context the caller's deadline cannot interrupt.
func commitBackend(ctx context.Context, btx BackendTx) error {
	if err := ctx.Err(); err != nil {
		rbErr := btx.Rollback(context.WithoutCancel(ctx))
		return errors.Join(fmt.Errorf("em: the transaction was rolled back, not committed: the context ended before the commit: %w", err), rbErr)
	}
	return btx.Commit(context.WithoutCancel(ctx))
}
