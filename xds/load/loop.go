package load

import "time"

// Loop is one period of the cluster-wide weight loop: a snapshot of Table
// folded into Weigher. Its Weights method fits xds/feed's Weigher interface.
// Like the Weigher, it is not safe for concurrent use.
type Loop struct {
	Table   *Table
	Weigher *Weigher
}

// Weights snapshots the table at now and updates the weights of groups'
// endpoints; see [Weigher.Update].
func (l Loop) Weights(now time.Time, groups map[string][]string) (map[string]uint32, bool) {
	return l.Weigher.Update(l.Table.Snapshot(now), groups)
}
