package qb

import (
	"fmt"
	"reflect"
	"slices"
)

// M is a filter in the MikroORM style, for [Filter]: keys are column names or
// logical operators, values are values, lists or maps of operators.
type M = map[string]any

// Filter compiles a MikroORM-style filter map into the same conditions the
// functions of this package make:
//
//	qb.Filter(qb.M{
//		"name": "Jon",                               // "name" = ?
//		"age":  qb.M{"$gte": 18, "$lt": 65},         // "age" >= ? AND "age" < ?
//		"role": []any{"admin", "owner"},             // "role" IN (?, ?)
//		"$or":  []any{qb.M{"banned": nil}, qb.M{"banned": false}},
//	})
//
// Logical keys: $and and $or (a list of filters), $not (a filter). Operators
// on a column: $eq, $ne, $in, $nin, $gt, $gte, $lt, $lte, $like, $nlike,
// $ilike, $exists (true: IS NOT NULL, false: IS NULL) and $not (a map of
// operators to negate). A plain value means $eq (nil: IS NULL), a list means
// $in. Keys are taken in sorted order so the SQL is stable. An unknown
// operator or a value of the wrong shape is an *InvalidError at Build naming
// the key and the operator; nothing is passed through as SQL.
func Filter(m M) Expr {
	e, err := compileFilter(m)
	if err != nil {
		return errExpr{err}
	}
	return e
}

type errExpr struct{ err error }

func (e errExpr) appendTo(w *writer)            { w.fail(e.err) }
func (e errExpr) isQuery() bool                 { return false }
func (e errExpr) ToSql() (string, []any, error) { return "", nil, e.err }

func filterErr(key, format string, args ...any) error {
	return invalid("filter", "%q: %s", key, fmt.Sprintf(format, args...))
}

func compileFilter(m M) (Expr, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	conds := make([]Expr, 0, len(keys))
	for _, k := range keys {
		c, err := compileKey(k, m[k])
		if err != nil {
			return nil, err
		}
		conds = append(conds, c)
	}
	if len(conds) == 1 {
		return conds[0], nil
	}
	return junction{conds: conds}, nil
}

func compileKey(key string, v any) (Expr, error) {
	switch key {
	case "$and", "$or":
		list, ok := filterList(v)
		if !ok {
			return nil, filterErr(key, "needs a list of filters, not %T", v)
		}
		conds := make([]Expr, len(list))
		for i, item := range list {
			sub, ok := item.(M)
			if !ok {
				return nil, filterErr(key, "item %d is %T, not a filter map", i, item)
			}
			c, err := compileFilter(sub)
			if err != nil {
				return nil, err
			}
			conds[i] = c
		}
		return junction{conds: conds, or: key == "$or"}, nil
	case "$not":
		sub, ok := v.(M)
		if !ok {
			return nil, filterErr(key, "needs a filter map, not %T", v)
		}
		c, err := compileFilter(sub)
		if err != nil {
			return nil, err
		}
		return not{c}, nil
	}
	if len(key) > 0 && key[0] == '$' {
		return nil, filterErr(key, "unknown logical operator")
	}
	if ops, ok := v.(M); ok {
		return compileOps(key, ops)
	}
	if _, isExpr := v.(Expr); !isExpr {
		if list, ok := filterList(v); ok {
			return In(key, list), nil
		}
	}
	return Eq(key, v), nil
}

func compileOps(column string, ops M) (Expr, error) {
	names := make([]string, 0, len(ops))
	for k := range ops {
		names = append(names, k)
	}
	slices.Sort(names)
	conds := make([]Expr, 0, len(names))
	for _, op := range names {
		v := ops[op]
		var c Expr
		switch op {
		case "$eq":
			c = Eq(column, v)
		case "$ne":
			c = NotEq(column, v)
		case "$gt":
			c = Gt(column, v)
		case "$gte":
			c = Gte(column, v)
		case "$lt":
			c = Lt(column, v)
		case "$lte":
			c = Lte(column, v)
		case "$like":
			c = Like(column, v)
		case "$nlike":
			c = NotLike(column, v)
		case "$ilike":
			c = ILike(column, v)
		case "$in", "$nin":
			if _, isExpr := v.(Expr); !isExpr {
				if _, ok := filterList(v); !ok {
					return nil, filterErr(column, "%s needs a list, not %T", op, v)
				}
			}
			if op == "$in" {
				c = In(column, v)
			} else {
				c = NotIn(column, v)
			}
		case "$exists":
			b, ok := v.(bool)
			if !ok {
				return nil, filterErr(column, "$exists needs true or false, not %T", v)
			}
			if b {
				c = IsNotNull(column)
			} else {
				c = IsNull(column)
			}
		case "$not":
			sub, ok := v.(M)
			if !ok {
				return nil, filterErr(column, "$not needs a map of operators, not %T", v)
			}
			inner, err := compileOps(column, sub)
			if err != nil {
				return nil, err
			}
			c = not{inner}
		default:
			return nil, filterErr(column, "unknown operator %q", op)
		}
		conds = append(conds, c)
	}
	if len(conds) == 1 {
		return conds[0], nil
	}
	return junction{conds: conds}, nil
}

// filterList returns v as a list if it is a slice or array (not []byte).
func filterList(v any) ([]any, bool) {
	switch l := v.(type) {
	case []any:
		return l, true
	case []M:
		out := make([]any, len(l))
		for i := range l {
			out[i] = l[i]
		}
		return out, true
	case []byte, nil:
		return nil, false
	}
	rv := reflect.ValueOf(v)
	if k := rv.Kind(); k != reflect.Slice && k != reflect.Array {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}
