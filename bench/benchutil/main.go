// Command benchutil holds the small steps of bench/run.sh that a shell on a
// machine with only Go cannot do by itself:
//
//	benchutil keys -dir D [-alg RS256|EdDSA|ES256]
//	                                           make the benchmark's keys
//	benchutil mint -issuer-key K -out F -count N
//	                                           make the token file F hold N
//	                                           access tokens (on all cores)
//	benchutil ports N                          print N free ports of 127.0.0.1
//	benchutil wait -url U [-timeout 20s]       wait until U answers HTTP
//	benchutil tokens -results D -case 3|4 -seconds S
//	                                           how many fresh tokens to mint
//	benchutil report -results D                print the results: medians over
//	                                           the rounds, and each round
//	benchutil soak -pid P -admin U -load-result F [flags] -- LOADGEN ARGS...
//	                                           run the load, sample Caddy's
//	                                           memory, judge it (bench/soak.sh)
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	if err := mainErr(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "benchutil:", err)
		os.Exit(1)
	}
}

func mainErr(args []string) error {
	if len(args) == 0 {
		return errors.New("want a command: keys, mint, ports, wait, tokens, report or soak")
	}
	cmds := map[string]func([]string) error{
		"keys": keysCmd, "mint": mintCmd, "ports": portsCmd, "wait": waitCmd, "tokens": tokensCmd, "report": reportCmd,
		"soak": soakCmd,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		return fmt.Errorf("unknown command %q: want keys, mint, ports, wait, tokens, report or soak", args[0])
	}
	if err := cmd(args[1:]); err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	return nil
}
