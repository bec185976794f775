// Package benchkit holds what the benchmark's programs share: the key files
// they agree on, the minting of WSO2-style access tokens, and the result
// files the load generator and cryptorate write and the report reads. It is
// used by the programs under bench/ only.
package benchkit
