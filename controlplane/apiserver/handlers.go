package apiserver

import (
	"context"
	"strconv"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	clientscheme "k8s.io/client-go/kubernetes/scheme"

	"encoding/json"
	"fmt"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/shoalmesh/shoal/controlplane/apiserver/table"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, ri requestInfo) {
	if ri.Group == metricsGroup {
		s.serveMetrics(w, r, ri)
		return
	}
	if ri.Group == customMetricsGroup {
		s.serveCustomMetrics(w, r, ri)
		return
	}
	if ri.Info == nil || (!ri.Info.Namespaced && ri.Namespace != "") {
		// Not `widgets "" not found`: name the resource the path asked for.
		writeError(w, &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusNotFound,
			Reason: metav1.StatusReasonNotFound, Details: &metav1.StatusDetails{Group: ri.Group, Kind: ri.Resource},
			Message: fmt.Sprintf("the server could not find the requested resource %q in %s", ri.Resource, schema.GroupVersion{Group: ri.Group, Version: ri.Version})}})
		return
	}
	switch ri.Subresource {
	case "":
	case "status":
		if !ri.Info.Status {
			writeError(w, apierrors.NewNotFound(ri.groupResource(), ri.Name+"/status"))
			return
		}
	case "scale":
		if !ri.Info.Scale {
			writeError(w, apierrors.NewNotFound(ri.groupResource(), ri.Name+"/scale"))
			return
		}
		s.serveScale(w, r, ri)
		return
	case "log":
		if ri.Info != registry.Pods || ri.Name == "" || ri.Verb != "get" {
			writeError(w, apierrors.NewNotFound(ri.groupResource(), ri.Name+"/log"))
			return
		}
		s.servePodLog(w, r, ri)
		return
	case subExec, subAttach, subPortForward:
		if ri.Info != registry.Pods {
			writeError(w, apierrors.NewNotFound(ri.groupResource(), ri.Name+"/"+ri.Subresource))
			return
		}
		s.serveConnect(w, r, ri)
		return
	case "token":
		if ri.Info != registry.ServiceAccounts || ri.Name == "" {
			writeError(w, apierrors.NewNotFound(ri.groupResource(), ri.Name+"/token"))
			return
		}
		s.serveToken(w, r, ri)
		return
	case "binding":
		if ri.Info != registry.Pods || ri.Name == "" {
			writeError(w, apierrors.NewNotFound(ri.groupResource(), ri.Name+"/binding"))
			return
		}
		s.serveBinding(w, r, ri)
		return
	default:
		writeError(w, apierrors.NewNotFound(ri.groupResource(), ri.Name+"/"+ri.Subresource))
		return
	}
	switch ri.Verb {
	case "get":
		s.get(w, r, ri)
	case "list":
		s.list(w, r, ri)
	case "watch":
		s.watch(w, r, ri)
	case "create":
		s.create(w, r, ri)
	case "update":
		s.update(w, r, ri)
	case "patch":
		s.patch(w, r, ri)
	case "delete":
		s.delete(w, r, ri)
	case "deletecollection":
		s.deleteCollection(w, r, ri)
	default:
		writeError(w, apierrors.NewMethodNotSupported(ri.groupResource(), r.Method))
	}
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, ri requestInfo) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	obj, err := s.store.Get(ctx, ri.Info.Resource, ri.Namespace, ri.Name)
	if c, ok := s.fallback(err, ri); ok {
		cached, found := c.Get(ri.Namespace, ri.Name)
		if !found {
			writeError(w, apierrors.NewNotFound(ri.Info.GroupResource(), ri.Name))
			return
		}
		obj, err = cached, nil
		addWarnings(w, []string{staleWarning(c)})
	}
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeObjects(w, r, ri, http.StatusOK, []store.Object{obj}, nil, true)
}

// readTimeout bounds an etcd read before a request falls back to a cache.
const readTimeout = 5 * time.Second

// fallback returns a synced cache of ri's resource when err says etcd is
// unreachable: reads keep being served from the last good view, as every
// Shoal part does, with a warning saying so.
func (s *Server) fallback(err error, ri requestInfo) (*store.Cache, bool) {
	if err == nil || s.caches == nil || !(apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err)) {
		return nil, false
	}
	return s.caches.Existing(ri.Info.Resource)
}

func staleWarning(c *store.Cache) string {
	return fmt.Sprintf("etcd is unreachable; this answer comes from the API server's cache at resourceVersion %d", c.Revision())
}

// predicate parses labelSelector and fieldSelector.
func predicate(r *http.Request, ri requestInfo) (store.Predicate, error) {
	q := r.URL.Query()
	var p store.Predicate
	var err error
	if p.Label, err = labels.Parse(q.Get("labelSelector")); err != nil {
		return p, apierrors.NewBadRequest(fmt.Sprintf("invalid labelSelector %q: %v", q.Get("labelSelector"), err))
	}
	if p.Field, err = fields.ParseSelector(q.Get("fieldSelector")); err != nil {
		return p, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
	}
	// Refuse a field the resource cannot be selected by, as Kubernetes does,
	// rather than silently matching nothing.
	probe := ri.Info.FieldSet(ri.Info.New())
	for _, req := range p.Field.Requirements() {
		if _, ok := probe[req.Field]; !ok {
			return p, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
		}
	}
	return p, nil
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, ri requestInfo) {
	pred, err := predicate(r, ri)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	opts := store.ListOptions{Predicate: pred, Continue: q.Get("continue")}
	if l := q.Get("limit"); l != "" {
		if _, err := fmt.Sscan(l, &opts.Limit); err != nil || opts.Limit < 0 {
			writeError(w, apierrors.NewBadRequest(fmt.Sprintf("limit: invalid value %q", l)))
			return
		}
	}
	// resourceVersionMatch=Exact reads at that revision; anything else is
	// served from the newest state (always at least as new as asked).
	if q.Get("resourceVersionMatch") == "Exact" {
		if opts.Revision, err = store.ParseResourceVersion(q.Get("resourceVersion")); err != nil {
			writeError(w, err)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	res, err := s.store.List(ctx, ri.Info.Resource, ri.Namespace, opts)
	if c, ok := s.fallback(err, ri); ok {
		// The whole selection in one page: a continue token would name an
		// etcd revision the cache cannot page through.
		res, err = &store.ListResult{Items: c.List(ri.Namespace, pred), Revision: c.Revision()}, nil
		addWarnings(w, []string{staleWarning(c)})
	}
	if err != nil {
		writeError(w, err)
		return
	}
	meta := &metav1.ListMeta{ResourceVersion: fmt.Sprint(res.Revision), Continue: res.Continue}
	s.writeObjects(w, r, ri, http.StatusOK, res.Items, meta, false)
}

// writeObjects answers with one object (single), a typed list, or a Table.
func (s *Server) writeObjects(w http.ResponseWriter, r *http.Request, ri requestInfo, code int, objs []store.Object, meta *metav1.ListMeta, single bool) {
	if tableRequest(r) {
		t, err := s.table(r, ri, objs)
		if err != nil {
			writeError(w, err)
			return
		}
		if meta != nil {
			t.ListMeta = *meta
		} else if single && len(objs) == 1 {
			t.ResourceVersion = objs[0].GetResourceVersion()
		}
		writeJSON(w, code, t)
		return
	}
	// Tables print the stored objects; anything else is in the version
	// asked for.
	objs, err := external(ri, objs)
	if err != nil {
		writeError(w, err)
		return
	}
	if acceptsProtobuf(r) {
		if single {
			writeProtobuf(w, code, objs[0])
			return
		}
		l, err := typedList(ri, objs, meta)
		if err != nil {
			writeError(w, err)
			return
		}
		writeProtobuf(w, code, l)
		return
	}
	if single {
		writeJSON(w, code, objs[0])
		return
	}
	writeJSON(w, code, &list{
		TypeMeta: metav1.TypeMeta{Kind: ri.Info.ListKind, APIVersion: ri.wire().GroupVersion.String()},
		ListMeta: *meta,
		Items:    objs,
	})
}

// typedList is objs as the resource's typed list (PodList, ...), for
// protobuf, which needs the real type.
func typedList(ri requestInfo, objs []store.Object, meta *metav1.ListMeta) (runtime.Object, error) {
	gvk := ri.wire().GroupVersion.WithKind(ri.Info.ListKind)
	l, err := clientscheme.Scheme.New(gvk)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	items := make([]runtime.Object, len(objs))
	for i, o := range objs {
		items[i] = o
	}
	if err := apimeta.SetList(l, items); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	acc, err := apimeta.ListAccessor(l)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	acc.SetResourceVersion(meta.ResourceVersion)
	acc.SetContinue(meta.Continue)
	l.GetObjectKind().SetGroupVersionKind(gvk)
	return l, nil
}

// list is the JSON shape of a typed list (PodList, ServiceList, ...): the
// items keep their own apiVersion and kind, which clients ignore.
type list struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []store.Object `json:"items"`
}

func (s *Server) table(r *http.Request, ri requestInfo, objs []store.Object) (*metav1.Table, error) {
	include := metav1.IncludeObjectPolicy(r.URL.Query().Get("includeObject"))
	ros := make([]runtime.Object, len(objs))
	for i, o := range objs {
		ros[i] = o
	}
	t, err := table.Convert(ri.Info.GroupVersionKind().GroupKind(), ros, include, time.Now())
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return t, nil
}

func writeOptions(r *http.Request) (registry.WriteOptions, error) {
	switch dr := r.URL.Query()["dryRun"]; {
	case len(dr) == 0:
		return registry.WriteOptions{}, nil
	case len(dr) == 1 && dr[0] == "All":
		return registry.WriteOptions{DryRun: true}, nil
	default:
		return registry.WriteOptions{}, apierrors.NewBadRequest(fmt.Sprintf("dryRun: Unsupported value: %q: supported values: \"All\"", dr))
	}
}

// writeRequest is what every write request carries besides its object.
type writeRequest struct {
	validation string // fieldValidation: Strict, Warn or Ignore
	opts       registry.WriteOptions
	body       []byte
}

func (s *Server) readWrite(r *http.Request) (writeRequest, error) {
	var wr writeRequest
	var err error
	if wr.validation, err = fieldValidation(r); err != nil {
		return wr, err
	}
	if wr.opts, err = writeOptions(r); err != nil {
		return wr, err
	}
	wr.body, err = readBody(r, s.maxBody)
	return wr, err
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, ri requestInfo) {
	if ri.Name != "" || ri.Subresource != "" {
		writeError(w, apierrors.NewMethodNotSupported(ri.groupResource(), "POST to a named object"))
		return
	}
	wr, err := s.readWrite(r)
	if err != nil {
		writeError(w, err)
		return
	}
	obj, warnings, err := decode(r, ri, wr.body, wr.validation)
	if err != nil {
		writeError(w, err)
		return
	}
	if ri.Info.Namespaced {
		switch obj.GetNamespace() {
		case "":
			obj.SetNamespace(ri.Namespace)
		case ri.Namespace:
		default:
			writeError(w, apierrors.NewBadRequest(fmt.Sprintf("the namespace of the provided object (%s) does not match the namespace sent on the request (%s)", obj.GetNamespace(), ri.Namespace)))
			return
		}
	}
	if err := createRestriction(r, ri, obj.GetName()); err != nil {
		writeError(w, err)
		return
	}
	if err := s.checkEscalation(r, ri, obj, nil); err != nil {
		writeError(w, err)
		return
	}
	res, err := s.reg.Create(r.Context(), ri.Info, obj, wr.opts)
	if err != nil {
		writeError(w, err)
		return
	}
	addWarnings(w, append(warnings, res.Warnings...))
	s.writeObjects(w, r, ri, http.StatusCreated, []store.Object{res.Object}, nil, true)
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, ri requestInfo) {
	wr, err := s.readWrite(r)
	if err != nil {
		writeError(w, err)
		return
	}
	obj, warnings, err := decode(r, ri, wr.body, wr.validation)
	if err != nil {
		writeError(w, err)
		return
	}
	if obj.GetNamespace() == "" && ri.Info.Namespaced {
		obj.SetNamespace(ri.Namespace)
	}
	res, err := s.reg.Update(r.Context(), ri.Info, ri.Namespace, ri.Name, ri.Subresource, func(cur store.Object) (store.Object, error) {
		return obj.DeepCopyObject().(store.Object), s.checkEscalation(r, ri, obj, cur)
	}, wr.opts)
	if err != nil {
		writeError(w, err)
		return
	}
	addWarnings(w, append(warnings, res.Warnings...))
	s.writeObjects(w, r, ri, http.StatusOK, []store.Object{res.Object}, nil, true)
}

// deleteOptions reads the optional DeleteOptions body or query.
func deleteOptions(r *http.Request, limit int64) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	body, err := readBody(r, limit)
	if err != nil {
		return nil, err
	}
	if len(body) > 0 {
		// client-go's typed clients send DeleteOptions as protobuf.
		if body, err = toJSON(r, body); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(body, opts); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the body of the request could not be decoded as DeleteOptions: %v", err))
		}
	}
	q := r.URL.Query()
	if p := q.Get("propagationPolicy"); p != "" {
		pp := metav1.DeletionPropagation(p)
		opts.PropagationPolicy = &pp
	}
	if q.Get("dryRun") == "All" {
		opts.DryRun = []string{"All"}
	}
	if g := q.Get("gracePeriodSeconds"); g != "" {
		n, err := strconv.ParseInt(g, 10, 64)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("gracePeriodSeconds: Invalid value: %q: must be an integer", g))
		}
		opts.GracePeriodSeconds = &n
	}
	if g := opts.GracePeriodSeconds; g != nil && *g < 0 {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("gracePeriodSeconds: Invalid value: %d: must be greater than or equal to 0", *g))
	}
	if pp := opts.PropagationPolicy; pp != nil {
		switch *pp {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
		default:
			return nil, apierrors.NewBadRequest(fmt.Sprintf("propagationPolicy: Unsupported value: %q: supported values: \"Background\", \"Foreground\", \"Orphan\"", *pp))
		}
	}
	return opts, nil
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, ri requestInfo) {
	if ri.Subresource != "" {
		writeError(w, apierrors.NewMethodNotSupported(ri.groupResource(), "DELETE of a subresource"))
		return
	}
	opts, err := deleteOptions(r, s.maxBody)
	if err != nil {
		writeError(w, err)
		return
	}
	var pre *store.Preconditions
	if p := opts.Preconditions; p != nil {
		pre = &store.Preconditions{}
		if p.UID != nil {
			pre.UID = string(*p.UID)
		}
		if p.ResourceVersion != nil {
			pre.ResourceVersion = *p.ResourceVersion
		}
	}
	obj, err := s.reg.Delete(r.Context(), ri.Info, ri.Namespace, ri.Name, pre, registry.WriteOptions{DryRun: len(opts.DryRun) > 0, GracePeriodSeconds: opts.GracePeriodSeconds})
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeObjects(w, r, ri, http.StatusOK, []store.Object{obj}, nil, true)
}

func (s *Server) deleteCollection(w http.ResponseWriter, r *http.Request, ri requestInfo) {
	pred, err := predicate(r, ri)
	if err != nil {
		writeError(w, err)
		return
	}
	opts, err := deleteOptions(r, s.maxBody)
	if err != nil {
		writeError(w, err)
		return
	}
	res, err := s.store.List(r.Context(), ri.Info.Resource, ri.Namespace, store.ListOptions{Predicate: pred})
	if err != nil {
		writeError(w, err)
		return
	}
	var deleted []store.Object
	for _, o := range res.Items {
		d, err := s.reg.Delete(r.Context(), ri.Info, o.GetNamespace(), o.GetName(), nil, registry.WriteOptions{DryRun: len(opts.DryRun) > 0, GracePeriodSeconds: opts.GracePeriodSeconds})
		if err != nil && !apierrors.IsNotFound(err) {
			writeError(w, err)
			return
		}
		if d != nil {
			deleted = append(deleted, d)
		}
	}
	s.writeObjects(w, r, ri, http.StatusOK, deleted, &metav1.ListMeta{ResourceVersion: fmt.Sprint(res.Revision)}, false)
}
