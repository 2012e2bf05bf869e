package controllers

// All returns every controller Shoal runs, built from d.
func All(d Deps) []Controller {
	return nil
}
