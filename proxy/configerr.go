package proxy

import (
	"github.com/elbguard/elbguard/internal/suggest"

	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The config file's errors say what is wrong in the file's own words: the
// line, the key as written, the listener's index, what a value should look
// like — never a Go type. walk.check walks the YAML node tree against
// Config's yaml tags before anything is decoded (walk.check), so a key added to Config
// is known here without a list to keep.

// ConfigError is an error at a line of the config file. It wraps ErrConfig.
type ConfigError struct {
	File string // as given on the command line; "" before LoadConfig names it
	Line int    // 1-based; 0 when the error has no line (a missing listener)
	Msg  string
}

func (e *ConfigError) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	case e.File != "":
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

// Unwrap makes errors.Is(err, ErrConfig) hold.
func (e *ConfigError) Unwrap() error { return ErrConfig }

var durationType = reflect.TypeFor[time.Duration]()

// parseConfigNode decodes data into cfg after checking every key and value
// against Config (walk.check). lines maps each key's path
// ("listeners[1].proxy_protocol") to its line, for Normalize's errors.
func parseConfigNode(data []byte, cfg *Config) (map[string]int, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlSyntaxError(err, data)
	}
	w := &walk{lines: map[string]int{}, budget: maxConfigNodes}
	if len(doc.Content) == 0 { // an empty file
		return w.lines, nil
	}
	root := doc.Content[0]
	if err := w.check(root, reflect.TypeFor[Config](), ""); err != nil {
		return nil, err
	}
	if err := root.Decode(cfg); err != nil {
		// walk.check accepts only what decodes; say it plainly if not.
		return nil, &ConfigError{Line: root.Line, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	return w.lines, nil
}

// maxConfigNodes bounds the nodes a config may expand to through aliases
// (a few hundred listeners' worth): "billion laughs" anchors are refused
// before they cost time.
const maxConfigNodes = 100_000

// walk is one pass of walk.check: the line of every key's path, and the nodes
// left to visit.
type walk struct {
	lines  map[string]int
	budget int
}

// yamlSyntaxError turns "yaml: line 3: mapping values are not allowed in
// this context" into a ConfigError at line 3.
func yamlSyntaxError(err error, data []byte) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, tail, ok := strings.Cut(rest, ": "); ok {
			if line, cerr := strconv.Atoi(n); cerr == nil {
				if strings.HasPrefix(tail, "did not find expected") {
					// The YAML parser names the line where the enclosing
					// list or mapping starts, not the line at fault.
					tail += " in the list or mapping that starts here (check the indentation of the lines below)"
				}
				if lines := strings.Split(string(data), "\n"); line >= 1 && line <= len(lines) && strings.HasPrefix(strings.TrimLeft(lines[line-1], " "), "\t") {
					tail += " (a tab: YAML indents with spaces)"
				}
				return &ConfigError{Line: line, Msg: "YAML syntax: " + tail}
			}
		}
	}
	return &ConfigError{Msg: "YAML syntax: " + msg}
}

// check checks n against the Go type t at path, records the line of
// every key, and rewrites a bare number given for a duration to seconds
// (body_timeout: 60 is 60s, as in nginx).
func (w *walk) check(n *yaml.Node, t reflect.Type, path string) error {
	for depth := 0; n.Kind == yaml.AliasNode; depth++ {
		if depth > 100 || n.Alias == nil {
			return &ConfigError{Line: n.Line, Msg: fmt.Sprintf("%s: an alias that names no anchor", path)}
		}
		n = n.Alias
	}
	if w.budget--; w.budget < 0 {
		return &ConfigError{Line: n.Line, Msg: fmt.Sprintf("the aliases expand to more than %d values", maxConfigNodes)}
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // key: (nothing) is the zero value, the default
	}
	where := path
	if where == "" {
		where = "the file"
	}
	for t.Kind() == reflect.Pointer { // an optional value (park_after: 0 is not its default)
		t = t.Elem()
	}
	switch {
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			return &ConfigError{Line: n.Line, Msg: fmt.Sprintf("%s: want a duration (e.g. 60s, 5m)", path)}
		}
		if _, err := strconv.ParseInt(n.Value, 10, 64); err == nil { // 60 or "60"
			n.Value += "s"
			n.Tag, n.Style = "!!str", 0
			return nil
		}
		if _, err := time.ParseDuration(n.Value); err != nil {
			return &ConfigError{Line: n.Line, Msg: fmt.Sprintf("%s: %q is not a duration (e.g. 60s, 5m; a bare number is seconds)", path, n.Value)}
		}
		n.Tag = "!!str"
		return nil
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return &ConfigError{Line: n.Line, Msg: fmt.Sprintf("%s: want keys and values (key: value), not %s", where, describeNode(n))}
		}
		return w.checkMapping(n, t, path)
	case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
		if n.Kind != yaml.SequenceNode {
			return &ConfigError{Line: n.Line, Msg: fmt.Sprintf("%s: want a list (- item, or [a, b]), not %s", path, describeNode(n))}
		}
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			w.lines[p] = c.Line
			if err := w.check(c, t.Elem(), p); err != nil {
				return err
			}
		}
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return &ConfigError{Line: n.Line, Msg: fmt.Sprintf("%s: want %s, not %s", path, describeType(t), describeNode(n))}
	}
	switch t.Kind() {
	case reflect.Bool:
		var b bool
		if err := n.Decode(&b); err != nil {
			return &ConfigError{Line: n.Line, Msg: fmt.Sprintf("%s: %q is not true or false", path, n.Value)}
		}
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32:
		var i int64
		if err := n.Decode(&i); err != nil {
			return &ConfigError{Line: n.Line, Msg: fmt.Sprintf("%s: %q is not a whole number", path, n.Value)}
		}
	case reflect.String:
		// Any scalar is its text (port: 80 is "80").
		n.Tag = "!!str"
	}
	return nil
}

// checkMapping checks the keys of a mapping against the yaml tags of t.
func (w *walk) checkMapping(n *yaml.Node, t reflect.Type, path string) error {
	fields := yamlFields(t)
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		if path == "" && strings.HasPrefix(key, "x-") {
			// Extension keys hold anchors (x-defaults: &defaults ...),
			// as in docker compose files; nothing reads them.
			continue
		}
		if k.Tag == "!!merge" { // <<: *defaults merges the anchor's keys here
			if err := w.checkMerge(v, t, path); err != nil {
				return err
			}
			continue
		}
		p := key
		if path != "" {
			p = path + "." + key
		}
		f, ok := fields[key]
		if !ok {
			msg := fmt.Sprintf("unknown key %q", key)
			if path != "" {
				msg += " in " + path
			}
			if s := closest(key, fields); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			return &ConfigError{Line: k.Line, Msg: msg}
		}
		if first, dup := seen[key]; dup {
			return &ConfigError{Line: k.Line, Msg: fmt.Sprintf("%s: set twice (first at line %d)", p, first)}
		}
		seen[key] = k.Line
		w.lines[p] = k.Line
		if err := w.check(v, f.Type, p); err != nil {
			return err
		}
	}
	return nil
}

// checkMerge checks the mapping (or list of mappings) a merge key names
// against t.
func (w *walk) checkMerge(v *yaml.Node, t reflect.Type, path string) error {
	for v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	if v.Kind == yaml.SequenceNode {
		for _, c := range v.Content {
			if err := w.checkMerge(c, t, path); err != nil {
				return err
			}
		}
		return nil
	}
	return w.check(v, t, path)
}

// yamlFields maps the yaml keys of struct t to its fields.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	m := make(map[string]reflect.StructField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		m[name] = f
	}
	return m
}

// closest is the known key nearest to key (suggest.Nearest), or "".
func closest(key string, fields map[string]reflect.StructField) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	return suggest.Nearest(key, names)
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "keys and values"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a text value"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32:
		return "a whole number"
	}
	return "a single value"
}

// lineOf places an error Normalize returned ("proxy: invalid config:
// listeners[1].mode \"x\": allowed values ...") at the line of the key it
// names, or of its nearest enclosing key, and drops the Go-side prefix.
func lineOf(err error, lines map[string]int) error {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return err
	}
	msg := strings.TrimPrefix(err.Error(), ErrConfig.Error()+": ")
	path := msg
	if i := strings.IndexAny(path, " :"); i >= 0 {
		path = path[:i]
	}
	for path != "" {
		if line, ok := lines[path]; ok {
			return &ConfigError{Line: line, Msg: msg}
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return &ConfigError{Msg: msg}
}
