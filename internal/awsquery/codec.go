package awsquery

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// tagInfo is a parsed query struct tag (see internal/apigen): the member's
// serialization name and, for lists and maps, how their elements are named.
type tagInfo struct {
	name               string
	flat               bool
	member, key, value string
}

type fieldInfo struct {
	index int
	tagInfo
}

var fieldCache sync.Map // reflect.Type -> []fieldInfo

// fields returns the query-tagged fields of struct type t.
func fields(t reflect.Type) []fieldInfo {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]fieldInfo)
	}
	var out []fieldInfo
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("query")
		if !ok || !sf.IsExported() {
			continue
		}
		out = append(out, fieldInfo{index: i, tagInfo: parseTag(tag)})
	}
	fieldCache.Store(t, out)
	return out
}

func parseTag(tag string) tagInfo {
	parts := strings.Split(tag, ",")
	ti := tagInfo{name: parts[0], member: "member", key: "key", value: "value"}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(p, "=")
		switch k {
		case "flat":
			ti.flat = true
		case "member":
			ti.member = v
		case "key":
			ti.key = v
		case "value":
			ti.value = v
		}
	}
	return ti
}

var timeType = reflect.TypeFor[time.Time]()

// TimeFormat is how timestamps are written in XML responses and accepted in
// forms (ISO 8601 with milliseconds, UTC).
const TimeFormat = "2006-01-02T15:04:05.000Z"

// maxElements caps the elements of one list or map in a request; the body
// cap bounds it anyway, this keeps a hostile form from allocating much.
const maxElements = 10000

// decoder fills a request struct from form values.
type decoder struct {
	form url.Values
	keys []string // sorted form keys, for prefix lookups
}

// Decode fills the struct v points to from form, following the query tags
// of its fields: a scalar member is Name=value, a structure member's fields
// are Name.Field, a list's elements Name.member.N (Name.N when flattened,
// 1-based, stopping at the first missing index; "Name=" alone is an empty
// list), a map's entries Name.entry.N.key and Name.entry.N.value. Keys the
// struct does not name are ignored, as AWS does. A value that does not
// parse as the member's type is a ValidationError.
func Decode(form url.Values, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("awsquery.Decode: want a pointer to a struct, got %T", v)
	}
	d := &decoder{form: form, keys: make([]string, 0, len(form))}
	for k := range form {
		d.keys = append(d.keys, k)
	}
	sort.Strings(d.keys)
	_, err := d.structure("", rv.Elem())
	return err
}

// hasPrefix reports whether some form key starts with p.
func (d *decoder) hasPrefix(p string) bool {
	i := sort.SearchStrings(d.keys, p)
	return i < len(d.keys) && strings.HasPrefix(d.keys[i], p)
}

// structure decodes the fields of struct value rv under prefix (ending in
// "." unless empty) and reports whether any was set.
func (d *decoder) structure(prefix string, rv reflect.Value) (bool, error) {
	setAny := false
	for _, f := range fields(rv.Type()) {
		set, err := d.value(prefix+f.name, f.tagInfo, rv.Field(f.index))
		if err != nil {
			return false, err
		}
		setAny = setAny || set
	}
	return setAny, nil
}

// value decodes the member at key into rv.
func (d *decoder) value(key string, ti tagInfo, rv reflect.Value) (bool, error) {
	t := rv.Type()
	switch {
	case t == timeType || t.Kind() == reflect.String || t.Kind() == reflect.Bool || isNumber(t.Kind()):
		vals, ok := d.form[key]
		if !ok {
			return false, nil
		}
		return true, setScalar(key, vals[0], rv)
	case t.Kind() == reflect.Pointer:
		if !d.present(key, t.Elem()) {
			return false, nil
		}
		p := reflect.New(t.Elem())
		if _, err := d.value(key, ti, p.Elem()); err != nil {
			return false, err
		}
		rv.Set(p)
		return true, nil
	case t.Kind() == reflect.Struct:
		if !d.hasPrefix(key + ".") {
			return false, nil
		}
		return d.structure(key+".", rv)
	case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
		return d.list(key, ti, rv)
	case t.Kind() == reflect.Slice:
		vals, ok := d.form[key]
		if !ok {
			return false, nil
		}
		raw, err := base64.StdEncoding.DecodeString(vals[0])
		if err != nil {
			return false, validationf("Value at '%s' is not valid base64.", key)
		}
		rv.SetBytes(raw)
		return true, nil
	case t.Kind() == reflect.Map:
		return d.mapValue(key, ti, rv)
	}
	return false, fmt.Errorf("awsquery: cannot decode into %s", t)
}

// present reports whether the form holds a value of type t at key.
func (d *decoder) present(key string, t reflect.Type) bool {
	if _, ok := d.form[key]; ok {
		return true
	}
	return (t.Kind() == reflect.Struct && t != timeType || t.Kind() == reflect.Slice || t.Kind() == reflect.Map) && d.hasPrefix(key+".")
}

func (d *decoder) elemPrefix(key string, ti tagInfo, flatName bool) string {
	if ti.flat {
		return key + "."
	}
	if flatName {
		return key + ".entry."
	}
	return key + "." + ti.member + "."
}

func (d *decoder) list(key string, ti tagInfo, rv reflect.Value) (bool, error) {
	prefix := d.elemPrefix(key, ti, false)
	et := rv.Type().Elem()
	out := reflect.MakeSlice(rv.Type(), 0, 0)
	for i := 1; i <= maxElements; i++ {
		ek := prefix + strconv.Itoa(i)
		if !d.present(ek, et) {
			break
		}
		ev := reflect.New(et).Elem()
		if _, err := d.value(ek, tagInfo{name: ti.member, member: "member", key: "key", value: "value"}, ev); err != nil {
			return false, err
		}
		out = reflect.Append(out, ev)
	}
	if out.Len() == 0 {
		// "Name=" is how AWS clients send an empty list.
		if _, ok := d.form[key]; !ok {
			return false, nil
		}
	}
	rv.Set(out)
	return true, nil
}

func (d *decoder) mapValue(key string, ti tagInfo, rv reflect.Value) (bool, error) {
	prefix := d.elemPrefix(key, ti, true)
	t := rv.Type()
	out := reflect.MakeMap(t)
	for i := 1; i <= maxElements; i++ {
		ep := prefix + strconv.Itoa(i) + "."
		if !d.hasPrefix(ep) {
			break
		}
		kv, ok := d.form[ep+ti.key]
		if !ok {
			return false, validationf("The map entry %s has no %s.", strings.TrimSuffix(ep, "."), ti.key)
		}
		k := reflect.New(t.Key()).Elem()
		if err := setScalar(ep+ti.key, kv[0], k); err != nil {
			return false, err
		}
		v := reflect.New(t.Elem()).Elem()
		if _, err := d.value(ep+ti.value, tagInfo{name: ti.value, member: "member", key: "key", value: "value"}, v); err != nil {
			return false, err
		}
		out.SetMapIndex(k, v)
	}
	if out.Len() == 0 {
		if _, ok := d.form[key]; !ok {
			return false, nil
		}
	}
	rv.Set(out)
	return true, nil
}

func isNumber(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

func setScalar(key, s string, rv reflect.Value) error {
	t := rv.Type()
	if t == timeType {
		tm, err := parseTime(s)
		if err != nil {
			return validationf("Value '%s' at '%s' is not a valid timestamp.", s, key)
		}
		rv.Set(reflect.ValueOf(tm))
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		rv.SetString(s)
	case reflect.Bool:
		switch strings.ToLower(s) {
		case "true":
			rv.SetBool(true)
		case "false":
			rv.SetBool(false)
		default:
			return validationf("Value '%s' at '%s' is not a valid boolean.", s, key)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, t.Bits())
		if err != nil {
			return validationf("Value '%s' at '%s' is not a valid integer.", s, key)
		}
		rv.SetInt(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), t.Bits())
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return validationf("Value '%s' at '%s' is not a valid number.", s, key)
		}
		rv.SetFloat(f)
	default:
		return fmt.Errorf("awsquery: cannot decode a scalar into %s", t)
	}
	return nil
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e12 {
		return time.Time{}, fmt.Errorf("bad timestamp %q", s)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

// encodeXML writes the fields of the struct v (a pointer or value) as XML
// elements named by their query tags. Nil pointers, slices and maps are
// left out; an empty non-nil list or map is an empty element.
func encodeXML(b *bytes.Buffer, v any) error {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return fmt.Errorf("awsquery: cannot encode %s as a result", rv.Type())
	}
	return encodeFields(b, rv)
}

func encodeFields(b *bytes.Buffer, rv reflect.Value) error {
	for _, f := range fields(rv.Type()) {
		if err := encodeMember(b, f.tagInfo, rv.Field(f.index)); err != nil {
			return err
		}
	}
	return nil
}

func encodeMember(b *bytes.Buffer, ti tagInfo, rv reflect.Value) error {
	t := rv.Type()
	switch {
	case t.Kind() == reflect.Pointer:
		if rv.IsNil() {
			return nil
		}
		return encodeMember(b, ti, rv.Elem())
	case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
		if rv.IsNil() {
			return nil
		}
		elem := tagInfo{name: ti.member, member: "member", key: "key", value: "value"}
		if ti.flat {
			for i := range rv.Len() {
				if err := encodeMember(b, elem, rv.Index(i)); err != nil {
					return err
				}
			}
			return nil
		}
		open(b, ti.name)
		for i := range rv.Len() {
			if err := encodeMember(b, elem, rv.Index(i)); err != nil {
				return err
			}
		}
		closeTag(b, ti.name)
		return nil
	case t.Kind() == reflect.Map:
		if rv.IsNil() {
			return nil
		}
		keys := rv.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		if !ti.flat {
			open(b, ti.name)
		}
		for _, k := range keys {
			entry := "entry"
			if ti.flat {
				entry = ti.name
			}
			open(b, entry)
			if err := encodeMember(b, tagInfo{name: ti.key}, k); err != nil {
				return err
			}
			if err := encodeMember(b, tagInfo{name: ti.value, member: "member", key: "key", value: "value"}, rv.MapIndex(k)); err != nil {
				return err
			}
			closeTag(b, entry)
		}
		if !ti.flat {
			closeTag(b, ti.name)
		}
		return nil
	case t.Kind() == reflect.Struct && t != timeType:
		open(b, ti.name)
		if err := encodeFields(b, rv); err != nil {
			return err
		}
		closeTag(b, ti.name)
		return nil
	}
	s, err := scalarText(rv)
	if err != nil {
		return err
	}
	open(b, ti.name)
	_ = xml.EscapeText(b, []byte(s))
	closeTag(b, ti.name)
	return nil
}

func scalarText(rv reflect.Value) (string, error) {
	t := rv.Type()
	if t == timeType {
		return rv.Interface().(time.Time).UTC().Format(TimeFormat), nil
	}
	switch t.Kind() {
	case reflect.String:
		return rv.String(), nil
	case reflect.Bool:
		return strconv.FormatBool(rv.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), nil
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(rv.Float(), 'f', -1, t.Bits()), nil
	case reflect.Slice:
		return base64.StdEncoding.EncodeToString(rv.Bytes()), nil
	}
	return "", fmt.Errorf("awsquery: cannot encode %s", t)
}

func open(b *bytes.Buffer, name string) {
	b.WriteByte('<')
	b.WriteString(name)
	b.WriteByte('>')
}

func closeTag(b *bytes.Buffer, name string) {
	b.WriteString("</")
	b.WriteString(name)
	b.WriteByte('>')
}
