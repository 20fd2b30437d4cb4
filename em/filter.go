package em

import (
	"reflect"
	"slices"
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

// fscope is where a filter is compiled: the entity its properties belong to,
// the alias that qualifies their columns ("" for none), and, in a query
// builder, the other aliases a key may start with ("a.name").
type fscope struct {
	d       *qb.Dialect
	m       *EntityMeta
	alias   string
	aliases map[string]*EntityMeta
	bare    bool // columns unqualified even under an alias (single-table UPDATE and DELETE)
}

// col returns f's column, qualified by the scope's alias.
func (s fscope) col(f *FieldMeta) string {
	if s.alias == "" || s.bare {
		return f.Column
	}
	return s.alias + "." + f.Column
}

// on returns the scope of another entity, with no alias (a subquery's).
func (s fscope) on(m *EntityMeta) fscope { return fscope{d: s.d, m: m} }

func (s fscope) filter(filter any) (qb.Expr, error) {
	m := s.m
	switch f := filter.(type) {
	case nil:
		return nil, nil
	case F:
		if len(f) == 0 {
			return nil, nil // no condition
		}
		return s.compileMap(f)
	case whereExpr:
		return f.e, nil
	}
	if rv := reflect.ValueOf(filter); rv.Kind() == reflect.Map {
		return nil, &FilterError{Entity: m.Name, Reason: "a filter must be an em.F (map[string]any), not " + rv.Type().String()}
	}
	if _, ok := keyFromValue(m.PK, filter); !ok {
		return nil, &FilterError{Entity: m.Name, Property: m.PK.Property, Reason: "a filter must be an em.F or a primary key value, not " + reflect.TypeOf(filter).String()}
	}
	return qb.Eq(s.col(m.PK), filter), nil
}

func (s fscope) compileMap(f F) (qb.Expr, error) {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	conds := make([]qb.Expr, 0, len(keys))
	for _, k := range keys {
		c, err := s.compileKey(k, f[k])
		if err != nil {
			return nil, err
		}
		conds = append(conds, c)
	}
	if len(conds) == 1 {
		return conds[0], nil
	}
	return qb.And(conds...), nil
}

func (s fscope) compileKey(key string, v any) (qb.Expr, error) {
	m := s.m
	switch key {
	case "$and", "$or":
		list, ok := filterList(v)
		if !ok {
			return nil, &FilterError{Entity: m.Name, Property: key, Reason: "needs a list of filters"}
		}
		conds := make([]qb.Expr, len(list))
		for i, item := range list {
			sub, ok := item.(F)
			if !ok {
				return nil, &FilterError{Entity: m.Name, Property: key, Reason: "every item must be an em.F"}
			}
			c, err := s.compileMap(sub)
			if err != nil {
				return nil, err
			}
			conds[i] = c
		}
		if key == "$or" {
			return qb.Or(conds...), nil
		}
		return qb.And(conds...), nil
	case "$not":
		sub, ok := v.(F)
		if !ok {
			return nil, &FilterError{Entity: m.Name, Property: key, Reason: "needs an em.F"}
		}
		c, err := s.compileMap(sub)
		if err != nil {
			return nil, err
		}
		return qb.Not(c), nil
	}
	if len(key) > 0 && key[0] == '$' {
		return nil, &FilterError{Entity: m.Name, Property: key, Reason: "unknown logical operator"}
	}
	if head, rest, dotted := strings.Cut(key, "."); dotted {
		if am, ok := s.aliases[head]; ok {
			// "a.name" in a query builder: a property of the entity under alias a.
			return fscope{d: s.d, m: am, alias: head, aliases: s.aliases, bare: s.bare}.compileKey(rest, v)
		}
		// "author.name": a filter on the related entity.
		return s.relationFilter(head, F{rest: v})
	}
	if rel := relationNamed(m, key); rel != nil {
		sub, ok := v.(F)
		if !ok {
			return nil, &FilterError{Entity: m.Name, Property: key, Reason: "a collection is filtered with an em.F on its items"}
		}
		return s.relationFilter(key, sub)
	}
	if inv := inverseNamed(m, key); inv != nil {
		sub, ok := v.(F)
		if !ok {
			return nil, &FilterError{Entity: m.Name, Property: key, Reason: "the inverse side of a one-to-one is filtered with an em.F on the other entity"}
		}
		return s.relationFilter(key, sub)
	}
	fld := m.props[key]
	if fld == nil {
		return nil, &FilterError{Entity: m.Name, Property: key, Reason: "no such property"}
	}
	col := s.col(fld)
	if ops, ok := v.(F); ok {
		if fld.isRef && !isOperatorMap(ops) {
			return s.relationFilter(key, ops)
		}
		return s.compileOps(fld, ops)
	}
	if fld.isRef {
		v = refArg(fld, v)
	}
	if list, ok := filterList(v); ok && !isBytes(v) {
		return qb.In(col, list), nil
	}
	return qb.Eq(col, v), nil
}

func (s fscope) compileOps(fld *FieldMeta, ops F) (qb.Expr, error) {
	return s.compileOpsOn(s.col(fld), fld, fld.Property, ops)
}

// compileOpsOn compiles an operator map on col, an expression named prop in
// errors; fld is the property's field when col is one (nil for an aggregate).
func (s fscope) compileOpsOn(col any, fld *FieldMeta, prop string, ops F) (qb.Expr, error) {
	m := s.m
	names := make([]string, 0, len(ops))
	for k := range ops {
		names = append(names, k)
	}
	slices.Sort(names)
	conds := make([]qb.Expr, 0, len(names))
	bad := func(op, reason string) error {
		return &FilterError{Entity: m.Name, Property: prop, Operator: op, Reason: reason}
	}
	for _, op := range names {
		v := ops[op]
		if fld != nil && fld.isRef {
			v = refArg(fld, v)
		}
		var c qb.Expr
		switch op {
		case "$eq":
			c = qb.Eq(col, v)
		case "$ne":
			c = qb.NotEq(col, v)
		case "$gt":
			c = qb.Gt(col, v)
		case "$gte":
			c = qb.Gte(col, v)
		case "$lt":
			c = qb.Lt(col, v)
		case "$lte":
			c = qb.Lte(col, v)
		case "$like", "$nlike", "$ilike":
			if _, ok := v.(string); !ok {
				return nil, bad(op, "needs a string pattern")
			}
			switch op {
			case "$like":
				c = qb.Like(col, v)
			case "$nlike":
				c = qb.NotLike(col, v)
			default:
				c = qb.ILike(col, v)
			}
		case "$in", "$nin":
			if sub, ok, err := subqueryOf(v); ok {
				if err != nil {
					return nil, err
				}
				if op == "$in" {
					c = qb.In(col, sub)
				} else {
					c = qb.NotIn(col, sub)
				}
				break
			}
			list, ok := filterList(v)
			if !ok || isBytes(v) {
				return nil, bad(op, "needs a slice of values")
			}
			if op == "$in" {
				c = qb.In(col, list)
			} else {
				c = qb.NotIn(col, list)
			}
		case "$exists":
			b, ok := v.(bool)
			if !ok {
				return nil, bad(op, "needs true or false")
			}
			if b {
				c = qb.IsNotNull(col)
			} else {
				c = qb.IsNull(col)
			}
		case "$not":
			sub, ok := v.(F)
			if !ok {
				return nil, bad(op, "needs an em.F of operators")
			}
			inner, err := s.compileOpsOn(col, fld, prop, sub)
			if err != nil {
				return nil, err
			}
			c = qb.Not(inner)
		default:
			return nil, bad(op, "unknown operator")
		}
		conds = append(conds, c)
	}
	if len(conds) == 1 {
		return conds[0], nil
	}
	return qb.And(conds...), nil
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

// relationFilter compiles a filter on the entities related to m through the
// reference or collection prop into an IN (subquery) condition on m:
// {"author": {"name": "Jon"}} is author_id IN (SELECT id FROM author WHERE
// name = ?), {"books": {"title": …}} is id IN (SELECT author_id FROM book
// WHERE title = …). A subquery matches the same rows as a join without
// repeating the root entity for every related row.
func (s fscope) relationFilter(prop string, sub F) (qb.Expr, error) {
	d, m := s.d, s.m
	if rel := relationNamed(m, prop); rel != nil {
		where, err := s.on(rel.Target).compileMap(sub)
		if err != nil {
			return nil, err
		}
		if rel.Kind == ManyToMany {
			// Owners linked in the pivot to a matching item.
			own, link, item := rel, rel.JoinColumn, rel.InverseColumn
			if !rel.Owning {
				own, link, item = rel.Inverse, rel.Inverse.InverseColumn, rel.Inverse.JoinColumn
			}
			items := d.Select(rel.Target.PK.Column).From(rel.Target.Table).Where(where)
			return qb.In(s.col(m.PK), d.Select(link).From(own.Pivot).Where(qb.In(item, items))), nil
		}
		q := d.Select(rel.MappedBy.Column).From(rel.Target.Table).Where(where)
		return qb.In(s.col(m.PK), q), nil
	}
	if inv := inverseNamed(m, prop); inv != nil {
		where, err := s.on(inv.Target).compileMap(sub)
		if err != nil {
			return nil, err
		}
		q := d.Select(inv.MappedBy.Column).From(inv.Target.Table).Where(where)
		return qb.In(s.col(m.PK), q), nil
	}
	f := m.props[prop]
	if f == nil || !f.isRef {
		return nil, &FilterError{Entity: m.Name, Property: prop, Reason: "no such reference or collection"}
	}
	where, err := s.on(f.Ref).compileMap(sub)
	if err != nil {
		return nil, err
	}
	q := d.Select(f.Ref.PK.Column).From(f.Ref.Table).Where(where)
	return qb.In(s.col(f), q), nil
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
	if list, ok := filterList(v); ok && !isBytes(v) {
		out := make([]any, len(list))
		for i, x := range list {
			out[i] = refArg(f, x)
		}
		return out
	}
	return v
}

func isBytes(v any) bool { _, ok := v.([]byte); return ok }

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
