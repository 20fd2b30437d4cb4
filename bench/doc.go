// Package bench holds mikro's benchmarks, side by side with its peers on the
// same work. The peers are imported here and nowhere else. See README.md for
// the commands and the latest figures.
package bench
