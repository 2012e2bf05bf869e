package ociimage

import (
	"encoding/binary"
	"fmt"
)

// program is a tiny two-pass assembler for the pause program: it collects
// machine code and data as bytes, remembers labels, and patches
// label-relative fields once every label's offset is known. It knows only
// the few fixup kinds the pause programs use.
type program struct {
	code   []byte
	labels map[string]int
	fixups []fixup
}

type fixupKind int

const (
	// amd64: a 32-bit displacement relative to the end of the field.
	fixRel32 fixupKind = iota
	// amd64: an 8-bit displacement relative to the end of the field.
	fixRel8
	// a 64-bit absolute address (base + label offset).
	fixAbs64
	// arm64: B imm26, in words, relative to the instruction.
	fixArm64B
	// arm64: B.cond imm19, in words, relative to the instruction.
	fixArm64BCond
	// arm64: ADR imm21, in bytes, relative to the instruction.
	fixArm64ADR
)

type fixup struct {
	at    int // offset of the field (amd64) or instruction (arm64)
	kind  fixupKind
	label string
}

func newProgram() *program { return &program{labels: map[string]int{}} }

func (p *program) label(name string) { p.labels[name] = len(p.code) }

func (p *program) bytes(b ...byte) { p.code = append(p.code, b...) }

// ref appends a zeroed field of the fixup's size and records the fixup.
func (p *program) ref(kind fixupKind, label string) {
	p.fixups = append(p.fixups, fixup{at: len(p.code), kind: kind, label: label})
	switch kind {
	case fixRel32:
		p.bytes(0, 0, 0, 0)
	case fixRel8:
		p.bytes(0)
	case fixAbs64:
		p.bytes(0, 0, 0, 0, 0, 0, 0, 0)
	}
}

// u64 appends a little-endian 64-bit word.
func (p *program) u64(v uint64) { p.code = binary.LittleEndian.AppendUint64(p.code, v) }

// word appends one little-endian arm64 instruction.
func (p *program) word(v uint32) { p.code = binary.LittleEndian.AppendUint32(p.code, v) }

// wordRef appends an arm64 instruction whose offset field is patched later.
func (p *program) wordRef(v uint32, kind fixupKind, label string) {
	p.fixups = append(p.fixups, fixup{at: len(p.code), kind: kind, label: label})
	p.word(v)
}

// align pads with zeros to a multiple of n.
func (p *program) align(n int) {
	for len(p.code)%n != 0 {
		p.code = append(p.code, 0)
	}
}

// link resolves every fixup for a program loaded at base.
func (p *program) link(base uint64) ([]byte, error) {
	out := append([]byte(nil), p.code...)
	for _, f := range p.fixups {
		target, ok := p.labels[f.label]
		if !ok {
			return nil, fmt.Errorf("link: undefined label %q", f.label)
		}
		switch f.kind {
		case fixRel32:
			binary.LittleEndian.PutUint32(out[f.at:], uint32(int32(target-(f.at+4))))
		case fixRel8:
			d := target - (f.at + 1)
			if d < -128 || d > 127 {
				return nil, fmt.Errorf("link: %q is %d bytes away, out of rel8 range", f.label, d)
			}
			out[f.at] = byte(int8(d))
		case fixAbs64:
			binary.LittleEndian.PutUint64(out[f.at:], base+uint64(target))
		case fixArm64B, fixArm64BCond, fixArm64ADR:
			ins := binary.LittleEndian.Uint32(out[f.at:])
			d := target - f.at
			switch f.kind {
			case fixArm64B:
				ins |= uint32(d/4) & 0x3ffffff
			case fixArm64BCond:
				ins |= (uint32(d/4) & 0x7ffff) << 5
			case fixArm64ADR:
				ins |= (uint32(d)&3)<<29 | (uint32(d>>2)&0x7ffff)<<5
			}
			binary.LittleEndian.PutUint32(out[f.at:], ins)
		}
	}
	return out, nil
}
