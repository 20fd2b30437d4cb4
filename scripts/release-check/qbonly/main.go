// Command qbonly is the release check's consumer of the query builder alone.
package main

import (
	"fmt"

	"github.com/mikrogo/mikro/qb"
)

func main() {
	sql, args, err := qb.Postgres.Select("id").From("users").Where(qb.Eq("name", "Ann")).Build()
	fmt.Println(sql, args, err)
}
