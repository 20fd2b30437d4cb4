// Command mongo is the release check's consumer of the entity manager on
// MongoDB (it is built, not run).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/mikrogo/mikro/em"
	mikromongo "github.com/mikrogo/mikro/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

type Book struct {
	ID    string `db:"id" orm:"pk"`
	Title string `db:"title"`
}

func main() {
	ctx := context.Background()
	client, err := mongo.Connect(options.Client().ApplyURI(os.Getenv("MONGO_URI")))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	orm, err := mikromongo.Open(ctx, client.Database("app"), em.Config{Entities: []any{Book{}}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer orm.Close()
}
