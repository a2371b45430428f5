package demo_test

import (
	"fmt"
	"io"

	"github.com/elbguard/elbguard/demo"
)

func ExampleParseFlags() {
	cfg, err := demo.ParseFlags([]string{
		"--root", "/src/elbguard", "--workdir", "/tmp/demo", "--proxy", "/src/elbguard/bin/elbguard-proxy", "--no-haproxy", "proxy",
	}, io.Discard, func(string) string { return "" }, false)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Part, cfg.NoHAProxy, cfg.Colour)
	// Output: proxy true false
}
