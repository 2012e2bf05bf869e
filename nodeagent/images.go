package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Image pull back-off, the kubelet's: 10 s after a failed pull, doubling
// to 5 minutes.
const (
	pullBackoffBase = 10 * time.Second
	pullBackoffMax  = 5 * time.Minute
	// pullErrorShown is how long a failed pull shows ErrImagePull before
	// ImagePullBackOff.
	pullErrorShown = time.Second
)

// Waiting reasons of a container whose image it cannot have, the
// kubelet's.
const (
	reasonErrImagePull      = "ErrImagePull"
	reasonImagePullBackOff  = "ImagePullBackOff"
	reasonErrImageNeverPull = "ErrImageNeverPull"
)

// imageState is a container's image: resolved, or why not.
type imageState struct {
	ref      string            // the image's ID in the runtime, once it is there
	info     *runtimeapi.Image // its status: user, size
	hostless bool              // no image: the built-in empty one with the node's directories

	reason, message string // why the container waits for its image, "" if it does not
	lastErr         string // the last failed pull's error
	delay           time.Duration
	notBefore       time.Time // no pull before this
}

// ensureImage makes the container's image present per its
// imagePullPolicy, as the kubelet does before each start: Never uses what
// the runtime has, IfNotPresent pulls what it lacks, Always pulls (a
// registry answers an unchanged image quickly). A failed pull is
// ErrImagePull, then ImagePullBackOff until the back-off has passed. It
// returns false, and when to try again, while the image cannot be had.
func (w *podWorker) ensureImage(ctx context.Context, pod *corev1.Pod, c *ctr, now time.Time) (bool, time.Time) {
	img := &c.image
	if c.spec.Image == "" {
		w.ensureImageless(c)
		return true, time.Time{}
	}
	name := c.spec.Image
	if now.Before(img.notBefore) {
		img.reason = reasonImagePullBackOff
		img.message = fmt.Sprintf("Back-off pulling image %q: %s: %s", name, reasonErrImagePull, img.lastErr)
		w.a.events.pod(pod, c.spec.Name, corev1.EventTypeNormal, eventBackOff, "Back-off pulling image %q", name)
		return false, img.notBefore
	}
	policy := c.spec.ImagePullPolicy
	if policy == "" {
		policy = defaultPullPolicy(name)
	}
	if policy != corev1.PullAlways {
		st, err := w.a.images.ImageStatus(ctx, &runtimeapi.ImageSpec{Image: name}, false)
		if err == nil && st.GetImage() != nil {
			img.ref, img.info, img.reason, img.message = st.GetImage().GetId(), st.GetImage(), "", ""
			w.a.events.pod(pod, c.spec.Name, corev1.EventTypeNormal, eventPulled, "Container image %q already present on machine", name)
			return true, time.Time{}
		}
		if policy == corev1.PullNever {
			img.reason = reasonErrImageNeverPull
			img.message = fmt.Sprintf("Container image %q is not present with pull policy of Never", name)
			w.a.events.pod(pod, c.spec.Name, corev1.EventTypeWarning, reasonErrImageNeverPull, "%s", img.message)
			return false, time.Time{} // tried again at the next resync
		}
	}
	w.a.events.pod(pod, c.spec.Name, corev1.EventTypeNormal, eventPulling, "Pulling image %q", name)
	start := time.Now()
	ref, err := w.pull(ctx, pod, name)
	took := time.Since(start)
	w.a.metrics.imagePull(err, took)
	if err != nil {
		if ctx.Err() != nil {
			return false, time.Time{}
		}
		img.lastErr = err.Error()
		img.reason, img.message = reasonErrImagePull, img.lastErr
		img.delay = min(max(2*img.delay, pullBackoffBase), pullBackoffMax)
		img.notBefore = now.Add(img.delay)
		w.log.Info("image pull failed", "container", c.spec.Name, "image", name, "err", err, "back_off", img.delay)
		w.a.events.pod(pod, c.spec.Name, corev1.EventTypeWarning, eventFailed, "Failed to pull image %q: %v", name, err)
		w.a.events.pod(pod, c.spec.Name, corev1.EventTypeWarning, eventFailed, "Error: %s", reasonErrImagePull)
		// ErrImagePull for a moment, then ImagePullBackOff until the
		// back-off has passed, as the kubelet's requeued worker shows it.
		return false, now.Add(min(pullErrorShown, img.delay))
	}
	st, err := w.a.images.ImageStatus(ctx, &runtimeapi.ImageSpec{Image: ref}, false)
	if err != nil || st.GetImage() == nil {
		img.reason, img.message = reasonErrImagePull, fmt.Sprintf("the runtime lost image %q after pulling it (%v)", name, err)
		return false, now.Add(pullBackoffBase)
	}
	img.ref, img.info, img.reason, img.message, img.delay, img.notBefore = st.GetImage().GetId(), st.GetImage(), "", "", 0, time.Time{}
	secs := fmt.Sprintf("%.3fs", took.Seconds())
	w.a.events.pod(pod, c.spec.Name, corev1.EventTypeNormal, eventPulled,
		"Successfully pulled image %q in %s (%s including waiting). Image size: %d bytes.", name, secs, secs, st.GetImage().GetSize())
	return true, time.Time{}
}

// ensureImageless gives an image-less container the built-in empty image.
func (w *podWorker) ensureImageless(c *ctr) {
	c.image.ref, c.image.hostless, c.image.info = w.a.emptyImage, true, nil
}

// pull pulls image with the first of the pod's pull secrets for its
// registry that works (anonymously if none is for it), and returns the
// runtime's image reference.
func (w *podWorker) pull(ctx context.Context, pod *corev1.Pod, image string) (string, error) {
	auths := w.a.pullAuths(ctx, pod, image)
	if len(auths) == 0 {
		auths = []*runtimeapi.AuthConfig{nil}
	}
	sbc, _ := w.a.sandboxConfig(pod) // the runtime may use it (namespace, labels); optional
	var errs []error
	for _, auth := range auths {
		ref, err := w.a.images.PullImage(ctx, &runtimeapi.ImageSpec{Image: image}, auth, sbc)
		if err == nil {
			return ref, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 1 {
		return "", errs[0]
	}
	return "", errors.Join(errs...)
}

// defaultPullPolicy is Kubernetes' default: Always for :latest or no tag,
// else IfNotPresent (the API server defaults the field already).
func defaultPullPolicy(image string) corev1.PullPolicy {
	if strings.Contains(image, "@") {
		return corev1.PullIfNotPresent
	}
	name := image[strings.LastIndex(image, "/")+1:]
	if i := strings.LastIndex(name, ":"); i < 0 || name[i+1:] == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}
