package store

import (
	"fmt"

	"github.com/shoalmesh/shoal/api"
)

// Transformer changes the bytes of a resource's objects on their way into
// and out of etcd, as kube-apiserver's value transformers do: Shoal
// encrypts Secrets with one (package encryption). The object's etcd key is
// passed so that an implementation can bind a value to where it is stored.
type Transformer interface {
	// TransformToStorage returns what is written to etcd at key for data.
	TransformToStorage(data []byte, key string) ([]byte, error)
	// TransformFromStorage undoes TransformToStorage. stale reports that
	// the value was not written the way TransformToStorage writes now
	// (under an older key, or not encrypted), so that rewriting it
	// unchanged is worth doing.
	TransformFromStorage(data []byte, key string) (out []byte, stale bool, err error)
}

// SetTransformer makes the store pass every value of r through t. Call it
// before the store is used; a process that reads r must set the same
// transformer, or it reads bytes it cannot decode.
func (s *Store) SetTransformer(r *api.Resource, t Transformer) {
	if s.transformers == nil {
		s.transformers = map[*api.Resource]Transformer{}
	}
	s.transformers[r] = t
}

// IsStale reports whether obj, as last read, was stored under a key that
// writes no longer use (an encryption key rotated out of first place). An
// update that changes nothing still rewrites such an object, so that
// `kubectl replace` of every Secret moves them all to the current key.
func (s *Store) IsStale(r *api.Resource, obj Object) bool {
	rev, ok := s.stale.Load(r.Key(obj.GetNamespace(), obj.GetName()))
	return ok && fmt.Sprint(rev) == obj.GetResourceVersion()
}

// encode is Encode followed by r's transformer, if any.
func (s *Store) encode(r *api.Resource, key string, obj Object) ([]byte, error) {
	b, err := Encode(r, obj)
	if err != nil {
		return nil, err
	}
	t, ok := s.transformers[r]
	if !ok {
		return b, nil
	}
	out, err := t.TransformToStorage(b, key)
	if err != nil {
		// The error names the object, never its contents.
		return nil, fmt.Errorf("transform %s %s/%s for storage: %w", r.Kind, obj.GetNamespace(), obj.GetName(), err)
	}
	s.stale.Delete(key)
	return out, nil
}

// fromStorage undoes r's transformer, if any, and records a stale value.
func (s *Store) fromStorage(r *api.Resource, key string, value []byte, rev int64) ([]byte, error) {
	t, ok := s.transformers[r]
	if !ok {
		return value, nil
	}
	out, stale, err := t.TransformFromStorage(value, key)
	if err != nil {
		return nil, fmt.Errorf("transform %s from storage at %s: %w", r.Kind, key, err)
	}
	if stale {
		s.stale.Store(key, rev)
	} else {
		s.stale.Delete(key)
	}
	return out, nil
}
