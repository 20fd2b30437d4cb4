module github.com/mikrogo/mikro/bench

go 1.26.0
