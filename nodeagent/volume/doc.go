// Package volume makes the node side of a pod's volumes, as the kubelet's
// volume plugins do: emptyDir directories (on disk, or a tmpfs for medium
// Memory with its sizeLimit), hostPath checks by type, group ownership for
// fsGroup, and the atomic writer that configMap, secret, downwardAPI and
// projected volumes are filled with, so a container never sees half of
// an update:
//
//	<dir>/..2024_05_01_10_00_00.123456789/   the files of one version
//	<dir>/..data -> ..2024_05_01_10_00_00.123456789
//	<dir>/key    -> ..data/key               what the container reads
//
// A new version is written to a new timestamped directory, ..data_tmp is
// pointed at it and renamed over ..data (one atomic rename), then the
// top-level links are fixed up and the old version removed.
package volume
