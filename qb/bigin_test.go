package qb_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mikrogo/mikro/qb"
)

// bigInts is n integer keys: the given ones, then keys no fixture row has.
func bigInts(n int, keys ...int) []int {
	out := append([]int(nil), keys...)
	for i := len(out); i < n; i++ {
		out = append(out, 1000+i)
	}
	return out
}

// A list shorter than the threshold, or whose values are not all integers
// or all strings, keeps one placeholder per value.
func TestInListStaysPlain(t *testing.T) {
	for _, d := range []*qb.Dialect{qb.Postgres, qb.MariaDB, qb.SQLite} {
		sql, args, err := d.Select("id").From("t").Where(qb.In("id", bigInts(999))).Build()
		if err != nil || len(args) != 999 || !strings.Contains(sql, " IN (") {
			t.Errorf("%s: 999 values: %d args, %v, %.60s", d, len(args), err, sql)
		}
		mixed := make([]any, 1200)
		for i := range mixed {
			mixed[i] = i
		}
		mixed[7] = "seven"
		sql, args, err = d.Select("id").From("t").Where(qb.In("id", mixed)).Build()
		if err != nil || len(args) != 1200 || !strings.Contains(sql, " IN (") {
			t.Errorf("%s: 1200 mixed values: %d args, %v, %.60s", d, len(args), err, sql)
		}
		withNil := make([]any, 1200)
		for i := range withNil {
			withNil[i] = int64(i)
		}
		withNil[3] = nil
		if _, args, _ = d.Select("id").From("t").Where(qb.NotIn("id", withNil)).Build(); len(args) != 1200 {
			t.Errorf("%s: a NULL in a long NOT IN list must stay a plain list (its meaning), got %d args", d, len(args))
		}
	}
}

// A statement with more parameters than the database accepts is an
// *InvalidError naming the numbers, not the driver's error at run time.
func TestTooManyParams(t *testing.T) {
	mixed := make([]any, 70_000)
	for i := range mixed {
		mixed[i] = float64(i)
	}
	for _, d := range []*qb.Dialect{qb.Postgres, qb.MariaDB, qb.SQLite} {
		_, _, err := d.Select("id").From("t").Where(qb.In("x", mixed)).Build()
		var ie *qb.InvalidError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), "70000 bound parameters") {
			t.Errorf("%s: %v", d, err)
		}
	}
}
