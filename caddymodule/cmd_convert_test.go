package caddymodule

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConvertCommand runs the convert command's cobra command directly:
// the block on stdout, the files it wrote on stderr, and flag errors.
func TestConvertCommand(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "micro-gw.conf")
	if err := os.WriteFile(conf, []byte(`
[[jwtTokenConfig]]
  issuer = "https://km.example.com/oauth2/token"
  certificateAlias = "wso2apim310"
[jwtConfig]
  header = "X-Backend"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantOut []string
		wantErr string
	}{
		{"a block", []string{conf, "--out-dir", dir}, []string{"backend_jwt {", "issuer https://km.example.com/oauth2/token {",
			"certificate " + filepath.Join(dir, "wso2apim310.pem"), "header X-Backend"}, ""},
		{"a trust store password without the store", []string{conf, "--truststore-password", "x"}, nil, "--truststore-password needs --truststore"},
		{"a missing trust store", []string{conf, "--truststore", filepath.Join(dir, "none.jks")}, nil, "--truststore: open "},
		{"a keystore that is not one", []string{conf, "--keystore", conf}, nil, "--keystore: " + conf + ": not a JKS or PKCS#12 keystore"},
		{"two files", []string{conf, conf}, nil, "accepts 1 arg(s), received 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := convertCommand()
			var out, errOut bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&errOut)
			cmd.SetArgs(tt.args)
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				if out.Len() != 0 {
					t.Errorf("printed %q on an error", out.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("no %q in:\n%s", w, out.String())
				}
			}
		})
	}
}
