package fleet

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

type fakeSecrets struct {
	value string
	err   error
	asked []string
}

func (f *fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.asked = append(f.asked, aws.ToString(in.SecretId))
	if f.err != nil {
		return nil, f.err
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(f.value)}, nil
}

func TestRestoreKeyFromEnv(t *testing.T) {
	long := "k7Qd2mZpX9vB4nR8sT1wY6cF3hJ5lA0eG" // 33 bytes
	tests := []struct {
		name    string
		env     map[string]string
		secret  *fakeSecrets
		wantKey string
		wantErr bool
	}{
		{name: "neither: no key (records reported, not acted on)", env: map[string]string{}},
		{name: "raw key", env: map[string]string{EnvRestoreKey: long}, wantKey: long},
		{name: "raw key too short", env: map[string]string{EnvRestoreKey: "short"}, wantErr: true},
		{name: "secret", env: map[string]string{EnvRestoreKeySecret: "arn:aws:secretsmanager:us-east-1:123456789012:secret:elbguard-restore-key-AbCdEf"}, secret: &fakeSecrets{value: long}, wantKey: long}, //nolint:gosec // a test ARN, not a credential
		{name: "secret unreadable", env: map[string]string{EnvRestoreKeySecret: "elbguard-restore-key"}, secret: &fakeSecrets{err: errors.New("AccessDeniedException")}, wantErr: true},
		{name: "secret too short", env: map[string]string{EnvRestoreKeySecret: "elbguard-restore-key"}, secret: &fakeSecrets{value: "short"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := readRestoreKey(context.Background(), func(n string) string { return tt.env[n] }, func() SecretsAPI {
				if tt.secret == nil {
					t.Fatal("Secrets Manager asked; want no call")
				}
				return tt.secret
			})
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v; want error %v", err, tt.wantErr)
			}
			got := ""
			if k != nil {
				got = string(k.key)
			}
			if got != tt.wantKey {
				t.Errorf("got key %q; want %q", got, tt.wantKey)
			}
			if tt.secret != nil && (len(tt.secret.asked) != 1 || tt.secret.asked[0] != tt.env[EnvRestoreKeySecret]) {
				t.Errorf("asked for %v; want the secret %s once", tt.secret.asked, tt.env[EnvRestoreKeySecret])
			}
		})
	}
	if opts := (*RestoreKey)(nil).For("123456789012", "us-east-1"); opts != nil {
		t.Errorf("nil key: got %d options; want none", len(opts))
	}
}
