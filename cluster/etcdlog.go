package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// etcdLogger passes the embedded etcd's warnings and errors to log, so
// that what breaks between members (a peer's TLS, a lost quorum) is seen.
// removed is set when etcd says the member was removed from the cluster,
// which it tells no other way when it learns it from a peer. Once closing
// is set, and for what etcd always says at start, it logs at debug level
// only: etcd reports its own listeners closing as errors.
func etcdLogger(log *slog.Logger, removed, closing *atomic.Bool) *zap.Logger {
	return zap.New(&slogCore{log: log.With("component", "etcd"), removed: removed, closing: closing})
}

// slogCore is a zapcore.Core writing to slog at warn level and above.
type slogCore struct {
	log              *slog.Logger
	fields           []zapcore.Field
	removed, closing *atomic.Bool
}

// startNoise are etcd's warnings that do not apply to how Shoal runs it
// (its auth tokens are unused; gRPC and HTTP share the client port).
var startNoise = []string{"simple token is not cryptographically signed", "Running http and grpc server on single port"}

// removedText is how etcd says its member was removed.
const removedText = "the member has been permanently removed from the cluster"

var _ zapcore.Core = (*slogCore)(nil)

func (c *slogCore) Enabled(l zapcore.Level) bool { return l >= zapcore.WarnLevel }

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{log: c.log, fields: append(append([]zapcore.Field(nil), c.fields...), fields...), removed: c.removed, closing: c.closing}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range append(append([]zapcore.Field(nil), c.fields...), fields...) {
		f.AddTo(enc)
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields))
	for k, v := range enc.Fields {
		attrs = append(attrs, slog.Any(k, v))
		if k == "error" && strings.Contains(fmt.Sprint(v), removedText) {
			c.removed.Store(true)
		}
	}
	level := slog.LevelWarn
	switch {
	case c.closing.Load() || slices.ContainsFunc(startNoise, func(n string) bool { return strings.HasPrefix(e.Message, n) }):
		level = slog.LevelDebug
	case e.Level >= zapcore.ErrorLevel:
		level = slog.LevelError
	}
	c.log.LogAttrs(context.Background(), level, e.Message, attrs...)
	return nil
}

func (c *slogCore) Sync() error { return nil }
