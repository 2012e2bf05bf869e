package lrs

import (
	"errors"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	lrsv3 "github.com/envoyproxy/go-control-plane/envoy/service/load_stats/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/shoalmesh/shoal/xds/load"
)

// DefaultInterval is the load reporting interval asked of clients.
const DefaultInterval = time.Second

// Options configure a Server.
type Options struct {
	// Interval is the load_reporting_interval asked of every client;
	// DefaultInterval when zero or negative.
	Interval time.Duration
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
}

// Server is the Load Reporting Service: it records what clients report in
// a load.Table. It is safe for concurrent use by any number of streams.
type Server struct {
	lrsv3.UnimplementedLoadReportingServiceServer

	table    *load.Table
	interval time.Duration
	log      *slog.Logger
	seq      atomic.Uint64 // makes each stream's reporter key unique
}

var _ lrsv3.LoadReportingServiceServer = (*Server)(nil)

// New returns a Server that records reports in table.
func New(table *load.Table, o Options) *Server {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{table: table, interval: o.Interval, log: log.With("component", "lrs")}
}

// Register adds the Load Reporting Service to g (for example the xDS
// server's *grpc.Server, which is where clients' bootstraps send LRS).
func (s *Server) Register(g grpc.ServiceRegistrar) {
	lrsv3.RegisterLoadReportingServiceServer(g, s)
}

// errNoNode is returned to a client whose first request does not say who it
// is: its reports could not be told from another stream's.
var errNoNode = status.Error(codes.InvalidArgument,
	"lrs: node.id is empty: the first LoadStatsRequest of a stream must carry node.id")

// StreamLoadStats serves one client's stream: it reads the node from the
// first request, asks for every cluster's load at the server's interval,
// and records each report until the stream ends, when it forgets the
// stream's samples.
func (s *Server) StreamLoadStats(ss lrsv3.LoadReportingService_StreamLoadStatsServer) error {
	req, err := ss.Recv()
	if err != nil {
		return endOf(err)
	}
	node := req.GetNode().GetId()
	if node == "" {
		return errNoNode
	}
	// Two streams from one node (a restart racing the old stream's end, or
	// two clients sharing a bootstrap) must not overwrite each other.
	reporter := node + "#" + strconv.FormatUint(s.seq.Add(1), 10)
	streamsGauge.Inc()
	defer streamsGauge.Dec()
	defer s.table.Forget(reporter)

	err = ss.Send(&lrsv3.LoadStatsResponse{
		SendAllClusters:       true,
		LoadReportingInterval: durationpb.New(s.interval),
		// Envoy fills upstream_endpoint_stats only when asked; grpc-go
		// ignores the field and reports per locality.
		ReportEndpointGranularity: true,
	})
	if err != nil {
		return err
	}
	s.log.Debug("lrs stream started", "node", node, "reporter", reporter)
	st := newStream(reporter, node, s.table, s.interval, s.log)
	for {
		reportsTotal.Inc()
		st.handle(req, time.Now())
		if req, err = ss.Recv(); err != nil {
			s.log.Debug("lrs stream ended", "node", node, "reporter", reporter, "error", err)
			return endOf(err)
		}
	}
}

// endOf turns the error that ended a stream into the stream's result: a
// client closing its side is a clean end.
func endOf(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}
