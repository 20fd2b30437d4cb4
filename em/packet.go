package em

import (
	"context"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/mikrogo/mikro/qb"
)

// MySQL and MariaDB refuse a statement larger than the server's
// max_allowed_packet (error 1153, or the connection is dropped), whatever
// its number of rows. A multi-row INSERT or UPDATE there is cut by the bytes
// of its values as well as by rows. The limit is read from the server once
// per ORM, at the first write that needs it.

// packetLimited reports whether the dialect caps the size of a statement.
func (o *ORM) packetLimited() bool { return o.dialect == qb.MySQL || o.dialect == qb.MariaDB }

// packetBudget returns how many bytes of values one statement may carry,
// 0 when the database has no such limit. It reads max_allowed_packet on q
// the first time (not logged: it is the ORM's, not the caller's) and
// returns the error of that read.
func (o *ORM) packetBudget(ctx context.Context, q querier) (int, error) {
	if !o.packetLimited() {
		return 0, nil
	}
	n := o.maxPacket.Load()
	if n == 0 {
		rows, err := q.Query(ctx, "SELECT @@max_allowed_packet", nil)
		if err != nil {
			return 0, fmt.Errorf("em: reading the server's max_allowed_packet, which sizes the batches: %w", err)
		}
		if rows.Next() {
			err = rows.Scan(&n)
		}
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = rows.Err()
		}
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("em: reading the server's max_allowed_packet (%d), which sizes the batches: %w", n, err)
		}
		o.maxPacket.Store(n)
	}
	return packetBudgetOf(n), nil
}

// packetBudgetOf keeps an eighth of the packet and 16 KiB for the
// statement's text and the protocol's framing.
func packetBudgetOf(packet int64) int { return int(max(packet-packet/8-16<<10, 1<<10)) }

// argBytes is an upper bound of the bytes value v takes in a statement:
// strings and byte slices by their length, doubled for the escaping of a
// client that interpolates them into the text; anything else a fixed size.
func argBytes(v any) int {
	const overhead = 24
	switch x := v.(type) {
	case string:
		return 2*len(x) + overhead
	case []byte:
		return 2*len(x) + overhead
	case nil, int64, int, bool, float64:
		return overhead
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String, reflect.Slice:
		return 2*rv.Len() + overhead
	case reflect.Pointer:
		if !rv.IsNil() {
			return argBytes(rv.Elem().Interface())
		}
	}
	return overhead
}

// rowBytes is the sum of argBytes of one row's values.
func rowBytes(vals []any) int {
	n := 0
	for _, v := range vals {
		n += argBytes(v)
	}
	return n
}

// fitsOnePacket reports whether the rows of a plan that singleStatement
// would write as one statement without a transaction certainly stay under
// the packet limit, so that no cut by bytes can make two statements of it.
// It is true at once where there is no limit, and for a single row (which a
// cut never splits). JSON fields count as too big to know without encoding
// them: such a batch runs in a transaction.
func (e *EntityManager) fitsOnePacket(p *plan) bool {
	if !e.orm.packetLimited() {
		return true
	}
	packet := e.orm.maxPacket.Load()
	if packet == 0 {
		packet = 1 << 20 // not read yet: the smallest limit a server has
	}
	budget := packetBudgetOf(packet)
	size := 0
	rows := func(m *EntityMeta, list []*entry, fields []*FieldMeta) bool {
		if len(list) < 2 {
			return true
		}
		for _, en := range list {
			for _, f := range fields {
				n, ok := fieldBytes(f, en.ptr)
				if !ok {
					return false
				}
				size += n
			}
		}
		return size <= budget
	}
	for m, list := range p.inserts {
		if !rows(m, list, m.Fields) {
			return false
		}
	}
	if len(p.updates) > 1 {
		list := make([]*entry, len(p.updates))
		for i, u := range p.updates {
			list[i] = u.en
		}
		if !rows(list[0].meta, list, p.updates[0].fields) {
			return false
		}
	}
	return true
}

// fieldBytes is argBytes of field f of the entity at base, read without
// building the value; false for a JSON field.
func fieldBytes(f *FieldMeta, base unsafe.Pointer) (int, bool) {
	if f.JSON {
		return 0, false
	}
	if f.isRef {
		return 24, true
	}
	switch f.Type.Kind() {
	case reflect.String, reflect.Slice, reflect.Pointer:
		return argBytes(f.value(base).Interface()), true
	}
	return 24, true
}
