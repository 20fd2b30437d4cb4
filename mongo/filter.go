package mongo

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/mikrogo/mikro/em"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// compileFilter turns an em filter on m, as the entity manager hands it to
// a backend (properties and operators checked, relation paths resolved to
// key lists), into a BSON filter. Keys are sorted so that the same filter
// always gives the same document. Every user value is placed as a value
// ($eq, $in …), never as a key: a value cannot become an operator or a
// dotted path.
func compileFilter(m *em.EntityMeta, f em.F) (bson.D, error) {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := bson.D{}
	for _, k := range keys {
		v := f[k]
		switch k {
		case "$and", "$or":
			list, ok := v.([]em.F)
			if !ok {
				return nil, &em.FilterError{Entity: m.Name, Property: k, Reason: "needs a list of filters"}
			}
			arr := bson.A{}
			for _, sub := range list {
				d, err := compileFilter(m, sub)
				if err != nil {
					return nil, err
				}
				arr = append(arr, d)
			}
			if len(arr) == 0 {
				if k == "$or" {
					// An empty OR matches nothing, as in SQL.
					arr = append(arr, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{}}}}})
				} else {
					continue
				}
			}
			out = append(out, bson.E{Key: k, Value: arr})
			continue
		case "$not":
			sub, ok := v.(em.F)
			if !ok {
				return nil, &em.FilterError{Entity: m.Name, Property: k, Reason: "needs an em.F"}
			}
			d, err := compileFilter(m, sub)
			if err != nil {
				return nil, err
			}
			out = append(out, bson.E{Key: "$nor", Value: bson.A{d}})
			continue
		}
		fld := m.Property(k)
		if fld == nil {
			return nil, &em.FilterError{Entity: m.Name, Property: k, Reason: "no such property"}
		}
		cond, err := compileValue(m, fld, v)
		if err != nil {
			return nil, err
		}
		out = append(out, bson.E{Key: fieldName(fld), Value: cond})
	}
	return out, nil
}

// compileValue is the condition on one field: an operator map, a list ($in)
// or a value ($eq; nil matches null and missing fields).
func compileValue(m *em.EntityMeta, fld *em.FieldMeta, v any) (any, error) {
	if ops, ok := v.(em.F); ok {
		return compileOps(m, fld, ops)
	}
	if list, ok := valueList(v); ok {
		arr, err := convertList(fld, list)
		if err != nil {
			return nil, err
		}
		return bson.D{{Key: "$in", Value: arr}}, nil
	}
	x, err := toBSON(fld, v)
	if err != nil {
		return nil, &em.FilterError{Entity: m.Name, Property: fld.Property, Reason: err.Error()}
	}
	return bson.D{{Key: "$eq", Value: x}}, nil
}

func compileOps(m *em.EntityMeta, fld *em.FieldMeta, ops em.F) (bson.D, error) {
	names := make([]string, 0, len(ops))
	for k := range ops {
		names = append(names, k)
	}
	slices.Sort(names)
	out := bson.D{}
	bad := func(op, reason string) error {
		return &em.FilterError{Entity: m.Name, Property: fld.Property, Operator: op, Reason: reason}
	}
	for _, op := range names {
		v := ops[op]
		switch op {
		case "$eq", "$ne", "$gt", "$gte", "$lt", "$lte":
			x, err := toBSON(fld, v)
			if err != nil {
				return nil, bad(op, err.Error())
			}
			out = append(out, bson.E{Key: op, Value: x})
		case "$in", "$nin":
			list, ok := valueList(v)
			if !ok {
				return nil, bad(op, "needs a slice of values")
			}
			arr, err := convertList(fld, list)
			if err != nil {
				return nil, bad(op, err.Error())
			}
			out = append(out, bson.E{Key: op, Value: arr})
		case "$like", "$ilike", "$nlike":
			pattern, ok := v.(string)
			if !ok {
				return nil, bad(op, "needs a string pattern")
			}
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
			b, ok := v.(bool)
			if !ok {
				return nil, bad(op, "needs true or false")
			}
			// As in SQL, "exists" is IS NOT NULL: a missing field is NULL.
			if b {
				out = append(out, bson.E{Key: "$ne", Value: nil})
			} else {
				out = append(out, bson.E{Key: "$eq", Value: nil})
			}
		case "$not":
			sub, ok := v.(em.F)
			if !ok {
				return nil, bad(op, "needs an em.F of operators")
			}
			d, err := compileOps(m, fld, sub)
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

// valueList returns v as a list when it is a slice or array (not bytes).
func valueList(v any) ([]any, bool) {
	switch l := v.(type) {
	case []any:
		return l, true
	case []byte, nil:
		return nil, false
	}
	rv := reflect.ValueOf(v)
	if k := rv.Kind(); k != reflect.Slice && k != reflect.Array {
		return nil, false
	}
	if rv.Type() == reflect.TypeFor[bson.ObjectID]() {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
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
