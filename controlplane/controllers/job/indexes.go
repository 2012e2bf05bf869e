package job

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// Completion indexes of Indexed Jobs: which index a pod runs, and the
// status.completedIndexes notation ("1,3-5,7"), as Kubernetes'
// indexed_job_utils.go has them.

// noIndex is the index of a pod without a valid one.
const noIndex = -1

// indexOf is the completion index a pod runs: its annotation, as the
// controller wrote it.
func indexOf(p *corev1.Pod) int {
	v, ok := p.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		return noIndex
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return noIndex
	}
	return i
}

// interval is a closed range of indexes.
type interval struct{ first, last int }

// indexSet is a set of indexes as sorted, disjoint, non-adjacent intervals.
type indexSet []interval

// parseIndexes reads completedIndexes, keeping the indexes below
// completions; a malformed part is skipped.
func parseIndexes(s string, completions int) indexSet {
	var out indexSet
	if s == "" {
		return out
	}
	var all []int
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(a)
		if err != nil || first < 0 {
			continue
		}
		last := first
		if isRange {
			if last, err = strconv.Atoi(b); err != nil || last < first {
				continue
			}
		}
		for i := first; i <= min(last, completions-1); i++ {
			all = append(all, i)
		}
	}
	return out.with(all)
}

// with returns s plus the indexes add.
func (s indexSet) with(add []int) indexSet {
	all := slices.Clone(add)
	for _, iv := range s {
		for i := iv.first; i <= iv.last; i++ {
			all = append(all, i)
		}
	}
	slices.Sort(all)
	all = slices.Compact(all)
	var out indexSet
	for _, i := range all {
		if n := len(out); n > 0 && out[n-1].last+1 == i {
			out[n-1].last = i
			continue
		}
		out = append(out, interval{i, i})
	}
	return out
}

func (s indexSet) has(i int) bool {
	for _, iv := range s {
		if i >= iv.first && i <= iv.last {
			return true
		}
	}
	return false
}

func (s indexSet) total() int {
	n := 0
	for _, iv := range s {
		n += iv.last - iv.first + 1
	}
	return n
}

// String is the completedIndexes notation.
func (s indexSet) String() string {
	parts := make([]string, len(s))
	for i, iv := range s {
		switch iv.last - iv.first {
		case 0:
			parts[i] = strconv.Itoa(iv.first)
		case 1:
			parts[i] = fmt.Sprintf("%d,%d", iv.first, iv.last)
		default:
			parts[i] = fmt.Sprintf("%d-%d", iv.first, iv.last)
		}
	}
	return strings.Join(parts, ",")
}

// pendingIndexes is the first n indexes below completions that neither
// succeeded nor have an active pod, in order.
func pendingIndexes(succeeded indexSet, active []*corev1.Pod, n, completions int) []int {
	running := map[int]bool{}
	for _, p := range active {
		running[indexOf(p)] = true
	}
	var out []int
	for i := 0; i < completions && len(out) < n; i++ {
		if !succeeded.has(i) && !running[i] {
			out = append(out, i)
		}
	}
	return out
}

// podGenerateName is the generateName of index i's pods, "<job>-<i>-",
// shortened to leave room for the random suffix within a name's 63
// characters, as Kubernetes does.
func podGenerateName(job string, i int) string {
	const maxGenerated = 63 - 5
	suffix := "-" + strconv.Itoa(i) + "-"
	if len(job)+len(suffix) > maxGenerated {
		job = job[:maxGenerated-len(suffix)]
	}
	return job + suffix
}
