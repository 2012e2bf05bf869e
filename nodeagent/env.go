package nodeagent

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
)

// configError is a container the agent cannot run as specified: reported
// as CreateContainerConfigError and retried only if the pod changes.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func configErrorf(format string, args ...any) error {
	return &configError{fmt.Sprintf(format, args...)}
}

// envVar is one variable of a container's environment.
type envVar struct{ name, value string }

// envObjects looks up the ConfigMaps and Secrets a container's env and
// envFrom name (in the pod's namespace); a missing one's error wraps
// ErrNotFound.
type envObjects interface {
	configMap(name string) (map[string]string, error)
	secret(name string) (map[string][]byte, error)
}

// containerEnv is the container's environment (in order) and the same as a
// map for $(VAR) expansion, as the kubelet makes it: envFrom's variables
// (ConfigMaps' and Secrets', with their prefix; keys that are not valid
// names skipped), then env's (which override them); values may refer to
// variables defined before them. valueFrom supports the downward API
// (fieldRef, resourceFieldRef), configMapKeyRef and secretKeyRef (optional
// ones skipped when missing). services are the variables of the
// kubernetes Service (KUBERNETES_SERVICE_HOST, ...), added where the
// container does not set them.
func containerEnv(pod *corev1.Pod, c *corev1.Container, podIP, hostIP string, objs envObjects, services []envVar) ([]envVar, map[string]string, error) {
	vars := map[string]string{}
	var env []envVar
	set := func(name, value string) {
		if _, ok := vars[name]; ok {
			for i := range env {
				if env[i].name == name {
					env[i].value = value
				}
			}
		} else {
			env = append(env, envVar{name, value})
		}
		vars[name] = value
	}
	for i, from := range c.EnvFrom {
		data, err := envFromData(from, objs)
		if err != nil {
			return nil, nil, configErrorf("container %q: envFrom[%d]: %v", c.Name, i, err)
		}
		for _, k := range slices.Sorted(maps.Keys(data)) {
			if name := from.Prefix + k; len(validation.IsEnvVarName(name)) == 0 {
				set(name, data[k])
			}
		}
	}
	for i, e := range c.Env {
		var v string
		var err error
		switch from := e.ValueFrom; {
		case from == nil:
			v = expand(e.Value, vars)
		case from.FieldRef != nil:
			v, err = fieldRef(pod, from.FieldRef.FieldPath, podIP, hostIP)
		case from.ResourceFieldRef != nil:
			v, err = resourceFieldRef(c, from.ResourceFieldRef)
		case from.ConfigMapKeyRef != nil, from.SecretKeyRef != nil:
			var ok bool
			if v, ok, err = keyRef(from, objs); err == nil && !ok {
				continue // optional and missing
			}
		default:
			err = errors.New("unsupported valueFrom")
		}
		if err != nil {
			return nil, nil, configErrorf("container %q: env[%d] %s: %v", c.Name, i, e.Name, err)
		}
		set(e.Name, v)
	}
	for _, sv := range services {
		if _, ok := vars[sv.name]; !ok {
			set(sv.name, sv.value)
		}
	}
	return env, vars, nil
}

// envFromData is the data of an envFrom source; an optional one that is
// missing has none.
func envFromData(from corev1.EnvFromSource, objs envObjects) (map[string]string, error) {
	switch {
	case from.ConfigMapRef != nil:
		data, err := objs.configMap(from.ConfigMapRef.Name)
		if errors.Is(err, ErrNotFound) && ptr.Deref(from.ConfigMapRef.Optional, false) {
			return nil, nil
		}
		return data, err
	case from.SecretRef != nil:
		data, err := objs.secret(from.SecretRef.Name)
		if errors.Is(err, ErrNotFound) && ptr.Deref(from.SecretRef.Optional, false) {
			return nil, nil
		}
		out := make(map[string]string, len(data))
		for k, v := range data {
			out[k] = string(v)
		}
		return out, err
	}
	return nil, errors.New("neither configMapRef nor secretRef")
}

// keyRef is the value of a configMapKeyRef or secretKeyRef; ok is false
// for an optional one whose object or key is missing.
func keyRef(from *corev1.EnvVarSource, objs envObjects) (v string, ok bool, err error) {
	var name, key, kind string
	var optional *bool
	var found bool
	if r := from.ConfigMapKeyRef; r != nil {
		name, key, kind, optional = r.Name, r.Key, "ConfigMap", r.Optional
		var data map[string]string
		if data, err = objs.configMap(name); err == nil {
			v, found = data[key]
		}
	} else {
		r := from.SecretKeyRef
		name, key, kind, optional = r.Name, r.Key, "Secret", r.Optional
		var data map[string][]byte
		if data, err = objs.secret(name); err == nil {
			var b []byte
			b, found = data[key]
			v = string(b)
		}
	}
	switch {
	case errors.Is(err, ErrNotFound) && ptr.Deref(optional, false):
		return "", false, nil
	case err != nil:
		return "", false, err
	case !found && ptr.Deref(optional, false):
		return "", false, nil
	case !found:
		return "", false, fmt.Errorf("couldn't find key %s in %s %s", key, kind, name)
	}
	return v, true, nil
}

// serviceEnv is the variables of a Service as docker links named them,
// which the kubelet gives every container for the kubernetes Service.
func serviceEnv(name, clusterIP string, ports []corev1.ServicePort) []envVar {
	if clusterIP == "" || clusterIP == corev1.ClusterIPNone || len(ports) == 0 {
		return nil
	}
	prefix := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	env := []envVar{{prefix + "_SERVICE_HOST", clusterIP}, {prefix + "_SERVICE_PORT", strconv.Itoa(int(ports[0].Port))}}
	for _, p := range ports {
		if p.Name != "" {
			env = append(env, envVar{prefix + "_SERVICE_PORT_" + strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_")), strconv.Itoa(int(p.Port))})
		}
	}
	first := ports[0]
	proto := strings.ToLower(string(cmp.Or(first.Protocol, corev1.ProtocolTCP)))
	env = append(env, envVar{prefix + "_PORT", fmt.Sprintf("%s://%s:%d", proto, clusterIP, first.Port)})
	for _, p := range ports {
		proto := strings.ToLower(string(cmp.Or(p.Protocol, corev1.ProtocolTCP)))
		base := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Port, strings.ToUpper(proto))
		env = append(env,
			envVar{base, fmt.Sprintf("%s://%s:%d", proto, clusterIP, p.Port)},
			envVar{base + "_PROTO", proto},
			envVar{base + "_PORT", strconv.Itoa(int(p.Port))},
			envVar{base + "_ADDR", clusterIP})
	}
	return env
}

// fieldRef is the downward API's value of a pod field.
func fieldRef(pod *corev1.Pod, path string, podIP, hostIP string) (string, error) {
	if k, ok := strings.CutPrefix(path, "metadata.labels['"); ok {
		return pod.Labels[strings.TrimSuffix(k, "']")], nil
	}
	if k, ok := strings.CutPrefix(path, "metadata.annotations['"); ok {
		return pod.Annotations[strings.TrimSuffix(k, "']")], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return podIP, nil
	case "status.hostIP", "status.hostIPs":
		return hostIP, nil
	}
	return "", fmt.Errorf("unsupported fieldRef.fieldPath %q", path)
}

// resourceFieldRef is the downward API's value of a container's limit or
// request, rounded up to the divisor as Kubernetes does. An unset limit is
// the node's capacity in Kubernetes; Shoal reports 0 for it.
func resourceFieldRef(c *corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	var list corev1.ResourceList
	name, ok := strings.CutPrefix(ref.Resource, "limits.")
	if ok {
		list = c.Resources.Limits
	} else if name, ok = strings.CutPrefix(ref.Resource, "requests."); ok {
		list = c.Resources.Requests
	} else {
		return "", fmt.Errorf("unsupported resourceFieldRef.resource %q", ref.Resource)
	}
	q := list[corev1.ResourceName(name)]
	div := ref.Divisor
	if div.IsZero() {
		if name == "cpu" {
			return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/1000)), 10), nil
		}
		return strconv.FormatInt(q.Value(), 10), nil
	}
	return strconv.FormatInt(int64(math.Ceil(q.AsApproximateFloat64()/div.AsApproximateFloat64())), 10), nil
}

func expandAll(in []string, vars map[string]string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = expand(s, vars)
	}
	return out
}

// expand replaces $(VAR) with the variable's value as Kubernetes does:
// $$ is a literal $, and a reference to an unknown variable stays as it is.
func expand(s string, vars map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
