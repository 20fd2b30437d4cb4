package em

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"testing"
)

// TestKillsTx: which statement errors end the transaction they ran in
// (C3), for the drivers' error shapes, also wrapped.
func TestKillsTx(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{&pgErr{code: "40P01"}, true},                              // deadlock
		{&pgErr{code: "40001"}, true},                              // serialization failure
		{&pgErr{code: "57P01"}, true},                              // terminated by an administrator
		{&pgErr{code: "08006"}, true},                              // connection failure
		{&pgErr{code: "25P03"}, true},                              // idle in transaction timeout
		{&pgErr{code: "23505"}, false},                             // unique violation: a savepoint recovers
		{&pgErr{code: "55P03"}, false},                             // lock not available
		{&MySQLError{Number: 1213}, true},                          // deadlock
		{&MySQLError{Number: 2013}, true},                          // lost connection
		{&MySQLError{Number: 1927}, true},                          // connection killed
		{&MySQLError{Number: 1062}, false},                         // duplicate entry
		{&MySQLError{Number: 1205}, false},                         // lock wait timeout: the statement only (innodb_rollback_on_timeout off)
		{&sqliteErr{code: 2067}, false},                            // unique
		{&sqliteMsgErr{code: 5, msg: "database is locked"}, false}, // busy
		{driver.ErrBadConn, true},
		{sql.ErrTxDone, true},
		{io.ErrUnexpectedEOF, true},
		{errors.New("invalid connection"), true}, // go-sql-driver's ErrInvalidConn
		{errors.New("conn closed"), true},        // pgconn
		{context.Canceled, true},                 // cut off while it ran
		{context.DeadlineExceeded, true},
		{errors.New("em: some other failure"), false},
	}
	for _, c := range cases {
		for _, err := range []error{c.err, fmt.Errorf("wrapped: %w", c.err), errors.Join(errors.New("x"), c.err)} {
			if got := killsTx(err); got != c.want {
				t.Errorf("killsTx(%v) = %v, want %v", err, got, c.want)
			}
		}
	}
}

// TestWrites: which statements count as writes of a transaction (and get
// its commit's outcome learnt on PostgreSQL).
func TestWrites(t *testing.T) {
	for q, want := range map[string]bool{
		`INSERT INTO "t" ("a") VALUES ($1) RETURNING "id"`: true,
		`UPDATE t SET a = ?`: true,
		`DELETE FROM t`:      true,
		`WITH x AS (DELETE FROM t RETURNING *) SELECT 1`:  true,
		`SELECT "id" FROM "t" WHERE "id" = $1 FOR UPDATE`: false,
		` (SELECT 1) UNION (SELECT 2)`:                    false,
		`SAVEPOINT mikro_flush_1`:                         false,
		`RELEASE SAVEPOINT mikro_flush_1`:                 false,
		`ROLLBACK TO SAVEPOINT mikro_flush_1`:             false,
		`SET TRANSACTION ISOLATION LEVEL SERIALIZABLE`:    false,
	} {
		if got := writes(q); got != want {
			t.Errorf("writes(%q) = %v, want %v", q, got, want)
		}
	}
}
