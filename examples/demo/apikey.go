package main

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"time"
)

// apiKeyPath is where the demo issuer mints WSO2 API keys.
const apiKeyPath = "/apikey"

// apiKeyKid is the kid API Manager puts in an API key's header: the alias
// of its signing certificate.
const apiKeyKid = "gateway_certificate_alias"

// refererListRE is what the API-key endpoint accepts for permitted_referer:
// a comma-separated list of patterns, * matching any run of characters.
var refererListRE = regexp.MustCompile(`^[A-Za-z0-9._~:/?#@!$&'()*+,;=%-]{1,512}$`)

// apiKeySigner stands for API Manager's API-key signing key (its
// apikeysign keystore) and its self-signed certificate.
type apiKeySigner struct {
	key     *rsa.PrivateKey
	certPEM []byte
	x5t     string // as API Manager writes it: base64url, padded, of the hex SHA-1 of the certificate
}

// newAPIKeySigner makes the key and a certificate for it, valid for a day.
func newAPIKeySigner() (*apiKeySigner, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("issuer: making the API-key signing key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("issuer: a certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "caddy-backend-jwt demo API-key signing", Organization: []string{"demo"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("issuer: making the API-key signing certificate: %w", err)
	}
	sum := sha1.Sum(der)
	return &apiKeySigner{
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		x5t:     base64.URLEncoding.EncodeToString([]byte(hex.EncodeToString(sum[:]))),
	}, nil
}

// serveAPIKey mints a WSO2 API key from the query parameters:
//
//	GET /apikey?user=alice&api=PizzaShackAPI&version=1.0.0&expires_in=3600
//	GET /apikey?user=alice&permitted_referer=https://*.example.com/*
func (i *issuer) serveAPIKey(w http.ResponseWriter, r *http.Request) {
	req, problem := parseTokenRequest(r)
	if problem != "" {
		http.Error(w, problem, http.StatusBadRequest)
		return
	}
	if req.Format != "" || req.JTI != "" || len(req.Scopes) > 0 {
		http.Error(w, "format, jti and scope are not for API keys", http.StatusBadRequest)
		return
	}
	referer := r.URL.Query().Get("permitted_referer")
	if referer != "" && !refererListRE.MatchString(referer) {
		http.Error(w, "permitted_referer: want a comma-separated list of URL patterns (* matches any run of characters), at most 512 characters", http.StatusBadRequest)
		return
	}
	key, err := i.mintAPIKey(req, referer, time.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeCredential(w, key)
}

// mintAPIKey signs an API key of the demo application DemoApp-UNBLOCKED
// with the claims and in the layout of API Manager 4.x's API keys: a header
// with typ, alg, x5t and kid; JSON with "/" escaped as json-smart writes
// it; every part base64url with '=' padding; RS256.
func (i *issuer) mintAPIKey(req tokenRequest, permittedReferer string, now time.Time) (string, error) {
	iat, exp := tokenTimes(req, now)
	jti, err := randomUUID()
	if err != nil {
		return "", err
	}
	claims := map[string]any{
		"sub":        req.User + "@carbon.super",
		"iss":        i.url + "/token",
		"iat":        iat.Unix(),
		"exp":        exp.Unix(),
		"jti":        jti,
		"keytype":    "PRODUCTION",
		"token_type": "apiKey",
		"application": map[string]any{
			"owner": req.User,
			"tier":  "Unlimited",
			"name":  "DemoApp-UNBLOCKED",
			"id":    1,
			"uuid":  "app-uuid-1", // as API Manager's data (apimfake) has it
		},
		"subscribedAPIs": []map[string]any{{
			"subscriberTenantDomain": "carbon.super",
			"name":                   req.API,
			"context":                apiContext(req.API, req.Version),
			"publisher":              "admin",
			"version":                req.Version,
			"subscriptionTier":       "Gold",
		}},
		"tierInfo": map[string]any{
			"Gold": map[string]any{"stopOnQuotaReach": true, "spikeArrestLimit": 0, "spikeArrestUnit": nil},
		},
		"permittedIP":      "",
		"permittedReferer": permittedReferer,
	}
	header := map[string]any{"typ": "JWT", "alg": "RS256", "x5t": i.apiKeys.x5t, "kid": apiKeyKid}
	enc := base64.URLEncoding.EncodeToString
	h, err := jsonSmart(header)
	if err != nil {
		return "", err
	}
	c, err := jsonSmart(claims)
	if err != nil {
		return "", err
	}
	input := enc(h) + "." + enc(c)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, i.apiKeys.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("issuer: signing the API key: %w", err)
	}
	return input + "." + enc(sig), nil
}

// jsonSmart encodes v as json-smart (API Manager's JSON library) does:
// "/" escaped as "\/".
func jsonSmart(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("issuer: encoding the API key: %w", err)
	}
	return bytes.ReplaceAll(b, []byte("/"), []byte(`\/`)), nil
}
