package em

import (
	"reflect"
	"slices"
	"strings"

	"github.com/mikrogo/mikro/qb"
)

// The filter language (F) is parsed here, once per call, into a tree that
// every store compiles: SQL into a qb.Expr (filter.go), a Backend (MongoDB)
// into its own query language from the BackendFilter it receives. Parsing
// checks every property and operator against the metadata and the shape
// of every value, so a mistake is a *FilterError before any query runs, on
// every store alike. The tree lives in em, not in a package of its own:
// parsing needs the metadata's internals (property index, reference
// fields, relation sides, reference keys), which are not yet a package
// em could share without an import cycle, and a Backend in another module
// must be able to read it.

// BackendFilter is a filter as the entity manager hands it to a Backend:
// parsed from an F (or a primary key value) and checked against the
// entity's metadata, with relation paths already resolved into key lists.
// Every Field is a field of the entity, every operator one of those
// documented on F, and every value of the shape its operator needs. A
// store compiles it into its own query language; nil matches everything.
type BackendFilter struct {
	Kind FilterKind
	// Field is the field a FilterField node tests.
	Field *FieldMeta
	// Ops are the conditions of a FilterField node, sorted by operator;
	// all of them hold.
	Ops []FilterOp
	// Subs are the operands of FilterAll, FilterAnd and FilterOr, and the
	// one operand of FilterNot.
	Subs []BackendFilter

	// one is the condition of a FilterField node of one condition while
	// the node is em's own (Ops is then nil): a find allocates no slice
	// for it. backendForm moves it into Ops before a backend sees the node.
	one FilterOp

	alias string       // FilterField, filterRel: the alias qualifying the column (QB), "" for none
	x     *filterExtra // filterRel, filterSQL, filterLinks: what those rare nodes need (kept out of the node, which a find allocates)
}

// filterExtra is what the nodes a backend never sees hold.
type filterExtra struct {
	rel   *RelationMeta // filterRel: the collection (one-to-many, many-to-many) or inverse one-to-one followed (Field is then the key), nil for a reference (Field)
	raw   qb.Expr       // filterSQL: a condition built inside the package
	links m2mItems      // filterLinks: the items of a many-to-many collection on a backend
}

// FilterKind is what a BackendFilter node is.
type FilterKind uint8

// The kinds of BackendFilter node.
const (
	// FilterAll is an F of several entries (Subs, sorted by key), all of
	// which hold; with no Subs it holds for everything. An F of one entry
	// is that entry itself.
	FilterAll   FilterKind = iota + 1
	FilterAnd              // $and: all Subs hold (none: everything)
	FilterOr               // $or: one of Subs holds (none: nothing)
	FilterNot              // $not: Subs[0] does not hold
	FilterField            // Ops hold for Field

	// Never seen by a backend.
	filterRel   // a filter on related entities (Subs[0], on them) as a condition on Field
	filterSQL   // raw
	filterLinks // the items of a many-to-many collection
)

// FilterOp is one condition on a field.
type FilterOp struct {
	// Op is the operator as written in F: $eq, $ne, $gt, $gte, $lt, $lte,
	// $in, $nin, $like, $nlike, $ilike, $exists or $not.
	Op string
	// Value is the operand: the value compared ($eq … $lte; for a
	// reference, the referenced key; nil is NULL), a []any ($in, $nin), a
	// string pattern ($like, $nlike, $ilike), a bool ($exists); nil for
	// $not.
	Value any
	// Not are the conditions $not negates (all of them).
	Not []FilterOp
	// Plain is set when the condition was given as a plain value rather
	// than an operator map: {"name": "Jon"} is $eq, {"name": list} is $in.
	Plain bool
}

// subquery returns the subquery of an $in or $nin (SQL: a qb.SelectQuery
// or a QueryBuilder), nil for a list of values.
func (o *FilterOp) subquery() any {
	if o.Op != "$in" && o.Op != "$nin" {
		return nil
	}
	if _, list := o.Value.([]any); list || o.Value == nil {
		return nil
	}
	return o.Value
}

// ParseFilter parses and checks filter (an F, or a primary key value) as
// Find does for entities of m, for a Backend's own tests and tools. A
// relation path, which only an entity manager can resolve into keys, is a
// *FilterError.
func ParseFilter(m *EntityMeta, filter any) (*BackendFilter, error) {
	if m == nil {
		return nil, &FilterError{Reason: "no entity metadata"}
	}
	n, err := pscope{m: m}.parse(filter)
	if err != nil || n.Kind == 0 {
		return nil, err
	}
	if err := n.walk(func(x *BackendFilter) error {
		if x.Kind >= filterRel {
			return &FilterError{Entity: m.Name, Reason: "a relation path is resolved by the entity manager"}
		}
		x.backendForm()
		return nil
	}); err != nil {
		return nil, err
	}
	return &n, nil
}

// backendForm puts the one condition of a FilterField node into Ops, where
// a backend reads it.
func (n *BackendFilter) backendForm() {
	if n.Kind == FilterField && n.Ops == nil && n.one.Op != "" {
		n.Ops, n.one = []FilterOp{n.one}, FilterOp{}
	}
}

// walk calls fn on n and every node below it, stopping at the first error.
func (n *BackendFilter) walk(fn func(*BackendFilter) error) error {
	if err := fn(n); err != nil {
		return err
	}
	if n.Kind == filterRel {
		return nil // Subs[0] is on another entity
	}
	for i := range n.Subs {
		if err := n.Subs[i].walk(fn); err != nil {
			return err
		}
	}
	return nil
}

// pscope is where a filter is parsed: the entity its properties belong to,
// the alias that qualifies their columns ("" for none), and, in a query
// builder, the other aliases a key may start with ("a.name").
type pscope struct {
	m       *EntityMeta
	alias   string
	aliases map[string]*EntityMeta
}

// parse parses a filter: an F, a map[string]any, a primary key value, or a
// condition built inside the package. nil and an empty F are the zero
// node: no condition.
func (s pscope) parse(filter any) (BackendFilter, error) {
	m := s.m
	switch f := filter.(type) {
	case nil:
		return BackendFilter{}, nil
	case F:
		if len(f) == 0 {
			return BackendFilter{}, nil // no condition
		}
		return s.parseMap(f)
	case whereExpr:
		return BackendFilter{Kind: filterSQL, x: &filterExtra{raw: f.e}}, nil
	case m2mItems:
		return BackendFilter{Kind: filterLinks, x: &filterExtra{links: f}}, nil
	}
	if rv := reflect.ValueOf(filter); rv.Kind() == reflect.Map {
		return BackendFilter{}, &FilterError{Entity: m.Name, Reason: "a filter must be an em.F (map[string]any), not " + rv.Type().String()}
	}
	if _, ok := keyFromValue(m.PK, filter); !ok {
		return BackendFilter{}, &FilterError{Entity: m.Name, Property: m.PK.Property, Reason: "a filter must be an em.F or a primary key value, not " + reflect.TypeOf(filter).String()}
	}
	return BackendFilter{Kind: FilterField, Field: m.PK, alias: s.alias, one: FilterOp{Op: "$eq", Value: filter, Plain: true}}, nil
}

// parseMap parses the entries of f in the order of their keys. An F of
// one entry is that entry.
func (s pscope) parseMap(f F) (BackendFilter, error) {
	if len(f) == 1 {
		for k, v := range f {
			return s.parseKey(k, v)
		}
	}
	var buf [8]string // most filters have a few keys: no allocation for them
	keys := buf[:0]
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	subs := make([]BackendFilter, len(keys))
	for i, k := range keys {
		c, err := s.parseKey(k, f[k])
		if err != nil {
			return BackendFilter{}, err
		}
		subs[i] = c
	}
	return BackendFilter{Kind: FilterAll, Subs: subs}, nil
}

func (s pscope) parseKey(key string, v any) (BackendFilter, error) {
	m := s.m
	switch key {
	case "$and", "$or":
		list, ok := filterList(v)
		if !ok {
			return BackendFilter{}, &FilterError{Entity: m.Name, Property: key, Reason: "needs a list of filters"}
		}
		subs := make([]BackendFilter, len(list))
		for i, item := range list {
			sub, ok := item.(F)
			if !ok {
				return BackendFilter{}, &FilterError{Entity: m.Name, Property: key, Reason: "every item must be an em.F"}
			}
			c, err := s.parseMap(sub)
			if err != nil {
				return BackendFilter{}, err
			}
			subs[i] = c
		}
		if key == "$or" {
			return BackendFilter{Kind: FilterOr, Subs: subs}, nil
		}
		return BackendFilter{Kind: FilterAnd, Subs: subs}, nil
	case "$not":
		sub, ok := v.(F)
		if !ok {
			return BackendFilter{}, &FilterError{Entity: m.Name, Property: key, Reason: "needs an em.F"}
		}
		c, err := s.parseMap(sub)
		if err != nil {
			return BackendFilter{}, err
		}
		return BackendFilter{Kind: FilterNot, Subs: []BackendFilter{c}}, nil
	}
	if len(key) > 0 && key[0] == '$' {
		return BackendFilter{}, &FilterError{Entity: m.Name, Property: key, Reason: "unknown logical operator"}
	}
	if head, rest, dotted := strings.Cut(key, "."); dotted {
		if am, ok := s.aliases[head]; ok {
			// "a.name" in a query builder: a property of the entity under alias a.
			return pscope{m: am, alias: head, aliases: s.aliases}.parseKey(rest, v)
		}
		// "author.name": a filter on the related entity.
		return s.relation(head, func(t pscope) (BackendFilter, error) { return t.parseKey(rest, v) })
	}
	if rel := relationNamed(m, key); rel != nil {
		sub, ok := v.(F)
		if !ok {
			return BackendFilter{}, &FilterError{Entity: m.Name, Property: key, Reason: "a collection is filtered with an em.F on its items"}
		}
		return s.relation(key, func(t pscope) (BackendFilter, error) { return t.parseMap(sub) })
	}
	if inv := inverseNamed(m, key); inv != nil {
		sub, ok := v.(F)
		if !ok {
			return BackendFilter{}, &FilterError{Entity: m.Name, Property: key, Reason: "the inverse side of a one-to-one is filtered with an em.F on the other entity"}
		}
		return s.relation(key, func(t pscope) (BackendFilter, error) { return t.parseMap(sub) })
	}
	fld := m.props[key]
	if fld == nil {
		return BackendFilter{}, &FilterError{Entity: m.Name, Property: key, Reason: "no such property"}
	}
	if ops, ok := v.(F); ok {
		if fld.isRef && !isOperatorMap(ops) {
			return s.relation(key, func(t pscope) (BackendFilter, error) { return t.parseMap(ops) })
		}
		n := BackendFilter{Kind: FilterField, Field: fld, alias: s.alias}
		var err error
		if len(ops) == 1 {
			for op, x := range ops {
				n.one, err = parseOp(m, fld, fld.Property, op, x)
			}
		} else {
			n.Ops, err = parseOps(m, fld, fld.Property, ops)
		}
		if err != nil {
			return BackendFilter{}, err
		}
		return n, nil
	}
	if fld.isRef {
		v = refArg(fld, v)
	}
	op := FilterOp{Op: "$eq", Value: v, Plain: true}
	if list, ok := valueList(v); ok {
		op = FilterOp{Op: "$in", Value: list, Plain: true}
	}
	return BackendFilter{Kind: FilterField, Field: fld, alias: s.alias, one: op}, nil
}

// relation is the node of a filter on the entities related to s.m through
// the reference or collection prop; sub parses the filter on them, in a
// scope of their own (a subquery's: no alias).
func (s pscope) relation(prop string, sub func(pscope) (BackendFilter, error)) (BackendFilter, error) {
	m := s.m
	n := BackendFilter{Kind: filterRel, alias: s.alias, x: &filterExtra{}}
	var target *EntityMeta
	if rel := relationNamed(m, prop); rel != nil {
		n.Field, n.x.rel, target = m.PK, rel, rel.Target
	} else if inv := inverseNamed(m, prop); inv != nil {
		n.Field, n.x.rel, target = m.PK, inv, inv.Target
	} else {
		f := m.props[prop]
		if f == nil || !f.isRef {
			return BackendFilter{}, &FilterError{Entity: m.Name, Property: prop, Reason: "no such reference or collection"}
		}
		n.Field, target = f, f.Ref
	}
	c, err := sub(pscope{m: target})
	if err != nil {
		return BackendFilter{}, err
	}
	n.Subs = []BackendFilter{c}
	return n, nil
}

// parseOps parses an operator map on fld, a property named prop in errors
// (fld is nil for an aggregate of a query builder's Having). The
// conditions are sorted by operator, and so, of several mistakes, the same
// one is reported every time.
func parseOps(m *EntityMeta, fld *FieldMeta, prop string, ops F) ([]FilterOp, error) {
	if len(ops) == 1 {
		for op, v := range ops {
			c, err := parseOp(m, fld, prop, op, v)
			if err != nil {
				return nil, err
			}
			return []FilterOp{c}, nil
		}
	}
	var buf [8]string
	names := buf[:0]
	for k := range ops {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make([]FilterOp, len(names))
	for i, op := range names {
		c, err := parseOp(m, fld, prop, op, ops[op])
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// parseOp parses the condition op v on fld (see parseOps).
func parseOp(m *EntityMeta, fld *FieldMeta, prop, op string, v any) (FilterOp, error) {
	bad := func(reason string) error {
		return &FilterError{Entity: m.Name, Property: prop, Operator: op, Reason: reason}
	}
	if fld != nil && fld.isRef {
		v = refArg(fld, v)
	}
	c := FilterOp{Op: op, Value: v}
	switch op {
	case "$eq", "$ne", "$gt", "$gte", "$lt", "$lte":
	case "$like", "$nlike", "$ilike":
		if _, ok := v.(string); !ok {
			return c, bad("needs a string pattern")
		}
	case "$in", "$nin":
		if isSubquery(v) {
			break // Value is the subquery: SQL only
		}
		list, ok := valueList(v)
		if !ok {
			return c, bad("needs a slice of values")
		}
		c.Value = list
	case "$exists":
		if _, ok := v.(bool); !ok {
			return c, bad("needs true or false")
		}
	case "$not":
		sub, ok := v.(F)
		if !ok {
			return c, bad("needs an em.F of operators")
		}
		inner, err := parseOps(m, fld, prop, sub)
		if err != nil {
			return c, err
		}
		c.Value, c.Not = nil, inner
	default:
		return c, bad("unknown operator")
	}
	return c, nil
}

// valueList returns v as a list of values when it is a slice or an array:
// not bytes, neither a []byte nor an array of bytes (an ObjectID, a UUID),
// which are one value.
func valueList(v any) ([]any, bool) {
	switch v.(type) {
	case []any, []F:
		return filterList(v)
	case []byte, nil, string, int, int64, bool:
		return nil, false
	}
	if t := reflect.TypeOf(v); t.Kind() == reflect.Array && t.Elem().Kind() == reflect.Uint8 {
		return nil, false
	}
	return filterList(v)
}
