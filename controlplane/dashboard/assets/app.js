// Shoal's dashboard: one server-sent-events stream (fetched with the
// bearer token in a header), applied to local maps and drawn with plain DOM
// and inline SVG. No data is ever put into the page as HTML.
'use strict';
(() => {
  const KEY = 'shoal-token', PAGE = 20, HIST = 180, AUTO_OPEN = 6;
  const COLORS = ['#2b6fd6', '#e4572e', '#23a559', '#e0a100', '#8e5ccf', '#d64f9c', '#3aa6b9', '#7a7a7a'];
  const $ = (id) => document.getElementById(id);

  let token = sessionStorage.getItem(KEY);
  let abort = null, backoff = 1000, now = Date.now(), queued = false, painted = false;
  const st = { nodes: new Map(), services: new Map(), deployments: new Map(), events: [], can: {} };
  const hist = new Map(); // endpoint IP -> [[unix ms, weight, latency s], ...]
  const opened = new Set(), closed = new Set(), fetched = new Set();
  const pages = { nodes: 0, services: 0, deployments: 0 };

  // h builds an element; text is always text, never HTML.
  function h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'style') Object.assign(e.style, v);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const k of kids.flat()) if (k != null) e.append(k instanceof Node ? k : String(k));
    return e;
  }
  function s(tag, attrs, text) {
    const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text != null) e.textContent = text;
    return e;
  }

  const fix = (x, d) => (+x).toFixed(d);
  const bytes = (b) => b >= 1 << 30 ? fix(b / (1 << 30), 1) + ' GiB' : fix(b / (1 << 20), 0) + ' MiB';
  const ms = (sec) => sec > 0 ? (sec < 0.01 ? fix(sec * 1000, 1) : fix(sec * 1000, 0)) + ' ms' : '—';
  const rate = (r) => r >= 100 ? fix(r, 0) : fix(r, 1);
  function ago(t) {
    const d = Math.max(0, (now - Date.parse(t)) / 1000);
    return d < 60 ? fix(d, 0) + 's' : d < 3600 ? fix(d / 60, 0) + 'm' : fix(d / 3600, 1) + 'h';
  }
  function bar(part, whole) {
    const f = whole > 0 ? Math.min(1, part / whole) : 0;
    return h('span', { class: f > 0.85 ? 'bar hi' : 'bar' }, h('i', { style: { width: fix(f * 100, 0) + '%' } }));
  }
  function status(text, cls) { const e = $('status'); e.textContent = text; e.className = 'status ' + (cls || ''); }

  // --- logging in ---------------------------------------------------------
  function showLogin(err) {
    if (abort) abort.abort();
    $('app').hidden = true; $('logout').hidden = true; $('login').hidden = false;
    $('who').textContent = ''; $('login-error').textContent = err || '';
    status('logged out');
  }
  function forget(err) { token = null; sessionStorage.removeItem(KEY); showLogin(err); }
  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    token = $('token').value.trim(); $('token').value = '';
    sessionStorage.setItem(KEY, token);
    connect();
  });
  $('logout').addEventListener('click', async () => {
    const t = token;
    forget('');
    try { await fetch('api/logout', { method: 'POST', headers: { Authorization: 'Bearer ' + t } }); } catch (e) { /* gone anyway */ }
  });
  async function start() {
    const m = location.hash.match(/^#login=([A-Za-z0-9_-]+)$/);
    if (m) {
      history.replaceState(null, '', location.pathname); // the code leaves the address bar
      try {
        const r = await fetch('api/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ code: m[1] }) });
        const j = await r.json();
        if (!r.ok) return forget(j.error || 'the login link was refused');
        token = j.token; sessionStorage.setItem(KEY, token);
      } catch (e) { return forget('logging in failed: ' + e.message); }
    }
    if (token) connect(); else showLogin('');
  }

  // --- the stream -----------------------------------------------------------
  async function connect() {
    if (abort) abort.abort();
    const ctl = abort = new AbortController();
    $('login').hidden = true; $('app').hidden = false; $('logout').hidden = false;
    status('connecting');
    let r;
    try {
      r = await fetch('api/stream', { headers: { Authorization: 'Bearer ' + token }, cache: 'no-store', signal: ctl.signal });
    } catch (e) { return ctl.signal.aborted || retry('cannot reach the API server'); }
    if (r.status === 401) return forget('The token was refused (401 Unauthorized).');
    if (r.status === 403) { const j = await r.json().catch(() => ({})); return forget(j.error || 'This token may list nothing (403 Forbidden).'); }
    if (!r.ok) return retry('the API server answered ' + r.status);
    for (const k of ['nodes', 'services', 'deployments']) st[k].clear();
    status('live', 'ok'); backoff = 1000;
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        for (let i; (i = buf.indexOf('\n\n')) >= 0;) { frame(buf.slice(0, i)); buf = buf.slice(i + 2); }
      }
    } catch (e) { if (ctl.signal.aborted) return; }
    if (!ctl.signal.aborted) retry('the stream ended');
  }
  function retry(why) {
    status('reconnecting: ' + why, 'bad');
    setTimeout(() => { if (token) connect(); }, backoff);
    backoff = Math.min(backoff * 2, 10000);
  }
  function frame(text) {
    let ev = 'message', data = '';
    for (const line of text.split('\n')) {
      if (line.startsWith('event: ')) ev = line.slice(7);
      else if (line.startsWith('data: ')) data += line.slice(6);
    }
    if (ev === 'state') apply(JSON.parse(data));
    else if (ev === 'end') {
      const why = JSON.parse(data).reason;
      forget(why === 'forbidden' ? 'This token may not list anything any more.' : 'The session ended: log in again.');
    }
  }
  const keyOf = (v) => v.ns ? v.ns + '/' + v.name : v.name;
  function apply(m) {
    now = m.t;
    if (m.user) $('who').textContent = m.user;
    if (m.can) st.can = m.can;
    for (const k of ['nodes', 'services', 'deployments']) {
      const sec = m[k];
      if (!sec) continue;
      for (const v of sec.set || []) st[k].set(keyOf(v), v);
      for (const key of sec.del || []) st[k].delete(key);
    }
    if (m.events) st.events = m.events;
    for (const svc of st.services.values()) {
      for (const ep of svc.eps || []) {
        let a = hist.get(ep.ip);
        if (!a) hist.set(ep.ip, a = []);
        if (!a.length || a[a.length - 1][0] < m.t) a.push([m.t, ep.w, ep.lat]);
        if (a.length > HIST) a.splice(0, a.length - HIST);
      }
    }
    if (!queued) { queued = true; requestAnimationFrame(render); }
  }

  // --- drawing --------------------------------------------------------------
  function render() {
    queued = false;
    renderNodes(); renderServices(); renderDeployments(); renderEvents();
    // The first data on screen, for the browser test's time to first data.
    if (!painted) { painted = true; performance.mark('shoal-first-data'); }
  }
  function sectionOf(id, count, rows, denied) {
    const sec = $(id);
    sec.querySelector('.count').textContent = denied ? '' : '(' + count + ')';
    const body = sec.querySelector('.body');
    if (denied) body.replaceChildren(h('p', { class: 'mute' }, 'This token may not list ' + id + '.'));
    else body.replaceChildren(...rows);
  }
  function paged(id, list) {
    const n = list.length, last = Math.max(0, Math.ceil(n / PAGE) - 1);
    const p = pages[id] = Math.min(pages[id], last);
    const pager = $(id).querySelector('.pager');
    if (n <= PAGE) pager.replaceChildren();
    else pager.replaceChildren(
      h('button', { type: 'button', disabled: p === 0, onclick: () => { pages[id]--; render(); } }, '‹'),
      (p * PAGE + 1) + '–' + Math.min(n, (p + 1) * PAGE) + ' of ' + n,
      h('button', { type: 'button', disabled: p === last, onclick: () => { pages[id]++; render(); } }, '›'));
    return list.slice(p * PAGE, (p + 1) * PAGE);
  }
  const sorted = (m) => [...m.keys()].sort().map((k) => m.get(k));

  function renderNodes() {
    const list = sorted(st.nodes);
    const rows = paged('nodes', list).map((n) => {
      const l = n.load;
      const state = [n.ready ? h('span', { class: 'ok' }, 'Ready') : h('span', { class: 'bad' }, 'NotReady'),
        n.unschedulable ? h('span', { class: 'warn' }, ' cordoned') : null];
      if (!l) return h('tr', { 'data-node': n.name }, h('td', null, n.name), h('td', null, state),
        h('td', { colspan: 3, class: 'mute' }, st.can.load ? 'no load report' : 'load not visible to this token'));
      return h('tr', { 'data-node': n.name, class: l.stale ? 'mute' : null },
        h('td', null, n.name), h('td', null, state),
        h('td', { class: 'cpu' }, bar(l.cpu, n.cpuCap), fix(l.cpu, 2) + ' / ' + fix(n.cpuCap, 0) + ' cores'),
        h('td', { class: 'mem' }, bar(l.mem, n.memCap), bytes(l.mem) + ' / ' + bytes(n.memCap)),
        h('td', { class: 'num pods' }, l.pods + (l.stale ? ' (stale)' : '')));
    });
    const head = h('tr', null, ...['node', 'status', 'CPU', 'memory', 'pods'].map((t) => h('th', t === 'pods' ? { class: 'num' } : null, t)));
    sectionOf('nodes', list.length, list.length ? [h('table', null, h('thead', null, head), h('tbody', null, rows))] : [h('p', { class: 'mute' }, 'No nodes.')], !st.can.nodes);
  }

  function renderServices() {
    const q = $('filter').value.trim().toLowerCase();
    const list = sorted(st.services).filter((v) => !q || (v.ns + '/' + v.name).toLowerCase().includes(q));
    const auto = list.length <= AUTO_OPEN;
    const cards = paged('services', list).map((v) => {
      const key = v.ns + '/' + v.name, eps = v.eps || [];
      const open = auto ? !closed.has(key) : opened.has(key);
      const ready = eps.filter((e) => e.ready).length;
      const head = h('div', { class: 'svc-head', onclick: () => toggle(key, open, auto) },
        h('span', { class: 'name' }, v.name), h('span', { class: 'mute' }, v.ns),
        h('span', null, v.type + (v.ip ? ' ' + v.ip : '')), h('span', { class: 'mute' }, (v.ports || []).join(' ')),
        st.can.endpoints ? h('span', { class: ready < eps.length ? 'warn' : 'ok' }, ready + '/' + eps.length + ' ready') : null,
        eps.length ? h('span', { class: 'mute' }, 'weights ' + eps.map((e) => e.w).join(' · ')) : null);
      const card = h('div', { class: open ? 'svc open' : 'svc', 'data-service': key }, head);
      if (open) card.append(serviceBody(key, eps));
      return card;
    });
    sectionOf('services', list.length, cards.length ? cards : [h('p', { class: 'mute' }, q ? 'No service matches.' : 'No services.')], !st.can.services);
  }
  function toggle(key, open, auto) {
    if (auto) { if (open) closed.add(key); else closed.delete(key); } else if (open) opened.delete(key); else opened.add(key);
    render();
  }
  function serviceBody(key, eps) {
    if (!st.can.endpoints) return h('div', { class: 'svc-body mute' }, 'This token may not list endpointslices here.');
    if (!eps.length) return h('div', { class: 'svc-body mute' }, 'No endpoints.');
    if (!fetched.has(key)) { fetched.add(key); backlog(key); }
    const head = h('tr', null, h('th'), ...['endpoint', 'pod', 'node', 'ready'].map((t) => h('th', null, t)),
      ...['weight', 'latency', 'in flight', 'req/s', 'errors'].map((t) => h('th', { class: 'num' }, t)));
    const rows = eps.map((e, i) => h('tr', { 'data-ip': e.ip },
      h('td', null, h('span', { class: 'dot', style: { background: COLORS[i % COLORS.length] } })),
      h('td', null, e.ip), h('td', null, e.pod || '—'), h('td', null, e.node || '—'),
      h('td', { class: e.ready ? 'ok' : 'bad' }, e.term ? 'terminating' : e.ready ? 'yes' : 'no'),
      h('td', { class: 'num w' }, e.w),
      h('td', { class: 'num lat' }, ms(e.lat)),
      h('td', { class: 'num inflight' }, e.rep ? fix(e.inflight, 0) : '—'),
      h('td', { class: 'num rps' }, e.rep ? rate(e.rps) : '—'),
      h('td', { class: 'num err' + (e.err > 0.05 ? ' bad' : '') }, e.rep ? fix(e.err * 100, 1) + '%' : '—')));
    return h('div', { class: 'svc-body' }, h('table', { class: 'eps' }, h('thead', null, head), h('tbody', null, rows)),
      h('div', { class: 'charts' }, chart(eps, 1, 'weight', (x) => fix(x, 0)), chart(eps, 2, 'latency', ms)));
  }
  async function backlog(key) {
    try {
      const r = await fetch('api/history?service=' + encodeURIComponent(key), { headers: { Authorization: 'Bearer ' + token }, cache: 'no-store' });
      if (!r.ok) { fetched.delete(key); return; }
      const j = await r.json();
      for (const [ip, pts] of Object.entries(j.series)) {
        const mine = hist.get(ip) || [], last = pts.length ? pts[pts.length - 1][0] : 0;
        hist.set(ip, pts.concat(mine.filter((p) => p[0] > last)).slice(-HIST));
      }
      render();
    } catch (e) { fetched.delete(key); }
  }
  // chart plots field f of each endpoint's history: the last HIST s, or
  // since the first sample if that is newer (at least MIN_SPAN s).
  function chart(eps, f, title, fmt) {
    const W = 300, H = 74, top = 12, bottom = 4, MIN_SPAN = 10000;
    let max = 0, first = now;
    for (const e of eps) {
      for (const p of hist.get(e.ip) || []) {
        if (p[0] < now - HIST * 1000) continue;
        max = Math.max(max, p[f]); first = Math.min(first, p[0]);
      }
    }
    const span = Math.max(MIN_SPAN, now - first), secs = Math.round(span / 1000);
    const label = max > 0 ? title + '  (max ' + fmt(max) + ', last ' + (secs >= 120 ? Math.round(secs / 60) + ' min' : secs + ' s') + ')' : title + '  (no data yet)';
    max = max > 0 ? max * 1.15 : 1;
    const g = s('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label });
    g.append(s('rect', { x: 0.5, y: 0.5, width: W - 1, height: H - 1, fill: '#fff', stroke: '#e3e6ec' }), s('text', { x: 4, y: 10 }, label));
    eps.forEach((e, i) => {
      const pts = (hist.get(e.ip) || []).filter((p) => p[0] >= now - span)
        .map((p) => fix((p[0] - now + span) / span * (W - 2) + 1, 1) + ',' + fix(H - bottom - p[f] / max * (H - top - bottom), 1));
      if (pts.length) g.append(s('polyline', { points: pts.join(' '), fill: 'none', stroke: COLORS[i % COLORS.length], 'stroke-width': 1.5 }));
    });
    return g;
  }

  function renderDeployments() {
    const list = sorted(st.deployments);
    const rows = paged('deployments', list).map((d) => h('tr', { 'data-deployment': d.ns + '/' + d.name },
      h('td', null, d.name), h('td', { class: 'mute' }, d.ns),
      h('td', null, bar(d.available, d.desired), `updated ${d.updated}/${d.desired} · ready ${d.ready}/${d.desired} · available ${d.available}/${d.desired}`),
      h('td', { class: d.stalled ? 'bad' : d.done ? 'ok' : 'warn' }, d.stalled || (d.done ? 'complete' : 'rolling out'))));
    const head = h('tr', null, ...['deployment', 'namespace', 'progress', 'rollout'].map((t) => h('th', null, t)));
    sectionOf('deployments', list.length, list.length ? [h('table', null, h('thead', null, head), h('tbody', null, rows))] : [h('p', { class: 'mute' }, 'No deployments.')], !st.can.deployments);
  }

  function renderEvents() {
    const rows = st.events.map((e) => h('tr', null,
      h('td', { class: 'num mute' }, ago(e.time)), h('td', { class: e.type === 'Warning' ? 'bad' : null }, e.type),
      h('td', { class: 'mute' }, e.ns), h('td', null, e.object), h('td', null, e.reason),
      h('td', { class: 'msg' }, e.msg + (e.count > 1 ? ' (×' + e.count + ')' : ''))));
    const head = h('tr', null, ...['age', 'type', 'namespace', 'object', 'reason', 'message'].map((t) => h('th', null, t)));
    sectionOf('events', st.events.length, rows.length ? [h('table', null, h('thead', null, head), h('tbody', null, rows))] : [h('p', { class: 'mute' }, 'No events.')], !st.can.events);
  }

  $('filter').addEventListener('input', () => { pages.services = 0; render(); });
  start();
})();
