package rawecs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Client sends ECS calls as signed HTTP and decodes the answers into
// whatever small struct the caller gives: a fraction of the SDK client's
// CPU, which on a small machine competes with what is measured.
type Client struct {
	pool   *pool
	url    string
	region string
	creds  aws.Credentials
	signer *v4.Signer
}

// New returns a client of the ECS endpoint (http://host:port).
func New(endpoint, region, key, secret string) (*Client, error) {
	pool, err := newPool(endpoint)
	if err != nil {
		return nil, err
	}
	return &Client{pool: pool, url: endpoint + "/", region: region, creds: aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}, signer: v4.NewSigner()}, nil
}

// Call is one prepared call: the body and its hash are computed once.
type Call struct {
	target string
	body   []byte
	hash   string
}

// Prepare encodes the input of ECS operation op.
func Prepare(op string, in any) Call {
	b, err := json.Marshal(in)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(b)
	return Call{target: "AmazonEC2ContainerServiceV20141113." + op, body: b, hash: hex.EncodeToString(sum[:])}
}

// Do sends call and decodes a 200 response into out; any other status is
// an error carrying the AWS error type.
func (c *Client) Do(ctx context.Context, call Call, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(call.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", call.target)
	if err := c.signer.SignHTTP(ctx, c.creds, req, call.hash, "ecs", c.region, time.Now()); err != nil {
		return err
	}
	status, raw, err := c.pool.roundTrip(ctx, req)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(raw, &e)
		return fmt.Errorf("HTTP %d %s: %s", status, e.Type, e.Message)
	}
	return json.Unmarshal(raw, out)
}
