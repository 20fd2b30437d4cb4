package em

import (
	"context"
	"fmt"
)

// SchemaSQL returns the statements that create the tables, indexes and
// foreign keys of every registered entity, or a *MetadataError for a field
// whose column type cannot be derived (set orm:"type=…").
func (o *ORM) SchemaSQL() ([]string, error) { return createSchemaSQL(o.dialect, o.reg.order) }

// CreateSchema creates the tables, indexes and foreign keys of every
// registered entity. It fails if a table exists already.
func (o *ORM) CreateSchema(ctx context.Context) error {
	stmts, err := o.SchemaSQL()
	if err != nil {
		return err
	}
	return o.runDDL(ctx, stmts)
}

// DropSchema drops the tables of every registered entity that exist.
func (o *ORM) DropSchema(ctx context.Context) error {
	return o.runDDL(ctx, dropSchemaSQL(o.dialect, o.reg.order))
}

// RefreshSchema drops and creates the schema: for tests and prototypes, never
// for data you want to keep.
func (o *ORM) RefreshSchema(ctx context.Context) error {
	if err := o.DropSchema(ctx); err != nil {
		return err
	}
	return o.CreateSchema(ctx)
}

// runDDL runs statements in order on one connection (session settings such
// as MySQL's FOREIGN_KEY_CHECKS hold for the whole sequence).
func (o *ORM) runDDL(ctx context.Context, stmts []string) error {
	conn, err := o.conn.Session(ctx)
	if err != nil {
		return fmt.Errorf("em: schema: %w", err)
	}
	defer conn.Close()
	for _, s := range stmts {
		if _, err := o.exec(ctx, conn, s, nil); err != nil {
			return fmt.Errorf("em: schema: %s: %w", s, err)
		}
	}
	return nil
}
