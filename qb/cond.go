package qb

import (
	"reflect"
	"strconv"
)

// operand is the left side of a comparison: a column name or an expression.
type operand struct {
	name string
	expr Expr
	bad  bool
}

// toOperand accepts a column name (string) or an Expr.
func toOperand(left any) operand {
	switch l := left.(type) {
	case string:
		return operand{name: l}
	case Expr:
		if isNil(l) {
			return operand{bad: true}
		}
		return operand{expr: l}
	}
	return operand{bad: true}
}

func (o operand) appendTo(w *writer) {
	switch {
	case o.bad:
		w.fail(invalid("condition", "the left side of a condition must be a column name or an Expr"))
	case o.expr != nil:
		w.expr(o.expr)
	default:
		w.ident(o.name)
	}
}

type cmpOp uint8

const (
	opEq cmpOp = iota
	opNe
	opLt
	opLte
	opGt
	opGte
	opLike
	opNotLike
	opILike
	opNotILike
)

var cmpText = [...]string{" = ", " <> ", " < ", " <= ", " > ", " >= ", " LIKE ", " NOT LIKE ", " ILIKE ", " NOT ILIKE "}

type cmp struct {
	left operand
	op   cmpOp
	val  any
}

// Eq is column = value. A nil value (or nil pointer) gives column IS NULL.
// column is a column name ("age", "u.age") or an Expr; value is bound, or
// written in place if it is an Expr (use [C] to compare with another column).
func Eq(column any, value any) Expr { return cmp{toOperand(column), opEq, value} }

// NotEq is column <> value. A nil value gives column IS NOT NULL.
func NotEq(column any, value any) Expr { return cmp{toOperand(column), opNe, value} }

// Lt is column < value.
func Lt(column any, value any) Expr { return cmp{toOperand(column), opLt, value} }

// Lte is column <= value.
func Lte(column any, value any) Expr { return cmp{toOperand(column), opLte, value} }

// Gt is column > value.
func Gt(column any, value any) Expr { return cmp{toOperand(column), opGt, value} }

// Gte is column >= value.
func Gte(column any, value any) Expr { return cmp{toOperand(column), opGte, value} }

// Like is column LIKE pattern.
func Like(column any, pattern any) Expr { return cmp{toOperand(column), opLike, pattern} }

// NotLike is column NOT LIKE pattern.
func NotLike(column any, pattern any) Expr { return cmp{toOperand(column), opNotLike, pattern} }

// ILike is a case-insensitive LIKE: ILIKE on PostgreSQL, LOWER(column) LIKE
// LOWER(pattern) on the other dialects.
func ILike(column any, pattern any) Expr { return cmp{toOperand(column), opILike, pattern} }

// NotILike is the negation of [ILike].
func NotILike(column any, pattern any) Expr { return cmp{toOperand(column), opNotILike, pattern} }

func (c cmp) appendTo(w *writer) {
	if (c.op == opEq || c.op == opNe) && isNullValue(c.val) {
		c.left.appendTo(w)
		if c.op == opEq {
			w.str(" IS NULL")
		} else {
			w.str(" IS NOT NULL")
		}
		return
	}
	if (c.op == opILike || c.op == opNotILike) && !w.d.Has(FeatureILike) {
		w.str("LOWER(")
		c.left.appendTo(w)
		if c.op == opILike {
			w.str(") LIKE LOWER(")
		} else {
			w.str(") NOT LIKE LOWER(")
		}
		w.value(c.val)
		w.byte(')')
		return
	}
	c.left.appendTo(w)
	w.str(cmpText[c.op])
	w.value(c.val)
}
func (c cmp) isQuery() bool                 { return false }
func (c cmp) ToSql() (string, []any, error) { return exprToSql(standard, c) }

func isNullValue(v any) bool {
	if v == nil {
		return true
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer {
		return rv.IsNil()
	}
	return false
}

// IsNull is column IS NULL.
func IsNull(column any) Expr { return nullCheck{toOperand(column), false} }

// IsNotNull is column IS NOT NULL.
func IsNotNull(column any) Expr { return nullCheck{toOperand(column), true} }

type nullCheck struct {
	left operand
	not  bool
}

func (n nullCheck) appendTo(w *writer) {
	n.left.appendTo(w)
	if n.not {
		w.str(" IS NOT NULL")
	} else {
		w.str(" IS NULL")
	}
}
func (n nullCheck) isQuery() bool                 { return false }
func (n nullCheck) ToSql() (string, []any, error) { return exprToSql(standard, n) }

// Between is column BETWEEN low AND high.
func Between(column any, low, high any) Expr { return between{toOperand(column), low, high, false} }

// NotBetween is column NOT BETWEEN low AND high.
func NotBetween(column any, low, high any) Expr { return between{toOperand(column), low, high, true} }

type between struct {
	left      operand
	low, high any
	not       bool
}

func (b between) appendTo(w *writer) {
	b.left.appendTo(w)
	if b.not {
		w.str(" NOT")
	}
	w.str(" BETWEEN ")
	w.value(b.low)
	w.str(" AND ")
	w.value(b.high)
}
func (b between) isQuery() bool                 { return false }
func (b between) ToSql() (string, []any, error) { return exprToSql(standard, b) }

// In is column IN (values…). values is a slice, whose elements are bound one
// by one, or a subquery (a SelectQuery or any Expr). An empty slice gives a
// condition that is always false (1 = 0), which is valid SQL. A slice of
// 1,000 or more integers, or of 1,000 or more strings, is bound as one value
// that the database expands, so that it is not limited by the database's
// parameter cap: column = ANY($1) on PostgreSQL (the argument is an []int64
// or a []string), IN (SELECT … FROM JSON_TABLE(?, …)) on MySQL and MariaDB,
// IN (SELECT value FROM json_each(?)) on SQLite (the argument is a JSON
// array). The rows matched are the same as with the list spelled out.
func In(column any, values any) Expr { return in{toOperand(column), values, false} }

// NotIn is column NOT IN (values…). An empty slice gives a condition that is
// always true (1 = 1). A long list is bound as one value, as for [In]
// (column <> ALL($1) on PostgreSQL).
func NotIn(column any, values any) Expr { return in{toOperand(column), values, true} }

type in struct {
	left   operand
	values any
	not    bool
}

func (c in) appendTo(w *writer) {
	if e, ok := c.values.(Expr); ok && !isNil(e) {
		c.left.appendTo(w)
		if c.not {
			w.str(" NOT IN ")
		} else {
			w.str(" IN ")
		}
		if a, ok := e.(appender); ok && a.isQuery() {
			w.value(e)
		} else {
			w.byte('(')
			w.expr(e)
			w.byte(')')
		}
		return
	}
	n, ok := listLen(c.values)
	if !ok {
		w.fail(invalid("IN", "values for %v must be a slice or a subquery, not %T", c.left.describe(), c.values))
		return
	}
	if n == 0 {
		if c.not {
			w.str("1 = 1")
		} else {
			w.str("1 = 0")
		}
		return
	}
	if appendBigIn(w, c, n) {
		return
	}
	c.left.appendTo(w)
	if c.not {
		w.str(" NOT IN (")
	} else {
		w.str(" IN (")
	}
	appendList(w, c.values, n)
	w.byte(')')
}
func (c in) isQuery() bool                 { return false }
func (c in) ToSql() (string, []any, error) { return exprToSql(standard, c) }

func (o operand) describe() string {
	if o.expr != nil {
		return "expression"
	}
	return strconv.Quote(o.name)
}

// listLen returns the length of a slice or array of values ([]byte is not a
// list: it is one value).
func listLen(v any) (int, bool) {
	switch s := v.(type) {
	case []any:
		return len(s), true
	case []int:
		return len(s), true
	case []int64:
		return len(s), true
	case []string:
		return len(s), true
	case []byte, nil:
		return 0, false
	}
	rv := reflect.ValueOf(v)
	if k := rv.Kind(); k == reflect.Slice || k == reflect.Array {
		return rv.Len(), true
	}
	return 0, false
}

// appendList binds every element of the list v (n elements), comma separated.
func appendList(w *writer, v any, n int) {
	switch s := v.(type) {
	case []any:
		writeList(w, s, (*writer).value)
	case []int:
		writeList(w, s, func(w *writer, x int) { w.bind(x) })
	case []int64:
		writeList(w, s, func(w *writer, x int64) { w.bind(x) })
	case []string:
		writeList(w, s, func(w *writer, x string) { w.bind(x) })
	default:
		rv := reflect.ValueOf(v)
		for i := range n {
			if i > 0 {
				w.str(", ")
			}
			w.value(rv.Index(i).Interface())
		}
	}
}

// Exists is EXISTS (subquery).
func Exists(subquery Expr) Expr { return exists{subquery, false} }

// NotExists is NOT EXISTS (subquery).
func NotExists(subquery Expr) Expr { return exists{subquery, true} }

type exists struct {
	sub Expr
	not bool
}

func (e exists) appendTo(w *writer) {
	if e.not {
		w.str("NOT ")
	}
	w.str("EXISTS ")
	if a, ok := e.sub.(appender); ok && a.isQuery() {
		w.value(e.sub)
		return
	}
	w.byte('(')
	w.expr(e.sub)
	w.byte(')')
}
func (e exists) isQuery() bool                 { return false }
func (e exists) ToSql() (string, []any, error) { return exprToSql(standard, e) }

// And joins conditions with AND. With no conditions it is always true (1 = 1).
func And(conds ...Expr) Expr { return junction{conds: conds, or: false} }

// Or joins conditions with OR. With no conditions it is always false (1 = 0).
func Or(conds ...Expr) Expr { return junction{conds: conds, or: true} }

type junction struct {
	conds []Expr
	or    bool
}

func (j junction) appendTo(w *writer) { appendJunction(w, j.conds, j.or) }
func (j junction) isQuery() bool      { return false }
func (j junction) ToSql() (string, []any, error) {
	return exprToSql(standard, j)
}

func appendJunction(w *writer, conds []Expr, or bool) {
	if len(conds) == 0 {
		if or {
			w.str("1 = 0")
		} else {
			w.str("1 = 1")
		}
		return
	}
	if len(conds) == 1 {
		w.expr(conds[0])
		return
	}
	for i, c := range conds {
		if i > 0 {
			if or {
				w.str(" OR ")
			} else {
				w.str(" AND ")
			}
		}
		appendOperandCond(w, c)
	}
}

// appendOperandCond writes a condition that is one operand of AND or OR,
// parenthesized when it is itself a junction or foreign SQL of unknown shape.
func appendOperandCond(w *writer, c Expr) {
	// Foreign Sqlizers are parenthesized by w.value already.
	paren := false
	switch x := c.(type) {
	case junction:
		paren = len(x.conds) > 1
	case raw:
		paren = true
	}
	if paren {
		w.byte('(')
		w.expr(c)
		w.byte(')')
		return
	}
	w.expr(c)
}

// Not is NOT (cond).
func Not(cond Expr) Expr { return not{cond} }

type not struct{ c Expr }

func (n not) appendTo(w *writer) {
	w.str("NOT (")
	w.expr(n.c)
	w.byte(')')
}
func (n not) isQuery() bool                 { return false }
func (n not) ToSql() (string, []any, error) { return exprToSql(standard, n) }
