package nodeagent

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
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

// containerEnv is the container's environment (in order) and the same as a
// map for $(VAR) expansion. Values may refer to variables defined before
// them, as in Kubernetes. valueFrom supports the downward API (fieldRef,
// resourceFieldRef).
func containerEnv(pod *corev1.Pod, c *corev1.Container, podIP, hostIP string) ([]envVar, map[string]string, error) {
	if len(c.EnvFrom) > 0 {
		return nil, nil, configErrorf("container %q: envFrom is not supported yet by Shoal's node agent", c.Name)
	}
	vars := map[string]string{}
	var env []envVar
	for i, e := range c.Env {
		var v string
		switch {
		case e.ValueFrom == nil:
			v = expand(e.Value, vars)
		case e.ValueFrom.FieldRef != nil:
			var err error
			if v, err = fieldRef(pod, e.ValueFrom.FieldRef.FieldPath, podIP, hostIP); err != nil {
				return nil, nil, configErrorf("container %q: env[%d] %s: %v", c.Name, i, e.Name, err)
			}
		case e.ValueFrom.ResourceFieldRef != nil:
			var err error
			if v, err = resourceFieldRef(c, e.ValueFrom.ResourceFieldRef); err != nil {
				return nil, nil, configErrorf("container %q: env[%d] %s: %v", c.Name, i, e.Name, err)
			}
		default:
			return nil, nil, configErrorf("container %q: env[%d] %s: only fieldRef and resourceFieldRef are supported in valueFrom yet", c.Name, i, e.Name)
		}
		vars[e.Name] = v
		env = append(env, envVar{e.Name, v})
	}
	return env, vars, nil
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
