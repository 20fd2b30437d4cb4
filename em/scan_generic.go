//go:build !amd64 || purego

package em

// cleanRun returns the number of leading slots whose entity is byte for
// byte its snapshot, stopping at the first slot that differs, has no
// snapshot or is not compared by bytes (size 0).
func cleanRun(slots []trackSlot) int {
	return cleanRunGo(slots)
}
