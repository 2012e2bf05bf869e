package table

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	discoveryv1beta1 "k8s.io/api/discovery/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The descriptions come from discovery/v1beta1, as in Kubernetes' printers.
var endpointSliceColumns = []metav1.TableColumnDefinition{
	nameColumn,
	{Name: "AddressType", Type: "string", Description: discoveryv1beta1.EndpointSlice{}.SwaggerDoc()["addressType"]},
	{Name: "Ports", Type: "string", Description: discoveryv1beta1.EndpointSlice{}.SwaggerDoc()["ports"]},
	{Name: "Endpoints", Type: "string", Description: discoveryv1beta1.EndpointSlice{}.SwaggerDoc()["endpoints"]},
	ageColumn,
}

func init() {
	register(schema.GroupKind{Group: discoveryv1.GroupName, Kind: "EndpointSlice"}, "v1", endpointSliceColumns, rowOf(endpointSliceRow))
}

func endpointSliceRow(es *discoveryv1.EndpointSlice, now time.Time) metav1.TableRow {
	ports := make([]string, 0, len(es.Ports))
	for _, p := range es.Ports {
		switch {
		case p.Port != nil:
			ports = append(ports, strconv.Itoa(int(*p.Port)))
		case p.Name != nil:
			ports = append(ports, *p.Name)
		default:
			ports = append(ports, "*")
		}
	}
	var addrs []string
	for _, ep := range es.Endpoints {
		addrs = append(addrs, ep.Addresses...)
	}
	return cells(es.Name, string(es.AddressType), firstThree(ports), firstThree(addrs), age(es.CreationTimestamp, now))
}

// firstThree joins up to three items and counts the rest as " + N more...";
// an empty list is "<unset>".
func firstThree(items []string) string {
	const maxShown = 3
	if len(items) > maxShown {
		return fmt.Sprintf("%s + %d more...", strings.Join(items[:maxShown], ","), len(items)-maxShown)
	}
	if len(items) == 0 {
		return "<unset>"
	}
	return strings.Join(items, ",")
}
