package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/shoalmesh/shoal/api"
)

// Store reads and writes objects in etcd. It is safe for concurrent use.
type Store struct {
	client *clientv3.Client
	// transformers change the stored bytes of some resources (encryption
	// at rest); set before the store is used, read-only after.
	transformers map[*api.Resource]Transformer
	// stale holds the keys, with their revision, whose value was last read
	// under a key that is no longer the one writes use (see IsStale).
	stale sync.Map
}

// New returns a Store over an etcd client the caller owns.
func New(client *clientv3.Client) *Store { return &Store{client: client} }

// Client is the etcd client the store uses.
func (s *Store) Client() *clientv3.Client { return s.client }

// Txn is what a caller adds to a write so that it happens atomically with it:
// comparisons that must hold and operations done in the same transaction.
type Txn struct {
	Cmps []clientv3.Cmp
	Ops  []clientv3.Op
}

// Predicate selects objects by labels and fields. A nil selector matches all.
type Predicate struct {
	Label labels.Selector
	Field fields.Selector
}

// Empty reports whether p selects everything.
func (p Predicate) Empty() bool {
	return (p.Label == nil || p.Label.Empty()) && (p.Field == nil || p.Field.Empty())
}

// Matches reports whether obj, a r, is selected by p.
func (p Predicate) Matches(r *api.Resource, obj Object) bool {
	if p.Label != nil && !p.Label.Empty() && !p.Label.Matches(labels.Set(obj.GetLabels())) {
		return false
	}
	if p.Field != nil && !p.Field.Empty() && !p.Field.Matches(r.FieldSet(obj)) {
		return false
	}
	return true
}

// Encode is the stored form of obj: JSON with apiVersion and kind, without
// resourceVersion (that is the key's mod revision).
func Encode(r *api.Resource, obj Object) ([]byte, error) {
	rv := obj.GetResourceVersion()
	obj.SetResourceVersion("")
	obj.GetObjectKind().SetGroupVersionKind(r.GroupVersionKind())
	b, err := json.Marshal(obj)
	obj.SetResourceVersion(rv)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s/%s: %w", r.Kind, obj.GetNamespace(), obj.GetName(), err)
	}
	return b, nil
}

func (s *Store) decode(r *api.Resource, key, value []byte, rev int64) (Object, error) {
	value, err := s.fromStorage(r, string(key), value, rev)
	if err != nil {
		return nil, err
	}
	obj := r.New()
	if err := json.Unmarshal(value, obj); err != nil {
		return nil, fmt.Errorf("decode %s: %w", r.Kind, err)
	}
	obj.GetObjectKind().SetGroupVersionKind(r.GroupVersionKind())
	obj.SetResourceVersion(strconv.FormatInt(rev, 10))
	return obj, nil
}

// ParseResourceVersion turns a resourceVersion into an etcd revision; "" is 0.
func ParseResourceVersion(rv string) (int64, error) {
	if rv == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n < 0 {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q: must be a non-negative integer", rv))
	}
	return n, nil
}

// Get returns the object namespace/name.
func (s *Store) Get(ctx context.Context, r *api.Resource, namespace, name string) (Object, error) {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	resp, err := s.client.Get(ctx, r.Key(namespace, name))
	if err != nil {
		return nil, unavailable(err)
	}
	if len(resp.Kvs) == 0 {
		return nil, apierrors.NewNotFound(r.GroupResource(), name)
	}
	kv := resp.Kvs[0]
	return s.decode(r, kv.Key, kv.Value, kv.ModRevision)
}

// ListOptions narrow a List.
type ListOptions struct {
	Predicate
	// Limit is the most items to return; 0 is no limit.
	Limit int64
	// Continue is the token of the previous page's ListResult.
	Continue string
	// Revision reads the list as of an etcd revision; 0 is the newest.
	Revision int64
}

// ListResult is one page of a list.
type ListResult struct {
	Items []Object
	// Revision is the etcd revision the list was read at.
	Revision int64
	// Continue is set when more items remain; pass it to get the next page.
	Continue string
}

type continueToken struct {
	Rev   int64  `json:"rv"`
	Start string `json:"start"`
}

// List returns the objects of r in namespace ("" for all) that opts selects,
// all read at one revision.
func (s *Store) List(ctx context.Context, r *api.Resource, namespace string, opts ListOptions) (*ListResult, error) {
	prefix := r.ListPrefix(namespace)
	start, rev := prefix, opts.Revision
	if opts.Continue != "" {
		tok, err := decodeContinue(opts.Continue, prefix)
		if err != nil {
			return nil, err
		}
		start, rev = tok.Start, tok.Rev
	}
	end := clientv3.GetPrefixRangeEnd(prefix)
	out := &ListResult{}
	// Read in chunks so a selective list with a limit does not load
	// everything, and a large list does not make one huge etcd response.
	chunk := int64(500)
	if opts.Limit > 0 && opts.Limit < chunk && opts.Empty() {
		chunk = opts.Limit + 1
	}
	for {
		ops := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(chunk)}
		if rev > 0 {
			ops = append(ops, clientv3.WithRev(rev))
		}
		cctx, cancel := withDeadline(ctx)
		resp, err := s.client.Get(cctx, start, ops...)
		cancel()
		if err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				return nil, apierrors.NewResourceExpired(fmt.Sprintf("the list revision %d has been compacted; list again without continue or resourceVersion", rev))
			}
			if errors.Is(err, rpctypes.ErrFutureRev) {
				return nil, apierrors.NewTimeoutError(fmt.Sprintf("too large resource version: %d", rev), 1)
			}
			return nil, unavailable(err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for i, kv := range resp.Kvs {
			if opts.Limit > 0 && int64(len(out.Items)) == opts.Limit {
				out.Continue = encodeContinue(rev, string(kv.Key))
				out.Revision = rev
				return out, nil
			}
			obj, err := s.decode(r, kv.Key, kv.Value, kv.ModRevision)
			if err != nil {
				return nil, err
			}
			if opts.Predicate.Matches(r, obj) {
				out.Items = append(out.Items, obj)
			}
			if i == len(resp.Kvs)-1 {
				start = string(kv.Key) + "\x00"
			}
		}
		if !resp.More {
			break
		}
	}
	out.Revision = rev
	return out, nil
}

func encodeContinue(rev int64, start string) string {
	b, _ := json.Marshal(continueToken{Rev: rev, Start: start})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(s, prefix string) (continueToken, error) {
	var tok continueToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &tok)
	}
	if err != nil || tok.Rev <= 0 || len(tok.Start) < len(prefix) || tok.Start[:len(prefix)] != prefix {
		return tok, apierrors.NewBadRequest("invalid continue token: it is not one this server issued for this list")
	}
	return tok, nil
}

// Create stores obj, which must not exist yet, together with extra, and
// returns it with its resourceVersion set.
func (s *Store) Create(ctx context.Context, r *api.Resource, obj Object, extra Txn) (Object, error) {
	if obj.GetResourceVersion() != "" {
		return nil, apierrors.NewBadRequest("resourceVersion must not be set on create")
	}
	key := r.Key(obj.GetNamespace(), obj.GetName())
	val, err := s.encode(r, key, obj)
	if err != nil {
		return nil, err
	}
	cmps := append([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)}, extra.Cmps...)
	ops := append([]clientv3.Op{clientv3.OpPut(key, string(val))}, extra.Ops...)
	tctx, cancel := withDeadline(ctx)
	defer cancel()
	resp, err := s.client.Txn(tctx).If(cmps...).Then(ops...).Else(clientv3.OpGet(key, clientv3.WithCountOnly())).Commit()
	if err != nil {
		return nil, unavailable(err)
	}
	if !resp.Succeeded {
		if resp.Responses[0].GetResponseRange().Count > 0 {
			return nil, apierrors.NewAlreadyExists(r.GroupResource(), obj.GetName())
		}
		return nil, ErrPreconditionFailed
	}
	obj.SetResourceVersion(strconv.FormatInt(resp.Header.Revision, 10))
	return obj, nil
}

// Update replaces the stored object with obj if it is still at obj's
// resourceVersion (compare-and-swap); otherwise it returns 409 Conflict.
func (s *Store) Update(ctx context.Context, r *api.Resource, obj Object, extra Txn) (Object, error) {
	rev, err := ParseResourceVersion(obj.GetResourceVersion())
	if err != nil {
		return nil, err
	}
	if rev == 0 {
		return nil, apierrors.NewBadRequest("metadata.resourceVersion: must be specified for an update")
	}
	key := r.Key(obj.GetNamespace(), obj.GetName())
	val, err := s.encode(r, key, obj)
	if err != nil {
		return nil, err
	}
	cmps := append([]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)}, extra.Cmps...)
	ops := append([]clientv3.Op{clientv3.OpPut(key, string(val))}, extra.Ops...)
	tctx, cancel := withDeadline(ctx)
	defer cancel()
	resp, err := s.client.Txn(tctx).If(cmps...).Then(ops...).Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return nil, unavailable(err)
	}
	if !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().Kvs
		switch {
		case len(kvs) == 0:
			return nil, apierrors.NewNotFound(r.GroupResource(), obj.GetName())
		case kvs[0].ModRevision != rev:
			return nil, conflict(r, obj.GetName())
		default:
			return nil, ErrPreconditionFailed
		}
	}
	obj.SetResourceVersion(strconv.FormatInt(resp.Header.Revision, 10))
	return obj, nil
}

// UpdateFunc computes the new object from the current one (a private copy it
// may change) and what to write with it. Returning an error stops the update.
type UpdateFunc func(current Object) (Object, Txn, error)

// GuaranteedUpdate reads the object, applies update and writes the result,
// retrying from a fresh read when another writer got there first.
func (s *Store) GuaranteedUpdate(ctx context.Context, r *api.Resource, namespace, name string, update UpdateFunc) (Object, error) {
	for attempt := 0; ; attempt++ {
		cur, err := s.Get(ctx, r, namespace, name)
		if err != nil {
			return nil, err
		}
		rv := cur.GetResourceVersion()
		next, extra, err := update(cur)
		if err != nil {
			return nil, err
		}
		next.SetResourceVersion(rv)
		out, err := s.Update(ctx, r, next, extra)
		if apierrors.IsConflict(err) && attempt < 16 && ctx.Err() == nil {
			continue
		}
		return out, err
	}
}

// Preconditions must hold for a Delete to happen.
type Preconditions struct {
	UID             string
	ResourceVersion string
}

// Delete removes namespace/name, with whatever extra returns for the object
// being deleted, and returns the object as it was.
func (s *Store) Delete(ctx context.Context, r *api.Resource, namespace, name string, pre *Preconditions, extra func(Object) Txn) (Object, error) {
	key := r.Key(namespace, name)
	for attempt := 0; ; attempt++ {
		cur, err := s.Get(ctx, r, namespace, name)
		if err != nil {
			return nil, err
		}
		if err := checkPreconditions(r, cur, pre); err != nil {
			return nil, err
		}
		rev, _ := ParseResourceVersion(cur.GetResourceVersion())
		var x Txn
		if extra != nil {
			x = extra(cur)
		}
		cmps := append([]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)}, x.Cmps...)
		ops := append([]clientv3.Op{clientv3.OpDelete(key)}, x.Ops...)
		tctx, cancel := withDeadline(ctx)
		resp, err := s.client.Txn(tctx).If(cmps...).Then(ops...).Else(clientv3.OpGet(key, clientv3.WithCountOnly())).Commit()
		cancel()
		if err != nil {
			return nil, unavailable(err)
		}
		if resp.Succeeded {
			return cur, nil
		}
		if attempt >= 16 || ctx.Err() != nil {
			return nil, conflict(r, name)
		}
	}
}

func checkPreconditions(r *api.Resource, cur Object, pre *Preconditions) error {
	if pre == nil {
		return nil
	}
	if pre.UID != "" && string(cur.GetUID()) != pre.UID {
		return apierrors.NewConflict(r.GroupResource(), cur.GetName(),
			fmt.Errorf("precondition failed: UID in precondition: %s, UID in object meta: %s", pre.UID, cur.GetUID()))
	}
	if pre.ResourceVersion != "" && pre.ResourceVersion != cur.GetResourceVersion() {
		return apierrors.NewConflict(r.GroupResource(), cur.GetName(),
			fmt.Errorf("precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s", pre.ResourceVersion, cur.GetResourceVersion()))
	}
	return nil
}

func conflict(r *api.Resource, name string) error {
	return apierrors.NewConflict(r.GroupResource(), name,
		errors.New("the object has been modified; please apply your changes to the latest version and try again"))
}

// OpTimeout bounds every etcd call the store makes, so a request never
// hangs on an etcd that is away: it fails with a timeout the caller can
// answer (or serve from a cache).
const OpTimeout = 10 * time.Second

func withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, OpTimeout)
}

// unavailable turns an etcd error into a 503 (or the context's error), so an
// API client sees "try again" rather than a 500 when etcd is briefly away.
func unavailable(err error) error {
	if errors.Is(err, rpctypes.ErrRequestTooLarge) {
		// Not etcd being away: this object is larger than etcd stores.
		return apierrors.NewRequestEntityTooLargeError("the object is larger than etcd stores (etcdserver: request is too large)")
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return apierrors.NewTimeoutError(fmt.Sprintf("etcd: %v", err), 1)
	}
	return apierrors.NewServiceUnavailable(fmt.Sprintf("etcd: %v", err))
}
