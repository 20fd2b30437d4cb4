package pgxdriver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/em/pgxdriver"
	"github.com/mikrogo/mikro/internal/dbtest"
	"github.com/mikrogo/mikro/qb"
)

type acct struct {
	ID   int64  `orm:"pk"`
	Name string `orm:"unique"`
}

func (acct) TableName() string { return "em_pgx_commit_acct" }

// How the cut connection treats the next COMMIT.
const (
	pass       = iota
	lostAck    // COMMIT reaches the server, then the connection dies
	lostBefore // the connection dies instead of sending COMMIT
)

// cutConn is a connection that dies at the next COMMIT as *mode says.
type cutConn struct {
	net.Conn
	mode *atomic.Int32
}

func (c cutConn) Write(b []byte) (int, error) {
	if m := c.mode.Load(); m != pass && bytes.Contains(bytes.ToLower(b), []byte("commit\x00")) {
		c.mode.Store(pass)
		if m == lostAck {
			n, err := c.Conn.Write(b)
			_ = c.Conn.Close()
			return n, err
		}
		_ = c.Conn.Close()
		return 0, errors.New("test: connection cut before COMMIT")
	}
	return c.Conn.Write(b)
}

// TestCommitOutcomeLearnt (issue 11, bug 8; contract C4): the connection
// dies while COMMIT is on its way, natively on pgx and through
// database/sql. When the server committed, Transactional returns nil (the
// outcome is learnt with txid_status on another connection) and the unit
// of work keeps the keys; when it did not, the error is the COMMIT's, the
// unit of work is restored and running the transaction again writes each
// row once.
func TestCommitOutcomeLearnt(t *testing.T) {
	tg := dbtest.Open(t, dbtest.Postgres)
	ctx := context.Background()
	for _, native := range []bool{true, false} {
		for _, mode := range []int32{lostAck, lostBefore} {
			name := fmt.Sprintf("native=%v/%s", native, map[int32]string{lostAck: "lost_ack", lostBefore: "lost_before"}[mode])
			t.Run(name, func(t *testing.T) {
				var cut atomic.Int32
				cfg, err := pgxpool.ParseConfig(tg.DSN)
				if err != nil {
					t.Fatal(err)
				}
				dialer := &net.Dialer{}
				cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
					c, err := dialer.DialContext(ctx, network, addr)
					if err != nil {
						return nil, err
					}
					return cutConn{c, &cut}, nil
				}
				var o *em.ORM
				ecfg := em.Config{Entities: []any{acct{}}}
				if native {
					pool, err := pgxpool.NewWithConfig(ctx, cfg)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(pool.Close)
					o, err = pgxdriver.Open(ctx, pool, ecfg)
					if err != nil {
						t.Fatal(err)
					}
				} else {
					db := stdlib.OpenDB(*cfg.ConnConfig)
					t.Cleanup(func() { _ = db.Close() })
					ecfg.DB, ecfg.Dialect = db, qb.Postgres
					if o, err = em.Open(ctx, ecfg); err != nil {
						t.Fatal(err)
					}
				}
				if err := o.RefreshSchema(ctx); err != nil {
					t.Fatal(err)
				}
				const n = 20
				accts := make([]*acct, n)
				for i := range accts {
					accts[i] = &acct{Name: fmt.Sprintf("a%d", i)}
				}
				persistAll := func(tx *em.EntityManager) error {
					for _, a := range accts {
						if err := tx.Persist(a); err != nil {
							return err
						}
					}
					return nil
				}
				e := o.Fork()
				cut.Store(mode)
				err = e.Transactional(ctx, persistAll)
				cut.Store(pass)
				if mode == lostAck {
					if err != nil {
						t.Fatalf("the server committed, and Transactional returned %v; want nil", err)
					}
					for _, a := range accts {
						if a.ID == 0 || !e.IsManaged(a) {
							t.Fatalf("committed, but %s has key %d, managed %v", a.Name, a.ID, e.IsManaged(a))
						}
					}
					if err := e.Flush(ctx); err != nil {
						t.Fatal(err)
					}
				} else {
					if err == nil || errors.Is(err, em.ErrCommitUnknown) {
						t.Fatalf("the server rolled back, and Transactional returned %v; want the COMMIT's error", err)
					}
					for _, a := range accts {
						if a.ID != 0 {
							t.Fatalf("rolled back, but %s kept key %d", a.Name, a.ID)
						}
					}
					if err := e.Transactional(ctx, persistAll); err != nil {
						t.Fatal(err)
					}
				}
				var rows int
				if err := tg.DB.QueryRow("SELECT COUNT(*) FROM em_pgx_commit_acct").Scan(&rows); err != nil {
					t.Fatal(err)
				}
				if rows != n {
					t.Fatalf("rows after the commit and the retry: %d, want %d", rows, n)
				}
			})
		}
	}
}
