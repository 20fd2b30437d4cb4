package em

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/mikrogo/mikro/em/dbconn"
	"github.com/mikrogo/mikro/qb"
)

// PopulateStrategy chooses how FindOptions.Populate loads relations.
type PopulateStrategy uint8

// Populate strategies.
const (
	// SelectIn loads each level of a populate with one more query,
	// WHERE key IN (…): the default.
	SelectIn PopulateStrategy = iota + 1
	// Joined loads the root entities and every populated reference and
	// one-to-many collection in one query with LEFT JOINs. Limit and offset
	// still count root entities: they apply in a subquery that picks the
	// roots' keys. Many-to-many collections join through their pivot. The
	// per-path options (PopulateWhere, PopulateOrderBy, PopulateLimit) need
	// SelectIn.
	Joined
)

// joinNode is one entity of a joined query: the root or a populated path.
type joinNode struct {
	meta   *EntityMeta
	alias  string
	parent *joinNode
	ref    *FieldMeta    // reached through this reference of the parent
	rel    *RelationMeta // or through this collection of the parent
	first  int           // index of its first column in the row
}

// joinTree turns populate paths into nodes, parents before children.
func joinTree(m *EntityMeta, paths []string) ([]*joinNode, error) {
	root := &joinNode{meta: m, alias: "e0"}
	nodes := []*joinNode{root}
	find := func(parent *joinNode, f *FieldMeta, rel *RelationMeta) *joinNode {
		for _, n := range nodes {
			if n.parent == parent && n.ref == f && n.rel == rel {
				return n
			}
		}
		n := &joinNode{parent: parent, ref: f, rel: rel, alias: "e" + strconv.Itoa(len(nodes))}
		if f != nil {
			n.meta = f.Ref
		} else {
			n.meta = rel.Target
		}
		nodes = append(nodes, n)
		return n
	}
	var walk func(parent *joinNode, path string) error
	walk = func(parent *joinNode, path string) error {
		head, rest, _ := strings.Cut(path, ".")
		var steps []*joinNode
		pm := parent.meta
		switch rel := relationNamed(pm, head); {
		case head == "*":
			for _, f := range pm.Fields {
				if f.isRef {
					steps = append(steps, find(parent, f, nil))
				}
			}
			for _, r := range pm.Relations {
				steps = append(steps, find(parent, nil, r))
			}
		case rel != nil:
			steps = append(steps, find(parent, nil, rel))
		case inverseNamed(pm, head) != nil:
			return &FilterError{Entity: pm.Name, Property: head, Reason: "the inverse side of a one-to-one is populated by the select-in strategy only (FindOptions.Strategy = em.SelectIn)"}
		default:
			f := pm.props[head]
			if f == nil || !f.isRef {
				return &FilterError{Entity: pm.Name, Property: head, Reason: "no such reference or collection to populate"}
			}
			steps = append(steps, find(parent, f, nil))
		}
		if rest == "" {
			return nil
		}
		for _, s := range steps {
			if err := walk(s, rest); err != nil {
				return err
			}
		}
		return nil
	}
	for _, p := range paths {
		if err := walk(root, p); err != nil {
			return nil, err
		}
	}
	return nodes, nil
}

// findJoined is find with the Joined populate strategy: one query, the
// roots and every populated path LEFT JOINed (joinedSQL), read row by row
// into the identity map (joinedReader).
func (e *EntityManager) findJoined(ctx context.Context, m *EntityMeta, filter any, o FindOptions, each func(obj any)) error {
	if o.Lock != LockNone || len(o.Fields) > 0 || len(o.PopulateWhere)+len(o.PopulateOrderBy)+len(o.PopulateLimit) > 0 {
		return &FilterError{Entity: m.Name, Reason: "the joined strategy takes no Lock, Fields or per-path populate options; use SelectIn"}
	}
	nodes, err := joinTree(m, o.Populate)
	if err != nil {
		return err
	}
	query, args, ncols, err := e.joinedSQL(m, filter, o, nodes)
	if err != nil {
		return err
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	rows, err := e.orm.query(ctx, e.conn(), query, args)
	if err != nil {
		return translateError(err, m.Name)
	}
	defer rows.Close()
	r := newJoinedReader(e, m, nodes, ncols)
	for rows.Next() {
		if err := r.row(rows); err != nil {
			return err
		}
		if root := r.cur[0]; root != nil && !r.seenRoot[root] {
			r.seenRoot[root] = true
			if en := e.rec(root); en != nil && en.state != stateRemoved {
				each(en.object())
			}
		}
	}
	if err := rows.Err(); err != nil {
		return translateError(err, m.Name)
	}
	r.complete()
	return nil
}

// joinedSQL builds the query of findJoined: the roots filtered, ordered and
// paged on their own in a subquery, every node's columns (n.first is where
// a node's start), the LEFT JOINs, and an order that keeps each root's rows
// together. It returns the query, its arguments and how many columns it
// selects.
func (e *EntityManager) joinedSQL(m *EntityMeta, filter any, o FindOptions, nodes []*joinNode) (string, []any, int, error) {
	d := e.orm.dialect
	roots, _, err := e.selectFor(m, filter, FindOptions{OrderBy: o.OrderBy, Limit: o.Limit, Offset: o.Offset})
	if err != nil {
		return "", nil, 0, err
	}
	keys := d.Select(m.PK.Column).FromExpr(roots, "mikro_r")

	var cols []any
	for _, n := range nodes {
		n.first = len(cols)
		for _, f := range n.meta.Fields {
			cols = append(cols, qb.Ident(n.alias, f.Column))
		}
	}
	q := d.Select(cols...).From(m.Table + " e0")
	for _, n := range nodes[1:] {
		var on qb.Expr
		switch {
		case n.ref != nil:
			on = qb.Eq(qb.Ident(n.alias, n.meta.PK.Column), qb.Ident(n.parent.alias, n.ref.Column))
		case n.rel.Kind == ManyToMany:
			// Through the pivot: parent → pivot row → item.
			own, mine, theirs := n.rel, n.rel.JoinColumn, n.rel.InverseColumn
			if !n.rel.Owning {
				own, mine, theirs = n.rel.Inverse, n.rel.Inverse.InverseColumn, n.rel.Inverse.JoinColumn
			}
			pa := n.alias + "p"
			q = q.LeftJoin(own.Pivot+" "+pa, qb.Eq(qb.Ident(pa, mine), qb.Ident(n.parent.alias, n.parent.meta.PK.Column)))
			on = qb.Eq(qb.Ident(n.alias, n.meta.PK.Column), qb.Ident(pa, theirs))
		default:
			on = qb.Eq(qb.Ident(n.alias, n.rel.MappedBy.Column), qb.Ident(n.parent.alias, n.parent.meta.PK.Column))
		}
		q = q.LeftJoin(n.meta.Table+" "+n.alias, on)
	}
	q = q.Where(qb.In(qb.Ident("e0", m.PK.Column), keys))
	for _, ob := range o.OrderBy {
		prop, rest, _ := strings.Cut(strings.TrimSpace(ob), " ")
		f := m.props[prop]
		if f == nil {
			return "", nil, 0, &FilterError{Entity: m.Name, Property: prop, Reason: "no such property (in OrderBy)"}
		}
		q = q.OrderBy(orderItem(qb.Ident("e0", f.Column), rest))
	}
	q = q.OrderBy(qb.Ident("e0", m.PK.Column))
	for _, n := range nodes[1:] {
		if n.rel != nil {
			q = q.OrderBy(qb.Ident(n.alias, n.meta.PK.Column))
		}
	}
	query, args, err := q.Build()
	return query, args, len(cols), err
}

// joinedReader reads the rows of findJoined. Each row is scanned twice.
// First only the keys, to learn which nodes of the row are there (LEFT
// JOIN) and which are entities not yet managed; then those entities'
// columns, straight into new entities through the destinations plain finds
// use (scanDest), so that a column converts into a field the same way on
// every read path. Columns not wanted in a pass go to a sink that converts
// nothing.
type joinedReader struct {
	e        *EntityManager
	m        *EntityMeta
	nodes    []*joinNode
	holders  []refHolder
	keyDest  []any
	dest     []any
	parentOf []int
	news     []joinedFresh
	fixups   []func() error
	cur      []unsafe.Pointer // each node's entity in the row read last, nil for none
	seenRoot map[unsafe.Pointer]bool
	owners   map[*joinNode][]unsafe.Pointer // parents whose collection the node fills
}

// joinedFresh is an entity a row brought that was not managed yet.
type joinedFresh struct {
	node int
	key  pkKey
	pair unsafe.Pointer
}

func newJoinedReader(e *EntityManager, m *EntityMeta, nodes []*joinNode, ncols int) *joinedReader {
	r := &joinedReader{e: e, m: m, nodes: nodes, holders: make([]refHolder, len(nodes)),
		keyDest: make([]any, ncols), dest: make([]any, ncols), parentOf: make([]int, len(nodes)),
		cur: make([]unsafe.Pointer, len(nodes)), seenRoot: map[unsafe.Pointer]bool{}, owners: map[*joinNode][]unsafe.Pointer{}}
	for i := range ncols {
		r.keyDest[i], r.dest[i] = sink{}, sink{}
	}
	for i, n := range nodes {
		r.keyDest[n.first+slices.Index(n.meta.Fields, n.meta.PK)] = &r.holders[i]
		r.parentOf[i] = slices.Index(nodes, n.parent)
	}
	return r
}

// row reads one row: the nodes' entities (managed ones from the identity
// map, new ones scanned and registered), then their links.
func (r *joinedReader) row(rows dbconn.Rows) error {
	e, m, nodes := r.e, r.m, r.nodes
	if err := rows.Scan(r.keyDest...); err != nil {
		return fmt.Errorf("em: load %s: %w", m.Name, err)
	}
	r.news, r.fixups = r.news[:0], r.fixups[:0]
nodes:
	for i, n := range nodes {
		r.cur[i] = nil
		if i > 0 && r.cur[r.parentOf[i]] == nil {
			continue
		}
		pkv := r.holders[i].v
		if pkv == nil {
			continue // no related row (LEFT JOIN)
		}
		k, ok := keyFromValue(n.meta.PK, pkv)
		if !ok {
			return fmt.Errorf("em: load %s: key %v (%T)", n.meta.Name, pkv, pkv)
		}
		if en := e.lookup(n.meta, k); en != nil {
			r.cur[i] = en.ptr
			continue
		}
		for _, f := range r.news {
			if nodes[f.node].meta == n.meta && f.key == k {
				r.cur[i] = f.pair // the same entity twice in one row
				continue nodes
			}
		}
		pair := reflect.New(n.meta.pair).UnsafePointer()
		for j, f := range n.meta.Fields {
			r.dest[n.first+j], r.fixups = scanDest(f, pair, r.fixups)
		}
		r.news = append(r.news, joinedFresh{node: i, key: k, pair: pair})
		r.cur[i] = pair
	}
	if len(r.news) > 0 {
		if err := rows.Scan(r.dest...); err != nil {
			return fmt.Errorf("em: load %s: %w", m.Name, err)
		}
		for _, fx := range r.fixups {
			if err := fx(); err != nil {
				return fmt.Errorf("em: load %s: %w", m.Name, err)
			}
		}
		for _, f := range r.news {
			n := nodes[f.node]
			for j := range n.meta.Fields {
				r.dest[n.first+j] = sink{}
			}
			e.registerLoaded(n.meta, reflect.NewAt(n.meta.Type, f.pair).Interface(), f.pair, n.meta.Fields, false)
		}
	}
	r.link()
	return nil
}

// link sets, for the row read last, each node's entity into its parent:
// the reference, or an item of the collection (and, for a one-to-many, the
// item's reference back), and notes the parents whose collection it fills.
func (r *joinedReader) link() {
	nodes := r.nodes
	for i, n := range nodes[1:] {
		p, parent := r.cur[i+1], r.cur[r.parentOf[i+1]]
		if p == nil {
			continue
		}
		if n.ref != nil {
			h := (*refHeader)(n.ref.ptr(parent))
			h.entity, h.id = p, nil
			continue
		}
		h := (*collHeader)(unsafe.Add(parent, n.rel.offset))
		if !h.initialized && !slices.Contains(h.items, p) && !slices.Contains(h.removed, p) {
			h.items = append(h.items, p)
		}
		if n.rel.Kind == OneToMany {
			if rh := (*refHeader)(n.rel.MappedBy.ptr(p)); rh.entity == nil {
				rh.entity, rh.id = parent, nil // the inverse side holds the owner too
			}
		}
	}
	for i, n := range nodes[1:] {
		if n.rel != nil {
			if parent := r.cur[r.parentOf[i+1]]; parent != nil && !slices.Contains(r.owners[n], parent) {
				r.owners[n] = append(r.owners[n], parent)
			}
		}
	}
}

// complete marks every collection read as initialized, the empty ones too:
// once all rows are read, each is whole.
func (r *joinedReader) complete() {
	for n, list := range r.owners {
		for _, parent := range list {
			h := (*collHeader)(unsafe.Add(parent, n.rel.offset))
			h.initialized = true
		}
	}
}

// orderItem orders by expression e with the direction words in rest.
func orderItem(e qb.Expr, rest string) qb.Order {
	rest = strings.ToUpper(strings.TrimSpace(rest))
	o := qb.Asc(e)
	if strings.HasPrefix(rest, "DESC") {
		o = qb.Desc(e)
	}
	switch {
	case strings.HasSuffix(rest, "NULLS FIRST"):
		o = o.NullsFirst()
	case strings.HasSuffix(rest, "NULLS LAST"):
		o = o.NullsLast()
	}
	return o
}

// sink is a Scan destination that keeps nothing and converts nothing.
type sink struct{}

func (sink) Scan(any) error { return nil }
