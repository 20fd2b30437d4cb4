package emtest

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync/atomic"
)

// ErrInjected is the error of a statement that a FaultConnector failed on
// purpose (the statement was not sent to the database).
var ErrInjected = errors.New("emtest: statement failed on purpose (injected fault)")

// FaultConnector is a database/sql connector that wraps another driver's
// connections and can fail the Nth statement from now (BEGIN, COMMIT and
// every query or exec count as statements): the model-based test's
// "the database refused" fault on every SQL store. Use it with sql.OpenDB.
type FaultConnector struct {
	base    driver.Driver
	dsn     string
	left    atomic.Int64 // statements until the failing one; 0: disarmed
	hit     atomic.Bool
	loseAck atomic.Bool // the next COMMIT commits, then reports a lost connection
	abort   atomic.Bool // the failing statement rolls the transaction back on the server
}

// AbortNth makes the nth statement from now end the transaction on the
// server (a ROLLBACK on its connection, which stays open) and fail with a
// serialization failure (SQLSTATE 40001), as a deadlock victim's or a
// SERIALIZABLE conflict's statement does: the client's transaction is then
// gone although its connection works. AbortNth(0) disarms it.
func (c *FaultConnector) AbortNth(n int) {
	c.abort.Store(n > 0)
	c.FailNth(n)
}

// ErrInjectedAbort is the error of a statement AbortNth struck: it has the
// SQLSTATE of a serialization failure, which every dialect's translation
// maps to em.ErrSerialization.
var ErrInjectedAbort error = injectedAbort{}

type injectedAbort struct{}

func (injectedAbort) Error() string {
	return "emtest: the server rolled the transaction back (injected serialization failure, SQLSTATE 40001)"
}

// SQLState is the serialization failure's SQLSTATE.
func (injectedAbort) SQLState() string { return "40001" }

// strike fails the statement about to run on conn if it is the armed one:
// with ErrInjected, or, under AbortNth, by rolling conn's transaction back
// first.
func (c *FaultConnector) strike(conn driver.Conn) error {
	err := c.step()
	if err == nil || !c.abort.Load() {
		return err
	}
	if ex, ok := conn.(driver.ExecerContext); ok {
		_, _ = ex.ExecContext(context.Background(), "ROLLBACK", nil)
	}
	return ErrInjectedAbort
}

// LoseCommitAck makes the next COMMIT commit and then fail with
// driver.ErrBadConn, as when the connection dies before the server's
// answer arrives: the outcome is unknown to the client. Hit reports
// whether it struck; LoseCommitAck(false) disarms it.
func (c *FaultConnector) LoseCommitAck(on bool) {
	c.hit.Store(false)
	c.loseAck.Store(on)
}

// NewFaultConnector returns a connector opening dsn with base (the driver of
// a *sql.DB opened on the same driver name: db.Driver()).
func NewFaultConnector(base driver.Driver, dsn string) *FaultConnector {
	return &FaultConnector{base: base, dsn: dsn}
}

// FailNth makes the nth statement from now fail with ErrInjected (n > 0),
// once; FailNth(0) disarms it.
func (c *FaultConnector) FailNth(n int) {
	c.hit.Store(false)
	c.left.Store(int64(n))
}

// Hit reports whether the armed fault failed a statement since FailNth.
func (c *FaultConnector) Hit() bool { return c.hit.Load() }

// step counts a statement and reports whether it is the one to fail.
func (c *FaultConnector) step() error {
	for {
		n := c.left.Load()
		if n <= 0 {
			return nil
		}
		if c.left.CompareAndSwap(n, n-1) {
			if n == 1 {
				c.hit.Store(true)
				return ErrInjected
			}
			return nil
		}
	}
}

// Connect opens a wrapped connection; it returns the base driver's error.
func (c *FaultConnector) Connect(ctx context.Context) (driver.Conn, error) {
	var (
		cn  driver.Conn
		err error
	)
	if dc, ok := c.base.(driver.DriverContext); ok {
		var ctr driver.Connector
		if ctr, err = dc.OpenConnector(c.dsn); err == nil {
			cn, err = ctr.Connect(ctx)
		}
	} else {
		cn, err = c.base.Open(c.dsn)
	}
	if err != nil {
		return nil, err
	}
	return &faultConn{Conn: cn, c: c}, nil
}

// Driver returns the wrapped driver.
func (c *FaultConnector) Driver() driver.Driver { return c.base }

type faultConn struct {
	driver.Conn
	c *FaultConnector
}

func (f *faultConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if err := f.c.step(); err != nil {
		return nil, err
	}
	var (
		tx  driver.Tx
		err error
	)
	if b, ok := f.Conn.(driver.ConnBeginTx); ok {
		tx, err = b.BeginTx(ctx, opts)
	} else {
		tx, err = f.Conn.Begin() //nolint:staticcheck // the fallback database/sql uses too
	}
	if err != nil {
		return nil, err
	}
	return &faultTx{Tx: tx, c: f.c}, nil
}

func (f *faultConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	ex, ok := f.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	if err := f.c.strike(f.Conn); err != nil {
		return nil, err
	}
	return ex.ExecContext(ctx, query, args)
}

func (f *faultConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := f.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	if err := f.c.strike(f.Conn); err != nil {
		return nil, err
	}
	return q.QueryContext(ctx, query, args)
}

func (f *faultConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var (
		st  driver.Stmt
		err error
	)
	if p, ok := f.Conn.(driver.ConnPrepareContext); ok {
		st, err = p.PrepareContext(ctx, query)
	} else {
		st, err = f.Conn.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	return &faultStmt{Stmt: st, c: f.c, conn: f.Conn}, nil
}

func (f *faultConn) Ping(ctx context.Context) error {
	if p, ok := f.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (f *faultConn) ResetSession(ctx context.Context) error {
	if r, ok := f.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (f *faultConn) IsValid() bool {
	if v, ok := f.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (f *faultConn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := f.Conn.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

type faultTx struct {
	driver.Tx
	c *FaultConnector
}

// Commit fails as a statement would; the transaction is then rolled back,
// so that a failed COMMIT has committed nothing.
func (t *faultTx) Commit() error {
	if err := t.c.step(); err != nil {
		_ = t.Tx.Rollback()
		return err
	}
	if t.c.loseAck.CompareAndSwap(true, false) {
		if err := t.Tx.Commit(); err != nil {
			return err
		}
		t.c.hit.Store(true)
		return driver.ErrBadConn
	}
	return t.Tx.Commit()
}

type faultStmt struct {
	driver.Stmt
	c    *FaultConnector
	conn driver.Conn
}

func (s *faultStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	if err := s.c.strike(s.conn); err != nil {
		return nil, err
	}
	if ex, ok := s.Stmt.(driver.StmtExecContext); ok {
		return ex.ExecContext(ctx, args)
	}
	return nil, errors.New("emtest: the wrapped driver's statement has no ExecContext")
}

func (s *faultStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	if err := s.c.strike(s.conn); err != nil {
		return nil, err
	}
	if q, ok := s.Stmt.(driver.StmtQueryContext); ok {
		return q.QueryContext(ctx, args)
	}
	return nil, errors.New("emtest: the wrapped driver's statement has no QueryContext")
}

func (s *faultStmt) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := s.Stmt.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}
