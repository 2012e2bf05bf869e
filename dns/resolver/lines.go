package resolver

import (
	"bytes"
	"fmt"

	"github.com/coredns/caddy/caddyfile"
	"regexp"
	"strings"
)

// namesLine matches Caddy's "Corefile:3 - ..." that parse errors start with.
var namesLine = regexp.MustCompile(`:\d+ - `)

// pluginPrefix matches CoreDNS's "plugin/forward: ..." set-up errors.
var pluginPrefix = regexp.MustCompile(`plugin/([a-z0-9_]+):`)

// corefileError makes err, from starting a Corefile, name the line it is
// about. Caddy's parse errors do; a plugin's set-up error often does not
// ("plugin/forward: not an IP address or file"), so the lines that use the
// plugin are added.
func corefileError(err error, name string, body []byte) error {
	msg := err.Error()
	if namesLine.MatchString(msg) {
		return err
	}
	m := pluginPrefix.FindStringSubmatch(msg)
	if m == nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	var at []string
	for i, line := range strings.Split(string(body), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == m[1] {
			at = append(at, fmt.Sprint(i+1))
		}
	}
	if len(at) == 0 {
		return fmt.Errorf("start %s: %w", name, err)
	}
	return fmt.Errorf("%s:%s - %w", name, strings.Join(at, ","), err)
}

// checkBlocks rejects a server block without a single directive. Caddy
// parses a stray "}" after a block as the key of a new, empty block, which
// CoreDNS would serve on port 53.
func checkBlocks(name string, body []byte, blocks []caddyfile.ServerBlock) error {
	// The keys are the tokens outside braces, in the order of the blocks.
	type token struct {
		text string
		line int
	}
	var keys []token
	d := caddyfile.NewDispenser(name, bytes.NewReader(body))
	depth := 0
	for d.Next() {
		switch {
		case d.Val() == "{":
			depth++
		case d.Val() == "}" && depth > 0:
			depth--
		case depth == 0:
			keys = append(keys, token{d.Val(), d.Line()})
		}
	}
	for _, b := range blocks {
		line := 0
		for len(keys) > 0 && line == 0 {
			if keys[0].text == b.Keys[0] {
				line = keys[0].line
			}
			keys = keys[1:]
		}
		if len(b.Tokens) > 0 {
			continue
		}
		return fmt.Errorf("%s:%d - %w: %q", name, line, ErrEmptyBlock, strings.Join(b.Keys, " "))
	}
	return nil
}
