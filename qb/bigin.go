package qb

import (
	"database/sql/driver"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"unicode/utf8"
)

// bigInMin is the length from which In and NotIn bind a list of integers or
// of strings as one value the database expands, rather than one placeholder
// per value: databases cap the parameters of a statement (65,535 on
// PostgreSQL and MySQL, 32,766 on SQLite), and a list this long gains
// nothing from being spelled out. Shorter lists keep the plain IN (?, ?, …).
// MariaDB itself turns an IN list of 1,000 constants into a subquery.
const bigInMin = 1000

// bigList is a long IN list reduced to one Go type: integers or strings.
type bigList struct {
	ints   []int64
	strs   []string
	maxLen int // the longest string, in characters
}

// toBigList returns the n values of the list v as integers or as strings
// (a driver.Valuer counts as the value it gives), and false when they are
// neither all integers nor all strings: mixed, NULL, floats, times, bytes or
// strings that are not UTF-8, which a JSON array would not carry faithfully.
func toBigList(v any, n int) (bigList, bool) {
	switch s := v.(type) {
	case []int64:
		return bigList{ints: append([]int64(nil), s...)}, true
	case []string:
		return stringsList(append([]string(nil), s...))
	}
	var (
		l  bigList
		rv = reflect.ValueOf(v)
	)
	for i := range n {
		x := rv.Index(i).Interface()
		if vl, ok := x.(driver.Valuer); ok {
			if p := reflect.ValueOf(vl); p.Kind() == reflect.Pointer && p.IsNil() {
				return bigList{}, false
			}
			dv, err := vl.Value()
			if err != nil {
				return bigList{}, false
			}
			x = dv
		}
		xv := reflect.ValueOf(x)
		switch xv.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			if l.strs != nil {
				return bigList{}, false
			}
			if l.ints == nil {
				l.ints = make([]int64, 0, n)
			}
			l.ints = append(l.ints, xv.Int())
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			if l.strs != nil || xv.Uint() > math.MaxInt64 {
				return bigList{}, false
			}
			if l.ints == nil {
				l.ints = make([]int64, 0, n)
			}
			l.ints = append(l.ints, int64(xv.Uint()))
		case reflect.String:
			if l.ints != nil {
				return bigList{}, false
			}
			if l.strs == nil {
				l.strs = make([]string, 0, n)
			}
			l.strs = append(l.strs, xv.String())
		default:
			return bigList{}, false
		}
	}
	if l.strs != nil {
		return stringsList(l.strs)
	}
	return l, l.ints != nil
}

func stringsList(s []string) (bigList, bool) {
	l := bigList{strs: s}
	for _, x := range s {
		if !utf8.ValidString(x) {
			return bigList{}, false
		}
		l.maxLen = max(l.maxLen, utf8.RuneCountInString(x))
	}
	return l, true
}

// json returns the list as a JSON array.
func (l bigList) json() string {
	if l.strs != nil {
		b, _ := json.Marshal(l.strs) // valid UTF-8 strings always marshal
		return string(b)
	}
	b := make([]byte, 0, 1+len(l.ints)*8)
	b = append(b, '[')
	for i, x := range l.ints {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, x, 10)
	}
	return string(append(b, ']'))
}

// appendBigIn writes c, whose list has n values, as one bound value when the
// dialect can expand one and the list is long enough and of one kind, and
// reports whether it did. The condition means what the plain list means:
// the same rows, one statement, so ORDER BY and LIMIT are untouched.
func appendBigIn(w *writer, c in, n int) bool {
	if n < bigInMin || w.d.bigIn == bigInNone {
		return false
	}
	l, ok := toBigList(c.values, n)
	if !ok {
		return false
	}
	switch w.d.bigIn {
	case bigInArray:
		// The array's element type is the column's, inferred by the server;
		// pgx encodes []int64 and []string into it.
		c.left.appendTo(w)
		if c.not {
			w.str(" <> ALL(")
		} else {
			w.str(" = ANY(")
		}
		if l.strs != nil {
			w.bind(l.strs)
		} else {
			w.bind(l.ints)
		}
		w.byte(')')
	case bigInJSONTable:
		c.left.appendTo(w)
		if c.not {
			w.str(" NOT IN (SELECT ")
		} else {
			w.str(" IN (SELECT ")
		}
		w.str("v FROM JSON_TABLE(")
		w.bind(l.json())
		w.str(", '$[*]' COLUMNS (v ")
		switch {
		case l.strs == nil:
			w.str("BIGINT")
		case l.maxLen <= 16000:
			// The column compares under the left side's collation, as the
			// plain list does.
			w.str("VARCHAR(")
			w.int(int64(max(l.maxLen, 1)))
			w.byte(')')
		default:
			w.str("LONGTEXT")
		}
		w.str(" PATH '$')) AS mikro_in)")
	case bigInJSONEach:
		c.left.appendTo(w)
		if c.not {
			w.str(" NOT IN (SELECT value FROM json_each(")
		} else {
			w.str(" IN (SELECT value FROM json_each(")
		}
		w.bind(l.json())
		w.str("))")
	}
	return true
}
