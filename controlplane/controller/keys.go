package controller

import (
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// Key is an object's queue key: "namespace/name", or "/name" for an object
// without a namespace.
func Key(o store.Object) string { return o.GetNamespace() + "/" + o.GetName() }

// SplitKey is the inverse of Key.
func SplitKey(key string) (namespace, name string) {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return key[:i], key[i+1:]
		}
	}
	return "", key
}

// IsChange reports whether a cache event is a real change (not the Relisted
// marker, whose diff events came before it, nor a bookmark).
func IsChange(e store.Event) bool { return e.Type != store.Relisted && e.Type != watch.Bookmark }
