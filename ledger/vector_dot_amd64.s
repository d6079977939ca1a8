//go:build amd64 && !purego

#include "textflag.h"

// func dot8AVX(a, b *float32, n int, acc *[8]float32)
TEXT ·dot8AVX(SB), NOSPLIT, $0-32
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	MOVQ acc+24(FP), DX
	VXORPS Y0, Y0, Y0
	XORQ AX, AX
	// Two blocks of 8 per iteration while 16 remain: the products are
	// independent, the additions into Y0 stay in order.
	MOVQ CX, BX
	ANDQ $-16, BX
	JZ   tail8

loop16:
	VMOVUPS (SI)(AX*4), Y1
	VMULPS  (DI)(AX*4), Y1, Y1
	VMOVUPS 32(SI)(AX*4), Y2
	VMULPS  32(DI)(AX*4), Y2, Y2
	VADDPS  Y1, Y0, Y0
	VADDPS  Y2, Y0, Y0
	ADDQ    $16, AX
	CMPQ    AX, BX
	JL      loop16

tail8:
	CMPQ AX, CX
	JGE  done
	VMOVUPS (SI)(AX*4), Y1
	VMULPS  (DI)(AX*4), Y1, Y1
	VADDPS  Y1, Y0, Y0

done:
	VMOVUPS Y0, (DX)
	VZEROUPPER
	RET
