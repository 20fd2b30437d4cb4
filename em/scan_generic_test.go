//go:build !amd64 || purego

package em

func addAsm(map[string]func([]trackSlot) int) {}
