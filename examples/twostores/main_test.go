package main

import (
	"context"
	"os"
	"strings"
	"testing"
)

const want = `A Wizard of Earthsea by Ursula, 9
Excession by Iain, 11
Ursula has 2 books; A Wizard of Earthsea is now 10 (version 2)
second Iain: unique violation true
`

// TestSameOutputOnBothStores runs the program on SQLite and on MongoDB
// (FerretDB in CI) and wants the same output from both.
func TestSameOutputOnBothStores(t *testing.T) {
	for _, store := range []string{"sqlite", "mongo"} {
		t.Run(store, func(t *testing.T) {
			if store == "mongo" && os.Getenv("MIKRO_MONGO_URI") == "" {
				if os.Getenv("CI") == "true" {
					t.Fatal("MIKRO_MONGO_URI is not set, and CI=true needs it")
				}
				t.Skip("MIKRO_MONGO_URI is not set")
			}
			var out strings.Builder
			if err := run(context.Background(), store, &out); err != nil {
				t.Fatal(err)
			}
			if out.String() != want {
				t.Fatalf("output on %s:\n%s\nwant:\n%s", store, out.String(), want)
			}
		})
	}
}
