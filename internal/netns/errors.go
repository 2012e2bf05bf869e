package netns

import "errors"

var (
	// ErrNotRestored reports a thread that could not be put back into its
	// own namespace after fn ran; the runtime ended it. What fn did is
	// done, but the caller may want to know: a capability fn dropped, say.
	ErrNotRestored = errors.New("thread netns not restored")

	// errGoexit reports a function that ended its goroutine (t.FailNow,
	// say) instead of returning.
	errGoexit = errors.New("function called runtime.Goexit in a network namespace")
)
