package em

import (
	"strings"
	"unicode"
)

// NamingStrategy turns Go names into table and column names.
type NamingStrategy interface {
	// TableName returns the table for a Go type name ("BlogPost").
	TableName(typeName string) string
	// ColumnName returns the column for a Go field name ("CreatedAt").
	ColumnName(fieldName string) string
}

// SnakeCase is the default naming strategy: BlogPost → blog_post,
// CreatedAt → created_at, UserID → user_id, HTTPServer → http_server.
type SnakeCase struct{}

// TableName returns the snake_case form of typeName.
func (SnakeCase) TableName(typeName string) string { return snake(typeName) }

// ColumnName returns the snake_case form of fieldName.
func (SnakeCase) ColumnName(fieldName string) string { return snake(fieldName) }

func snake(s string) string {
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]) ||
				(i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(rs[i-1]))) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// propertyName is the name filters use for a field: the Go name with its
// first letter lowered (CreatedAt → createdAt, ID → id, URL → url).
func propertyName(field string) string {
	rs := []rune(field)
	n := 0
	for n < len(rs) && unicode.IsUpper(rs[n]) {
		n++
	}
	switch {
	case n == 0:
		return field
	case n == 1 || n == len(rs):
		n = max(n, 1)
	default:
		n-- // "URLPath": keep the P of Path upper
	}
	for i := 0; i < n && i < len(rs); i++ {
		rs[i] = unicode.ToLower(rs[i])
	}
	if n == len(rs) {
		return strings.ToLower(field)
	}
	return string(rs)
}
