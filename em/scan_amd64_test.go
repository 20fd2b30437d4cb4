//go:build amd64 && !purego

package em

import (
	"testing"
	"unsafe"
)

func addAsm(impls map[string]func([]trackSlot) int) {
	impls["sse2"] = cleanRunSSE2
	if cpuHasAVX2() {
		impls["avx2"] = cleanRunAVX2
	}
}

func TestTrackSlotLayout(t *testing.T) {
	// scan_amd64.s reads slots at these offsets.
	var s trackSlot
	if unsafe.Sizeof(s) != 32 || unsafe.Offsetof(s.ptr) != 0 || unsafe.Offsetof(s.snap) != 8 ||
		unsafe.Offsetof(s.en) != 16 || unsafe.Offsetof(s.size) != 24 {
		t.Fatalf("trackSlot layout changed: size %d, offsets %d %d %d %d", unsafe.Sizeof(s),
			unsafe.Offsetof(s.ptr), unsafe.Offsetof(s.snap), unsafe.Offsetof(s.en), unsafe.Offsetof(s.size))
	}
}
