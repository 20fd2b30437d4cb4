package em

import (
	"bytes"
	"database/sql/driver"
	"reflect"
	"time"
	"unsafe"
)

func eqOf[T comparable](a, b unsafe.Pointer) bool { return *(*T)(a) == *(*T)(b) }

// scalarEq returns a comparator for a type whose memory is one of the basic
// kinds (named types such as `type Status string` included).
func scalarEq(t reflect.Type) func(a, b unsafe.Pointer) bool {
	switch t.Kind() {
	case reflect.Bool:
		return eqOf[bool]
	case reflect.Int:
		return eqOf[int]
	case reflect.Int8:
		return eqOf[int8]
	case reflect.Int16:
		return eqOf[int16]
	case reflect.Int32:
		return eqOf[int32]
	case reflect.Int64:
		return eqOf[int64]
	case reflect.Uint:
		return eqOf[uint]
	case reflect.Uint8:
		return eqOf[uint8]
	case reflect.Uint16:
		return eqOf[uint16]
	case reflect.Uint32:
		return eqOf[uint32]
	case reflect.Uint64:
		return eqOf[uint64]
	case reflect.Float32:
		return eqOf[float32]
	case reflect.Float64:
		return eqOf[float64]
	case reflect.String:
		return eqOf[string]
	}
	if t == timeType {
		return func(a, b unsafe.Pointer) bool { return (*time.Time)(a).Equal(*(*time.Time)(b)) }
	}
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
		return func(a, b unsafe.Pointer) bool {
			x, y := *(*[]byte)(a), *(*[]byte)(b)
			return bytes.Equal(x, y) && (x == nil) == (y == nil)
		}
	}
	return nil
}

// comparatorFor returns how to compare two values of type t in place, and how
// to deep-copy one into a snapshot when a plain memory copy would share data
// with the entity (pointers, byte slices). JSON fields are compared through
// their JSON text instead (nil, nil).
func comparatorFor(t reflect.Type, isJSON bool) (eq func(a, b unsafe.Pointer) bool, deep func(dst, src unsafe.Pointer)) {
	if isJSON {
		return nil, nil
	}
	if e := scalarEq(t); e != nil {
		if t.Kind() == reflect.Slice {
			return e, func(dst, src unsafe.Pointer) {
				if s := *(*[]byte)(src); s != nil {
					*(*[]byte)(dst) = bytes.Clone(s)
				}
			}
		}
		return e, nil
	}
	if t.Kind() == reflect.Pointer {
		elemEq, _ := comparatorFor(t.Elem(), false)
		elem := t.Elem()
		return func(a, b unsafe.Pointer) bool {
				pa, pb := *(*unsafe.Pointer)(a), *(*unsafe.Pointer)(b)
				if pa == nil || pb == nil {
					return pa == pb
				}
				return elemEq(pa, pb)
			}, func(dst, src unsafe.Pointer) {
				p := *(*unsafe.Pointer)(src)
				if p == nil {
					return
				}
				c := reflect.New(elem)
				c.Elem().Set(reflect.NewAt(elem, p).Elem())
				*(*unsafe.Pointer)(dst) = c.UnsafePointer()
			}
	}
	// Scanner/Valuer types: compare in place when the type is comparable,
	// otherwise through the driver values they produce.
	if t.Comparable() && !hasReferences(t) {
		return func(a, b unsafe.Pointer) bool {
			return reflect.NewAt(t, a).Elem().Equal(reflect.NewAt(t, b).Elem())
		}, nil
	}
	return func(a, b unsafe.Pointer) bool {
			va, ea := driverValue(reflect.NewAt(t, a).Elem())
			vb, eb := driverValue(reflect.NewAt(t, b).Elem())
			return ea == nil && eb == nil && reflect.DeepEqual(va, vb)
		}, func(dst, src unsafe.Pointer) {
			// Round trip through the driver value: a copy that shares nothing.
			v, err := driverValue(reflect.NewAt(t, src).Elem())
			if err != nil {
				return
			}
			_ = assignValue(reflect.NewAt(t, dst).Elem(), v)
		}
}

// hasReferences reports whether values of t may share memory when copied.
func hasReferences(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface, reflect.Func, reflect.Chan:
		return true
	case reflect.Struct:
		for i := range t.NumField() {
			if hasReferences(t.Field(i).Type) {
				return true
			}
		}
	case reflect.Array:
		return hasReferences(t.Elem())
	}
	return false
}

func driverValue(v reflect.Value) (driver.Value, error) {
	if vl, ok := v.Interface().(driver.Valuer); ok {
		return vl.Value()
	}
	if v.CanAddr() {
		if vl, ok := v.Addr().Interface().(driver.Valuer); ok {
			return vl.Value()
		}
	}
	return v.Interface(), nil
}

func addrOf[T any](p unsafe.Pointer) any { return (*T)(p) }

// addrFunc returns a function that types a field's address for Scan without
// reflection, for the common exact types; nil for the rest (named types keep
// their own type, so that their Scan methods and conversions still apply).
func addrFunc(t reflect.Type) func(unsafe.Pointer) any {
	switch t {
	case reflect.TypeFor[string]():
		return addrOf[string]
	case reflect.TypeFor[int]():
		return addrOf[int]
	case reflect.TypeFor[int64]():
		return addrOf[int64]
	case reflect.TypeFor[int32]():
		return addrOf[int32]
	case reflect.TypeFor[bool]():
		return addrOf[bool]
	case reflect.TypeFor[float64]():
		return addrOf[float64]
	case timeType:
		return addrOf[time.Time]
	case reflect.TypeFor[*string]():
		return addrOf[*string]
	case reflect.TypeFor[*int64]():
		return addrOf[*int64]
	case reflect.TypeFor[*int]():
		return addrOf[*int]
	case reflect.TypeFor[*time.Time]():
		return addrOf[*time.Time]
	}
	return nil
}

func valueOf[T any](p unsafe.Pointer) any { return *(*T)(p) }

// getFunc returns a function that reads a field's value as an interface
// without reflection, for the exact types addrFunc knows; nil for the rest.
func getFunc(t reflect.Type) func(unsafe.Pointer) any {
	switch t {
	case reflect.TypeFor[string]():
		return valueOf[string]
	case reflect.TypeFor[int]():
		return valueOf[int]
	case reflect.TypeFor[int64]():
		return valueOf[int64]
	case reflect.TypeFor[int32]():
		return valueOf[int32]
	case reflect.TypeFor[bool]():
		return valueOf[bool]
	case reflect.TypeFor[float64]():
		return valueOf[float64]
	case timeType:
		return valueOf[time.Time]
	}
	return nil
}
