package remote

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// sshConfig is the part of an OpenSSH client config that ship honours:
// Host blocks (patterns with * and ?, negation with !) holding HostName,
// User, Port, IdentityFile and ProxyJump, and Include. As in OpenSSH, the
// first value found for a host wins (IdentityFile accumulates). Match
// blocks are skipped: their conditions need more than a host name.
type sshConfig struct {
	blocks []*configBlock
}

type configBlock struct {
	patterns []string // nil: lines before the first Host, which apply to all
	match    bool     // a Match block, never applied
	options  [][2]string
}

// hostOptions is what the config says for one host.
type hostOptions struct {
	hostName, user, port, proxyJump string
	identityFiles                   []string
}

const maxIncludeDepth = 16

// loadSSHConfig reads name; "" means ~/.ssh/config, which may be missing,
// and "none" reads nothing.
func loadSSHConfig(name string) (*sshConfig, error) {
	sc := &sshConfig{}
	if name == "none" {
		return sc, nil
	}
	optional := name == ""
	if optional {
		home, err := os.UserHomeDir()
		if err != nil {
			return sc, nil
		}
		name = filepath.Join(home, ".ssh", "config")
	}
	cur := &configBlock{}
	sc.blocks = append(sc.blocks, cur)
	if _, err := sc.parseFile(expandHome(name), cur, 0); err != nil {
		if optional && errors.Is(err, fs.ErrNotExist) {
			return &sshConfig{}, nil
		}
		return nil, fmt.Errorf("read ssh config: %w", err)
	}
	return sc, nil
}

// parseFile parses one file into sc, starting inside block cur (an Include
// inside a Host block belongs to it), and returns the block it ends in.
func (sc *sshConfig) parseFile(name string, cur *configBlock, depth int) (*configBlock, error) {
	if depth > maxIncludeDepth {
		return nil, fmt.Errorf("%s: Include nested too deep", name)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	scan := bufio.NewScanner(f)
	for n := 1; scan.Scan(); n++ {
		key, args, err := splitConfigLine(scan.Text())
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		switch key {
		case "":
		case "host":
			cur = &configBlock{patterns: args}
			sc.blocks = append(sc.blocks, cur)
		case "match":
			cur = &configBlock{match: true}
			sc.blocks = append(sc.blocks, cur)
		case "include":
			for _, pattern := range args {
				pattern = expandHome(pattern)
				if !filepath.IsAbs(pattern) {
					pattern = filepath.Join(expandHome("~/.ssh"), pattern)
				}
				files, _ := filepath.Glob(pattern) // the only error is a bad pattern: nothing matches
				for _, inc := range files {
					if cur, err = sc.parseFile(inc, cur, depth+1); err != nil {
						return nil, err
					}
				}
			}
		default:
			if len(args) == 0 {
				return nil, fmt.Errorf("%s:%d: %s has no value", name, n, key)
			}
			cur.options = append(cur.options, [2]string{key, strings.Join(args, " ")})
		}
	}
	if err := scan.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return cur, nil
}

// splitConfigLine returns a line's lower-cased keyword and its arguments.
// "Keyword value", "Keyword=value" and double-quoted arguments are allowed.
func splitConfigLine(line string) (key string, args []string, err error) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return "", nil, nil
	}
	i := strings.IndexAny(line, " \t=")
	if i < 0 {
		return strings.ToLower(line), nil, nil
	}
	key, rest := strings.ToLower(line[:i]), strings.TrimSpace(line[i:])
	rest = strings.TrimSpace(strings.TrimPrefix(rest, "="))
	for rest != "" {
		var word string
		if rest[0] == '"' {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return "", nil, fmt.Errorf("unterminated quote")
			}
			word, rest = rest[1:end+1], rest[end+2:]
		} else {
			j := strings.IndexAny(rest, " \t")
			if j < 0 {
				j = len(rest)
			}
			word, rest = rest[:j], rest[j:]
		}
		if strings.HasPrefix(word, "#") {
			break // a trailing comment
		}
		args = append(args, word)
		rest = strings.TrimSpace(rest)
	}
	return key, args, nil
}

// lookup collects the options that apply to host, first value winning.
func (sc *sshConfig) lookup(host string) hostOptions {
	var o hostOptions
	for _, b := range sc.blocks {
		if !b.applies(host) {
			continue
		}
		for _, kv := range b.options {
			set := func(p *string) {
				if *p == "" {
					*p = kv[1]
				}
			}
			switch kv[0] {
			case "hostname":
				set(&o.hostName)
			case "user":
				set(&o.user)
			case "port":
				set(&o.port)
			case "proxyjump":
				set(&o.proxyJump)
			case "identityfile":
				o.identityFiles = append(o.identityFiles, kv[1])
			}
		}
	}
	return o
}

func (b *configBlock) applies(host string) bool {
	if b.match {
		return false
	}
	if b.patterns == nil {
		return true
	}
	host = strings.ToLower(host)
	matched := false
	for _, p := range b.patterns {
		negate := strings.HasPrefix(p, "!")
		p = strings.ToLower(strings.TrimPrefix(p, "!"))
		if wildcardMatch(p, host) {
			if negate {
				return false // a negated match rules the block out
			}
			matched = true
		}
	}
	return matched
}

// wildcardMatch matches s against pattern, where * is any run of
// characters and ? any one character, as in ssh_config(5).
func wildcardMatch(pattern, s string) bool {
	// Iterative matching with backtracking to the last *.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// HasHostAlias reports whether the ssh config (~/.ssh/config and what it
// includes) names host on a Host line, written out rather than matched by a
// wildcard: a name someone gave a server, which ship may take as a TARGET.
func HasHostAlias(host string) bool {
	sc, err := loadSSHConfig("")
	if err != nil {
		return false
	}
	for _, b := range sc.blocks {
		for _, p := range b.patterns {
			if strings.EqualFold(p, host) {
				return true
			}
		}
	}
	return false
}
