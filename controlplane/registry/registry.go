package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// Registry applies Shoal's rules to every write: server-set metadata,
// defaulting, validation, warnings, namespace lifecycle and ClusterIP
// allocation, then stores the result. The API server is a thin HTTP layer
// over it; in-process writers (controllers) may call it directly.
type Registry struct {
	Store *store.Store
	IPs   *IPAllocator
	// PodCIDRs hands out Nodes' pod CIDRs (New sets DefaultPodCIDR with a
	// /24 per node; replace it before serving for another range).
	PodCIDRs *CIDRAllocator
	// Namespaces, if set, answers namespace lookups without an etcd read;
	// a miss still falls back to etcd (the cache may lag a fresh create).
	Namespaces *store.Cache
	// ServiceAccountAdmission, if set, admits pods as Kubernetes'
	// ServiceAccount admission plugin does (on in every Shoal server).
	ServiceAccountAdmission *ServiceAccountAdmission
	Log                     *slog.Logger

	finalize chan string // namespaces to empty and remove
}

// New returns a registry storing in st and allocating ClusterIPs from ips.
func New(st *store.Store, ips *IPAllocator, log *slog.Logger) *Registry {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pods, _ := NewCIDRAllocator(st.Client(), DefaultPodCIDR, DefaultNodeMaskSize) // constant: cannot fail
	return &Registry{Store: st, IPs: ips, PodCIDRs: pods, Log: log.With("component", "registry"), finalize: make(chan string, 64)}
}

// WriteOptions change how a write is done.
type WriteOptions struct {
	// DryRun runs every check and returns the result without storing it.
	DryRun bool
	// GracePeriodSeconds, on a delete of a pod bound to a node, overrides
	// the pod's terminationGracePeriodSeconds; 0 deletes at once.
	GracePeriodSeconds *int64

	// deleting marks the registry's own update that starts a deletion: it
	// may set deletionTimestamp, which clients may not.
	deleting bool
}

// Result of a write: the stored object and the warnings for the client.
type Result struct {
	Object   store.Object
	Warnings []string
}

// Create stores a new object after filling, defaulting and checking it.
func (r *Registry) Create(ctx context.Context, info *Info, obj store.Object, opts WriteOptions) (Result, error) {
	if obj.GetResourceVersion() != "" {
		return Result{}, apierrors.NewBadRequest("metadata.resourceVersion: must not be set on objects to be created")
	}
	if obj.GetName() == "" && obj.GetGenerateName() != "" {
		obj.SetName(obj.GetGenerateName() + rand.String(5))
	}
	if err := r.checkNamespace(ctx, info, obj); err != nil {
		return Result{}, err
	}
	obj.SetUID(uuid.NewUUID())
	obj.SetCreationTimestamp(metav1.Now())
	obj.SetGeneration(1)
	obj.SetDeletionTimestamp(nil)
	obj.SetDeletionGracePeriodSeconds(nil)
	resetStatusOnCreate(obj)
	prepareCreate(obj)
	SetDefaults(obj)
	if err := r.admit(ctx, info, obj); err != nil {
		return Result{}, err
	}
	if errs := Validate(obj); len(errs) > 0 {
		return Result{}, invalid(info, obj.GetName(), errs)
	}
	res := Result{Warnings: Warnings(obj)}
	requested := wantsIP(obj) || r.wantsPodCIDR(obj)
	for attempt := 0; ; attempt++ {
		extra, err := r.createTxn(ctx, info, obj, requested, attempt)
		if err != nil {
			return Result{}, err
		}
		if opts.DryRun {
			res.Object = obj
			return res, nil
		}
		out, err := r.Store.Create(ctx, info.Resource, obj, extra)
		if errors.Is(err, store.ErrPreconditionFailed) {
			if requested {
				return Result{}, allocatedError(info, obj)
			}
			if attempt < 64 {
				continue // another service (node) took the pick first
			}
			return Result{}, r.rangeFullError(obj)
		}
		res.Object = out
		return res, err
	}
}

// UpdateFunc computes the wanted object from the current one (a private copy).
// If the returned object carries a resourceVersion, the write is a
// compare-and-swap on it; if not, it is applied to whatever is current.
type UpdateFunc func(current store.Object) (store.Object, error)

// Update replaces namespace/name with what update returns, for the main
// resource (subresource "") or its "status".
func (r *Registry) Update(ctx context.Context, info *Info, namespace, name, subresource string, update UpdateFunc, opts WriteOptions) (Result, error) {
	var res Result
	for attempt := 0; ; attempt++ {
		cur, err := r.Store.Get(ctx, info.Resource, namespace, name)
		if err != nil {
			return Result{}, err
		}
		next, err := update(cur.DeepCopyObject().(store.Object))
		if err != nil {
			return Result{}, err
		}
		conditional := next.GetResourceVersion() != ""
		if !conditional {
			next.SetResourceVersion(cur.GetResourceVersion())
		} else if next.GetResourceVersion() != cur.GetResourceVersion() {
			return Result{}, conflict(info, name)
		}
		if next.GetName() != name || (info.Namespaced && next.GetNamespace() != namespace) {
			return Result{}, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", next.GetName(), name))
		}
		next, err = r.prepareUpdate(info, next, cur, subresource, opts.deleting)
		if err != nil {
			return Result{}, err
		}
		if err := r.allocateOnUpdate(ctx, info, next, cur); err != nil {
			return Result{}, err
		}
		if subresource != "status" { // a status write has no say in the spec warned about
			res.Warnings = Warnings(next)
		}
		if sameStored(info, next, cur) && !r.Store.IsStale(info.Resource, cur) {
			res.Object = cur
			return res, nil
		}
		extra, err := r.updateTxn(info, next, cur)
		if err != nil {
			return Result{}, err
		}
		if opts.DryRun {
			res.Object = next
			return res, nil
		}
		out, err := r.Store.Update(ctx, info.Resource, next, extra)
		if apierrors.IsConflict(err) && !conditional && attempt < 16 {
			continue
		}
		if errors.Is(err, store.ErrPreconditionFailed) {
			return Result{}, allocatedError(info, next)
		}
		if err != nil {
			return Result{}, err
		}
		// Removing the last finalizer of an object being deleted deletes it.
		if out.GetDeletionTimestamp() != nil && len(out.GetFinalizers()) == 0 && len(cur.GetFinalizers()) > 0 && info != Namespaces {
			if _, err := r.Store.Delete(ctx, info.Resource, namespace, name, &store.Preconditions{ResourceVersion: out.GetResourceVersion()}, r.deleteTxn(info)); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return Result{}, err
			}
		}
		res.Object = out
		return res, nil
	}
}

// prepareUpdate keeps what the client may not change and checks the result.
func (r *Registry) prepareUpdate(info *Info, next, cur store.Object, subresource string, deleting bool) (store.Object, error) {
	if subresource == "status" {
		// A status write changes the status and nothing else.
		s := cur.DeepCopyObject().(store.Object)
		copyField(s, next, "Status")
		s.SetResourceVersion(next.GetResourceVersion())
		next = s
	} else if info.Status {
		copyField(next, cur, "Status")
	}
	next.SetUID(cur.GetUID())
	next.SetCreationTimestamp(cur.GetCreationTimestamp())
	if !deleting {
		next.SetDeletionTimestamp(cur.GetDeletionTimestamp())
		next.SetDeletionGracePeriodSeconds(cur.GetDeletionGracePeriodSeconds())
	}
	next.SetGeneration(cur.GetGeneration())
	switch o := next.(type) {
	case *corev1.Service:
		carryClusterIP(o, cur.(*corev1.Service))
	case *corev1.Node:
		carryPodCIDR(o, cur.(*corev1.Node))
	}
	SetDefaults(next)
	if specChanged(next, cur) {
		next.SetGeneration(cur.GetGeneration() + 1)
	}
	if errs := ValidateUpdate(next, cur); len(errs) > 0 {
		return nil, invalid(info, next.GetName(), errs)
	}
	return next, nil
}

// Delete removes namespace/name. Objects with finalizers are marked for
// deletion and removed when their last finalizer is; a namespace first goes
// Terminating while its contents are deleted.
func (r *Registry) Delete(ctx context.Context, info *Info, namespace, name string, pre *store.Preconditions, opts WriteOptions) (store.Object, error) {
	if info == Namespaces {
		return r.deleteNamespace(ctx, name, pre, opts)
	}
	cur, err := r.Store.Get(ctx, info.Resource, namespace, name)
	if err != nil {
		return nil, err
	}
	if opts.DryRun {
		return cur, nil
	}
	if pod, ok := cur.(*corev1.Pod); ok && info == Pods {
		if grace, graceful := podGrace(pod, opts.GracePeriodSeconds); graceful {
			return r.deleteGracefully(ctx, pod, grace, pre)
		}
	}
	if len(cur.GetFinalizers()) > 0 {
		if cur.GetDeletionTimestamp() != nil {
			return cur, nil
		}
		res, err := r.Update(ctx, info, namespace, name, "", func(c store.Object) (store.Object, error) {
			now := metav1.Now()
			c.SetDeletionTimestamp(&now)
			c.SetResourceVersion("")
			return c, nil
		}, WriteOptions{deleting: true})
		if err == nil && len(res.Object.GetFinalizers()) == 0 {
			// Its last finalizer went while the deletion was being marked.
			return r.Store.Delete(ctx, info.Resource, namespace, name, &store.Preconditions{ResourceVersion: res.Object.GetResourceVersion()}, r.deleteTxn(info))
		}
		return res.Object, err
	}
	return r.Store.Delete(ctx, info.Resource, namespace, name, pre, r.deleteTxn(info))
}

// checkNamespace enforces namespace lifecycle on create: the namespace must
// exist and not be terminating.
func (r *Registry) checkNamespace(ctx context.Context, info *Info, obj store.Object) error {
	if !info.Namespaced {
		obj.SetNamespace("")
		return nil
	}
	ns := obj.GetNamespace()
	if ns == "" {
		return apierrors.NewBadRequest("metadata.namespace: required for a namespaced resource")
	}
	var nsObj store.Object
	if r.Namespaces != nil {
		if o, ok := r.Namespaces.Get("", ns); ok {
			nsObj = o
		}
	}
	if nsObj == nil {
		o, err := r.Store.Get(ctx, Namespaces.Resource, "", ns)
		if apierrors.IsNotFound(err) {
			return apierrors.NewNotFound(Namespaces.GroupResource(), ns)
		}
		if err != nil {
			return err
		}
		nsObj = o
	}
	if nsObj.GetDeletionTimestamp() != nil && info != Events {
		err := apierrors.NewForbidden(info.GroupResource(), obj.GetName(),
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
		// As Kubernetes' NamespaceLifecycle admission does, so that
		// controllers can tell this refusal from a failure.
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
			Type: corev1.NamespaceTerminatingCause, Message: fmt.Sprintf("namespace %s is being terminated", ns), Field: "metadata.namespace"})
		return err
	}
	return nil
}

func invalid(info *Info, name string, errs field.ErrorList) error {
	return apierrors.NewInvalid(info.GroupVersionKind().GroupKind(), name, errs)
}

func conflict(info *Info, name string) error {
	return apierrors.NewConflict(info.GroupResource(), name,
		errors.New("the object has been modified; please apply your changes to the latest version and try again"))
}

// resetStatusOnCreate clears what only controllers and agents may set.
func resetStatusOnCreate(obj store.Object) {
	switch o := obj.(type) {
	case *corev1.Pod:
		o.Status = corev1.PodStatus{Phase: corev1.PodPending}
	case *corev1.Namespace:
		o.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
	case *corev1.Node:
		// A node agent registers its node with its status.
	default:
		if f := reflect.ValueOf(obj).Elem().FieldByName("Status"); f.IsValid() && f.CanSet() && f.Kind() == reflect.Struct {
			f.Set(reflect.Zero(f.Type()))
		}
	}
}

// copyField sets dst's struct field name to src's.
func copyField(dst, src store.Object, name string) {
	d := reflect.ValueOf(dst).Elem().FieldByName(name)
	s := reflect.ValueOf(src).Elem().FieldByName(name)
	if d.IsValid() && s.IsValid() && d.CanSet() {
		d.Set(s)
	}
}

// specChanged reports a change outside metadata and status: what bumps
// metadata.generation.
func specChanged(a, b store.Object) bool {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	for i := range va.NumField() {
		switch va.Type().Field(i).Name {
		case "TypeMeta", "ObjectMeta", "Status":
			continue
		}
		if !apiequality.Semantic.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			return true
		}
	}
	return false
}

// sameStored reports whether writing next would change nothing, so the write
// is skipped and the resourceVersion stays (as Kubernetes does).
func sameStored(info *Info, next, cur store.Object) bool {
	a, err1 := store.Encode(info.Resource, next)
	b, err2 := store.Encode(info.Resource, cur)
	return err1 == nil && err2 == nil && string(a) == string(b)
}

// Wait for finalize work; used by Run.
func (r *Registry) enqueueFinalize(ns string) {
	select {
	case r.finalize <- ns:
	default:
		// Full: the periodic sweep in Run picks it up.
	}
}
