package api

import "encoding/json"

// jsonStatus returns the top-level "status" member of a stored record
// without decoding the rest of it.
func jsonStatus(b []byte) string {
	var s struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(b, &s)
	return s.Status
}
