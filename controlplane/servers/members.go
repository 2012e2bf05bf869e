package servers

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
)

// JoinRequest is what a joining server sends.
type JoinRequest struct {
	// Name is the server's name, its etcd member name.
	Name string `json:"name"`
	// PeerURL is where its etcd member listens for the others.
	PeerURL string `json:"peerURL"`
}

// Bootstrap is what a joining server receives.
type Bootstrap struct {
	// Files are the data-dir files every server shares, by their path
	// relative to the data dir.
	Files map[string][]byte `json:"files"`
	// MemberID is the joining server's etcd member ID.
	MemberID uint64 `json:"memberID"`
	// Members are the etcd members, the joining one included.
	Members []Member `json:"members"`
}

// Member is an etcd member: a server.
type Member struct {
	ID         uint64   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs,omitempty"`
	// Learner is true until the member has caught up and been promoted.
	Learner bool `json:"learner,omitempty"`
}

// IDString is the member ID as etcdctl prints it.
func (m Member) IDString() string { return strconv.FormatUint(m.ID, 16) }

func members(ms []*etcdserverpb.Member) []Member {
	out := make([]Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, Member{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, Learner: m.IsLearner})
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// InitialCluster is etcd's --initial-cluster for a member joining members:
// name=peerURL pairs. A member that has not started yet has no name; it
// gets a placeholder (etcd matches members by their peer URLs).
func InitialCluster(ms []Member) string {
	var pairs []string
	for _, m := range ms {
		name := m.Name
		if name == "" {
			name = "unstarted-" + m.IDString()
		}
		for _, u := range m.PeerURLs {
			pairs = append(pairs, name+"="+u)
		}
	}
	return strings.Join(pairs, ",")
}

// conflict says why req cannot join ms, or returns the ID of the unstarted
// member it already is (a join that failed after etcd added it), or 0.
func conflict(ms []Member, req JoinRequest) (uint64, error) {
	for _, m := range ms {
		switch {
		case slices.Contains(m.PeerURLs, req.PeerURL) && m.Name == "":
			return m.ID, nil
		case slices.Contains(m.PeerURLs, req.PeerURL):
			return 0, fmt.Errorf("%w: %q (%s) already has peer URL %s; if that is this server, its data dir has lost its etcd data: remove it first (`shoal server remove %s`)",
				ErrMemberExists, m.Name, m.IDString(), req.PeerURL, m.Name)
		case m.Name == req.Name:
			return 0, fmt.Errorf("%w: %q (%s, peer URL %s); remove it first (`shoal server remove %s`) or give this server another --node-name",
				ErrMemberExists, m.Name, m.IDString(), strings.Join(m.PeerURLs, ","), m.Name)
		}
	}
	return 0, nil
}
