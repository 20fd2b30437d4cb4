package qb

// Order is one ORDER BY item: made by [Asc] or [Desc], refined by NullsFirst
// or NullsLast. OrderBy also takes strings such as "name", "age DESC" or
// "age DESC NULLS LAST".
type Order struct {
	on    operand
	desc  bool
	nulls int8 // 0 default, 1 first, 2 last
	err   error
}

// Asc orders by column (a name or an Expr) ascending.
func Asc(column any) Order { return Order{on: toOperand(column)} }

// Desc orders by column (a name or an Expr) descending.
func Desc(column any) Order { return Order{on: toOperand(column), desc: true} }

// NullsFirst puts NULLs before other values. Dialects without NULLS FIRST
// (MySQL, MariaDB) get an equivalent extra sort key.
func (o Order) NullsFirst() Order { o.nulls = 1; return o }

// NullsLast puts NULLs after other values.
func (o Order) NullsLast() Order { o.nulls = 2; return o }

// parseOrder reads "col [ASC|DESC] [NULLS FIRST|NULLS LAST]".
func parseOrder(s string) Order {
	o := Order{}
	rest := s
	if r, ok := cutWord(rest, "NULLS FIRST"); ok {
		rest, o.nulls = r, 1
	} else if r, ok := cutWord(rest, "NULLS LAST"); ok {
		rest, o.nulls = r, 2
	}
	if r, ok := cutWord(rest, "DESC"); ok {
		rest, o.desc = r, true
	} else if r, ok := cutWord(rest, "ASC"); ok {
		rest = r
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] == ' ' {
			o.err = invalid("ORDER BY", "%q is not of the form \"column [ASC|DESC] [NULLS FIRST|NULLS LAST]\"", s)
			return o
		}
	}
	o.on = operand{name: rest}
	return o
}

func toOrder(item any) Order {
	switch v := item.(type) {
	case string:
		return parseOrder(v)
	case Order:
		return v
	case Expr:
		return Asc(v)
	}
	return Order{err: invalid("ORDER BY", "an order item must be a string, an Order or an Expr, not %T", item)}
}

func appendOrders(w *writer, orders []Order) {
	for i, o := range orders {
		if i > 0 {
			w.str(", ")
		}
		if o.err != nil {
			w.fail(o.err)
			return
		}
		if o.nulls != 0 && !w.d.Has(FeatureNullsOrder) {
			// MySQL and MariaDB sort NULLs first ascending and last descending;
			// an IS NULL key in front forces the asked order either way.
			o.on.appendTo(w)
			if o.nulls == 1 {
				w.str(" IS NOT NULL, ")
			} else {
				w.str(" IS NULL, ")
			}
		}
		o.on.appendTo(w)
		if o.desc {
			w.str(" DESC")
		}
		if o.nulls != 0 && w.d.Has(FeatureNullsOrder) {
			if o.nulls == 1 {
				w.str(" NULLS FIRST")
			} else {
				w.str(" NULLS LAST")
			}
		}
	}
}
