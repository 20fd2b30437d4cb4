package qb

import (
	"errors"
	"fmt"
)

// ErrUnsupported is matched by errors.Is for every error that says a dialect
// cannot express a clause or feature.
var ErrUnsupported = errors.New("qb: unsupported by dialect")

// ErrInvalid is matched by errors.Is for every error about a malformed
// statement: an empty column list, an empty INSERT, an identifier that cannot be
// quoted, an unknown filter operator, a wrong number of arguments.
var ErrInvalid = errors.New("qb: invalid query")

// UnsupportedError reports a clause that the target dialect cannot express.
type UnsupportedError struct {
	Dialect string // name of the dialect, e.g. "sqlite"
	Clause  string // the clause or feature, e.g. "FOR UPDATE"
}

// Error describes the problem, naming what it concerns.
func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("qb: %s is not supported by %s", e.Clause, e.Dialect)
}

// Is reports whether target is ErrUnsupported.
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// InvalidError reports a statement that cannot be built as asked.
type InvalidError struct {
	Clause string // where the problem is, e.g. "INSERT", "WHERE", "filter"
	Reason string // what is wrong, naming the offending value
}

// Error describes the problem, naming what it concerns.
func (e *InvalidError) Error() string {
	return fmt.Sprintf("qb: %s: %s", e.Clause, e.Reason)
}

// Is reports whether target is ErrInvalid.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(clause, format string, args ...any) error {
	return &InvalidError{Clause: clause, Reason: fmt.Sprintf(format, args...)}
}
