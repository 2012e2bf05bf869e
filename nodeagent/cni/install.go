package cni

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/shoalmesh/shoal/internal/atomicfile"
)

// StockPluginDir is where Debian's containernetworking-plugins installs
// the stock plugins; SetupNode links loopback from there.
const StockPluginDir = "/usr/lib/cni"

// stockPluginDir is StockPluginDir but in tests of a machine without it.
var stockPluginDir = StockPluginDir

// installPlugins puts the plugins containerd runs into binDir: shoal, the
// running executable (a test binary in tests, whose TestMain calls Main),
// and loopback from StockPluginDir. Each is a symlink, or a copy where a
// symlink cannot be made. A loopback that is a regular file is kept
// (binDir may be StockPluginDir itself). It returns the paths it made.
func installPlugins(binDir string) ([]string, error) {
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		return nil, fmt.Errorf("find the running executable: %w", err)
	}
	var made []string
	self := filepath.Join(binDir, PluginType)
	if self != exe {
		if err := link(exe, self); err != nil {
			return nil, err
		}
		made = append(made, self)
	}
	lo := filepath.Join(binDir, "loopback")
	if fi, err := os.Lstat(lo); err == nil && fi.Mode().IsRegular() {
		return made, nil
	}
	src := filepath.Join(stockPluginDir, "loopback")
	if _, err := os.Stat(src); err != nil {
		return nil, fmt.Errorf("CNI plugin loopback: %w (install containernetworking-plugins)", err)
	}
	if err := link(src, lo); err != nil {
		return nil, err
	}
	return append(made, lo), nil
}

// link makes dst a symlink to target, replacing what is there in one
// rename; where symlinks fail it copies target instead.
func link(target, dst string) error {
	if cur, err := os.Readlink(dst); err == nil && cur == target {
		return nil
	}
	tmp := fmt.Sprintf("%s.tmp-%d", dst, os.Getpid())
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		if cerr := copyFile(target, tmp); cerr != nil {
			return fmt.Errorf("install %s: symlink: %w; copy: %w", dst, err, cerr)
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("install %s: %w", dst, err)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	return out.Close()
}

func uninstallPlugins(paths []string) error {
	var errs []error
	for _, p := range paths {
		errs = append(errs, removeFile(p))
	}
	return errors.Join(errs...)
}

// writeConfList writes the conflist atomically: containerd watches the
// directory and must never read half a file. It warns if another network
// configuration sorts first, since containerd uses only the first.
func writeConfList(cfg NodeConfig, log *slog.Logger) error {
	b, err := renderConfList(cfg)
	if err != nil {
		return err
	}
	path := filepath.Join(cfg.ConfDir, ConfListName)
	if err := atomicfile.Write(path, b, 0o644); err != nil {
		return err
	}
	entries, err := os.ReadDir(cfg.ConfDir)
	if err != nil {
		return fmt.Errorf("list %s: %w", cfg.ConfDir, err)
	}
	names := []string{}
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); !e.IsDir() && slices.Contains([]string{".conf", ".conflist", ".json"}, ext) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	if len(names) > 0 && names[0] != ConfListName {
		log.Warn("containerd uses the first network configuration by name, which is not Shoal's",
			"dir", cfg.ConfDir, "first", names[0], "shoal", ConfListName, "others", strings.Join(names, ","))
	}
	return nil
}
