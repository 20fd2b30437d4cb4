// Command mikro is mikro's standalone command line: every command that
// needs no entity metadata (migration:up, migration:down, migration:list,
// migration:pending, migration:fresh, database:create, debug). For the
// commands that read your entities, build a main of your own around
// github.com/mikrogo/mikro/migrate/cli.
package main

import (
	"os"

	"github.com/mikrogo/mikro/migrate/cli"
)

func main() {
	os.Exit(cli.Run(cli.Config{}, os.Args[1:], os.Stdout, os.Stderr))
}
