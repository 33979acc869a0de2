package awsquery

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

type color string

type inner struct {
	Key   string  `json:"Key" query:"Key"`
	Value *string `json:"Value,omitzero" query:"Value"`
}

type request struct {
	Name    string            `query:"Name"`
	Count   *int32            `query:"Count"`
	Big     *int64            `query:"Big"`
	Ratio   *float64          `query:"Ratio"`
	On      *bool             `query:"On"`
	Color   *color            `query:"Color"`
	When    *time.Time        `query:"When"`
	Blob    []byte            `query:"Blob"`
	Names   []string          `query:"Names,member=member"`
	Flat    []string          `query:"Flat,flat,member=Flat"`
	Tags    []inner           `query:"Tags,member=member"`
	Nested  *inner            `query:"Nested"`
	Attrs   map[string]string `query:"Attrs,key=key,value=value"`
	Objs    map[string]inner  `query:"Objs,key=Name,value=Obj"`
	Grid    [][]string        `query:"Grid,member=member"`
	Ignored string
}

func TestDecode(t *testing.T) {
	when := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, tc := range []struct {
		name string
		form string
		want request
		err  string
	}{
		{name: "empty", form: "", want: request{}},
		{name: "scalars", form: "Name=web&Count=3&Big=-9000000000&Ratio=0.5&On=true&Color=red&When=2024-05-06T07:08:09Z&Blob=aGk%3D&Ignored=x&Unknown=1",
			want: request{Name: "web", Count: ptr(int32(3)), Big: ptr(int64(-9000000000)), Ratio: ptr(0.5), On: ptr(true), Color: ptr(color("red")), When: &when, Blob: []byte("hi")}},
		{name: "epoch time", form: "When=1714979289", want: request{When: &when}},
		{name: "list", form: "Names.member.1=a&Names.member.2=b&Names.member.4=gap", want: request{Names: []string{"a", "b"}}},
		{name: "empty list", form: "Names=", want: request{Names: []string{}}},
		{name: "flat list", form: "Flat.1=x&Flat.2=y", want: request{Flat: []string{"x", "y"}}},
		{name: "list of structs", form: "Tags.member.1.Key=env&Tags.member.1.Value=dev&Tags.member.2.Key=solo",
			want: request{Tags: []inner{{Key: "env", Value: ptr("dev")}, {Key: "solo"}}}},
		{name: "nested", form: "Nested.Key=k", want: request{Nested: &inner{Key: "k"}}},
		{name: "map", form: "Attrs.entry.1.key=a&Attrs.entry.1.value=1&Attrs.entry.2.key=b&Attrs.entry.2.value=2",
			want: request{Attrs: map[string]string{"a": "1", "b": "2"}}},
		{name: "map of structs with names", form: "Objs.entry.1.Name=x&Objs.entry.1.Obj.Key=kx",
			want: request{Objs: map[string]inner{"x": {Key: "kx"}}}},
		{name: "list of lists", form: "Grid.member.1.member.1=a&Grid.member.1.member.2=b&Grid.member.2.member.1=c",
			want: request{Grid: [][]string{{"a", "b"}, {"c"}}}},
		{name: "bad int", form: "Count=three", err: "ValidationError: Value 'three' at 'Count' is not a valid integer."},
		{name: "int overflow", form: "Count=3000000000", err: "not a valid integer"},
		{name: "bad bool", form: "On=yes", err: "not a valid boolean"},
		{name: "bad time", form: "When=yesterday", err: "not a valid timestamp"},
		{name: "bad base64", form: "Blob=%%%", err: "base64"},
		{name: "map without key", form: "Attrs.entry.1.value=1", err: "has no key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form, err := url.ParseQuery(tc.form)
			if err != nil && tc.err == "" {
				t.Fatal(err)
			}
			if tc.name == "bad base64" {
				form = url.Values{"Blob": {"%%%"}}
			}
			var got request
			err = Decode(form, &got)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				var e *Error
				if !errors.As(err, &e) || e.HTTPStatus() != 400 {
					t.Errorf("err %v is not a client *Error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	if err := Decode(url.Values{}, request{}); err == nil {
		t.Error("Decode into a non-pointer succeeded")
	}
}

func ptr[T any](v T) *T { return &v }

type result struct {
	Arn     *string           `query:"Arn"`
	Port    *int32            `query:"Port"`
	On      *bool             `query:"On"`
	At      *time.Time        `query:"At"`
	Items   []inner           `query:"Items,member=member"`
	Empty   []string          `query:"Empty,member=member"`
	Absent  []string          `query:"Absent,member=member"`
	Flat    []string          `query:"Flat,flat,member=Flat"`
	Named   []string          `query:"Named,member=item"`
	Attrs   map[string]string `query:"Attrs,key=key,value=value"`
	Nested  *inner            `query:"Nested"`
	Escaped *string           `query:"Escaped"`
}

func TestEncodeXML(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 123e6, time.UTC)
	for _, tc := range []struct {
		name string
		in   any
		want string
	}{
		{"nil", (*result)(nil), ""},
		{"zero", &result{}, ""},
		{"scalars", &result{Arn: ptr("arn:x"), Port: ptr(int32(80)), On: ptr(false), At: &at},
			"<Arn>arn:x</Arn><Port>80</Port><On>false</On><At>2024-05-06T07:08:09.123Z</At>"},
		{"lists", &result{Items: []inner{{Key: "a", Value: ptr("1")}, {Key: "b"}}, Empty: []string{}, Flat: []string{"x", "y"}, Named: []string{"n"}},
			"<Items><member><Key>a</Key><Value>1</Value></member><member><Key>b</Key></member></Items><Empty></Empty><Flat>x</Flat><Flat>y</Flat><Named><item>n</item></Named>"},
		{"map and nested", result{Attrs: map[string]string{"b": "2", "a": "1"}, Nested: &inner{Key: "k"}},
			"<Attrs><entry><key>a</key><value>1</value></entry><entry><key>b</key><value>2</value></entry></Attrs><Nested><Key>k</Key></Nested>"},
		{"escaping", &result{Escaped: ptr(`<a & "b">`)}, "<Escaped>&lt;a &amp; &#34;b&#34;&gt;</Escaped>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := encodeXML(&b, tc.in); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("got  %s\nwant %s", b.String(), tc.want)
			}
		})
	}
}

func TestErrorBody(t *testing.T) {
	got := string(ErrorBody("http://ns/", &Error{Code: "LoadBalancerNotFound", Message: "Load balancer 'a<b' not found"}, "rid"))
	want := `<?xml version="1.0" encoding="UTF-8"?><ErrorResponse xmlns="http://ns/"><Error><Type>Sender</Type><Code>LoadBalancerNotFound</Code><Message>Load balancer &#39;a&lt;b&#39; not found</Message></Error><RequestId>rid</RequestId></ErrorResponse>`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	got = string(ErrorBody("", &Error{Code: "InternalFailure", Message: "m", Fault: true}, "r"))
	if !strings.Contains(got, "<ErrorResponse><Error><Type>Receiver</Type>") {
		t.Errorf("fault body = %s", got)
	}
}

type echoIn struct {
	Name  string   `query:"Name"`
	Items []string `query:"Items,member=member"`
}

type echoOut struct {
	Name  *string  `query:"Name"`
	Items []string `query:"Items,member=member"`
}

func testServer() *Server {
	return &Server{MaxBody: 256, Services: []Service{{
		Version:   "2015-12-01",
		Namespace: "http://ns/",
		HasAction: func(a string) bool { return a == "Echo" || a == "Fail" || a == "Panic" || a == "Void" },
		Dispatch: func(ctx context.Context, action string, form url.Values) (string, any, error) {
			if RequestIDFrom(ctx) == "" {
				return "", nil, errors.New("no request id")
			}
			switch action {
			case "Fail":
				return "", nil, &Error{Code: "TargetGroupNotFound", Message: "nope"}
			case "Panic":
				panic("boom")
			case "Void":
				return "", nil, nil
			}
			var in echoIn
			if err := Decode(form, &in); err != nil {
				return "", nil, err
			}
			return "EchoResult", &echoOut{Name: &in.Name, Items: in.Items}, nil
		},
	}}}
}

func TestServer(t *testing.T) {
	s := testServer()
	s.Log = nil
	do := func(method, target, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		if method == http.MethodPost {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w
	}
	w := do("POST", "/", "Action=Echo&Version=2015-12-01&Name=a%26b&Items.member.1=x")
	id := w.Header().Get("X-Amzn-Requestid")
	want := `<?xml version="1.0" encoding="UTF-8"?><EchoResponse xmlns="http://ns/"><EchoResult><Name>a&amp;b</Name><Items><member>x</member></Items></EchoResult><ResponseMetadata><RequestId>` + id + `</RequestId></ResponseMetadata></EchoResponse>`
	if w.Code != 200 || w.Body.String() != want || w.Header().Get("Content-Type") != "text/xml" {
		t.Errorf("echo = %d %s\nwant %s", w.Code, w.Body, want)
	}
	if w := do("GET", "/?Action=Echo&Name=q", ""); w.Code != 200 || !strings.Contains(w.Body.String(), "<Name>q</Name>") {
		t.Errorf("GET echo = %d %s", w.Code, w.Body)
	}
	if w := do("POST", "/", "Action=Void&Version=2015-12-01"); w.Code != 200 || !strings.Contains(w.Body.String(), `<VoidResponse xmlns="http://ns/"><ResponseMetadata>`) {
		t.Errorf("void = %d %s", w.Code, w.Body)
	}
	for _, tc := range []struct {
		method, body string
		status       int
		code         string
	}{
		{"POST", "Action=Fail&Version=2015-12-01", 400, "TargetGroupNotFound"},
		{"POST", "Version=2015-12-01", 400, "MissingAction"},
		{"POST", "Action=Nope&Version=2015-12-01", 400, "InvalidAction"},
		{"POST", "Action=Echo&Version=1999-01-01", 400, "InvalidAction"},
		{"POST", "Action=Panic", 500, "InternalFailure"},
		{"POST", "Action=Echo&" + strings.Repeat("x", 300), 413, "RequestEntityTooLarge"},
		{"POST", "Action=Echo&%zz", 400, "MalformedQueryString"},
		{"PUT", "", 405, "MethodNotAllowed"},
	} {
		w := do(tc.method, "/", tc.body)
		if w.Code != tc.status || !strings.Contains(w.Body.String(), "<Code>"+tc.code+"</Code>") || !strings.Contains(w.Body.String(), "<RequestId>") {
			t.Errorf("%s %q = %d %s, want %d %s", tc.method, tc.body, w.Code, w.Body, tc.status, tc.code)
		}
	}
}

func TestRoute(t *testing.T) {
	hit := ""
	h := Route(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit = "query" }), http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit = "other" }))
	for _, tc := range []struct {
		method, target, ctype, amzTarget, want string
	}{
		{"POST", "/", "application/x-www-form-urlencoded; charset=utf-8", "", "query"},
		{"POST", "/", "application/x-amz-json-1.1", "AmazonEC2ContainerServiceV20141113.ListClusters", "other"},
		{"POST", "/", "application/x-www-form-urlencoded", "X.Y", "other"},
		{"GET", "/?Action=DescribeLoadBalancers", "", "", "query"},
		{"GET", "/", "", "", "other"},
	} {
		r := httptest.NewRequest(tc.method, tc.target, nil)
		if tc.ctype != "" {
			r.Header.Set("Content-Type", tc.ctype)
		}
		if tc.amzTarget != "" {
			r.Header.Set("X-Amz-Target", tc.amzTarget)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if hit != tc.want {
			t.Errorf("%s %s %s -> %s, want %s", tc.method, tc.target, tc.ctype, hit, tc.want)
		}
	}
}

// FuzzDecode feeds arbitrary forms to the decoder: it may refuse them, but
// it must never panic.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		"Name=a&Tags.member.1.Key=k&Tags.member.1.Value=v",
		"Attrs.entry.1.key=a&Attrs.entry.1.value=b&Objs.entry.1.Name=x&Objs.entry.1.Obj.Key=y",
		"Grid.member.1.member.1=a&Flat.1=x&Names=&Count=1&When=1e3&Blob=aGk=",
		"Nested.Key=&Nested=&Tags.member.1=x&Attrs=",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		form, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		var r request
		_ = Decode(form, &r)
	})
}
