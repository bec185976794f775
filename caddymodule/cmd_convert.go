package caddymodule

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/migrate"
)

// convertCommand is `caddy backend-jwt convert`: it prints the backend_jwt
// block of a WSO2 micro-gw.conf or deployment.toml (package migrate) and
// writes the PEM files of the aliases it names.
func convertCommand() *cobra.Command {
	var outDir, truststore, truststorePassword, keystore, keystorePassword string
	cmd := &cobra.Command{
		Use:   "convert FILE [--out-dir DIR] [--truststore FILE --truststore-password P] [--keystore FILE --keystore-password P]",
		Short: "Prints the backend_jwt block of a WSO2 micro-gw.conf or deployment.toml",
		Long: `
Reads a WSO2 API Microgateway 3.x micro-gw.conf or an API Manager 4.x
deployment.toml and prints the equivalent backend_jwt block (Caddyfile) on
standard output; put it in a site block, before reverse_proxy.

Certificates and keys that the file names by alias are exported from the
stores given (JKS or PKCS#12, told apart by their content) as PEM files in
--out-dir, and the block names them by absolute path: the trust store holds
the issuers' and API keys' certificates, the keystore the backend-JWT
signing key and its certificate (written with mode 0600). Without a store,
the block names DIR/<alias>.pem and a comment says how to export it.

Every setting without an equivalent is kept as a "# not converted: ..."
comment; passwords are never copied: the block reads them from
{env.KM_PASSWORD} and {env.APIM_PASSWORD}, and comments say what to set.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := migrate.Options{OutDir: outDir}
			var err error
			if opts.Truststore, err = openStore(cmd, "truststore", truststore); err != nil {
				return err
			}
			if opts.Keystore, err = openStore(cmd, "keystore", keystore); err != nil {
				return err
			}
			res, err := migrate.ConvertFile(args[0], opts)
			if err != nil {
				return err
			}
			if err := res.WriteFiles(); err != nil {
				return err
			}
			for _, f := range res.Files {
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (mode %04o)\n", f.Path, f.Mode)
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), res.Caddyfile)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&outDir, "out-dir", ".", "folder for the exported PEM files")
	f.StringVar(&truststore, "truststore", "", "WSO2's trust store (JKS or PKCS#12): the issuers' and API keys' certificates")
	f.StringVar(&truststorePassword, "truststore-password", "", "the trust store's password")
	f.StringVar(&keystore, "keystore", "", "WSO2's keystore (JKS or PKCS#12): the backend-JWT signing key and certificate")
	f.StringVar(&keystorePassword, "keystore-password", "", "the keystore's password (also the key's)")
	return cmd
}

// openStore opens the store of flag name (truststore or keystore) with
// the password of its -password flag; nil when the flag is not given.
func openStore(cmd *cobra.Command, name, path string) (*migrate.Store, error) {
	passwordFlag := name + "-password"
	if path == "" {
		if cmd.Flags().Changed(passwordFlag) {
			return nil, fmt.Errorf("--%s needs --%s", passwordFlag, name)
		}
		return nil, nil
	}
	password, _ := cmd.Flags().GetString(passwordFlag)
	s, err := migrate.OpenStore(path, password)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", name, err)
	}
	return s, nil
}
