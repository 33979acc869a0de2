package agent

import (
	"net/http"
)

func (a *Agent) introspectionHandler() http.Handler { return http.NotFoundHandler() }
func (a *Agent) metadataHandler() http.Handler      { return http.NotFoundHandler() }
