'use strict';
// README: a grpc-js-xds (proxyless gRPC for Node.js) client that
// test/e2e/xds_grpcjs_test.go (TestXDSGRPCJS) runs against Shoal's xDS
// server. Install with `npm ci --prefix test/xdsjs` (the Go test does it when
// node_modules is missing), then, with GRPC_XDS_BOOTSTRAP_CONFIG set to an
// xDS bootstrap (node.id and node.locality are required; server_features may
// be empty, grpc-js speaks only v3):
//
//   node test/xdsjs/client.js --calls 300 --target xds:///echo.default.svc.cluster.local:50051 [--target ...]
//       prints one JSON line per target after its calls:
//       {"kind":"summary","target":...,"calls":300,"ok":300,"by_backend":{"127.0.0.11:port":100,...},"errors":{}}
//   node test/xdsjs/client.js --follow --interval-ms 100 --target xds:///...
//       calls until stdin closes, printing {"kind":"tick","t_ms":...,"by_backend":{...},"errors":{}}
//       for every interval, then a summary line
//
// and finally, in both modes, what grpc-js's own xDS client holds, read from
// its CSDS (client status discovery) service:
//   {"kind":"xds","resources":[{"name":...,"type":"Cluster","status":"ACKED"|"NACKED"|...,"error":...}]}
// A resource grpc-js rejected (NACKed) shows as NACKED with grpc-js's reason.
//
// Exit status: 0 when the run finished (whatever the RPCs did: the caller
// judges the JSON), 2 on bad usage, 3 when the channel never became ready.

const path = require('path');
const { parseArgs } = require('util');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const xds = require('@grpc/grpc-js-xds');

xds.register(); // the xds: resolver, grpc-js-xds's LB policies and CSDS

const { values: args } = parseArgs({
  options: {
    target: { type: 'string', multiple: true },
    calls: { type: 'string', default: '300' },
    follow: { type: 'boolean', default: false },
    'interval-ms': { type: 'string', default: '100' },
    'pause-ms': { type: 'string', default: '2' }, // between calls in --follow, to spare the CPU
    'deadline-ms': { type: 'string', default: '2000' }, // per call
    'ready-ms': { type: 'string', default: '20000' }, // for the channel's first READY
    'max-ms': { type: 'string', default: '60000' }, // --follow ends by itself after this
  },
});
if (!args.target || args.target.length === 0 || (args.follow && args.target.length !== 1)) {
  process.stderr.write('usage: client.js [--calls N | --follow] --target xds:///host:port [--target ...]\n');
  process.exit(2);
}

const def = protoLoader.loadSync(path.join(__dirname, 'test_service.proto'), { keepCase: true, defaults: true });
const TestService = grpc.loadPackageDefinition(def).grpc.testing.TestService;

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// open holds every channel until the end: grpc-js drops a channel's xDS
// resources (and so their CSDS status) when it closes.
const open = [];

function finish(code) {
  xdsStatus().then((resources) => {
    for (const c of open) c.close();
    process.stdout.write(JSON.stringify({ kind: 'xds', resources }) + '\n', () => process.exit(code));
  });
}

// xdsStatus reads grpc-js-xds's CSDS handler in-process: grpc-js keeps
// admin services in a registry that addAdminServicesToServer hands to any
// object with addService, so no server or port is needed.
function xdsStatus() {
  let csds;
  grpc.addAdminServicesToServer({
    addService(_def, handlers) {
      if (handlers.FetchClientStatus) csds = handlers;
    },
  });
  if (!csds) return Promise.resolve([{ name: '', type: '', status: 'NO_CSDS' }]);
  return new Promise((resolve) => {
    csds.FetchClientStatus({ request: { node_matchers: [] } }, (err, resp) => {
      if (err) {
        resolve([{ name: '', type: '', status: 'CSDS_ERROR', error: err.details || String(err) }]);
        return;
      }
      const out = [];
      for (const cfg of resp.config) {
        for (const r of cfg.generic_xds_configs) {
          out.push({
            node: cfg.node.id,
            name: r.name,
            type: r.type_url.slice(r.type_url.lastIndexOf('.') + 1),
            status: r.client_status,
            version: r.version_info,
            error: r.error_state ? r.error_state.details : undefined,
          });
        }
      }
      resolve(out);
    });
  });
}

function newCounts() {
  return { calls: 0, ok: 0, by_backend: {}, errors: {} };
}

function count(c, err, resp) {
  c.calls++;
  if (err) {
    const key = `${grpc.status[err.code] || err.code}: ${err.details}`;
    c.errors[key] = (c.errors[key] || 0) + 1;
  } else {
    c.ok++;
    c.by_backend[resp.server_id] = (c.by_backend[resp.server_id] || 0) + 1;
  }
}

function call(client) {
  const deadline = Date.now() + Number(args['deadline-ms']);
  return new Promise((resolve) => {
    client.UnaryCall({}, { deadline }, (err, resp) => resolve({ err, resp }));
  });
}

function waitReady(client) {
  return new Promise((resolve) => {
    client.waitForReady(Date.now() + Number(args['ready-ms']), (err) => resolve(err));
  });
}

async function runCalls(target) {
  const client = new TestService(target, grpc.credentials.createInsecure());
  open.push(client);
  const start = Date.now();
  const err = await waitReady(client);
  const readyMs = Date.now() - start;
  const c = newCounts();
  if (err) {
    emit({ kind: 'summary', target, ready_ms: readyMs, ready_error: err.message, ...c });
    return false;
  }
  for (let i = 0; i < Number(args.calls); i++) {
    const { err: e, resp } = await call(client);
    count(c, e, resp);
  }
  emit({ kind: 'summary', target, ready_ms: readyMs, ...c });
  return true;
}

async function follow(target) {
  const client = new TestService(target, grpc.credentials.createInsecure());
  open.push(client);
  const start = Date.now();
  const err = await waitReady(client);
  if (err) {
    emit({ kind: 'summary', target, ready_ms: Date.now() - start, ready_error: err.message, ...newCounts() });
    return false;
  }
  let stop = false;
  process.stdin.on('end', () => { stop = true; });
  process.stdin.on('error', () => { stop = true; });
  process.stdin.resume();
  const total = newCounts();
  let tick = newCounts();
  const t0 = Date.now();
  let next = t0 + Number(args['interval-ms']);
  const pause = Number(args['pause-ms']);
  while (!stop && Date.now() - t0 < Number(args['max-ms'])) {
    const { err: e, resp } = await call(client);
    count(tick, e, resp);
    count(total, e, resp);
    if (Date.now() >= next) {
      emit({ kind: 'tick', t_ms: Date.now() - t0, ...tick });
      tick = newCounts();
      next += Number(args['interval-ms']);
    }
    if (pause > 0) await new Promise((r) => setTimeout(r, pause));
  }
  emit({ kind: 'summary', target, ...total });
  return true;
}

async function main() {
  let ok = true;
  if (args.follow) {
    ok = await follow(args.target[0]);
  } else {
    for (const t of args.target) {
      ok = (await runCalls(t)) && ok;
    }
  }
  finish(ok ? 0 : 3);
}

main().catch((e) => {
  process.stderr.write(`client.js: ${e.stack || e}\n`);
  process.exit(1);
});
