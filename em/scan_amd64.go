//go:build amd64 && !purego

package em

// cleanRun returns the number of leading slots whose entity is byte for
// byte its snapshot, stopping at the first slot that differs, has no
// snapshot or is not compared by bytes (size 0). In assembly
// (scan_amd64.s), with 32-byte (AVX2) or 16-byte (SSE2) comparisons: one
// call walks a whole run of clean slots, where the Go loop pays a call to
// memequal and its 8-byte tail loop for every entity.
func cleanRun(slots []trackSlot) int {
	if useAVX2 {
		return cleanRunAVX2(slots)
	}
	return cleanRunSSE2(slots)
}

var useAVX2 = cpuHasAVX2()

//go:noescape
func cleanRunSSE2(slots []trackSlot) int

//go:noescape
func cleanRunAVX2(slots []trackSlot) int

func cpuHasAVX2() bool
