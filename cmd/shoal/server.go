package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/shoalmesh/shoal/controlplane/servers"
)

const serverUsage = `Usage:
  shoal server list [--kubeconfig FILE]          the servers (etcd members) of the cluster
  shoal server remove NAME [--kubeconfig FILE]   remove a server (its etcd member) from the cluster
`

// runServer runs `shoal server list|remove`, through the API with an
// admin's kubeconfig.
func runServer(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, serverUsage)
		os.Exit(2)
	}
	fs := flag.NewFlagSet("shoal server "+args[0], flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "an admin kubeconfig (default: $KUBECONFIG, else ./shoal-data/kubeconfig)")
	// Flags may come after the server's name too.
	var names []string
	for rest := args[1:]; ; {
		fs.Parse(rest)
		if fs.NArg() == 0 {
			break
		}
		names, rest = append(names, fs.Arg(0)), fs.Args()[1:]
	}
	if *kubeconfig == "" {
		*kubeconfig = os.Getenv("KUBECONFIG")
	}
	if *kubeconfig == "" {
		*kubeconfig = "./shoal-data/kubeconfig"
	}
	rc, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch args[0] {
	case "list":
		ms, err := servers.List(ctx, hc, rc.Host)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
		fmt.Fprintln(w, "NAME\tID\tROLE\tPEER URLS\tCLIENT URLS")
		for _, m := range ms {
			role := "voter"
			if m.Learner {
				role = "learner"
			}
			name := m.Name
			if name == "" {
				name = "(unstarted)"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", name, m.IDString(), role, strings.Join(m.PeerURLs, ","), strings.Join(m.ClientURLs, ","))
		}
		return w.Flush()
	case "remove":
		if len(names) != 1 {
			return errors.New("shoal server remove NAME: name one server (or its member ID)")
		}
		m, err := servers.Remove(ctx, hc, rc.Host, names[0])
		if err != nil {
			return err
		}
		fmt.Printf("server %s (etcd member %s) removed\n", m.Name, m.IDString())
		return nil
	default:
		return fmt.Errorf("shoal server %s: unknown; want list or remove\n\n%s", args[0], serverUsage)
	}
}
