package caddymodule

import (
	"errors"

	"github.com/spf13/cobra"
)

// inspectCommand is `caddy backend-jwt inspect`.
func inspectCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect [TOKEN|-]",
		Short: "Decodes a JWT and checks its signature",
		RunE:  func(*cobra.Command, []string) error { return errors.New("not built yet") },
	}
}
