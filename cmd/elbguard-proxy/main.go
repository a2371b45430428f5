// Command elbguard-proxy decodes PROXY protocol headers from a load balancer
// and redirects, reverse-proxies or forwards the traffic with the real client
// address. See package proxy (proxy.Main is the command line) and
// deploy/elbguard-proxy.yaml.
package main

import (
	"context"
	"os"

	"github.com/elbguard/elbguard/proxy"
)

func main() {
	os.Exit(proxy.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
