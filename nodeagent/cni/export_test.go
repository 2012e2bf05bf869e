package cni

// SetStockPluginDir points SetupNode at dir instead of StockPluginDir until
// the returned function is called.
func SetStockPluginDir(dir string) (restore func()) {
	old := stockPluginDir
	stockPluginDir = dir
	return func() { stockPluginDir = old }
}
