package qb

import "strings"

// splitTableRef splits "name", "name alias" or "name AS alias" (AS in any
// case). ok is false for any other shape.
func splitTableRef(ref string) (name, alias string, ok bool) {
	ref = strings.TrimSpace(ref)
	i := strings.IndexByte(ref, ' ')
	if i < 0 {
		return ref, "", ref != ""
	}
	name, rest := ref[:i], strings.TrimSpace(ref[i+1:])
	if len(rest) > 3 && strings.EqualFold(rest[:3], "as ") {
		rest = strings.TrimSpace(rest[3:])
	}
	if rest == "" || strings.IndexByte(rest, ' ') >= 0 {
		return "", "", false
	}
	return name, rest, true
}

// writeTableRef writes a table reference given as a string, quoting the
// (possibly schema-qualified) name and the alias.
func writeTableRef(w *writer, clause, ref string) {
	name, alias, ok := splitTableRef(ref)
	if !ok {
		w.fail(invalid(clause, "table reference %q is not of the form \"name\", \"name alias\" or \"name AS alias\"", ref))
		return
	}
	w.ident(name)
	if alias != "" {
		w.str(" AS ")
		w.quoted(alias)
	}
}

// cutWord removes a trailing word (case-insensitive) preceded by a space.
func cutWord(s, word string) (string, bool) {
	n := len(s) - len(word)
	if n > 0 && s[n-1] == ' ' && strings.EqualFold(s[n:], word) {
		return strings.TrimRight(s[:n], " "), true
	}
	return s, false
}
