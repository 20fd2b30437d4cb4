package mongo

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/mikrogo/mikro/em"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// compileFilter turns a filter on m, as the entity manager hands it to a
// backend (parsed, checked against the metadata, relation paths resolved to
// key lists: see em.BackendFilter), into a BSON filter; nil matches all.
// Its nodes come sorted, so the same filter always gives the same
// document. Every user value is placed as a value ($eq, $in …), never as a
// key: a value cannot become an operator or a dotted path. What is left to
// fail here is converting a value to BSON (a key that is not an ObjectID).
func compileFilter(m *em.EntityMeta, f *em.BackendFilter) (bson.D, error) {
	out := bson.D{}
	if f == nil {
		return out, nil
	}
	return appendEntries(out, m, f)
}

// appendEntries appends to doc the entries of the document of n: those of
// each of its Subs for an F of several entries, else n's own.
func appendEntries(doc bson.D, m *em.EntityMeta, n *em.BackendFilter) (bson.D, error) {
	if n.Kind != em.FilterAll {
		e, ok, err := entryOf(m, n)
		if err != nil || !ok {
			return doc, err
		}
		return append(doc, e), nil
	}
	start := len(doc)
	for i := range n.Subs {
		var err error
		if doc, err = appendEntries(doc, m, &n.Subs[i]); err != nil {
			return nil, err
		}
	}
	if dup(doc[start:]) {
		// Two entries on one key (a field named twice, or two relation
		// paths resolved to the key): all of them, under $and.
		arr := make(bson.A, 0, len(doc)-start)
		for _, e := range doc[start:] {
			arr = append(arr, bson.D{e})
		}
		doc = append(doc[:start], bson.E{Key: "$and", Value: arr})
	}
	return doc, nil
}

// dup reports whether two entries of doc have the same key.
func dup(doc bson.D) bool {
	for i := 1; i < len(doc); i++ {
		for j := 0; j < i; j++ {
			if doc[i].Key == doc[j].Key {
				return true
			}
		}
	}
	return false
}

// entryOf is the document entry of one node; ok is false for an $and of
// nothing, which adds no condition.
func entryOf(m *em.EntityMeta, n *em.BackendFilter) (bson.E, bool, error) {
	switch n.Kind {
	case em.FilterAnd, em.FilterOr:
		key := "$and"
		if n.Kind == em.FilterOr {
			key = "$or"
		}
		arr := make(bson.A, 0, len(n.Subs))
		for i := range n.Subs {
			d, err := compileFilter(m, &n.Subs[i])
			if err != nil {
				return bson.E{}, false, err
			}
			arr = append(arr, d)
		}
		if len(arr) == 0 {
			if n.Kind == em.FilterAnd {
				return bson.E{}, false, nil
			}
			// An empty OR matches nothing, as in SQL.
			arr = append(arr, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{}}}}})
		}
		return bson.E{Key: key, Value: arr}, true, nil
	case em.FilterNot:
		d, err := compileFilter(m, &n.Subs[0])
		if err != nil {
			return bson.E{}, false, err
		}
		return bson.E{Key: "$nor", Value: bson.A{d}}, true, nil
	case em.FilterField:
		cond, err := compileOps(m, n.Field, n.Ops)
		if err != nil {
			return bson.E{}, false, err
		}
		return bson.E{Key: fieldName(n.Field), Value: cond}, true, nil
	}
	return bson.E{}, false, &em.FilterError{Entity: m.Name, Reason: fmt.Sprintf("a filter node of kind %d is not for a backend", n.Kind)}
}

// compileOps is the condition on one field: its operators, in order ($eq
// of a plain value; nil matches null and missing fields).
func compileOps(m *em.EntityMeta, fld *em.FieldMeta, ops []em.FilterOp) (bson.D, error) {
	out := make(bson.D, 0, len(ops))
	bad := func(op, reason string) error {
		return &em.FilterError{Entity: m.Name, Property: fld.Property, Operator: op, Reason: reason}
	}
	for i := range ops {
		o := &ops[i]
		op, v := o.Op, o.Value
		switch op {
		case "$eq", "$ne", "$gt", "$gte", "$lt", "$lte":
			x, err := toBSON(fld, v)
			if err != nil {
				if o.Plain {
					return nil, &em.FilterError{Entity: m.Name, Property: fld.Property, Reason: err.Error()}
				}
				return nil, bad(op, err.Error())
			}
			out = append(out, bson.E{Key: op, Value: x})
		case "$in", "$nin":
			list, _ := v.([]any)
			arr, err := convertList(fld, list)
			if err != nil {
				if o.Plain {
					return nil, err
				}
				return nil, bad(op, err.Error())
			}
			out = append(out, bson.E{Key: op, Value: arr})
		case "$like", "$ilike", "$nlike":
			pattern, _ := v.(string)
			re := bson.Regex{Pattern: likeToRegex(pattern)}
			if op == "$ilike" {
				re.Options = "i"
			}
			if op == "$nlike" {
				out = append(out, bson.E{Key: "$not", Value: re})
			} else {
				out = append(out, bson.E{Key: "$regex", Value: re.Pattern})
				if re.Options != "" {
					out = append(out, bson.E{Key: "$options", Value: re.Options})
				}
			}
		case "$exists":
			// As in SQL, "exists" is IS NOT NULL: a missing field is NULL.
			if b, _ := v.(bool); b {
				out = append(out, bson.E{Key: "$ne", Value: nil})
			} else {
				out = append(out, bson.E{Key: "$eq", Value: nil})
			}
		case "$not":
			d, err := compileOps(m, fld, o.Not)
			if err != nil {
				return nil, err
			}
			out = append(out, bson.E{Key: "$not", Value: d})
		default:
			return nil, bad(op, "unknown operator")
		}
	}
	return out, nil
}

// likeToRegex turns a SQL LIKE pattern into an anchored regular expression:
// % is any run, _ any one character, everything else literal.
func likeToRegex(pattern string) string {
	var b strings.Builder
	b.WriteString("^")
	for _, r := range pattern {
		switch r {
		case '%':
			b.WriteString("(?s:.*)")
		case '_':
			b.WriteString("(?s:.)")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return b.String()
}

func convertList(fld *em.FieldMeta, list []any) (bson.A, error) {
	arr := make(bson.A, 0, len(list))
	for _, x := range list {
		y, err := toBSON(fld, x)
		if err != nil {
			return nil, err
		}
		arr = append(arr, y)
	}
	return arr, nil
}

// sortOf turns em order items ("title", "price DESC") into a sort document.
func sortOf(m *em.EntityMeta, order []string) (bson.D, error) {
	var out bson.D
	for _, o := range order {
		prop, dir, _ := strings.Cut(strings.TrimSpace(o), " ")
		f := m.Property(prop)
		if f == nil {
			return nil, &em.FilterError{Entity: m.Name, Property: prop, Reason: "no such property (in OrderBy)"}
		}
		d := 1
		switch strings.ToUpper(strings.TrimSpace(dir)) {
		case "", "ASC":
		case "DESC":
			d = -1
		default:
			return nil, &em.FilterError{Entity: m.Name, Property: prop, Reason: fmt.Sprintf("order %q is not ASC or DESC", dir)}
		}
		out = append(out, bson.E{Key: fieldName(f), Value: d})
	}
	return out, nil
}
