//go:build !purego

#include "textflag.h"

// A trackSlot is {ptr, snap, en, size}: 32 bytes (TestTrackSlotLayout).

// func cleanRunSSE2(slots []trackSlot) int
TEXT ·cleanRunSSE2(SB), NOSPLIT, $0-32
	MOVQ	slots_base+0(FP), SI
	MOVQ	slots_len+8(FP), CX
	XORQ	AX, AX

slot:
	CMPQ	AX, CX
	JAE	done
	MOVQ	0(SI), R8	// the entity
	MOVQ	8(SI), R9	// its snapshot
	MOVQ	24(SI), DX	// bytes to compare
	TESTQ	R9, R9
	JZ	done
	TESTQ	DX, DX
	JZ	done
	CMPQ	DX, $16
	JB	small
	PCMPEQB	X2, X2	// X2: all bytes equal so far
	LEAQ	-16(DX), R10	// offset of the last 16 bytes
	XORQ	R11, R11

loop16:
	CMPQ	R11, R10
	JAE	last16
	MOVOU	(R8)(R11*1), X0
	MOVOU	(R9)(R11*1), X1
	PCMPEQB	X1, X0
	PAND	X0, X2
	ADDQ	$16, R11
	JMP	loop16

last16:
	// The last 16 bytes, overlapping the loop's when the size is not a
	// multiple of 16.
	MOVOU	(R8)(R10*1), X0
	MOVOU	(R9)(R10*1), X1
	PCMPEQB	X1, X0
	PAND	X0, X2
	PMOVMSKB	X2, BX
	CMPL	BX, $0xffff
	JNE	done

next:
	ADDQ	$32, SI
	INCQ	AX
	JMP	slot

small:
	// Fewer than 16 bytes: 8 at a time, then 1.
	CMPQ	DX, $8
	JB	small1
	MOVQ	(R8), BX
	CMPQ	BX, (R9)
	JNE	done
	ADDQ	$8, R8
	ADDQ	$8, R9
	SUBQ	$8, DX
	JMP	small

small1:
	TESTQ	DX, DX
	JZ	next
	MOVBLZX	(R8), BX
	CMPB	BX, (R9)
	JNE	done
	INCQ	R8
	INCQ	R9
	DECQ	DX
	JMP	small1

done:
	MOVQ	AX, ret+24(FP)
	RET

// func cleanRunAVX2(slots []trackSlot) int
TEXT ·cleanRunAVX2(SB), NOSPLIT, $0-32
	MOVQ	slots_base+0(FP), SI
	MOVQ	slots_len+8(FP), CX
	XORQ	AX, AX

slot:
	CMPQ	AX, CX
	JAE	done
	MOVQ	0(SI), R8
	MOVQ	8(SI), R9
	MOVQ	24(SI), DX
	TESTQ	R9, R9
	JZ	done
	TESTQ	DX, DX
	JZ	done
	CMPQ	DX, $32
	JB	small
	VPCMPEQB	Y2, Y2, Y2
	LEAQ	-32(DX), R10	// offset of the last 32 bytes
	XORQ	R11, R11

loop32:
	CMPQ	R11, R10
	JAE	last32
	VMOVDQU	(R8)(R11*1), Y0
	VPCMPEQB	(R9)(R11*1), Y0, Y0
	VPAND	Y0, Y2, Y2
	ADDQ	$32, R11
	JMP	loop32

last32:
	VMOVDQU	(R8)(R10*1), Y0
	VPCMPEQB	(R9)(R10*1), Y0, Y0
	VPAND	Y0, Y2, Y2
	VPMOVMSKB	Y2, BX
	CMPL	BX, $0xffffffff
	JNE	done

next:
	ADDQ	$32, SI
	INCQ	AX
	JMP	slot

small:
	CMPQ	DX, $16
	JB	small8
	MOVOU	(R8), X0
	MOVOU	(R9), X1
	PCMPEQB	X1, X0
	MOVOU	-16(R8)(DX*1), X3
	MOVOU	-16(R9)(DX*1), X4
	PCMPEQB	X4, X3
	PAND	X3, X0
	PMOVMSKB	X0, BX
	CMPL	BX, $0xffff
	JNE	done
	JMP	next

small8:
	CMPQ	DX, $8
	JB	small1
	MOVQ	(R8), BX
	CMPQ	BX, (R9)
	JNE	done
	ADDQ	$8, R8
	ADDQ	$8, R9
	SUBQ	$8, DX
	JMP	small8

small1:
	TESTQ	DX, DX
	JZ	next
	MOVBLZX	(R8), BX
	CMPB	BX, (R9)
	JNE	done
	INCQ	R8
	INCQ	R9
	DECQ	DX
	JMP	small1

done:
	VZEROUPPER
	MOVQ	AX, ret+24(FP)
	RET

// func cpuHasAVX2() bool
TEXT ·cpuHasAVX2(SB), NOSPLIT, $0-1
	MOVL	$1, AX
	XORL	CX, CX
	CPUID
	ANDL	$0x18000000, CX	// OSXSAVE and AVX
	CMPL	CX, $0x18000000
	JNE	no
	XORL	CX, CX
	XGETBV	// XCR0: the OS saves XMM and YMM state
	ANDL	$6, AX
	CMPL	AX, $6
	JNE	no
	MOVL	$7, AX
	XORL	CX, CX
	CPUID
	BTL	$5, BX	// AVX2
	JCC	no
	MOVB	$1, ret+0(FP)
	RET

no:
	MOVB	$0, ret+0(FP)
	RET
