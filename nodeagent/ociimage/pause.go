package ociimage

import (
	"encoding/binary"
	"fmt"
)

// The pause program every pod sandbox runs as its first process. Like the
// kubelet's pause it holds the pod's namespaces open and, as PID 1 of a
// shared PID namespace, reaps orphans; SIGTERM and SIGINT end it with
// status 0. It is a few hundred bytes of machine code in a static ELF, so
// no toolchain is needed when Shoal builds its sandbox image:
//
//	rt_sigaction(SIGTERM, &act, NULL, 8); rt_sigaction(SIGINT, &act, NULL, 8)
//	for {
//		if wait4(-1, NULL, 0, NULL) == -ECHILD { nanosleep(&{1, 0}, NULL) }
//	}
//	down: exit_group(0)      // act = {down, SA_RESTORER, down, 0}
//
// The handler never returns, so the restorer (required on amd64) is never
// used; it points at the handler.

const (
	loadBase     = 0x400000
	elfHeaderLen = 64
	progHeadLen  = 56
	codeOffset   = elfHeaderLen + progHeadLen

	sigINT     = 2
	sigTERM    = 15
	saRestorer = 0x04000000
	eCHILD     = 10
)

// PauseELF returns the pause program for goarch (amd64 or arm64) as a
// static ELF executable.
func PauseELF(goarch string) ([]byte, error) {
	var (
		p       *program
		machine uint16
	)
	switch goarch {
	case "amd64":
		p, machine = pauseAMD64(), 62 // EM_X86_64
	case "arm64":
		p, machine = pauseARM64(), 183 // EM_AARCH64
	default:
		return nil, fmt.Errorf("pause program: architecture %q is not supported (amd64, arm64)", goarch)
	}
	code, err := p.link(loadBase + codeOffset)
	if err != nil {
		return nil, fmt.Errorf("pause program for %s: %w", goarch, err)
	}
	return elfExecutable(machine, code), nil
}

// sigactionData appends the kernel's struct sigaction and the one-second
// timespec both programs use.
func sigactionData(p *program) {
	p.align(8)
	p.label("act")
	p.ref(fixAbs64, "down") // sa_handler
	p.u64(saRestorer)       // sa_flags
	p.ref(fixAbs64, "down") // sa_restorer
	p.u64(0)                // sa_mask
	p.label("ts")
	p.u64(1) // tv_sec
	p.u64(0) // tv_nsec
}

func pauseAMD64() *program {
	const (
		sysRtSigaction = 13
		sysNanosleep   = 35
		sysWait4       = 61
		sysExitGroup   = 231
	)
	p := newProgram()
	for _, sig := range []byte{sigTERM, sigINT} {
		p.bytes(0xb8, sysRtSigaction, 0, 0, 0) // mov eax, 13
		p.bytes(0xbf, sig, 0, 0, 0)            // mov edi, sig
		p.bytes(0x48, 0x8d, 0x35)              // lea rsi, [rip+act]
		p.ref(fixRel32, "act")
		p.bytes(0x31, 0xd2)             // xor edx, edx
		p.bytes(0x41, 0xba, 8, 0, 0, 0) // mov r10d, 8
		p.bytes(0x0f, 0x05)             // syscall
	}
	p.label("loop")
	p.bytes(0xb8, sysWait4, 0, 0, 0)                  // mov eax, 61
	p.bytes(0x48, 0xc7, 0xc7, 0xff, 0xff, 0xff, 0xff) // mov rdi, -1
	p.bytes(0x31, 0xf6)                               // xor esi, esi
	p.bytes(0x31, 0xd2)                               // xor edx, edx
	p.bytes(0x45, 0x31, 0xd2)                         // xor r10d, r10d
	p.bytes(0x0f, 0x05)                               // syscall
	p.bytes(0x48, 0x83, 0xf8, byte(0x100-eCHILD))     // cmp rax, -10
	p.bytes(0x75)                                     // jne loop
	p.ref(fixRel8, "loop")
	p.bytes(0xb8, sysNanosleep, 0, 0, 0) // mov eax, 35
	p.bytes(0x48, 0x8d, 0x3d)            // lea rdi, [rip+ts]
	p.ref(fixRel32, "ts")
	p.bytes(0x31, 0xf6) // xor esi, esi
	p.bytes(0x0f, 0x05) // syscall
	p.bytes(0xeb)       // jmp loop
	p.ref(fixRel8, "loop")
	p.label("down")
	p.bytes(0xb8, sysExitGroup, 0, 0, 0) // mov eax, 231
	p.bytes(0x31, 0xff)                  // xor edi, edi
	p.bytes(0x0f, 0x05)                  // syscall
	p.label("end")
	sigactionData(p)
	return p
}

// arm64 instruction encodings (Arm ARM, A64 base instructions).
func movz(rd, imm uint32) uint32 { return 0xd2800000 | imm<<5 | rd }
func movn(rd, imm uint32) uint32 { return 0x92800000 | imm<<5 | rd }
func adr(rd uint32) uint32       { return 0x10000000 | rd }

const (
	svc0     = 0xd4000001
	bUncond  = 0x14000000
	bNE      = 0x54000001
	cmnX0_10 = 0xb1000000 | eCHILD<<10 | 0<<5 | 31 // adds xzr, x0, #10
)

func pauseARM64() *program {
	const (
		sysRtSigaction = 134
		sysNanosleep   = 101
		sysWait4       = 260
		sysExitGroup   = 94
	)
	p := newProgram()
	for _, sig := range []uint32{sigTERM, sigINT} {
		p.word(movz(0, sig))
		p.wordRef(adr(1), fixArm64ADR, "act")
		p.word(movz(2, 0))
		p.word(movz(3, 8))
		p.word(movz(8, sysRtSigaction))
		p.word(svc0)
	}
	p.label("loop")
	p.word(movn(0, 0)) // x0 = -1
	p.word(movz(1, 0))
	p.word(movz(2, 0))
	p.word(movz(3, 0))
	p.word(movz(8, sysWait4))
	p.word(svc0)
	p.word(cmnX0_10)
	p.wordRef(bNE, fixArm64BCond, "loop")
	p.wordRef(adr(0), fixArm64ADR, "ts")
	p.word(movz(1, 0))
	p.word(movz(8, sysNanosleep))
	p.word(svc0)
	p.wordRef(bUncond, fixArm64B, "loop")
	p.label("down")
	p.word(movz(0, 0))
	p.word(movz(8, sysExitGroup))
	p.word(svc0)
	p.label("end")
	sigactionData(p)
	return p
}

// elfExecutable wraps code in a static ELF64 executable with one read+exec
// PT_LOAD segment that maps the whole file at loadBase.
func elfExecutable(machine uint16, code []byte) []byte {
	size := uint64(codeOffset + len(code))
	b := make([]byte, 0, size)
	le := binary.LittleEndian
	b = append(b, 0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* LE */, 1 /* version */, 0 /* SysV */)
	b = append(b, make([]byte, 8)...)
	b = le.AppendUint16(b, 2) // ET_EXEC
	b = le.AppendUint16(b, machine)
	b = le.AppendUint32(b, 1)                   // EV_CURRENT
	b = le.AppendUint64(b, loadBase+codeOffset) // e_entry
	b = le.AppendUint64(b, elfHeaderLen)        // e_phoff
	b = le.AppendUint64(b, 0)                   // e_shoff
	b = le.AppendUint32(b, 0)                   // e_flags
	b = le.AppendUint16(b, elfHeaderLen)        // e_ehsize
	b = le.AppendUint16(b, progHeadLen)         // e_phentsize
	b = le.AppendUint16(b, 1)                   // e_phnum
	b = le.AppendUint16(b, 64)                  // e_shentsize
	b = le.AppendUint16(b, 0)                   // e_shnum
	b = le.AppendUint16(b, 0)                   // e_shstrndx
	b = le.AppendUint32(b, 1)                   // PT_LOAD
	b = le.AppendUint32(b, 5)                   // PF_R|PF_X
	b = le.AppendUint64(b, 0)                   // p_offset
	b = le.AppendUint64(b, loadBase)            // p_vaddr
	b = le.AppendUint64(b, loadBase)            // p_paddr
	b = le.AppendUint64(b, size)                // p_filesz
	b = le.AppendUint64(b, size)                // p_memsz
	b = le.AppendUint64(b, 0x10000)             // p_align
	return append(b, code...)
}
