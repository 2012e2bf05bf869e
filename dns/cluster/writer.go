package cluster

import (
	"context"
	"net"
	"reflect"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// A reply may be written as bytes (wire.go) only where nothing between the
// plugin and the server's writer needs the *dns.Msg: the writer the server
// hands the plugin chain is a request.ScrubWriter (whose WriteMsg fits the
// reply to the client's buffer: the fast path fits it itself), which
// plugin.NextOrFailure wraps once per plugin to note which one wrote. A
// plugin that records or rewrites replies (log, prometheus, cache,
// loadbalance, ...) wraps it in a writer of its own, and then the reply goes
// as a *dns.Msg, as before.

// pluginWriterType is the type NextOrFailure wraps writers in (unexported
// in CoreDNS), nil if it cannot be unwrapped as this file expects.
var pluginWriterType = func() reflect.Type {
	inner := &request.ScrubWriter{}
	var t reflect.Type
	var got dns.ResponseWriter
	plugin.NextOrFailure("", plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, _ *dns.Msg) (int, error) {
		t = reflect.TypeOf(w)
		if v := reflect.ValueOf(w); v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct && v.Elem().NumField() > 0 {
			got, _ = v.Elem().Field(0).Interface().(dns.ResponseWriter)
		}
		return 0, nil
	}), context.Background(), inner, nil)
	if got != dns.ResponseWriter(inner) {
		return nil
	}
	return t
}()

// rawWriter reports whether bytes written to w reach the server's
// ScrubWriter unchanged, and whether the client is on TCP.
func rawWriter(w dns.ResponseWriter) (ok, tcp bool) {
	for range 32 {
		if sw, isScrub := w.(*request.ScrubWriter); isScrub {
			_, tcp = sw.RemoteAddr().(*net.TCPAddr)
			return true, tcp
		}
		if pluginWriterType == nil || reflect.TypeOf(w) != pluginWriterType {
			return false, false
		}
		w, _ = reflect.ValueOf(w).Elem().Field(0).Interface().(dns.ResponseWriter)
	}
	return false, false
}
