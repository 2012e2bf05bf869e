package pki

import "errors"

// ErrIncompleteCA means the CA certificate is present without its key. A new CA
// would break every client that trusts the old one, so an operator has to
// restore the key or remove the certificate.
var ErrIncompleteCA = errors.New("CA certificate without its key")
