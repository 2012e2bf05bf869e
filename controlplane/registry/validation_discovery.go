package registry

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Kubernetes' limits on an EndpointSlice. They keep one slice a small
// write, which is the point of slicing a service's endpoints.
const (
	maxSliceEndpoints = 1000
	maxSliceAddresses = 100
	maxSlicePorts     = 20000
)

func validateEndpointSlice(s *discoveryv1.EndpointSlice) field.ErrorList {
	errs := validateMeta(s, true, apivalidation.NameIsDNSSubdomain)
	typePath := field.NewPath("addressType")
	if s.AddressType == "" {
		errs = append(errs, field.Required(typePath, ""))
	} else {
		errs = append(errs, validateEnum(s.AddressType, typePath, discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN)...)
	}

	path := field.NewPath("endpoints")
	if len(s.Endpoints) > maxSliceEndpoints {
		errs = append(errs, field.TooMany(path, len(s.Endpoints), maxSliceEndpoints))
	}
	for i := range s.Endpoints {
		errs = append(errs, validateSliceEndpoint(&s.Endpoints[i], s.AddressType, path.Index(i))...)
	}

	path = field.NewPath("ports")
	if len(s.Ports) > maxSlicePorts {
		errs = append(errs, field.TooMany(path, len(s.Ports), maxSlicePorts))
	}
	// A slice port is matched to its service port by name, so two with the
	// same name, even the empty one, would be ambiguous.
	names := map[string]bool{}
	for i, port := range s.Ports {
		p := path.Index(i)
		var name string
		if port.Name != nil {
			name = *port.Name
		}
		if name != "" {
			errs = append(errs, validateDNS1123Label(name, p.Child("name"))...)
		}
		if names[name] {
			errs = append(errs, field.Duplicate(p.Child("name"), name))
		}
		names[name] = true
		if port.Port != nil {
			errs = append(errs, validatePortNum(*port.Port, p.Child("port"))...)
		}
		if port.Protocol != nil {
			errs = append(errs, validateProtocol(*port.Protocol, p.Child("protocol"))...)
		}
	}
	return errs
}

func validateSliceEndpoint(ep *discoveryv1.Endpoint, addressType discoveryv1.AddressType, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	addrPath := path.Child("addresses")
	switch n := len(ep.Addresses); {
	case n == 0:
		errs = append(errs, field.Required(addrPath, "must contain at least 1 address"))
	case n > maxSliceAddresses:
		errs = append(errs, field.TooMany(addrPath, n, maxSliceAddresses))
	}
	for i, a := range ep.Addresses {
		p := addrPath.Index(i)
		switch addressType {
		case discoveryv1.AddressTypeIPv4:
			errs = append(errs, validateIPFamily(a, corev1.IPv4Protocol, p)...)
		case discoveryv1.AddressTypeIPv6:
			errs = append(errs, validateIPFamily(a, corev1.IPv6Protocol, p)...)
		case discoveryv1.AddressTypeFQDN:
			errs = append(errs, validation.IsFullyQualifiedDomainName(p, a)...)
		}
	}
	if ep.Hostname != nil {
		errs = append(errs, validateDNS1123Label(*ep.Hostname, path.Child("hostname"))...)
	}
	if ep.NodeName != nil {
		errs = append(errs, validateDNS1123Subdomain(*ep.NodeName, path.Child("nodeName"))...)
	}
	return errs
}
