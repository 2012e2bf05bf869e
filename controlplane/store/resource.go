package store

import "github.com/shoalmesh/shoal/api"

// Object is what the store keeps (api.Object). It is named here as well
// because every caller of the store spells it: an UpdateFunc takes and
// returns a store.Object.
type Object = api.Object
