package ociimage

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/arch/arm64/arm64asm"
	"golang.org/x/arch/x86/x86asm"
	"golang.org/x/sys/unix"
)

// The listings the pause programs must disassemble to (GNU syntax, with
// addresses), so a change in an encoding is caught on any machine.
var wantListing = map[string]string{
	"amd64": `
400078: mov $0xd,%eax
40007d: mov $0xf,%edi
400082: lea 0x5f(%rip),%rsi
400089: xor %edx,%edx
40008b: mov $0x8,%r10d
400091: syscall
400093: mov $0xd,%eax
400098: mov $0x2,%edi
40009d: lea 0x44(%rip),%rsi
4000a4: xor %edx,%edx
4000a6: mov $0x8,%r10d
4000ac: syscall
4000ae: mov $0x3d,%eax
4000b3: mov $-0x1,%rdi
4000ba: xor %esi,%esi
4000bc: xor %edx,%edx
4000be: xor %r10d,%r10d
4000c1: syscall
4000c3: cmp $-0xa,%rax
4000c7: jne 0x4000ae
4000c9: mov $0x23,%eax
4000ce: lea 0x33(%rip),%rdi
4000d5: xor %esi,%esi
4000d7: syscall
4000d9: jmp 0x4000ae
4000db: mov $0xe7,%eax
4000e0: xor %edi,%edi
4000e2: syscall`,
	"arm64": `
400078: mov x0, #0xf
40007c: adr x1, .+0x6c
400080: mov x2, #0x0
400084: mov x3, #0x8
400088: mov x8, #0x86
40008c: svc #0x0
400090: mov x0, #0x2
400094: adr x1, .+0x54
400098: mov x2, #0x0
40009c: mov x3, #0x8
4000a0: mov x8, #0x86
4000a4: svc #0x0
4000a8: mov x0, #0xffffffffffffffff
4000ac: mov x1, #0x0
4000b0: mov x2, #0x0
4000b4: mov x3, #0x0
4000b8: mov x8, #0x104
4000bc: svc #0x0
4000c0: cmn x0, #0xa
4000c4: b.ne .+0xffffffffffffffe4
4000c8: adr x0, .+0x40
4000cc: mov x1, #0x0
4000d0: mov x8, #0x65
4000d4: svc #0x0
4000d8: b .+0xffffffffffffffd0
4000dc: mov x0, #0x0
4000e0: mov x8, #0x5e
4000e4: svc #0x0`,
}

// disassemble lists the code of the executable up to its data.
func disassemble(t *testing.T, goarch string, b []byte, codeLen int) string {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: not an ELF file: %v", goarch, err)
	}
	if f.Type != elf.ET_EXEC || len(f.Progs) != 1 || f.Progs[0].Type != elf.PT_LOAD || f.Progs[0].Filesz != uint64(len(b)) {
		t.Fatalf("%s: want one PT_LOAD segment mapping the whole executable, got %+v", goarch, f.Progs)
	}
	var lines []string
	pc := f.Entry
	code := b[pc-loadBase:][:codeLen]
	for len(code) > 0 {
		var text string
		var n int
		switch goarch {
		case "amd64":
			inst, err := x86asm.Decode(code, 64)
			if err != nil {
				t.Fatalf("amd64: decode at %x: %v", pc, err)
			}
			text, n = x86asm.GNUSyntax(inst, pc, nil), inst.Len
		case "arm64":
			inst, err := arm64asm.Decode(code)
			if err != nil {
				t.Fatalf("arm64: decode at %x: %v", pc, err)
			}
			text, n = arm64asm.GNUSyntax(inst), 4
		}
		lines = append(lines, fmt.Sprintf("%x: %s", pc, text))
		code, pc = code[n:], pc+uint64(n)
	}
	return "\n" + strings.Join(lines, "\n")
}

func TestPauseDisassembles(t *testing.T) {
	for goarch, prog := range map[string]*program{"amd64": pauseAMD64(), "arm64": pauseARM64()} {
		b, err := PauseELF(goarch)
		if err != nil {
			t.Fatal(err)
		}
		if got := disassemble(t, goarch, b, prog.labels["end"]); got != wantListing[goarch] {
			t.Errorf("%s pause program disassembles to:%s\nwant:%s", goarch, got, wantListing[goarch])
		}
		// The sigaction struct points at the handler (after the code's
		// last branch) and the timespec asks for one second.
		data := b[codeOffset+prog.labels["act"]:]
		down := uint64(loadBase + codeOffset + prog.labels["down"])
		if h, r := binary.LittleEndian.Uint64(data), binary.LittleEndian.Uint64(data[16:]); h != down || r != down {
			t.Errorf("%s: sa_handler %#x, sa_restorer %#x; want both %#x", goarch, h, r, down)
		}
		if sec := binary.LittleEndian.Uint64(b[codeOffset+prog.labels["ts"]:]); sec != 1 {
			t.Errorf("%s: sleeps %d s, want 1", goarch, sec)
		}
	}
	if _, err := PauseELF("riscv64"); err == nil || !strings.Contains(err.Error(), "riscv64") {
		t.Errorf("PauseELF(riscv64) = %v, want an error naming the architecture", err)
	}
}

// pauseHelperEnv makes the test binary a launcher (see TestMain): it
// becomes a child subreaper, starts a shell that leaves an orphan behind,
// and executes the pause program named in the variable. The orphan is then
// the pause program's to reap, as in a sandbox where pause is PID 1.
const pauseHelperEnv = "SHOAL_TEST_PAUSE_EXEC"

func TestMain(m *testing.M) {
	if path := os.Getenv(pauseHelperEnv); path != "" {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			fmt.Fprintln(os.Stderr, "prctl:", err)
			os.Exit(2)
		}
		// The subshell's sleep outlives both shells and is reparented.
		if err := exec.Command("/bin/sh", "-c", "(sleep 0.3 &)").Start(); err != nil {
			fmt.Fprintln(os.Stderr, "start shell:", err)
			os.Exit(2)
		}
		err := syscall.Exec(path, []string{path}, nil)
		fmt.Fprintln(os.Stderr, "exec pause:", err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// writePause writes this machine's pause program to a file.
func writePause(t *testing.T) string {
	t.Helper()
	b, err := PauseELF(runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// children lists pid's children (zombies included).
func children(pid int) []string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	return strings.Fields(string(b))
}

func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return f[0]
}

func TestPauseReapsOrphansAndStops(t *testing.T) {
	path := writePause(t)
	for _, tc := range []struct {
		signal   syscall.Signal
		wantCode int // exit code, or -1 for killed by the signal
	}{
		{syscall.SIGTERM, 0},
		{syscall.SIGINT, 0},
		{syscall.SIGKILL, -1},
	} {
		t.Run(tc.signal.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), pauseHelperEnv+"="+path)
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			pid := cmd.Process.Pid
			// The orphaned sleep shows up as a child, then is reaped
			// when it exits: a pause that did not reap would keep a
			// zombie child forever.
			deadline := time.Now().Add(10 * time.Second)
			sawOrphan := false
			for time.Now().Before(deadline) {
				kids := children(pid)
				for _, k := range kids {
					if comm, _ := os.ReadFile("/proc/" + k + "/comm"); strings.TrimSpace(string(comm)) == "sleep" {
						sawOrphan = true
					}
				}
				if sawOrphan && len(kids) == 0 {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if !sawOrphan {
				t.Fatal("the orphaned sleep never became the pause program's child")
			}
			if kids := children(pid); len(kids) != 0 {
				t.Fatalf("children not reaped within 10s: %v", kids)
			}
			// With no children left it sleeps a second at a time and
			// goes on running.
			time.Sleep(1200 * time.Millisecond)
			if st := procState(pid); st != "S" {
				t.Fatalf("pause state %q after reaping, want S (sleeping)", st)
			}
			if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); exe != path {
				t.Fatalf("pid %d runs %q, want the pause program", pid, exe)
			}
			if err := cmd.Process.Signal(tc.signal); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			var ee *exec.ExitError
			switch {
			case tc.wantCode == 0 && err != nil:
				t.Errorf("after %v: %v, want exit status 0", tc.signal, err)
			case tc.wantCode < 0 && (!errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != tc.signal):
				t.Errorf("after %v: %v, want killed by the signal", tc.signal, err)
			}
		})
	}
}
