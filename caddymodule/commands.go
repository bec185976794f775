package caddymodule

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "backend-jwt",
		Usage: "convert|inspect|revoke ...",
		Short: "Helps move a WSO2 gateway to backend_jwt and debug it",
		Long: `
The backend-jwt commands help move from a WSO2 gateway and debug tokens:

  convert   prints the backend_jwt block of a WSO2 micro-gw.conf or deployment.toml,
            exporting the certificates and keys of its keystores as PEM files
  inspect   decodes a JWT (an access token or a backend JWT) and checks its
            signature with a JWKS or a certificate
  revoke    posts a revocation to the admin API of a running Caddy

None needs a running Caddy but revoke; none prints a whole signature or a
private key.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(convertCommand(), inspectCommand(), revokeCommand())
		},
	})
}
