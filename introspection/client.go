package introspection

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/loopback"
)

// maxDrain is how much of a refused answer is read so that its connection
// can be reused.
const maxDrain = 4 << 10

// checkURL checks an endpoint URL: http or https with a host, https unless
// the host is a loopback one, no credentials, no fragment.
func checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the URL, which may hold credentials.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, err
	}
	switch {
	case u.User != nil:
		return nil, errors.New("must not hold credentials: use client_id and client_secret")
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("%q: want an https URL", raw)
	case u.Host == "":
		return nil, fmt.Errorf("%q: no host", raw)
	case u.Fragment != "":
		return nil, fmt.Errorf("%q: no fragment allowed", raw)
	case u.Scheme == "http" && !loopback.IsHost(u.Hostname()):
		return nil, fmt.Errorf("%q: want https (http only for a loopback host): "+
			"tokens and client credentials would travel in clear text", raw)
	}
	return u, nil
}

// call waits for a slot, then POSTs token to the endpoint and returns the
// body of a 200 JSON answer of at most MaxAnswerSize bytes. Its errors wrap
// ErrUnavailable and hold neither the token nor the client secret.
func (in *Introspector[T]) call(ctx context.Context, token string) ([]byte, error) {
	select {
	case in.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waiting for one of %d call slots (timeout %s): %w",
			ErrUnavailable, cap(in.slots), in.cfg.Timeout, context.Cause(ctx))
	}
	defer func() { <-in.slots }()
	if ctx.Err() != nil { // the slot came as the time ran out
		return nil, fmt.Errorf("%w: waiting for one of %d call slots (timeout %s): %w",
			ErrUnavailable, cap(in.slots), in.cfg.Timeout, context.Cause(ctx))
	}

	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.cfg.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("%w: POST %s: %w", ErrUnavailable, in.endpoint, unwrapURLError(err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if in.cfg.ClientID != "" {
		req.SetBasicAuth(url.QueryEscape(in.cfg.ClientID), url.QueryEscape(in.cfg.ClientSecret))
	}
	resp, err := in.client.Do(req)
	if err != nil {
		err = unwrapURLError(err)
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (timeout %s)", err, in.cfg.Timeout)
		}
		return nil, fmt.Errorf("%w: POST %s: %w", ErrUnavailable, in.endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		return nil, fmt.Errorf("%w: POST %s: status %d", ErrUnavailable, in.endpoint, resp.StatusCode)
	}
	ct := resp.Header.Get("Content-Type")
	if !isJSON(ct) {
		return nil, fmt.Errorf("%w: POST %s: answer of type %.64q is not JSON", ErrUnavailable, in.endpoint, ct)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: POST %s: reading the answer: %w", ErrUnavailable, in.endpoint, err)
	}
	if len(body) > MaxAnswerSize {
		return nil, fmt.Errorf("%w: POST %s: answer larger than %d bytes", ErrUnavailable, in.endpoint, MaxAnswerSize)
	}
	return body, nil
}

// isJSON tells whether a Content-Type is JSON's (application/json or a
// +json type), parsing it only when it is not the usual one.
func isJSON(contentType string) bool {
	if contentType == "application/json" || strings.HasPrefix(contentType, "application/json;") {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// unwrapURLError drops the url.Error around err: it repeats the URL, which
// is said once already.
func unwrapURLError(err error) error {
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
