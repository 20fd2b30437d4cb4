// Package gen writes entity structs for an existing database: one gofmt-ed
// Go file per table, with db and orm tags, primary keys, unique and plain
// indexes, foreign keys as em.Ref references and, optionally, the inverse
// one-to-many collections. It is the generate-entities command.
//
// What mikro cannot map is skipped with a warning, never a crash: views,
// partitions (the partitioned parent is kept when it can be), tables with a
// composite primary key or none (em keys entities by one column), and
// columns of types without a Go mapping (arrays, tsvector, geometry …).
package gen

import (
	"context"
	"database/sql"
	"fmt"
	"go/format"
	"slices"
	"sort"
	"strings"
	"unicode"

	"ariga.io/atlas/sql/mysql"
	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"
	"ariga.io/atlas/sql/sqlite"

	"github.com/mikrogo/mikro/qb"
)

// Options shape the generated code.
type Options struct {
	Package string // the package name; "entities" by default
	// Inverse adds to each referenced entity a one-to-many collection of
	// the entities that refer to it.
	Inverse bool
	// NullTypes uses sql.NullString and the like for nullable columns
	// instead of pointers.
	NullTypes bool
	// Pivots maps pure pivot tables (two columns, each a foreign key to an
	// entity, together the primary key) as many-to-many collections: owned
	// by the first column's entity, and with Inverse a mappedBy side on the
	// other.
	Pivots bool
}

// Result is the generated code.
type Result struct {
	Files    map[string][]byte // file name → gofmt-ed source
	Warnings []string          // what was skipped, and why
}

// Generate inspects the current schema of db and writes the entities.
func Generate(ctx context.Context, db *sql.DB, d *qb.Dialect, o Options) (*Result, error) {
	if o.Package == "" {
		o.Package = "entities"
	}
	var (
		s   *schema.Schema
		err error
	)
	switch d {
	case qb.Postgres:
		drv, derr := postgres.Open(db)
		if derr != nil {
			return nil, derr
		}
		s, err = drv.InspectSchema(ctx, "", nil)
	case qb.MySQL, qb.MariaDB:
		drv, derr := mysql.Open(db)
		if derr != nil {
			return nil, derr
		}
		s, err = drv.InspectSchema(ctx, "", nil)
	case qb.SQLite:
		drv, derr := sqlite.Open(db)
		if derr != nil {
			return nil, derr
		}
		s, err = drv.InspectSchema(ctx, "", nil)
	default:
		return nil, fmt.Errorf("gen: no inspector for dialect %s", d.Name())
	}
	if err != nil {
		return nil, fmt.Errorf("gen: inspect: %w", err)
	}
	res := &Result{Files: map[string][]byte{}}
	if err := warnUnmapped(ctx, db, d, res); err != nil {
		return nil, err
	}
	partitions := map[string]bool{}
	if d == qb.Postgres {
		if partitions, err = pgPartitions(ctx, db); err != nil {
			return nil, err
		}
	}
	// Which tables become entities.
	ents := map[string]*entity{}
	var names []string
	var pivots []*schema.Table
	for _, t := range s.Tables {
		switch {
		case o.Pivots && isPurePivot(t):
			pivots = append(pivots, t)
			continue
		case partitions[t.Name]:
			res.warn("table %s: a partition of another table, skipped (the partitioned table stands for it)", t.Name)
			continue
		case t.PrimaryKey == nil || len(t.PrimaryKey.Parts) == 0:
			res.warn("table %s: no primary key, skipped (an entity needs one)", t.Name)
			continue
		case len(t.PrimaryKey.Parts) > 1:
			res.warn("table %s: composite primary key (%s), skipped (mikro keys an entity by one column)", t.Name, partNames(t.PrimaryKey))
			continue
		}
		ents[t.Name] = &entity{t: t, name: goName(t.Name)}
		names = append(names, t.Name)
	}
	sort.Strings(names)
	for _, n := range names {
		ents[n].build(ents, d, o, res)
	}
	for _, p := range pivots {
		a, b := p.ForeignKeys[0], p.ForeignKeys[1]
		if a.Columns[0] != p.Columns[0] {
			a, b = b, a // owned by the entity of the first column
		}
		owner, item := ents[a.RefTable.Name], ents[b.RefTable.Name]
		if owner == nil || item == nil {
			res.warn("table %s: a pivot between tables that are not entities, skipped", p.Name)
			continue
		}
		field := plural(item.name)
		owner.imports["github.com/mikrogo/mikro/em"] = true
		owner.fields = append(owner.fields, fmt.Sprintf("%s em.Collection[%s] `orm:\"manyToMany,pivot=%s,joinColumn=%s,inverseJoinColumn=%s\"`",
			field, item.name, p.Name, a.Columns[0].Name, b.Columns[0].Name))
		if o.Inverse && owner != item {
			item.imports["github.com/mikrogo/mikro/em"] = true
			item.fields = append(item.fields, fmt.Sprintf("%s em.Collection[%s] `orm:\"mappedBy=%s\"`", plural(owner.name), owner.name, field))
		}
	}
	if o.Inverse {
		for _, n := range names {
			for _, r := range ents[n].refs {
				target := ents[r.target]
				target.inverse = append(target.inverse, inverse{child: ents[n].name, field: r.field, many: ents[n].refCount(r.target) > 1})
			}
		}
	}
	for _, n := range names {
		src, err := ents[n].source(o)
		if err != nil {
			return nil, err
		}
		res.Files[strings.ToLower(n)+".go"] = src
	}
	res.Files["entities.go"], err = format.Source([]byte(entitiesList(o.Package, names, ents)))
	return res, err
}

func (r *Result) warn(format string, args ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
}

type entity struct {
	t       *schema.Table
	name    string
	fields  []string // lines of the struct
	imports map[string]bool
	refs    []ref
	inverse []inverse
}

type ref struct{ target, field string }

type inverse struct {
	child, field string
	many         bool // the child refers to this entity by several fields
}

func (e *entity) refCount(target string) int {
	n := 0
	for _, r := range e.refs {
		if r.target == target {
			n++
		}
	}
	return n
}

func (e *entity) build(ents map[string]*entity, d *qb.Dialect, o Options, res *Result) {
	e.imports = map[string]bool{}
	pk := e.t.PrimaryKey.Parts[0].C
	fkOf := map[string]*schema.ForeignKey{}
	for _, fk := range e.t.ForeignKeys {
		if len(fk.Columns) == 1 && len(fk.RefColumns) == 1 {
			fkOf[fk.Columns[0].Name] = fk
		}
	}
	// Columns that will be fields: an index over any other one is left out.
	mapped := map[string]bool{}
	for _, c := range e.t.Columns {
		if _, _, _, ok := goType(c, d, o); ok || fkOf[c.Name] != nil {
			mapped[c.Name] = true
		}
	}
	uniques, indexes := map[string][]string{}, map[string][]string{}
	for _, ix := range e.t.Indexes {
		if kind := indexKind(ix); kind != "" {
			res.warn("table %s: %s index %s not mapped (em makes plain and unique indexes)", e.t.Name, kind, ix.Name)
			continue
		}
		partial := false
		for _, p := range ix.Parts {
			if p.C == nil || !mapped[p.C.Name] {
				partial = true
			}
		}
		if partial {
			res.warn("table %s: index %s is over an expression or an unmapped column, not mapped", e.t.Name, ix.Name)
			continue
		}
		for _, p := range ix.Parts {
			if p.C == nil {
				continue
			}
			tag := "index"
			if ix.Unique {
				tag = "unique"
			}
			val := tag
			if len(ix.Parts) > 1 {
				val = tag + "=" + ix.Name
			}
			if ix.Unique {
				uniques[p.C.Name] = append(uniques[p.C.Name], val)
			} else {
				indexes[p.C.Name] = append(indexes[p.C.Name], val)
			}
		}
	}
	used := map[string]bool{}
	for _, c := range e.t.Columns {
		var opts []string
		field := goName(c.Name)
		if c == pk {
			opts = append(opts, "pk")
			if !autoIncrement(c, d) {
				opts = append(opts, "assigned")
			}
		}
		if fk := fkOf[c.Name]; fk != nil && c != pk {
			target := ents[fk.RefTable.Name]
			if target == nil || fk.RefColumns[0] != fk.RefTable.PrimaryKey.Parts[0].C {
				res.warn("table %s: foreign key %s to %s is not to an entity's key; kept as a plain column", e.t.Name, c.Name, fk.RefTable.Name)
			} else {
				name := goName(strings.TrimSuffix(strings.TrimSuffix(c.Name, "_id"), "_ID"))
				if name == "" || used[name] || name == e.name {
					name = field
				}
				used[name] = true
				tag := fmt.Sprintf("`db:%q", c.Name)
				if c.Type.Null {
					tag += ` orm:"nullable"`
				}
				e.fields = append(e.fields, fmt.Sprintf("%s em.Ref[%s] %s`", name, target.name, tag))
				e.refs = append(e.refs, ref{target: fk.RefTable.Name, field: name})
				e.imports["github.com/mikrogo/mikro/em"] = true
				continue
			}
		}
		col := c
		if c == pk && c.Type.Null {
			// A key is never NULL, whatever the catalog says (SQLite's
			// INTEGER PRIMARY KEY reads as nullable).
			cc := *c
			ct := *c.Type
			ct.Null = false
			cc.Type = &ct
			col = &cc
		}
		typ, imp, extra, ok := goType(col, d, o)
		if !ok {
			res.warn("table %s: column %s has type %s, which has no Go mapping; skipped", e.t.Name, c.Name, typeName(c))
			continue
		}
		if _, isEnum := c.Type.Type.(*schema.EnumType); isEnum {
			res.warn("table %s: column %s of enum type %s is a string field; the database keeps the enum", e.t.Name, c.Name, typeName(c))
		}
		if imp != "" {
			e.imports[imp] = true
		}
		opts = append(opts, extra...)
		if c != pk {
			opts = append(opts, uniques[c.Name]...)
			opts = append(opts, indexes[c.Name]...)
		}
		if isNow(c.Default) && typ == "time.Time" {
			opts = append(opts, "onCreate=now")
		}
		if used[field] {
			field += "Col"
		}
		used[field] = true
		tag := fmt.Sprintf("`db:%q", c.Name)
		if len(opts) > 0 {
			tag += fmt.Sprintf(" orm:%q", strings.Join(opts, ","))
		}
		e.fields = append(e.fields, fmt.Sprintf("%s %s %s`", field, typ, tag))
	}
}

func (e *entity) source(o Options) ([]byte, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "// Code generated by mikro generate-entities from table %s. Edit as you like: it is not regenerated.\n\npackage %s\n\n", e.t.Name, o.Package)
	if len(e.inverse) > 0 {
		e.imports["github.com/mikrogo/mikro/em"] = true
	}
	if len(e.imports) > 0 {
		b.WriteString("import (\n")
		imps := make([]string, 0, len(e.imports))
		for i := range e.imports {
			imps = append(imps, i)
		}
		slices.Sort(imps)
		for _, i := range imps {
			fmt.Fprintf(&b, "\t%q\n", i)
		}
		b.WriteString(")\n\n")
	}
	fmt.Fprintf(&b, "// %s is a row of %s.\ntype %s struct {\n", e.name, e.t.Name, e.name)
	for _, f := range e.fields {
		b.WriteString("\t" + f + "\n")
	}
	seen := map[string]bool{}
	for _, inv := range e.inverse {
		name := plural(inv.child)
		if inv.many || seen[name] {
			name = inv.field + plural(inv.child)
		}
		seen[name] = true
		fmt.Fprintf(&b, "\t%s em.Collection[%s] `orm:\"mappedBy=%s\"`\n", name, inv.child, inv.field)
	}
	fmt.Fprintf(&b, "}\n\n// TableName is the table of %s.\nfunc (%s) TableName() string { return %q }\n", e.name, e.name, e.t.Name)
	src, err := format.Source([]byte(b.String()))
	if err != nil {
		return nil, fmt.Errorf("gen: %s: %w\n%s", e.t.Name, err, b.String())
	}
	return src, nil
}

func entitiesList(pkg string, names []string, ents map[string]*entity) string {
	var b strings.Builder
	fmt.Fprintf(&b, "// Code generated by mikro generate-entities.\n\npackage %s\n\n// Entities lists every generated entity, for em.Config.Entities.\nvar Entities = []any{\n", pkg)
	for _, n := range names {
		fmt.Fprintf(&b, "\t%s{},\n", ents[n].name)
	}
	b.WriteString("}\n")
	return b.String()
}

// indexKind names an index of a kind em does not create (FULLTEXT,
// SPATIAL, GIN …), or "" for a plain B-tree or hash index.
func indexKind(ix *schema.Index) string {
	for _, a := range ix.Attrs {
		var t string
		switch x := a.(type) {
		case *mysql.IndexType:
			t = x.T
		case *postgres.IndexType:
			t = x.T
		}
		if t != "" && !strings.EqualFold(t, "BTREE") && !strings.EqualFold(t, "HASH") {
			return t
		}
	}
	return ""
}

// isPurePivot reports a table of exactly two columns, each a single-column
// foreign key, that together are the primary key.
func isPurePivot(t *schema.Table) bool {
	if len(t.Columns) != 2 || len(t.ForeignKeys) != 2 || t.PrimaryKey == nil || len(t.PrimaryKey.Parts) != 2 {
		return false
	}
	for _, fk := range t.ForeignKeys {
		if len(fk.Columns) != 1 || len(fk.RefColumns) != 1 {
			return false
		}
	}
	return t.ForeignKeys[0].Columns[0] != t.ForeignKeys[1].Columns[0]
}

// goType maps a column to a Go type, its import, and orm options.
func goType(c *schema.Column, d *qb.Dialect, o Options) (typ, imp string, opts []string, ok bool) {
	null := c.Type.Null
	ptr := func(t string) string {
		if null {
			return "*" + t
		}
		return t
	}
	nullType := func(t, n string) (string, string) {
		if null && o.NullTypes {
			return "sql." + n, "database/sql"
		}
		return ptr(t), ""
	}
	switch t := c.Type.Type.(type) {
	case *schema.IntegerType:
		switch {
		case strings.Contains(t.T, "tinyint") && strings.Contains(strings.ToLower(c.Type.Raw), "(1)"):
			typ, imp = nullType("bool", "NullBool")
		case strings.Contains(t.T, "small") || strings.Contains(t.T, "tiny"):
			typ, imp = nullType("int16", "NullInt16")
			if t.Unsigned || strings.Contains(t.T, "tiny") && t.Unsigned {
				typ, imp = nullType("int32", "NullInt32")
			}
		case strings.Contains(t.T, "big") || d == qb.SQLite: // SQLite's integers are 64-bit
			typ, imp = nullType("int64", "NullInt64")
		default:
			typ, imp = nullType("int32", "NullInt32")
			if t.Unsigned {
				typ, imp = nullType("int64", "NullInt64")
			}
		}
	case *postgres.SerialType:
		switch t.T {
		case "smallserial":
			typ = "int16"
		case "bigserial":
			typ = "int64"
		default:
			typ = "int32"
		}
	case *schema.StringType:
		typ, imp = nullType("string", "NullString")
		if t.Size > 0 && t.Size < 1<<16 && (strings.Contains(t.T, "char")) {
			opts = append(opts, fmt.Sprintf("length=%d", t.Size))
		} else if !strings.Contains(t.T, "char") {
			opts = append(opts, "type="+t.T)
		}
	case *schema.BoolType:
		typ, imp = nullType("bool", "NullBool")
	case *schema.FloatType:
		typ, imp = nullType("float64", "NullFloat64")
	case *schema.DecimalType:
		// Exact decimals as strings: a float would round them.
		typ, imp = nullType("string", "NullString")
		opts = append(opts, fmt.Sprintf("type=%s(%d,%d)", strings.ToUpper(t.T), t.Precision, t.Scale))
	case *schema.TimeType:
		if t.T == "year" { // MySQL's YEAR is a number
			typ, imp = nullType("int32", "NullInt32")
			opts = append(opts, "type=year")
			break
		}
		if null && o.NullTypes {
			typ, imp = "sql.NullTime", "database/sql"
		} else {
			typ, imp = ptr("time.Time"), "time"
		}
		if strings.Contains(t.T, "date") && !strings.Contains(t.T, "time") {
			opts = append(opts, "type="+t.T)
		}
	case *schema.BinaryType:
		typ = "[]byte"
		opts = append(opts, "type="+t.T)
	case *schema.JSONType:
		typ, imp = "json.RawMessage", "encoding/json"
		opts = append(opts, "type="+t.T)
	case *schema.UUIDType:
		typ, imp = nullType("string", "NullString")
		opts = append(opts, "type=uuid")
	case *schema.EnumType:
		// An enum's values as a string. The database keeps its enum type,
		// which em's schema cannot create (see the warning).
		typ, imp = nullType("string", "NullString")
		opts = append(opts, "length=64")
	default:
		return "", "", nil, false
	}
	if null && !strings.HasPrefix(typ, "*") && !strings.HasPrefix(typ, "sql.") && typ != "[]byte" && typ != "json.RawMessage" {
		opts = append(opts, "nullable")
	}
	return typ, imp, opts, true
}

func typeName(c *schema.Column) string {
	if c.Type.Raw != "" {
		return c.Type.Raw
	}
	return fmt.Sprintf("%T", c.Type.Type)
}

// autoIncrement reports whether the database generates the key.
func autoIncrement(c *schema.Column, d *qb.Dialect) bool {
	for _, a := range c.Attrs {
		switch a.(type) {
		case *postgres.Identity, *mysql.AutoIncrement, *sqlite.AutoIncrement:
			return true
		}
	}
	if _, ok := c.Type.Type.(*postgres.SerialType); ok {
		return true
	}
	if x, ok := c.Default.(*schema.RawExpr); ok && strings.HasPrefix(x.X, "nextval(") {
		return true
	}
	if _, isInt := c.Type.Type.(*schema.IntegerType); isInt && d == qb.SQLite {
		return true // an INTEGER PRIMARY KEY is the rowid
	}
	return strings.Contains(strings.ToLower(c.Type.Raw), "serial")
}

func isNow(e schema.Expr) bool {
	x, ok := e.(*schema.RawExpr)
	if !ok {
		return false
	}
	s := strings.ToLower(x.X)
	return strings.HasPrefix(s, "now()") || strings.HasPrefix(s, "current_timestamp")
}

func partNames(ix *schema.Index) string {
	var out []string
	for _, p := range ix.Parts {
		if p.C != nil {
			out = append(out, p.C.Name)
		}
	}
	return strings.Join(out, ", ")
}

// pgPartitions lists the tables that are partitions of another.
func pgPartitions(ctx context.Context, db *sql.DB) (map[string]bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema()`)
	if err != nil {
		return nil, fmt.Errorf("gen: partitions: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out[n] = true
	}
	return out, rows.Err()
}

// goName turns snake_case into an exported Go name (film_actor → FilmActor,
// customer_id → CustomerID).
func goName(s string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == '_' || r == ' ' || r == '-' }) {
		switch strings.ToLower(part) {
		case "id", "url", "uuid", "ip", "sku":
			b.WriteString(strings.ToUpper(part))
			continue
		}
		r := []rune(strings.ToLower(part))
		r[0] = unicode.ToUpper(r[0])
		b.WriteString(string(r))
	}
	out := b.String()
	if out == "" || !unicode.IsLetter([]rune(out)[0]) {
		out = "X" + out
	}
	return out
}

func plural(s string) string {
	switch {
	case strings.HasSuffix(s, "y") && !strings.HasSuffix(s, "ay") && !strings.HasSuffix(s, "ey"):
		return s[:len(s)-1] + "ies"
	case strings.HasSuffix(s, "s") || strings.HasSuffix(s, "x") || strings.HasSuffix(s, "ch"):
		return s + "es"
	}
	return s + "s"
}

// warnUnmapped adds a warning for each view and trigger: they stay in the
// database, and no entity stands for them.
func warnUnmapped(ctx context.Context, db *sql.DB, d *qb.Dialect, res *Result) error {
	var views, triggers string
	switch d {
	case qb.Postgres:
		views = "SELECT table_name FROM information_schema.views WHERE table_schema = current_schema() ORDER BY 1"
		triggers = "SELECT DISTINCT trigger_name || ' on ' || event_object_table FROM information_schema.triggers WHERE trigger_schema = current_schema() ORDER BY 1"
	case qb.MySQL, qb.MariaDB:
		views = "SELECT table_name FROM information_schema.views WHERE table_schema = DATABASE() ORDER BY 1"
		triggers = "SELECT CONCAT(trigger_name, ' on ', event_object_table) FROM information_schema.triggers WHERE trigger_schema = DATABASE() ORDER BY 1"
	default:
		views = "SELECT name FROM sqlite_master WHERE type = 'view' ORDER BY 1"
		triggers = "SELECT name || ' on ' || tbl_name FROM sqlite_master WHERE type = 'trigger' ORDER BY 1"
	}
	for _, q := range []struct{ sql, what string }{{views, "view %s: not mapped (views have no entities here)"}, {triggers, "trigger %s: not mapped (it still runs in the database)"}} {
		rows, err := db.QueryContext(ctx, q.sql)
		if err != nil {
			return fmt.Errorf("gen: %w", err)
		}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
			res.warn(q.what, n)
		}
		rows.Close()
	}
	return nil
}
