// Package suggest finds the name a user most likely meant: the "did you
// mean" of elbguard-proxy's config errors and of the CDK app's context keys.
package suggest

import "strings"

// Nearest is the candidate that word most likely misspells: one that differs
// only in case, else the nearest by edit distance (at most a third of word's
// length, at least 1 and at most 3); "" when none is near. Ties go to the
// candidate that sorts first.
func Nearest(word string, candidates []string) string {
	for _, c := range candidates {
		if strings.EqualFold(c, word) && c != word {
			return c
		}
	}
	best, bestD := "", min(3, max(1, len(word)/3))+1
	lw := strings.ToLower(word)
	for _, c := range candidates {
		if d := Distance(lw, strings.ToLower(c)); d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	return best
}

// Distance is the Levenshtein distance with adjacent transpositions
// (optimal string alignment) of a and b, in bytes.
func Distance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
