package em

import (
	"context"
	"errors"
	"fmt"
)

// SchemaSQL returns the statements that create the tables, indexes and
// foreign keys of every registered entity, or a *MetadataError for a field
// whose column type cannot be derived (set orm:"type=…").
func (o *ORM) SchemaSQL() ([]string, error) {
	if o.backend != nil {
		return nil, o.unsupported("SQL schema")
	}
	return createSchemaSQL(o.dialect, o.reg.order)
}

// CreateSchema creates the tables, indexes and foreign keys of every
// registered entity. It fails if a table exists already.
func (o *ORM) CreateSchema(ctx context.Context) error {
	if ctx == nil {
		return ErrNilContext
	}
	stmts, err := o.SchemaSQL()
	if err != nil {
		return err
	}
	return o.runDDL(ctx, stmts)
}

// DropSchema drops the tables of every registered entity that exist.
func (o *ORM) DropSchema(ctx context.Context) error {
	if ctx == nil {
		return ErrNilContext
	}
	if o.backend != nil {
		return o.unsupported("the SQL schema generator")
	}
	return o.runDDL(ctx, dropSchemaSQL(o.dialect, o.reg.order))
}

// RefreshSchema drops and creates the schema: for tests and prototypes, never
// for data you want to keep.
func (o *ORM) RefreshSchema(ctx context.Context) error {
	if ctx == nil {
		return ErrNilContext
	}
	if err := o.DropSchema(ctx); err != nil {
		return err
	}
	return o.CreateSchema(ctx)
}

// runDDL runs statements in order on one connection (session settings such
// as MySQL's FOREIGN_KEY_CHECKS hold for the whole sequence).
func (o *ORM) runDDL(ctx context.Context, stmts []string) error {
	if o.backend != nil {
		return o.unsupported("the SQL schema generator")
	}
	conn, err := o.conn.Session(ctx)
	if err != nil {
		return fmt.Errorf("em: schema: %w", err)
	}
	defer conn.Close()
	for i, s := range stmts {
		if _, err := o.exec(ctx, conn, s, nil); err != nil {
			err = fmt.Errorf("em: schema: %s: %w", s, err)
			// The connection goes back to the pool: switch foreign key
			// checks on again if the sequence switched them off.
			if last := stmts[len(stmts)-1]; i < len(stmts)-1 && restoresFKChecks(last) {
				if _, rerr := o.exec(context.WithoutCancel(ctx), conn, last, nil); rerr != nil {
					err = errors.Join(err, fmt.Errorf("em: schema: %s: %w", last, rerr))
				}
			}
			return err
		}
	}
	return nil
}

// restoresFKChecks reports whether stmt switches foreign key checks back on
// (the last statement of a sequence that switched them off).
func restoresFKChecks(stmt string) bool {
	return stmt == "SET FOREIGN_KEY_CHECKS = 1" || stmt == "PRAGMA foreign_keys = ON"
}
