package qb

import (
	"strconv"
	"sync"
)

// writer accumulates the SQL text and arguments of one statement. One writer is
// used for a whole statement, subqueries included, so placeholders are numbered
// in order through subqueries, CTEs and set operations.
type writer struct {
	d        *Dialect
	buf      []byte
	args     []any
	question bool // write '?' placeholders whatever the dialect (ToSql)
	err      error
}

var writerPool = sync.Pool{New: func() any {
	return &writer{buf: make([]byte, 0, 256), args: make([]any, 0, 16)}
}}

func getWriter(d *Dialect, question bool) *writer {
	w := writerPool.Get().(*writer)
	w.d, w.question = d, question
	return w
}

// finish returns the text and a copy of the arguments sized exactly, and puts
// the writer back in the pool.
func (w *writer) finish() (string, []any, error) {
	var (
		sql  string
		args []any
		err  = w.err
	)
	if err == nil && w.d != nil && w.d.maxParams > 0 && len(w.args) > w.d.maxParams {
		err = invalid("statement", "%d bound parameters, more than the %d that %s accepts in one statement; bind long IN lists of integers or strings (bound as one value) or split the statement",
			len(w.args), w.d.maxParams, w.d.Name())
	}
	if err == nil {
		sql = string(w.buf)
		if len(w.args) > 0 {
			args = make([]any, len(w.args))
			copy(args, w.args)
		}
	}
	clear(w.args)
	w.buf, w.args, w.err, w.d = w.buf[:0], w.args[:0], nil, nil
	if cap(w.buf) <= 64<<10 && cap(w.args) <= 4096 {
		writerPool.Put(w)
	}
	return sql, args, err
}

func (w *writer) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

func (w *writer) str(s string) { w.buf = append(w.buf, s...) }
func (w *writer) byte(c byte)  { w.buf = append(w.buf, c) }

func (w *writer) int(n int64) { w.buf = strconv.AppendInt(w.buf, n, 10) }

// require records an *UnsupportedError unless the dialect has f.
func (w *writer) require(f Feature, clause string) bool {
	if w.d.Has(f) {
		return true
	}
	w.fail(&UnsupportedError{Dialect: w.d.Name(), Clause: clause})
	return false
}

// quoted writes one identifier part, quoted.
func (w *writer) quoted(name string) {
	if err := checkIdent(name); err != nil {
		w.fail(err)
		return
	}
	w.buf = w.d.appendQuoted(w.buf, name, w.question)
}

// ident writes a possibly qualified name ("schema.table.column"), quoting each
// part; a last part "*" is written bare.
func (w *writer) ident(name string) {
	start := 0
	for i := 0; i < len(name); i++ {
		if name[i] == '.' {
			w.quoted(name[start:i])
			w.byte('.')
			start = i + 1
		}
	}
	last := name[start:]
	if last == "*" {
		w.byte('*')
		return
	}
	w.quoted(last)
}

// placeholder writes the next placeholder for an argument already appended.
func (w *writer) placeholder() {
	if w.question || w.d.placeholder == placeholderQuestion {
		w.byte('?')
		return
	}
	w.byte('$')
	w.int(int64(len(w.args)))
}

// bind appends v as an argument and writes its placeholder.
func (w *writer) bind(v any) {
	w.args = append(w.args, v)
	w.placeholder()
}

// value writes v: an expression is written in place (a subquery in
// parentheses), anything else is bound as an argument.
func (w *writer) value(v any) {
	switch e := v.(type) {
	case appender:
		if e.isQuery() {
			w.byte('(')
			e.appendTo(w)
			w.byte(')')
			return
		}
		e.appendTo(w)
	case Sqlizer:
		w.sqlizer(e, true)
	default:
		w.bind(v)
	}
}

// expr writes an expression; a statement used as an expression is
// parenthesized.
func (w *writer) expr(e Expr) {
	if e == nil {
		w.fail(invalid("expression", "nil expression"))
		return
	}
	w.value(e)
}

// sqlizer writes a foreign Sqlizer (squirrel's, or anything with ToSql). Its
// '?' placeholders are renumbered for the dialect.
func (w *writer) sqlizer(s Sqlizer, paren bool) {
	if isNil(s) {
		w.fail(invalid("expression", "nil expression"))
		return
	}
	sql, args, err := s.ToSql()
	if err != nil {
		w.fail(err)
		return
	}
	if paren {
		w.byte('(')
	}
	w.template(sql, args)
	if paren {
		w.byte(')')
	}
}

// template writes SQL text whose '?' marks stand for args in order. '??' is a
// literal question mark; marks inside quotes ('…', "…", `…`) are literal too.
// An argument that is an expression is written in place.
func (w *writer) template(sql string, args []any) {
	n := 0
	var inQuote byte
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		switch {
		case inQuote != 0:
			if c == inQuote {
				inQuote = 0
			}
			if c == '?' && w.question {
				w.byte('?')
			}
			w.byte(c)
		case c == '\'' || c == '"' || c == '`':
			inQuote = c
			w.byte(c)
		case c == '?':
			if i+1 < len(sql) && sql[i+1] == '?' {
				i++
				if w.question {
					w.str("??")
				} else {
					w.byte('?')
				}
				continue
			}
			if n >= len(args) {
				w.fail(invalid("raw SQL", "%q has more placeholders than its %d arguments", sql, len(args)))
				return
			}
			w.value(args[n])
			n++
		default:
			w.byte(c)
		}
	}
	if n != len(args) {
		w.fail(invalid("raw SQL", "%q has %d placeholders but %d arguments", sql, n, len(args)))
	}
}

// list writes items separated by ", ".
func writeList[T any](w *writer, items []T, each func(*writer, T)) {
	for i, it := range items {
		if i > 0 {
			w.str(", ")
		}
		each(w, it)
	}
}

func writeIdent(w *writer, s string) { w.ident(s) }
