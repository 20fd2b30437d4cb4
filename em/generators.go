package em

import (
	"fmt"
	"slices"
	"time"
)

// The value generators (orm:"onCreate=…", "onUpdate=…") and the version
// field: what they are for an ORM, and how a flush applies them.

// generators returns the value generators of an ORM on a store that keeps
// times to precision: the built-in "now", the current UTC time truncated to
// precision so that the value in memory after a flush equals the one read
// back, and custom (Config.Generators), which may replace it. It returns an
// error naming a nil generator of custom.
func generators(custom map[string]func() any, precision time.Duration) (map[string]func() any, error) {
	gens := map[string]func() any{"now": func() any { return time.Now().UTC().Truncate(precision) }}
	for k, g := range custom {
		if g == nil {
			return nil, fmt.Errorf("em: generator %q is nil", k)
		}
		gens[k] = g
	}
	return gens, nil
}

// applyGenerators sets onCreate values (when the field is empty) and version
// 1 on inserts, and onUpdate values and the next version on updates.
func (e *EntityManager) applyGenerators(p *plan, tx *txState) {
	for m, list := range p.inserts {
		for _, f := range m.Fields {
			if f.Def.OnCreate == "" && !f.Def.Version {
				continue
			}
			for _, en := range list {
				if !f.isZero(f.ptr(en.ptr)) {
					continue
				}
				tx.zeroed = append(tx.zeroed, zeroRec{en, f})
				if f.Def.Version {
					_ = assignValue(f.value(en.ptr), 1)
				} else {
					_ = assignValue(f.value(en.ptr), e.orm.gens[f.Def.OnCreate]())
				}
			}
		}
	}
	for i := range p.updates {
		u := &p.updates[i]
		m := u.en.meta
		for _, f := range m.Fields {
			switch {
			case f.Def.OnUpdate != "":
				_ = assignValue(f.value(u.en.ptr), e.orm.gens[f.Def.OnUpdate]())
			case f.Def.Version:
				v := f.value(u.en.ptr)
				if isInteger(v.Type()) {
					if v.CanInt() {
						v.SetInt(v.Int() + 1)
					} else {
						v.SetUint(v.Uint() + 1)
					}
				}
			default:
				continue
			}
			if !slices.Contains(u.fields, f) {
				u.fields = append(u.fields, f)
			}
		}
		slices.SortFunc(u.fields, func(a, b *FieldMeta) int { return fieldPos(m, a) - fieldPos(m, b) })
	}
}
