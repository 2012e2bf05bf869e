// Package loadsync makes every xDS replica serve the same endpoint weights.
//
// Clients send their load reports (LRS) to whichever replica they are
// connected to, so no replica sees all the load. Each replica therefore
// publishes what its clients report, once a period, under its own etcd key
// (/shoal/xds/load/<replica>, on a lease so a dead replica's reports
// vanish); one replica, elected through etcd, merges every replica's
// reports, runs the weight loop, and writes the result to
// /shoal/xds/weights; every replica serves the weights it reads there. With
// one replica (shoal up) this is the same loop with two small etcd writes a
// second.
package loadsync
