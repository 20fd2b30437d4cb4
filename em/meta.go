package em

import (
	"database/sql"
	"database/sql/driver"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// FieldDef declares how one struct field is mapped. The orm struct tag and the
// programmatic [Schema] both produce FieldDefs, and one function turns them
// into metadata, so both paths give identical results.
type FieldDef struct {
	Column     string // column (or document field) name; "" uses the naming strategy
	PrimaryKey bool
	// Generation of a primary key: GenerateAuto (the default: auto-increment
	// for integers, none otherwise), GenerateUUID (a random UUID set at Persist
	// when the field is empty) or GenerateNone (the application assigns it).
	Generation Generation
	Unique     string // "" no; "-" its own unique index; a name groups columns into one composite unique index
	Index      string // as Unique, for a plain index
	Nullable   bool   // NULL allowed; implied by pointer and sql.Null* types
	Default    string // SQL default expression for the schema, written as given
	Length     int    // length of a string column (VARCHAR(n)); 0 uses the default 255
	Type       string // explicit column type, written as given; "json" stores the value as JSON
	Version    bool   // optimistic lock counter (an integer), checked and incremented on update
	OnCreate   string // name of a generator run when the entity is inserted ("now", or one in Config.Generators)
	OnUpdate   string // name of a generator run when the entity is updated
	Transient  bool   // not persisted
	Hidden     bool   // left out of ORM.MarshalEntity
	References string // name of the entity whose primary key this column holds (a foreign key)
	OnDelete   string // referential action of that foreign key: "cascade", "set null", "restrict"
	// MappedBy names, on a Collection field, the reference property of the
	// item type that points back to this entity (one-to-many).
	MappedBy      string
	OrphanRemoval bool // on a Collection: removing an item deletes it
	ManyToMany    bool // on a Collection without mappedBy: the owning side of a many-to-many
	// InversedBy names, on the owning side of a many-to-many, the inverse
	// collection of the item type (declared there with mappedBy); it is
	// checked at Open and implies ManyToMany.
	InversedBy    string
	CascadeRemove bool   // on a Ref or Collection: Remove takes the related entities along
	Pivot         string // the pivot table of an owning many-to-many ("" uses <table>_<property>)
	// JoinColumn and InverseJoinColumn name the pivot's columns holding the
	// owner's and the item's keys ("" uses <table>_<key column> of each).
	JoinColumn, InverseJoinColumn string
}

// Generation says how a primary key gets its value.
type Generation uint8

// Generation strategies.
const (
	GenerateAuto Generation = iota
	GenerateUUID
	GenerateNone
)

// EntityMeta is the mapping of one entity type, built once at Open and
// read-only afterwards. Drivers (the SQL one in this package, the MongoDB one in
// the mongo module) read it; users rarely need it.
type EntityMeta struct {
	Name    string       // Go type name
	Type    reflect.Type // the struct type
	Table   string       // table or collection
	Fields  []*FieldMeta // persisted fields, in declaration order
	PK      *FieldMeta
	Version *FieldMeta // nil when the entity has no version field
	Indexes []IndexMeta
	// Relations are the one-to-many collections of the entity (not columns).
	Relations []*RelationMeta

	props        map[string]*FieldMeta // by property name and Go field name
	columns      map[string]*FieldMeta
	hooks        hookMask
	jsonN        int  // number of JSON fields (snapshot slots)
	flat         bool // a snapshot is a byte-for-byte copy: no pointers to deep-copy, no JSON
	hasRefs      bool // has em.Ref fields
	selfRef      bool // has a reference to its own type (a tree)
	hasOwningM2M bool // has owning many-to-many collections
	// tracking is the type's own change tracking policy (a ChangeTracking
	// method or Schema.ChangeTracking), when trackingSet; explicit is the
	// policy in force, set at Open from it or Config.ChangeTracking.
	tracking    ChangeTracking
	trackingSet bool
	explicit    bool
	// Inverses are the inverse sides of one-to-one relations: em.Ref fields
	// with mappedBy, loaded through the other entity's foreign key.
	Inverses []*RelationMeta
	size     uintptr
	// pair is struct{ E, S T; N entry }: a loaded entity, its snapshot and
	// its unit-of-work record in one allocation, side by side in memory;
	// snapOff and entryOff are the offsets of S and N.
	byPKSQL string // SELECT of every column by primary key, LIMIT 1; built at Open
	// columnList is the column of every field, boxed once for qb.Select
	// (set at Open; qb copies it).
	columnList []any
	// fresh is struct{ S T; N entry }: the record of a persisted entity and
	// room for its first snapshot in one allocation.
	fresh         reflect.Type
	freshEntryOff uintptr
	pair          reflect.Type
	snapOff       uintptr
	entryOff      uintptr
	ptrType       reflect.Type // *Type, what FieldMeta's accessors take
}

// IndexMeta is a unique or plain index over one or more columns.
type IndexMeta struct {
	Name    string
	Columns []string
	Unique  bool
}

// FieldMeta is the mapping of one persisted field.
type FieldMeta struct {
	Name       string       // Go field name
	Property   string       // name in filters and order: Go name with a lowered first letter
	Column     string       // column or document field name
	Type       reflect.Type // Go type of the field
	PrimaryKey bool
	AutoIncr   bool // database-generated integer key
	UUID       bool // generated UUID string key
	Nullable   bool
	JSON       bool // stored as JSON text
	Def        FieldDef
	Ref        *EntityMeta // the referenced entity, for a foreign key

	owner   *EntityMeta
	isRef   bool         // an em.Ref[T] field: many-to-one
	refType reflect.Type // T of that Ref

	index    []int
	offset   uintptr
	eq       func(a, b unsafe.Pointer) bool // nil for JSON fields
	deep     func(dst, src unsafe.Pointer)  // deep copy of reference-typed values; nil when a plain copy suffices
	jsonIdx  int
	isZero   func(p unsafe.Pointer) bool
	addr     func(p unsafe.Pointer) any // typed address for Scan; nil: through reflection
	scanType reflect.Type               // what a nullable plain field scans as, when not Type (sqliteTime)
	get      func(p unsafe.Pointer) any // the value, boxed; nil: through reflection
	keyKind  uint8                      // how keyOf reads a primary key: keyInt64, keyInt, keyString, or by reflection
	scanKind uint8                      // how the field is scanned: scanDirect, scanRef, …; set by buildRegistry
}

// Property returns the field for a property name (or Go field name), or nil
// (also for a nil m).
func (m *EntityMeta) Property(name string) *FieldMeta {
	if m == nil {
		return nil
	}
	return m.props[name]
}

// FieldByColumn returns the field stored in column, or nil (also for a nil
// m).
func (m *EntityMeta) FieldByColumn(column string) *FieldMeta {
	if m == nil {
		return nil
	}
	return m.columns[column]
}

// Addr returns a pointer to the field inside entity (a pointer to the
// entity's struct), typed as the field's pointer type, ready for Scan; nil
// when f is nil or entity is not a non-nil pointer to f's entity.
func (f *FieldMeta) Addr(entity any) any {
	p, err := f.in(entity)
	if err != nil {
		return nil
	}
	return reflect.NewAt(f.Type, p).Interface()
}

// Get returns the field's value in entity (a pointer to the struct); nil
// when f is nil or entity is not a non-nil pointer to f's entity.
func (f *FieldMeta) Get(entity any) any {
	p, err := f.in(entity)
	if err != nil {
		return nil
	}
	return reflect.NewAt(f.Type, p).Elem().Interface()
}

// Set stores v into the field of entity, converting between numeric kinds.
// A reference field takes an em.Ref, a pointer to the referenced entity, a
// key, or nil. It returns an error when f is nil, entity is not a non-nil
// pointer to f's entity, or v cannot be stored in the field.
func (f *FieldMeta) Set(entity any, v any) error {
	p, err := f.in(entity)
	if err != nil {
		return err
	}
	if f.isRef {
		err = setRef(f, p, v)
	} else {
		err = assignValue(reflect.NewAt(f.Type, p).Elem(), v)
	}
	if err != nil {
		return fmt.Errorf("em: %s.%s: %w", f.owner.Name, f.Property, err)
	}
	return nil
}

// in returns the address of the field in entity, or an error when f is nil
// or entity is not a non-nil pointer to f's entity (one comparison of
// types: the accessors serve backends' decoding).
func (f *FieldMeta) in(entity any) (unsafe.Pointer, error) {
	if f == nil {
		return nil, errors.New("em: nil *FieldMeta (EntityMeta.Property returns nil for an unknown property)")
	}
	if reflect.TypeOf(entity) != f.owner.ptrType {
		return nil, fmt.Errorf("em: field %s.%s: want a *%s, got %T", f.owner.Name, f.Name, f.owner.Name, entity)
	}
	p := entityPtr(entity)
	if p == nil {
		return nil, fmt.Errorf("em: field %s.%s: nil *%s", f.owner.Name, f.Name, f.owner.Name)
	}
	return f.ptr(p), nil
}

func (f *FieldMeta) ptr(base unsafe.Pointer) unsafe.Pointer { return unsafe.Add(base, f.offset) }

func (f *FieldMeta) value(base unsafe.Pointer) reflect.Value {
	return reflect.NewAt(f.Type, f.ptr(base)).Elem()
}

// entityPtr returns the address of the struct behind a pointer held in an
// interface, without reflection.
func entityPtr(entity any) unsafe.Pointer {
	type iface struct {
		typ, data unsafe.Pointer
	}
	return (*iface)(unsafe.Pointer(&entity)).data
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	bytesType   = reflect.TypeFor[[]byte]()
	scannerType = reflect.TypeFor[sql.Scanner]()
	valuerType  = reflect.TypeFor[driver.Valuer]()
)

// parseTag reads an orm struct tag: comma-separated options, each a word or
// word=value.
// splitOptions splits an orm tag at the commas that are not inside
// parentheses, so that type=numeric(10,2) stays one option.
func splitOptions(tag string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(tag); i++ {
		switch tag[i] {
		case '(':
			depth++
		case ')':
			if depth > 0 {
				depth--
			}
		case ',':
			if depth == 0 {
				out = append(out, tag[start:i])
				start = i + 1
			}
		}
	}
	return append(out, tag[start:])
}

func parseTag(tag string) (FieldDef, error) {
	var d FieldDef
	for _, opt := range splitOptions(tag) {
		opt = strings.TrimSpace(opt)
		if opt == "" {
			continue
		}
		key, val, hasVal := strings.Cut(opt, "=")
		need := func() error {
			if !hasVal || val == "" {
				return fmt.Errorf("option %q needs a value (%s=…)", key, key)
			}
			return nil
		}
		switch key {
		case "pk":
			d.PrimaryKey = true
		case "autoincrement":
			d.Generation = GenerateAuto
		case "uuid":
			d.Generation = GenerateUUID
		case "assigned":
			d.Generation = GenerateNone
		case "unique":
			d.Unique = "-"
			if hasVal {
				d.Unique = val
			}
		case "index":
			d.Index = "-"
			if hasVal {
				d.Index = val
			}
		case "nullable":
			d.Nullable = true
		case "default":
			if err := need(); err != nil {
				return d, err
			}
			d.Default = val
		case "length":
			n, err := strconv.Atoi(val)
			if err != nil || n <= 0 {
				return d, fmt.Errorf("length=%q is not a positive integer", val)
			}
			d.Length = n
		case "type":
			if err := need(); err != nil {
				return d, err
			}
			d.Type = val
		case "version":
			d.Version = true
		case "onCreate":
			if err := need(); err != nil {
				return d, err
			}
			d.OnCreate = val
		case "onUpdate":
			if err := need(); err != nil {
				return d, err
			}
			d.OnUpdate = val
		case "persist":
			switch val {
			case "false":
				d.Transient = true
			case "true":
			default:
				return d, fmt.Errorf("persist=%q must be true or false", val)
			}
		case "hidden":
			d.Hidden = true
		case "mappedBy":
			if err := need(); err != nil {
				return d, err
			}
			d.MappedBy = val
		case "orphanRemoval":
			d.OrphanRemoval = true
		case "manyToMany":
			d.ManyToMany = true
		case "inversedBy":
			if err := need(); err != nil {
				return d, err
			}
			d.InversedBy, d.ManyToMany = val, true
		case "cascade":
			if val != "remove" {
				return d, fmt.Errorf("cascade=%q: only cascade=remove is an option (persist always cascades)", val)
			}
			d.CascadeRemove = true
		case "pivot":
			if err := need(); err != nil {
				return d, err
			}
			d.Pivot = val
		case "joinColumn":
			if err := need(); err != nil {
				return d, err
			}
			d.JoinColumn = val
		case "inverseJoinColumn":
			if err := need(); err != nil {
				return d, err
			}
			d.InverseJoinColumn = val
		case "ref":
			if err := need(); err != nil {
				return d, err
			}
			d.References = val
		case "onDelete":
			switch strings.ToLower(val) {
			case "cascade", "set null", "restrict", "no action":
				d.OnDelete = strings.ToLower(val)
			default:
				return d, fmt.Errorf("onDelete=%q must be cascade, set null, restrict or no action", val)
			}
		default:
			return d, fmt.Errorf("unknown option %q", key)
		}
	}
	return d, nil
}

// registry holds the metadata of every entity of an ORM.
type registry struct {
	byType map[reflect.Type]*EntityMeta
	byName map[string]*EntityMeta
	order  []*EntityMeta // registration order
	// commit is the order a flush writes in: referenced entities first
	// (topoOrder), computed once here rather than on every flush.
	commit []*EntityMeta
}

// buildRegistry computes and validates the metadata of every entity: each
// type's own (buildMeta), then what joins them (references, collections,
// inverse sides), then the commit order. An error is a *MetadataError.
func buildRegistry(entities []any, schemas []*Schema, naming NamingStrategy, gens map[string]func() any) (*registry, error) {
	r := &registry{byType: map[reflect.Type]*EntityMeta{}, byName: map[string]*EntityMeta{}}
	defs := map[reflect.Type]*Schema{}
	for _, s := range schemas {
		if s == nil || s.typ == nil {
			return nil, &MetadataError{Entity: "?", Reason: "nil schema"}
		}
		if s.err != nil {
			return nil, s.err
		}
		defs[s.typ] = s
		entities = append(entities, reflect.New(s.typ).Interface())
	}
	for _, e := range entities {
		t := reflect.TypeOf(e)
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == nil || t.Kind() != reflect.Struct {
			return nil, &MetadataError{Entity: fmt.Sprint(reflect.TypeOf(e)), Reason: "an entity must be a struct (pass a value or a pointer to one)"}
		}
		if _, dup := r.byType[t]; dup {
			continue
		}
		m, err := buildMeta(t, defs[t], naming, gens)
		if err != nil {
			return nil, err
		}
		if other, dup := r.byName[m.Name]; dup {
			return nil, &MetadataError{Entity: m.Name, Reason: fmt.Sprintf("two entity types named %s (%s and %s)", m.Name, other.Type.PkgPath(), t.PkgPath())}
		}
		r.byType[t] = m
		r.byName[m.Name] = m
		r.order = append(r.order, m)
	}
	for _, link := range []func() error{r.linkReferences, func() error { return r.linkCollections(naming) }, r.linkInverses} {
		if err := link(); err != nil {
			return nil, err
		}
	}
	for _, m := range r.order {
		for _, f := range m.Fields {
			f.scanKind = scanKindOf(f)
		}
	}
	registerMetas(r.order)
	r.commit = topoOrder(r.order)
	return r, nil
}

// linkReferences resolves every reference field (em.Ref and orm:"ref=…")
// to the entity it references, and refuses two entities on one table.
func (r *registry) linkReferences() error {
	tables := map[string]*EntityMeta{}
	for _, m := range r.order {
		if other, dup := tables[m.Table]; dup {
			return &MetadataError{Entity: m.Name, Reason: fmt.Sprintf("table %q is also the table of %s", m.Table, other.Name)}
		}
		tables[m.Table] = m
		for _, f := range m.Fields {
			if f.isRef {
				ref, ok := r.byType[f.refType]
				if !ok {
					return &MetadataError{Entity: m.Name, Field: f.Name, Reason: fmt.Sprintf("reference to %s, which is not a registered entity", f.refType)}
				}
				f.Ref = ref
				f.eq = refEq(f)
				m.flat = false
				m.hasRefs = true
				m.selfRef = m.selfRef || ref == m
				continue
			}
			if f.Def.References == "" {
				continue
			}
			ref, ok := r.byName[f.Def.References]
			if !ok {
				return &MetadataError{Entity: m.Name, Field: f.Name, Reason: fmt.Sprintf("ref=%s names no registered entity", f.Def.References)}
			}
			if kindClass(f.Type) != kindClass(ref.PK.Type) {
				return &MetadataError{Entity: m.Name, Field: f.Name, Reason: fmt.Sprintf("type %s cannot hold the primary key of %s (%s)", f.Type, ref.Name, ref.PK.Type)}
			}
			f.Ref = ref
		}
	}
	return nil
}

// linkCollections resolves every collection to its target: the pivot of
// an owning many-to-many, the owning side of an inverse one, the reference
// back of a one-to-many.
func (r *registry) linkCollections(naming NamingStrategy) error {
	for _, m := range r.order {
		for _, rel := range m.Relations {
			target, ok := r.byType[rel.targetType]
			if !ok {
				return &MetadataError{Entity: m.Name, Field: rel.Name, Reason: fmt.Sprintf("collection of %s, which is not a registered entity", rel.targetType)}
			}
			rel.Target = target
			if rel.Owning {
				if rel.Pivot == "" {
					rel.Pivot = m.Table + "_" + naming.ColumnName(rel.Name)
				}
				if rel.JoinColumn == "" {
					rel.JoinColumn = m.Table + "_" + m.PK.Column
				}
				if rel.InverseColumn == "" {
					rel.InverseColumn = target.Table + "_" + target.PK.Column
					if rel.InverseColumn == rel.JoinColumn {
						rel.InverseColumn = "inverse_" + rel.InverseColumn
					}
				}
				if rel.InverseColumn == rel.JoinColumn {
					return &MetadataError{Entity: m.Name, Field: rel.Name, Reason: fmt.Sprintf("the pivot's join columns are both %q", rel.JoinColumn)}
				}
				m.hasOwningM2M = true
				continue
			}
			if inv := relationNamed(target, rel.mappedBy); inv != nil {
				if !inv.Owning || inv.targetType != m.Type {
					return &MetadataError{Entity: m.Name, Field: rel.Name, Reason: fmt.Sprintf("mappedBy=%s: %s.%s must be an owning many-to-many collection of %s (orm:\"manyToMany\")", rel.mappedBy, target.Name, inv.Name, m.Name)}
				}
				if inv.Inverse != nil {
					return &MetadataError{Entity: m.Name, Field: rel.Name, Reason: fmt.Sprintf("%s.%s is already mapped by %s.%s", target.Name, inv.Name, inv.Inverse.Owner.Name, inv.Inverse.Name)}
				}
				rel.Kind, rel.Inverse, inv.Inverse = ManyToMany, inv, rel
				continue
			}
			f := target.props[rel.mappedBy]
			switch {
			case f == nil:
				return &MetadataError{Entity: m.Name, Field: rel.Name, Reason: fmt.Sprintf("mappedBy=%s names no field of %s", rel.mappedBy, target.Name)}
			case !f.isRef || f.Ref != m:
				return &MetadataError{Entity: m.Name, Field: rel.Name, Reason: fmt.Sprintf("mappedBy=%s: %s.%s must be an em.Ref[%s]", rel.mappedBy, target.Name, f.Name, m.Name)}
			}
			rel.MappedBy = f
		}
	}
	return nil
}

// linkInverses checks the inversedBy sides of many-to-manys and resolves
// the inverse sides of one-to-ones.
func (r *registry) linkInverses() error {
	for _, m := range r.order {
		for _, rel := range m.Relations {
			if err := checkInversedBy(m, rel); err != nil {
				return err
			}
		}
		for _, rel := range m.Inverses {
			target, ok := r.byType[rel.targetType]
			if !ok {
				return &MetadataError{Entity: m.Name, Field: rel.Name, Reason: fmt.Sprintf("reference to %s, which is not a registered entity", rel.targetType)}
			}
			f := target.props[rel.mappedBy]
			switch {
			case f == nil:
				return &MetadataError{Entity: m.Name, Field: rel.Name, Reason: fmt.Sprintf("mappedBy=%s names no field of %s", rel.mappedBy, target.Name)}
			case !f.isRef || f.Ref != m:
				return &MetadataError{Entity: m.Name, Field: rel.Name, Reason: fmt.Sprintf("mappedBy=%s: %s.%s must be an em.Ref[%s] (the owning side, holding the foreign key)", rel.mappedBy, target.Name, f.Name, m.Name)}
			}
			rel.Target, rel.MappedBy = target, f
			m.hasRefs, m.flat = true, false
		}
	}
	return nil
}

// checkInversedBy checks the owning side of a many-to-many that names its
// inverse: the inverse must exist and be mapped by this side, and the two
// sides must not both claim ownership.
func checkInversedBy(m *EntityMeta, rel *RelationMeta) error {
	if !rel.Owning || rel.inversedBy == "" {
		return nil
	}
	t := rel.Target
	inv := relationNamed(t, rel.inversedBy)
	switch {
	case inv == nil:
		return &MetadataError{Entity: m.Name, Field: rel.Name, Reason: fmt.Sprintf("inversedBy=%s names no collection of %s", rel.inversedBy, t.Name)}
	case inv.Owning:
		return &MetadataError{Entity: m.Name, Field: rel.Name, Reason: fmt.Sprintf("both sides claim ownership: %s.%s and %s.%s are both owning many-to-many collections; keep one owning and declare the other orm:\"mappedBy=%s\"", m.Name, rel.Name, t.Name, inv.Name, rel.Property)}
	case inv.Inverse != rel:
		return &MetadataError{Entity: m.Name, Field: rel.Name, Reason: fmt.Sprintf("inversedBy=%s: %s.%s is not mappedBy=%s", rel.inversedBy, t.Name, inv.Name, rel.Property)}
	}
	return nil
}

// isTextKey reports whether t is a key type known by its text form: a
// non-pointer, non-string, non-integer type with MarshalText and (on its
// pointer) UnmarshalText, such as bson.ObjectID. Its identity-map key is
// the text.
func isTextKey(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Array, reflect.Struct:
	default:
		return false
	}
	return t.Implements(textMarshalerType) && reflect.PointerTo(t).Implements(textUnmarshalerType)
}

var (
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// isByteSlice reports whether t is []byte or a named type of it
// (json.RawMessage): a nil one is NULL.
func isByteSlice(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8
}

// kindClass groups types that can hold each other's values (all integers, all
// strings) for foreign-key checks.
func kindClass(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if isTextKey(t) {
		return "text"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "int"
	case reflect.String:
		return "string"
	}
	return t.String()
}

// buildMeta computes the metadata of the entity type t, mapped by its
// struct tags or by the programmatic schema s: its table and change
// tracking, its fields and relations, keys, indexes, and the memory layout
// the unit of work keeps it in. Each step is a function below; an error is
// a *MetadataError naming the entity and field.
func buildMeta(t reflect.Type, s *Schema, naming NamingStrategy, gens map[string]func() any) (*EntityMeta, error) {
	m := &EntityMeta{Name: t.Name(), Type: t, ptrType: reflect.PointerTo(t), props: map[string]*FieldMeta{}, columns: map[string]*FieldMeta{}}
	if m.Name == "" {
		return nil, &MetadataError{Entity: t.String(), Reason: "an entity must be a named struct type"}
	}
	b := metaBuilder{m: m, s: s, naming: naming, gens: gens}
	for _, step := range []func() error{b.table, b.tracking, func() error { return b.walk(t, nil, 0) }, b.schemaFields, b.keys, b.indexes} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	b.layout()
	return m, nil
}

// metaBuilder holds what buildMeta's steps share.
type metaBuilder struct {
	m      *EntityMeta
	s      *Schema // nil when the struct tags map the entity
	naming NamingStrategy
	gens   map[string]func() any
}

func (b *metaBuilder) fail(field, format string, args ...any) error {
	return metadataError(b.m.Name, field, format, args...)
}

// table sets the table: the schema's, a TableName method's, or the naming
// strategy's.
func (b *metaBuilder) table() error {
	m := b.m
	switch {
	case b.s != nil && b.s.table != "":
		m.Table = b.s.table
	default:
		if tn, ok := reflect.New(m.Type).Interface().(interface{ TableName() string }); ok {
			m.Table = tn.TableName()
		} else {
			m.Table = b.naming.TableName(m.Name)
		}
	}
	if m.Table == "" {
		return b.fail("", "empty table name")
	}
	return nil
}

// tracking sets the change-tracking policy of the schema or of a
// ChangeTracking method, if either has one.
func (b *metaBuilder) tracking() error {
	m := b.m
	switch {
	case b.s != nil && b.s.trackingSet:
		m.tracking, m.trackingSet = b.s.tracking, true
	default:
		if ct, ok := reflect.New(m.Type).Interface().(interface{ ChangeTracking() ChangeTracking }); ok {
			m.tracking, m.trackingSet = ct.ChangeTracking(), true
		}
	}
	if m.trackingSet && m.tracking > ChangeTrackingExplicit {
		return b.fail("", "ChangeTracking %d is not a ChangeTracking policy", m.tracking)
	}
	return nil
}

// walk maps the fields of struct type t, found at index and offset in the
// entity (embedded structs are walked into).
func (b *metaBuilder) walk(t reflect.Type, index []int, offset uintptr) error {
	for i := range t.NumField() {
		sf := t.Field(i)
		idx := append(slices.Clone(index), i)
		if sf.Anonymous && sf.Type.Kind() == reflect.Struct && sf.Tag.Get("db") == "" && sf.Type != timeType &&
			!reflect.PointerTo(sf.Type).Implements(scannerType) {
			if err := b.walk(sf.Type, idx, offset+sf.Offset); err != nil {
				return err
			}
			continue
		}
		if sf.Anonymous && sf.Type.Kind() == reflect.Pointer {
			if sf.Tag.Get("db") == "-" || sf.Tag.Get("orm") == "persist=false" {
				continue
			}
			return b.fail(sf.Name, "embedded pointers are not supported; embed the struct by value")
		}
		if !sf.IsExported() {
			continue
		}
		var err error
		if sf.Type.Implements(collFieldType) {
			err = b.collection(sf, offset)
		} else {
			err = b.field(sf, idx, offset)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// collection maps a Collection field: a one-to-many (mappedBy) or a
// many-to-many.
func (b *metaBuilder) collection(sf reflect.StructField, offset uintptr) error {
	m := b.m
	var def FieldDef
	if b.s != nil {
		fd, ok := b.s.fields[sf.Name]
		if !ok {
			return nil
		}
		def = fd
	} else {
		var err error
		if def, err = parseTag(sf.Tag.Get("orm")); err != nil {
			return b.fail(sf.Name, "orm tag: %w", err)
		}
	}
	if def.MappedBy == "" && !def.ManyToMany && def.InversedBy == "" {
		return b.fail(sf.Name, "a Collection needs orm:\"mappedBy=…\" naming the reference back to %s, or orm:\"manyToMany\"", m.Name)
	}
	if def.MappedBy != "" && def.InversedBy != "" {
		return b.fail(sf.Name, "mappedBy and inversedBy on one collection: the owning side of a many-to-many says inversedBy, the inverse side mappedBy")
	}
	rel := &RelationMeta{Name: sf.Name, Property: propertyName(sf.Name), Owner: m, OrphanRemoval: def.OrphanRemoval, CascadeRemove: def.CascadeRemove,
		mappedBy: def.MappedBy, inversedBy: def.InversedBy, targetType: reflect.New(sf.Type).Elem().Interface().(collField).collTarget(), offset: offset + sf.Offset}
	if def.MappedBy == "" {
		rel.Kind, rel.Owning, rel.Pivot = ManyToMany, true, def.Pivot
		rel.JoinColumn, rel.InverseColumn = def.JoinColumn, def.InverseJoinColumn
	}
	m.Relations = append(m.Relations, rel)
	return nil
}

// field maps a field that is not a collection: a column, or the inverse
// side of a one-to-one (no column).
func (b *metaBuilder) field(sf reflect.StructField, idx []int, offset uintptr) error {
	m := b.m
	dbTag := sf.Tag.Get("db")
	if dbTag == "-" {
		return nil
	}
	var def FieldDef
	if b.s != nil {
		fd, ok := b.s.fields[sf.Name]
		if !ok {
			return nil // the schema lists the persisted fields
		}
		def = fd
	} else {
		var err error
		def, err = parseTag(sf.Tag.Get("orm"))
		if err != nil {
			return b.fail(sf.Name, "orm tag: %w", err)
		}
		if dbTag != "" {
			def.Column, _, _ = strings.Cut(dbTag, ",")
		}
	}
	if def.Transient {
		return nil
	}
	if sf.Type.Implements(refFieldType) && def.MappedBy != "" {
		// The inverse side of a one-to-one: no column here.
		m.Inverses = append(m.Inverses, &RelationMeta{Name: sf.Name, Property: propertyName(sf.Name), Kind: OneToOne, Owner: m,
			CascadeRemove: def.CascadeRemove, mappedBy: def.MappedBy, targetType: reflect.New(sf.Type).Elem().Interface().(refField).refTarget(), offset: offset + sf.Offset})
		return nil
	}
	f, err := buildField(m, sf, def, b.naming, b.gens)
	if err != nil {
		return err
	}
	f.index, f.offset = idx, offset+sf.Offset
	if f.Def.OnDelete == "set null" && !f.Nullable {
		return b.fail(sf.Name, "onDelete=set null on a NOT NULL column: make it nullable (orm:\"nullable\" or a pointer type) or choose another action")
	}
	if prev, dup := m.columns[f.Column]; dup {
		return b.fail(sf.Name, "column %q is also the column of field %s", f.Column, prev.Name)
	}
	m.columns[f.Column] = f
	m.props[f.Property] = f
	m.props[f.Name] = f
	m.Fields = append(m.Fields, f)
	return nil
}

// schemaFields refuses a programmatic schema that maps a field the struct
// does not have.
func (b *metaBuilder) schemaFields() error {
	if b.s == nil {
		return nil
	}
	for name := range b.s.fields {
		if b.m.props[name] == nil && !hasRelation(b.m, name) {
			return b.fail(name, "the schema maps a field the struct does not have (or that is unexported)")
		}
	}
	return nil
}

// keys finds the primary key and the version field: one of each at most,
// and a primary key of a type a key can have.
func (b *metaBuilder) keys() error {
	m := b.m
	for _, f := range m.Fields {
		switch {
		case f.PrimaryKey && m.PK != nil:
			return b.fail(f.Name, "a second primary key (the first is %s); composite keys are not supported yet", m.PK.Name)
		case f.PrimaryKey:
			m.PK = f
		}
		if f.Def.Version {
			if m.Version != nil {
				return b.fail(f.Name, "a second version field (the first is %s)", m.Version.Name)
			}
			m.Version = f
		}
	}
	if m.PK == nil {
		return b.fail("", "no primary key: tag one field orm:\"pk\" (or name it ID)")
	}
	switch kindClass(m.PK.Type) {
	case "int", "string", "text":
	default:
		return b.fail(m.PK.Name, "a primary key must be an integer, a string, or a value type with MarshalText and UnmarshalText (bson.ObjectID), not %s", m.PK.Type)
	}
	return nil
}

// indexes collects the unique and plain indexes, in field order; named
// ones group their fields.
func (b *metaBuilder) indexes() error {
	for _, f := range b.m.Fields {
		if f.Def.Unique != "" {
			if err := b.index(f.Def.Unique, f, true); err != nil {
				return err
			}
		}
		if f.Def.Index != "" {
			if err := b.index(f.Def.Index, f, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// index adds f to the index name ("-": one of its own, named after the
// table and column).
func (b *metaBuilder) index(name string, f *FieldMeta, unique bool) error {
	m := b.m
	if name == "-" {
		prefix := "idx"
		if unique {
			prefix = "uq"
		}
		m.Indexes = append(m.Indexes, IndexMeta{Name: prefix + "_" + m.Table + "_" + f.Column, Columns: []string{f.Column}, Unique: unique})
		return nil
	}
	for i := range m.Indexes {
		if m.Indexes[i].Name == name {
			if m.Indexes[i].Unique != unique {
				return b.fail(f.Name, "index name %q is used by both a unique and a plain index; give them different names", name)
			}
			m.Indexes[i].Columns = append(m.Indexes[i].Columns, f.Column)
			return nil
		}
	}
	m.Indexes = append(m.Indexes, IndexMeta{Name: name, Columns: []string{f.Column}, Unique: unique})
	return nil
}

// layout sets the hooks and the memory layout of the unit of work: the
// entity and its snapshot side by side with their entry (pair), or a
// snapshot with its entry for an entity created elsewhere (fresh).
func (b *metaBuilder) layout() {
	m, t := b.m, b.m.Type
	m.hooks = hooksOf(t)
	m.size = t.Size()
	m.pair = reflect.StructOf([]reflect.StructField{{Name: "E", Type: t}, {Name: "S", Type: t}, {Name: "N", Type: reflect.TypeFor[entry]()}})
	m.snapOff, m.entryOff = m.pair.Field(1).Offset, m.pair.Field(2).Offset
	m.fresh = reflect.StructOf([]reflect.StructField{{Name: "S", Type: t}, {Name: "N", Type: reflect.TypeFor[entry]()}})
	m.freshEntryOff = m.fresh.Field(1).Offset
	m.flat = m.jsonN == 0
	for _, f := range m.Fields {
		if f.deep != nil {
			m.flat = false
		}
	}
}

func hasRelation(m *EntityMeta, name string) bool {
	for _, r := range m.Relations {
		if r.Name == name {
			return true
		}
	}
	return false
}

// fieldNamedID lets an untagged field called ID be the primary key.
func buildField(m *EntityMeta, sf reflect.StructField, def FieldDef, naming NamingStrategy, gens map[string]func() any) (*FieldMeta, error) {
	fail := func(format string, args ...any) error {
		return metadataError(m.Name, sf.Name, format, args...)
	}
	if sf.Name == "ID" && !def.PrimaryKey && sf.Tag.Get("orm") == "" && !m.hasTaggedPK() {
		def.PrimaryKey = true
	}
	f := &FieldMeta{Name: sf.Name, Property: propertyName(sf.Name), Type: sf.Type, Def: def, PrimaryKey: def.PrimaryKey, owner: m}
	f.Column = def.Column
	if f.Column == "" {
		f.Column = naming.ColumnName(sf.Name)
	}
	if f.Column == "" {
		return nil, fail("empty column name")
	}
	if sf.Type.Implements(refFieldType) {
		f.isRef = true
		f.refType = reflect.New(sf.Type).Elem().Interface().(refField).refTarget()
		if def.Column == "" && sf.Tag.Get("db") == "" {
			f.Column = naming.ColumnName(sf.Name) + "_id"
		}
		if f.PrimaryKey {
			return nil, fail("a reference cannot be the primary key")
		}
		f.Nullable = def.Nullable
		f.isZero = func(p unsafe.Pointer) bool { h := (*refHeader)(p); return h.id == nil && h.entity == nil }
		return f, nil
	}
	f.JSON = strings.EqualFold(def.Type, "json") || strings.EqualFold(def.Type, "jsonb")
	if !f.JSON && !(def.PrimaryKey && isTextKey(sf.Type)) {
		// (A primary key may be a text key such as bson.ObjectID: stores
		// that know the type keep it, and SQL fails to derive a column.)
		if err := checkType(sf.Type); err != nil {
			return nil, fail("%w", err)
		}
	}
	f.Nullable = def.Nullable || sf.Type.Kind() == reflect.Pointer || isNullType(sf.Type) || isByteSlice(sf.Type) ||
		(f.JSON && (sf.Type.Kind() == reflect.Map || sf.Type.Kind() == reflect.Slice))
	if f.PrimaryKey {
		if sf.Type.Kind() == reflect.Pointer {
			return nil, fail("a primary key cannot be a pointer")
		}
		if def.Nullable {
			return nil, fail("a primary key cannot be nullable")
		}
		f.Nullable = false
		switch def.Generation {
		case GenerateAuto:
			f.AutoIncr = isInteger(sf.Type)
		case GenerateUUID:
			if sf.Type.Kind() != reflect.String {
				return nil, fail("uuid keys must be strings, not %s", sf.Type)
			}
			f.UUID = true
		}
	} else if def.Generation == GenerateUUID {
		return nil, fail("uuid is an option of the primary key")
	}
	if def.Version && !isInteger(sf.Type) {
		return nil, fail("a version field must be an integer, not %s", sf.Type)
	}
	for _, g := range []string{def.OnCreate, def.OnUpdate} {
		if g == "" {
			continue
		}
		gen, ok := gens[g]
		if !ok {
			return nil, fail("unknown generator %q (built in: now; add others in Config.Generators)", g)
		}
		if v := reflect.ValueOf(gen()); !v.IsValid() || !v.Type().AssignableTo(sf.Type) && !v.Type().ConvertibleTo(sf.Type) &&
			!(sf.Type.Kind() == reflect.Pointer && v.Type().AssignableTo(sf.Type.Elem())) {
			return nil, fail("generator %q gives %T, which does not fit %s", g, gen(), sf.Type)
		}
	}
	f.eq, f.deep = comparatorFor(sf.Type, f.JSON)
	f.isZero = func(p unsafe.Pointer) bool { return reflect.NewAt(sf.Type, p).Elem().IsZero() }
	if !f.JSON {
		f.addr, f.get = addrFunc(sf.Type), getFunc(sf.Type)
	}
	switch sf.Type {
	case reflect.TypeFor[int64]():
		f.keyKind = keyInt64
	case reflect.TypeFor[int]():
		f.keyKind = keyInt
	case reflect.TypeFor[string]():
		f.keyKind = keyString
	}
	if f.JSON {
		f.jsonIdx = m.jsonN
		m.jsonN++
	}
	return f, nil
}

func (m *EntityMeta) hasTaggedPK() bool {
	for i := range m.Type.NumField() {
		if def, err := parseTag(m.Type.Field(i).Tag.Get("orm")); err == nil && def.PrimaryKey {
			return true
		}
	}
	return false
}

func isInteger(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// isNullType reports sql.Null*-like types: a Scanner whose zero value means NULL.
func isNullType(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && strings.HasPrefix(t.Name(), "Null") && reflect.PointerTo(t).Implements(scannerType)
}

// checkType accepts the field types a driver can store directly.
func checkType(t reflect.Type) error {
	if reflect.PointerTo(t).Implements(scannerType) && (t.Implements(valuerType) || reflect.PointerTo(t).Implements(valuerType)) {
		return nil
	}
	base := t
	if base.Kind() == reflect.Pointer {
		base = base.Elem()
		if reflect.PointerTo(base).Implements(scannerType) {
			return nil
		}
	}
	switch base.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.String:
		return nil
	}
	if base == timeType || base == bytesType || (base.Kind() == reflect.Slice && base.Elem().Kind() == reflect.Uint8) {
		return nil
	}
	return fmt.Errorf("unsupported field type %s: use a basic type, time.Time, []byte, a pointer to one, a sql.Scanner, or orm:\"type=json\"", t)
}

// assignValue stores v into dst (settable), converting numeric kinds and
// dereferencing or allocating pointers as needed.
func assignValue(dst reflect.Value, v any) error {
	if v == nil {
		dst.SetZero()
		return nil
	}
	src := reflect.ValueOf(v)
	if src.Type().AssignableTo(dst.Type()) {
		dst.Set(src)
		return nil
	}
	if dst.Kind() == reflect.Pointer {
		p := reflect.New(dst.Type().Elem())
		if err := assignValue(p.Elem(), v); err != nil {
			return err
		}
		dst.Set(p)
		return nil
	}
	if src.Kind() == reflect.Pointer {
		if src.IsNil() {
			dst.SetZero()
			return nil
		}
		return assignValue(dst, src.Elem().Interface())
	}
	if isNumeric(src.Kind()) && isNumeric(dst.Kind()) || src.Type().ConvertibleTo(dst.Type()) && src.Kind() == dst.Kind() {
		dst.Set(src.Convert(dst.Type()))
		return nil
	}
	if sc, ok := dst.Addr().Interface().(sql.Scanner); ok {
		return sc.Scan(v)
	}
	if s, ok := v.(string); ok && dst.Kind() == reflect.Slice && dst.Type().Elem().Kind() == reflect.Uint8 {
		dst.SetBytes([]byte(s))
		return nil
	}
	// Text from a driver (MySQL's text protocol sends every value as text).
	text, isText := v.(string)
	if b, ok := v.([]byte); ok {
		text, isText = string(b), true
	}
	switch k := dst.Kind(); {
	case isText && k == reflect.String:
		dst.SetString(text)
		return nil
	case isText && (k >= reflect.Int && k <= reflect.Int64):
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return fmt.Errorf("cannot assign %q to %s: %w", text, dst.Type(), err)
		}
		dst.SetInt(n)
		return nil
	case isText && (k >= reflect.Uint && k <= reflect.Uint64):
		n, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			return fmt.Errorf("cannot assign %q to %s: %w", text, dst.Type(), err)
		}
		dst.SetUint(n)
		return nil
	case isText && (k == reflect.Float32 || k == reflect.Float64):
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return fmt.Errorf("cannot assign %q to %s: %w", text, dst.Type(), err)
		}
		dst.SetFloat(f)
		return nil
	case k == reflect.Bool:
		switch x := v.(type) {
		case int64:
			dst.SetBool(x != 0)
			return nil
		default:
			if isText {
				b, err := strconv.ParseBool(text)
				if err != nil {
					return fmt.Errorf("cannot assign %q to %s: %w", text, dst.Type(), err)
				}
				dst.SetBool(b)
				return nil
			}
		}
	}
	return fmt.Errorf("cannot assign %T to %s", v, dst.Type())
}

func isNumeric(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// marshalJSON is the JSON spelling of a JSON field, for storage and snapshots.
func marshalJSON(f *FieldMeta, base unsafe.Pointer) ([]byte, error) {
	v := f.value(base)
	if (v.Kind() == reflect.Map || v.Kind() == reflect.Slice || v.Kind() == reflect.Pointer) && v.IsNil() {
		return nil, nil
	}
	return json.Marshal(v.Interface())
}
