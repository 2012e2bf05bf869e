package resolver

import (
	"context"
	golog "log"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
)

// CoreDNS and Caddy log through the standard library's log package
// ("[INFO] plugin/reload: ..."). The bridge sends those lines to the slog
// logger of the most recently started server, with the level and the plugin
// as attributes. The standard logger is process-wide, hence one bridge.

var bridgeLogger atomic.Pointer[slog.Logger]

var installBridge = sync.OnceFunc(func() {
	golog.SetFlags(0)
	golog.SetPrefix("")
	golog.SetOutput(bridge{})
})

func useLogger(l *slog.Logger) {
	bridgeLogger.Store(l)
	installBridge()
}

type bridge struct{}

var levels = []struct {
	prefix string
	level  slog.Level
}{
	{"[DEBUG] ", slog.LevelDebug},
	{"[INFO] ", slog.LevelInfo},
	{"[WARNING] ", slog.LevelWarn},
	{"[ERROR] ", slog.LevelError},
	{"[FATAL] ", slog.LevelError},
	{"[PANIC] ", slog.LevelError},
}

func (bridge) Write(p []byte) (int, error) {
	l := bridgeLogger.Load()
	if l == nil {
		return len(p), nil
	}
	msg := strings.TrimRight(string(p), "\n")
	level := slog.LevelInfo
	for _, lv := range levels {
		if rest, ok := strings.CutPrefix(msg, lv.prefix); ok {
			msg, level = rest, lv.level
			break
		}
	}
	if !l.Enabled(context.Background(), level) {
		return len(p), nil
	}
	if name, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(name, "plugin/") && !strings.Contains(name, " ") {
		l.Log(context.Background(), level, rest, "plugin", strings.TrimPrefix(name, "plugin/"))
	} else {
		l.Log(context.Background(), level, msg)
	}
	return len(p), nil
}
