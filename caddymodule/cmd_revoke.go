package caddymodule

import (
	"errors"

	"github.com/spf13/cobra"
)

// revokeCommand is `caddy backend-jwt revoke`.
func revokeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke",
		Short: "Posts a revocation to a running Caddy's admin API",
		RunE:  func(*cobra.Command, []string) error { return errors.New("not built yet") },
	}
}
