package qb

import (
	"strconv"
	"strings"
)

// JSON is the value at path inside the JSON document in column, as text on
// every dialect (a string without its quotes, a number in its JSON spelling,
// NULL when the path is missing), so it compares alike everywhere:
//
//	qb.Eq(qb.JSON("data", "address", "city"), "Oslo")
//	qb.Eq(qb.JSON("data", "tags", 0), "go")
//
// A path segment is a string (an object key) or an int (an array index). Keys
// are never written into the SQL: PostgreSQL gets each as a bound parameter
// (col -> $1 ->> $2), MySQL, MariaDB and SQLite get one bound JSON path with
// every key quoted and escaped, so no key can leave its segment. An empty
// path or a segment of another type is an *InvalidError at Build.
func JSON(column string, path ...any) Expr {
	return jsonPath{column: column, path: append([]any(nil), path...)}
}

type jsonPath struct {
	column string
	path   []any
}

func (j jsonPath) appendTo(w *writer) {
	if len(j.path) == 0 {
		w.fail(invalid("JSON", "empty path into %q", j.column))
		return
	}
	for _, seg := range j.path {
		switch seg.(type) {
		case string, int:
		default:
			w.fail(invalid("JSON", "path segment %v (%T) into %q must be a string key or an int index", seg, seg, j.column))
			return
		}
	}
	switch w.d.json {
	case jsonArrows:
		w.byte('(')
		w.ident(j.column)
		for i, seg := range j.path {
			if i == len(j.path)-1 {
				w.str(" ->> ")
			} else {
				w.str(" -> ")
			}
			w.bind(seg)
			if _, ok := seg.(int); ok {
				w.str("::int")
			} else {
				w.str("::text")
			}
		}
		w.byte(')')
	case jsonExtract:
		w.str("JSON_UNQUOTE(JSON_EXTRACT(")
		w.ident(j.column)
		w.str(", ")
		w.bind(jsonPathString(j.path))
		w.str("))")
	default:
		w.str("CAST(json_extract(")
		w.ident(j.column)
		w.str(", ")
		w.bind(jsonPathString(j.path))
		w.str(") AS TEXT)")
	}
}
func (j jsonPath) isQuery() bool                 { return false }
func (j jsonPath) ToSql() (string, []any, error) { return exprToSql(standard, j) }

// jsonPathString spells path as a JSON path: $."key"[2]."other key". Keys are
// double-quoted with '"' and '\' escaped by a backslash.
func jsonPathString(path []any) string {
	var b strings.Builder
	b.WriteByte('$')
	for _, seg := range path {
		switch s := seg.(type) {
		case int:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s))
			b.WriteByte(']')
		case string:
			b.WriteString(`."`)
			for i := 0; i < len(s); i++ {
				if s[i] == '"' || s[i] == '\\' {
					b.WriteByte('\\')
				}
				b.WriteByte(s[i])
			}
			b.WriteByte('"')
		}
	}
	return b.String()
}
