package imagetest

import (
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

func TestRegistryWithAuthServesPushedImage(t *testing.T) {
	reg := StartRegistry(t, RegistryOptions{Auth: true})
	ref := reg.Push(t, Busybox(t), "busybox:test")
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, remote.WithAuth(&authn.Basic{Username: reg.User, Password: reg.Password}))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(cf.Config.Cmd) != 1 || cf.Config.Cmd[0] != "sh" {
		t.Errorf("pulled config Cmd = %v, want [sh]", cf.Config.Cmd)
	}
	_, err = remote.Image(r)
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous pull: %v, want 401 Unauthorized", err)
	}
}

func TestGoProgramImage(t *testing.T) {
	img := EchoServer(t)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/echoserver" {
		t.Errorf("Entrypoint = %v, want [/echoserver]", cf.Config.Entrypoint)
	}
	if again := EchoServer(t); again != img {
		t.Error("second EchoServer call built again; want the cached image")
	}
}
