package em

import (
	"reflect"
	"strings"

	"github.com/mikrogo/mikro/qb"
)

// F is a filter by property names, in the MikroORM style:
//
//	em.F{"name": "Jon", "born": em.F{"$gt": t}, "$or": []em.F{{"role": "admin"}, {"role": "owner"}}}
//
// A property is the Go field name with a lowered first letter (CreatedAt →
// createdAt); the Go name itself is accepted too. Logical keys: $and, $or
// (lists of filters), $not (a filter). Operators on a property: $eq, $ne,
// $in, $nin, $gt, $gte, $lt, $lte, $like, $nlike, $ilike, $exists, $not. A
// plain value means $eq (nil: IS NULL), a slice means $in. The helpers Eq,
// Gt, In, Or … build the same maps. An unknown property or operator is a
// *FilterError and no query runs.
type F = map[string]any

// Eq is {"$eq": v}.
func Eq(v any) F { return F{"$eq": v} }

// Ne is {"$ne": v}.
func Ne(v any) F { return F{"$ne": v} }

// Gt is {"$gt": v}.
func Gt(v any) F { return F{"$gt": v} }

// Gte is {"$gte": v}.
func Gte(v any) F { return F{"$gte": v} }

// Lt is {"$lt": v}.
func Lt(v any) F { return F{"$lt": v} }

// Lte is {"$lte": v}.
func Lte(v any) F { return F{"$lte": v} }

// In is {"$in": values}; values is a slice.
func In(values any) F { return F{"$in": values} }

// Nin is {"$nin": values}.
func Nin(values any) F { return F{"$nin": values} }

// Like is {"$like": pattern}.
func Like(pattern string) F { return F{"$like": pattern} }

// ILike is {"$ilike": pattern}, a case-insensitive LIKE.
func ILike(pattern string) F { return F{"$ilike": pattern} }

// Exists is {"$exists": b}: IS NOT NULL for true, IS NULL for false.
func Exists(b bool) F { return F{"$exists": b} }

// And is {"$and": filters}.
func And(filters ...F) F { return F{"$and": filters} }

// Or is {"$or": filters}.
func Or(filters ...F) F { return F{"$or": filters} }

// Not is {"$not": filter}.
func Not(filter F) F { return F{"$not": filter} }

// compileFilter turns a filter (an F, a map[string]any, or a primary key
// value) into a condition on m's columns. A nil filter is no condition.
func compileFilter(d *qb.Dialect, m *EntityMeta, filter any) (qb.Expr, error) {
	return fscope{d: d, m: m}.filter(filter)
}

// fscope is where a filter is parsed (see pscope) and compiled to SQL: in
// d, and with bare, columns unqualified even under an alias (single-table
// UPDATE and DELETE).
type fscope struct {
	d       *qb.Dialect
	m       *EntityMeta
	alias   string
	aliases map[string]*EntityMeta
	bare    bool
}

// filter parses filter in the scope and compiles it.
func (s fscope) filter(filter any) (qb.Expr, error) {
	n, err := pscope{m: s.m, alias: s.alias, aliases: s.aliases}.parse(filter)
	if err != nil {
		return nil, err
	}
	return s.sql(&n)
}

// compileOpsOn compiles an operator map on col, an expression named prop in
// errors; fld is the property's field when col is one (nil for an aggregate).
func (s fscope) compileOpsOn(col any, fld *FieldMeta, prop string, ops F) (qb.Expr, error) {
	list, err := parseOps(s.m, fld, prop, ops)
	if err != nil {
		return nil, err
	}
	return sqlOps(col, list)
}

// col returns f's column, qualified by alias.
func (s fscope) col(alias string, f *FieldMeta) string {
	if alias == "" || s.bare {
		return f.Column
	}
	return alias + "." + f.Column
}

// sql compiles a parsed filter; the zero node is no condition (nil).
func (s fscope) sql(n *BackendFilter) (qb.Expr, error) {
	switch n.Kind {
	case 0:
		return nil, nil
	case FilterField:
		if n.Ops == nil {
			return sqlOp(s.col(n.alias, n.Field), &n.one)
		}
		return sqlOps(s.col(n.alias, n.Field), n.Ops)
	case FilterAll:
		if len(n.Subs) == 1 {
			return s.sql(&n.Subs[0])
		}
		conds, err := s.sqlList(n.Subs)
		if err != nil {
			return nil, err
		}
		return qb.And(conds...), nil
	case FilterAnd, FilterOr:
		conds, err := s.sqlList(n.Subs)
		if err != nil {
			return nil, err
		}
		if n.Kind == FilterOr {
			return qb.Or(conds...), nil
		}
		return qb.And(conds...), nil
	case FilterNot:
		c, err := s.sql(&n.Subs[0])
		if err != nil {
			return nil, err
		}
		return qb.Not(c), nil
	case filterRel:
		return s.sqlRelation(n)
	case filterSQL:
		return n.x.raw, nil
	}
	return nil, &FilterError{Entity: s.m.Name, Reason: "a filter must be an em.F or a primary key value"}
}

func (s fscope) sqlList(subs []BackendFilter) ([]qb.Expr, error) {
	conds := make([]qb.Expr, len(subs))
	for i := range subs {
		c, err := s.sql(&subs[i])
		if err != nil {
			return nil, err
		}
		conds[i] = c
	}
	return conds, nil
}

// sqlOps compiles the conditions on col: one, or all of them joined by AND.
func sqlOps(col any, ops []FilterOp) (qb.Expr, error) {
	if len(ops) == 1 {
		return sqlOp(col, &ops[0])
	}
	conds := make([]qb.Expr, len(ops))
	for i := range ops {
		c, err := sqlOp(col, &ops[i])
		if err != nil {
			return nil, err
		}
		conds[i] = c
	}
	return qb.And(conds...), nil
}

func sqlOp(col any, o *FilterOp) (qb.Expr, error) {
	v := o.Value
	switch o.Op {
	case "$eq":
		return qb.Eq(col, v), nil
	case "$ne":
		return qb.NotEq(col, v), nil
	case "$gt":
		return qb.Gt(col, v), nil
	case "$gte":
		return qb.Gte(col, v), nil
	case "$lt":
		return qb.Lt(col, v), nil
	case "$lte":
		return qb.Lte(col, v), nil
	case "$like":
		return qb.Like(col, v), nil
	case "$nlike":
		return qb.NotLike(col, v), nil
	case "$ilike":
		return qb.ILike(col, v), nil
	case "$in", "$nin":
		if q := o.subquery(); q != nil {
			sub, _, err := subqueryOf(q)
			if err != nil {
				return nil, err
			}
			v = sub
		}
		if o.Op == "$in" {
			return qb.In(col, v), nil
		}
		return qb.NotIn(col, v), nil
	case "$exists":
		if v.(bool) {
			return qb.IsNotNull(col), nil
		}
		return qb.IsNull(col), nil
	}
	// $not: parseOps let no other operator through.
	inner, err := sqlOps(col, o.Not)
	if err != nil {
		return nil, err
	}
	return qb.Not(inner), nil
}

// whereExpr is a condition built inside the package (collections), passed
// through compileFilter as it is.
type whereExpr struct{ e qb.Expr }

// pivotSide is the subquery of the keys linked through a many-to-many
// pivot to the owner key: the items of an owning side, or the owners of an
// inverse side.
func pivotSide(d *qb.Dialect, rel *RelationMeta, keys any) qb.SelectQuery {
	own := rel
	pick, by := own.InverseColumn, own.JoinColumn
	if !rel.Owning {
		own = rel.Inverse
		pick, by = own.JoinColumn, own.InverseColumn
	}
	cond := qb.Eq(by, keys)
	if _, isList := filterList(keys); isList {
		cond = qb.In(by, keys)
	}
	return d.Select(pick).From(own.Pivot).Where(cond)
}

// isOperatorMap reports whether every key of f is an operator ($…).
func isOperatorMap(f F) bool {
	for k := range f {
		if !strings.HasPrefix(k, "$") {
			return false
		}
	}
	return true
}

// sqlRelation compiles a filter on the entities related to m through a
// reference or collection into an IN (subquery) condition on m:
// {"author": {"name": "Jon"}} is author_id IN (SELECT id FROM author WHERE
// name = ?), {"books": {"title": …}} is id IN (SELECT author_id FROM book
// WHERE title = …). A subquery matches the same rows as a join without
// repeating the root entity for every related row.
func (s fscope) sqlRelation(n *BackendFilter) (qb.Expr, error) {
	d := s.d
	where, err := fscope{d: d}.sql(&n.Subs[0])
	if err != nil {
		return nil, err
	}
	col := s.col(n.alias, n.Field)
	if rel := n.x.rel; rel != nil {
		if rel.Kind == ManyToMany {
			// Owners linked in the pivot to a matching item.
			own, link, item := rel, rel.JoinColumn, rel.InverseColumn
			if !rel.Owning {
				own, link, item = rel.Inverse, rel.Inverse.InverseColumn, rel.Inverse.JoinColumn
			}
			items := d.Select(rel.Target.PK.Column).From(rel.Target.Table).Where(where)
			return qb.In(col, d.Select(link).From(own.Pivot).Where(qb.In(item, items))), nil
		}
		q := d.Select(rel.MappedBy.Column).From(rel.Target.Table).Where(where)
		return qb.In(col, q), nil
	}
	t := n.Field.Ref
	q := d.Select(t.PK.Column).From(t.Table).Where(where)
	return qb.In(col, q), nil
}

// refArg turns a filter value on a reference property into the key it
// stands for: a Ref, a pointer to the referenced entity, or lists of them.
// Plain key values pass as they are.
func refArg(f *FieldMeta, v any) any {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return v
	}
	if rv.Type().Implements(refFieldType) {
		p := reflect.New(rv.Type())
		p.Elem().Set(rv)
		return refBind(f, p.UnsafePointer())
	}
	if rv.Kind() == reflect.Pointer && rv.Type().Elem() == f.Ref.Type {
		if rv.IsNil() {
			return nil
		}
		return keyOf(f.Ref.PK, rv.UnsafePointer()).value(f.Ref.PK)
	}
	if list, ok := valueList(v); ok {
		out := make([]any, len(list))
		for i, x := range list {
			out[i] = refArg(f, x)
		}
		return out
	}
	return v
}

// filterList returns v as a list when it is a slice or array.
func filterList(v any) ([]any, bool) {
	switch l := v.(type) {
	case []any:
		return l, true
	case []F:
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

// subquerier is a query usable as the list of $in and $nin: a QueryBuilder.
type subquerier interface {
	subquery() (qb.SelectQuery, error)
}

// isSubquery reports whether v is a subquery (see subqueryOf).
func isSubquery(v any) bool {
	switch v.(type) {
	case qb.SelectQuery, subquerier:
		return true
	}
	return false
}

// subqueryOf returns v as a subquery when it is one (a qb.SelectQuery or a
// QueryBuilder), with the error that building it gave.
func subqueryOf(v any) (qb.SelectQuery, bool, error) {
	switch q := v.(type) {
	case qb.SelectQuery:
		return q, true, nil
	case subquerier:
		s, err := q.subquery()
		return s, true, err
	}
	return qb.SelectQuery{}, false, nil
}
