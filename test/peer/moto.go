package peer

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Region is the AWS region used against moto.
const Region = "us-east-1"

// Moto is a running moto_server, the local AWS emulator.
type Moto struct {
	URL  string
	Port int
	*Process
}

// StartMoto starts moto_server (found under root) on a free loopback port
// and waits until it answers or ctx ends.
func StartMoto(ctx context.Context, root string, o Options) (*Moto, error) {
	bin, err := Look(root, "moto_server")
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	// The emulator gap fixes in motofix load first (sitecustomize); the
	// caller's environment still wins.
	o.Env = append([]string{"PYTHONPATH=" + filepath.Join(root, "test", "peer", "motofix")}, o.Env...)
	p, err := Start(bin, []string{"-H", "127.0.0.1", "-p", strconv.Itoa(port)}, o)
	if err != nil {
		return nil, err
	}
	m := &Moto{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Port: port, Process: p}
	if err := m.waitReady(ctx); err != nil {
		p.Stop()
		return nil, fmt.Errorf("moto_server did not answer: %w\n%s", err, p.Logs())
	}
	return m, nil
}

func (m *Moto) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	for {
		if m.Exited() {
			return fmt.Errorf("moto_server exited: %w", m.Wait(0))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.URL+"/moto-api/data.json", nil)
		if err != nil {
			return fmt.Errorf("build moto probe: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Env returns the standard AWS settings that point an SDK or CLI at this
// moto_server: AWS_ENDPOINT_URL, the region and static test credentials,
// with shared config files and instance metadata switched off.
func (m *Moto) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + m.URL,
		"AWS_REGION=" + Region,
		"AWS_DEFAULT_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_SESSION_TOKEN=",
		"AWS_PROFILE=",
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// Reset drops every resource moto holds.
func (m *Moto) Reset(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL+"/moto-api/reset", nil)
	if err != nil {
		return fmt.Errorf("build moto reset: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reset moto: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reset moto: %s", resp.Status)
	}
	return nil
}
