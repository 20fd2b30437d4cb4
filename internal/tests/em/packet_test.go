package em_test

import (
	"context"
	"testing"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/internal/dbtest"
	"github.com/mikrogo/mikro/internal/emtest"
)

// TestBigRowsFlushUnderPacketLimit runs the suite's big_rows_flush case on
// MariaDB through a client that interpolates the values into the statement
// text (interpolateParams=true), so that a statement is as large as its
// values: 600 rows of 60–70 KiB in one INSERT were about 39 MiB, past the
// server's max_allowed_packet, and the server dropped the connection.
func TestBigRowsFlushUnderPacketLimit(t *testing.T) {
	tg := dbtest.Open(t, dbtest.MariaDB)
	dsn := tg.DSN + "&interpolateParams=true"
	emtest.RunCase(t, "big_rows_flush", emtest.Store{Name: tg.Name, SQL: true}, func(t *testing.T, cfg em.Config) *em.ORM {
		cfg.Driver, cfg.DSN = "mysql", dsn
		o, err := em.Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = o.Close() })
		if err := o.RefreshSchema(context.Background()); err != nil {
			t.Fatal(err)
		}
		return o
	})
}
