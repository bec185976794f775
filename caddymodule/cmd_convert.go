package caddymodule

import (
	"errors"

	"github.com/spf13/cobra"
)

// convertCommand is `caddy backend-jwt convert`.
func convertCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "convert FILE",
		Short: "Prints the backend_jwt block of a WSO2 micro-gw.conf or deployment.toml",
		RunE:  func(*cobra.Command, []string) error { return errors.New("not built yet") },
	}
}
