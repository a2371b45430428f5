// Package docs_test checks the repository's Markdown: the README stays a
// short first page (what elbguard is, the two commands, the rollout) and
// every relative link and anchor in the documentation leads somewhere.
package docs_test

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"unicode"
)

// maxReadmeWords is the README's budget, counted as `wc -w README.md` does.
const maxReadmeWords = 2000

// checkedFiles are the Markdown files whose links must resolve, as glob
// patterns relative to the repository root.
var checkedFiles = []string{"README.md", "BENCHMARKS.md", "RELIABILITY.md", "infra/README.md", "docs/*.md"}

func TestReadmeIsShort(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatalf("read README: %v", err)
	}
	if n := len(strings.Fields(string(b))); n >= maxReadmeWords {
		t.Errorf("README.md has %d words; want under %d: move detail into docs/", n, maxReadmeWords)
	}
}

func TestReadmeOpensWithTheTwoCommands(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatalf("read README: %v", err)
	}
	block, ok := firstFence(string(b))
	if !ok {
		t.Fatal("README.md has no fenced code block; want the first to hold make demo and make test")
	}
	for _, cmd := range []string{"make demo", "make test"} {
		if !strings.Contains(block, cmd) {
			t.Errorf("README.md's first code block is %q; want it to contain %q", block, cmd)
		}
	}
}

func TestReadmeLinksEveryDocsFile(t *testing.T) {
	repo := os.DirFS("..")
	b, err := fs.ReadFile(repo, "README.md")
	if err != nil {
		t.Fatalf("read README: %v", err)
	}
	linked := map[string]bool{}
	for _, l := range links(string(b)) {
		p, _, _ := strings.Cut(l.target, "#")
		linked[path.Clean(p)] = true
	}
	docs, err := fs.Glob(repo, "docs/*.md")
	if err != nil || len(docs) == 0 {
		t.Fatalf("glob docs/*.md: %v, %d files", err, len(docs))
	}
	for _, d := range docs {
		if !linked[d] {
			t.Errorf("README.md does not link %s; want one line for it in the table of contents", d)
		}
	}
}

func TestRelativeLinksResolve(t *testing.T) {
	repo := os.DirFS("..")
	var files []string
	for _, pat := range checkedFiles {
		m, err := fs.Glob(repo, pat)
		if err != nil || len(m) == 0 {
			t.Fatalf("glob %s: %v, %d files", pat, err, len(m))
		}
		files = append(files, m...)
	}
	for _, f := range files {
		for _, problem := range brokenLinks(repo, f) {
			t.Error(problem)
		}
	}
}

// TestBrokenLinksFindsEachKind proves the checker on a small tree: a link is
// only reported when it really leads nowhere.
func TestBrokenLinksFindsEachKind(t *testing.T) {
	tree := fstest.MapFS{
		"README.md": {Data: []byte("# elbguard\n\n## What `make demo` shows\n\n## Tags: one, two\n\n## Tags: one, two\n\n" +
			"```sh\n# a comment, not a heading\n[not a link](nowhere.md)\n```\n")},
		"docs/a.md":       {Data: []byte("# A\n\n![shot](report.png)\n")},
		"docs/report.png": {Data: []byte("png")},
	}
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"file next to it", "[a](a.md)", nil},
		{"file one folder up", "[r](../README.md)", nil},
		{"image", "![s](report.png)", nil},
		{"heading with code and punctuation", "[d](../README.md#what-make-demo-shows)", nil},
		{"second heading of the same text", "[t](../README.md#tags-one-two-1)", nil},
		{"own heading", "[self](#a)", nil},
		{"absolute URL", "[aws](https://docs.aws.amazon.com/x.html#y)", nil},
		{"link inside inline code", "`[x](missing.md)`", nil},
		{"missing file", "[m](missing.md)", []string{"docs/b.md:1: link missing.md: docs/missing.md does not exist"}},
		{"path as the repository root sees it", "[p](docs/report.png)", []string{"docs/b.md:1: link docs/report.png: docs/docs/report.png does not exist"}},
		{"missing heading", "[h](../README.md#rolling-out-safely)", []string{"docs/b.md:1: link ../README.md#rolling-out-safely: README.md has no heading #rolling-out-safely"}},
		{"heading only in a code block", "[c](../README.md#a-comment-not-a-heading)", []string{"docs/b.md:1: link ../README.md#a-comment-not-a-heading: README.md has no heading #a-comment-not-a-heading"}},
		{"third copy of a heading", "[t](../README.md#tags-one-two-2)", []string{"docs/b.md:1: link ../README.md#tags-one-two-2: README.md has no heading #tags-one-two-2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{"docs/b.md": {Data: []byte(tt.text + "\n\n# A\n")}}
			for k, v := range tree {
				fsys[k] = v
			}
			got := brokenLinks(fsys, "docs/b.md")
			if !slices.Equal(got, tt.want) {
				t.Errorf("brokenLinks(%q) = %q; want %q", tt.text, got, tt.want)
			}
		})
	}
}

// link is a Markdown link or image target and the line it is on.
type link struct {
	line   int
	target string
}

var (
	linkRE = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	codeRE = regexp.MustCompile("`[^`]*`")
)

// links returns the link targets of a Markdown text outside fenced code
// blocks and inline code.
func links(text string) []link {
	var out []link
	inFence := false
	for i, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		line = codeRE.ReplaceAllString(line, "code")
		for _, m := range linkRE.FindAllStringSubmatch(line, -1) {
			out = append(out, link{line: i + 1, target: m[1]})
		}
	}
	return out
}

// brokenLinks returns one message per relative link in file that names a
// file that does not exist, or a heading the target file does not have.
func brokenLinks(fsys fs.FS, file string) []string {
	b, err := fs.ReadFile(fsys, file)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", file, err)}
	}
	var out []string
	for _, l := range links(string(b)) {
		if strings.Contains(l.target, "://") || strings.HasPrefix(l.target, "mailto:") {
			continue
		}
		p, anchor, _ := strings.Cut(l.target, "#")
		target := file
		if p != "" {
			target = path.Join(path.Dir(file), p)
		}
		data, err := fs.ReadFile(fsys, target)
		if err != nil {
			if _, statErr := fs.Stat(fsys, target); statErr != nil {
				out = append(out, fmt.Sprintf("%s:%d: link %s: %s does not exist", file, l.line, l.target, target))
				continue
			}
		}
		if anchor != "" && !slices.Contains(anchors(string(data)), anchor) {
			out = append(out, fmt.Sprintf("%s:%d: link %s: %s has no heading #%s", file, l.line, l.target, target, anchor))
		}
	}
	return out
}

// anchors returns the ids GitHub gives the headings of a Markdown text:
// lower case, letters, digits, '-' and '_' kept, spaces to '-', the rest
// dropped; a repeated id gets -1, -2, ...
func anchors(text string) []string {
	var out []string
	seen := map[string]int{}
	inFence := false
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			continue
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimLeft(line, "#")
		if len(line)-len(title) > 6 || !strings.HasPrefix(title, " ") {
			continue
		}
		var id strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(title)) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				id.WriteRune(r)
			case r == ' ':
				id.WriteRune('-')
			}
		}
		s := id.String()
		if n := seen[s]; n > 0 {
			out = append(out, fmt.Sprintf("%s-%d", s, n))
		} else {
			out = append(out, s)
		}
		seen[s]++
	}
	return out
}

// firstFence returns the body of the first fenced code block of text.
func firstFence(text string) (string, bool) {
	var body []string
	in := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			if in {
				return strings.Join(body, "\n"), true
			}
			in = true
			continue
		}
		if in {
			body = append(body, line)
		}
	}
	return "", false
}
