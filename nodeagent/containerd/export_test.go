package containerd

// SetCtr points a Runtime at another ctr binary (tests check that an
// unchanged archive is not imported again).
func SetCtr(r *Runtime, path string) { r.ctr = path }

// HostsFiles exposes the rendered hosts.toml files.
func (r Registries) HostsFiles() map[string]string { return r.hostsFiles() }

// Render exposes the rendered config.toml (after defaults).
func Render(c Config) (string, error) {
	c, err := c.defaults()
	if err != nil {
		return "", err
	}
	return c.render(), nil
}
