//go:build amd64 && !purego

package em

func addAsm(impls map[string]func([]trackSlot) int) {
	impls["sse2"] = cleanRunSSE2
	if cpuHasAVX2() {
		impls["avx2"] = cleanRunAVX2
	}
}
