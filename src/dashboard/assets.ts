/*
 * The dashboard's two static files, kept as strings so that they ship inside dist/ (tsc compiles
 * them like any module, and the bundled command line carries them): no build step for a user, no
 * CDN, nothing fetched from elsewhere. Each is served from its own path (page-parts.ts), which the
 * Content-Security-Policy allows as 'self'; nothing is inline.
 */

/** The live view's server-sent events (the overview sorts, filters and pages on the service). Plain ES2020, no library. */
export const DASHBOARD_JS = String.raw`'use strict';
(function () {
  var live = document.getElementById('live-fetches');
  var status = document.getElementById('live-status');
  if (live && window.EventSource) {
    var MAX_ROWS = 500;
    var source = new EventSource(live.getAttribute('data-source'));
    var say = function (text) { if (status) status.textContent = text; };
    source.addEventListener('open', function () { say('Connected: new fetches appear at the top.'); });
    source.addEventListener('error', function () { say('Disconnected; reconnecting…'); });
    source.addEventListener('fetch', function (event) {
      var fetch = JSON.parse(event.data);
      var row = document.createElement('tr');
      var provider = fetch.claimed ? fetch.provider + ' (user agent claims another)' : fetch.provider;
      // Every cell is set as text: the user agent and host are whatever a client sent.
      [fetch.at.slice(0, 19).replace('T', ' '), provider, fetch.domain === null ? fetch.host : fetch.domain, fetch.ip,
        fetch.method, String(fetch.status), fetch.policy_id === null ? '–' : fetch.policy_id, fetch.user_agent].forEach(function (text, index) {
        var cell = document.createElement('td');
        cell.textContent = text;
        if (index === 7) cell.className = 'user-agent';
        row.appendChild(cell);
      });
      var body = live.tBodies[0];
      body.insertBefore(row, body.firstChild);
      while (body.rows.length > MAX_ROWS) body.deleteRow(-1);
    });
  }
})();
`;

/**
 * Status colours from Okabe and Ito's palette (bluish green, orange, vermillion), always with a
 * symbol and a word, so a reader who cannot tell the colours apart loses nothing.
 */
export const DASHBOARD_CSS = String.raw`:root { color-scheme: light; --ok: #009E73; --warn: #E69F00; --fail: #D55E00; --none: #767676; --link: #0060a0; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1b1b; background: #fafafa; }
header { background: #1b1b1b; color: #fff; }
nav { display: flex; flex-wrap: wrap; gap: 0.25rem 1.25rem; align-items: center; padding: 0.6rem 1rem; }
nav a { color: #fff; }
nav a[aria-current="page"] { font-weight: 700; text-decoration-thickness: 3px; }
.brand { font-weight: 700; margin-right: 1rem; }
main { padding: 1rem; max-width: 100rem; margin: 0 auto; }
a { color: var(--link); }
a:focus-visible, button:focus-visible, input:focus-visible, [tabindex]:focus-visible { outline: 3px solid #0072B2; outline-offset: 2px; }
h1 { font-size: 1.5rem; margin: 0.5rem 0 1rem; overflow-wrap: anywhere; }
h2 { font-size: 1.2rem; margin: 1.75rem 0 0.5rem; }
pre { background: #fff; border: 1px solid #ddd; padding: 0.75rem; overflow-x: auto; }
code, pre, .policy-id { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.9em; }
.controls { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; margin-bottom: 0.75rem; }
.controls input, .controls button { font: inherit; padding: 0.35rem 0.5rem; max-width: 100%; }
.controls input { min-width: 16rem; }
.table-scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; background: #fff; width: 100%; }
#overview th { white-space: normal; }
caption { text-align: left; padding: 0.25rem 0; color: #444; }
th, td { text-align: left; padding: 0.35rem 0.6rem; border-bottom: 1px solid #e3e3e3; vertical-align: top; }
th { background: #f0f0f0; white-space: nowrap; }
th a { color: inherit; }
th[aria-sort="ascending"] a::after { content: " ▲" / ""; }
th[aria-sort="descending"] a::after { content: " ▼" / ""; }
.pages { display: flex; flex-wrap: wrap; gap: 0.5rem 1rem; margin: 0.75rem 0; }
.pages [aria-disabled="true"] { color: #767676; }
td.user-agent { overflow-wrap: anywhere; max-width: 30rem; }
.status { display: inline-block; padding: 0 0.4rem; border-radius: 3px; border-left: 4px solid var(--none); background: #f1f1f1; white-space: nowrap; }
.status-ok { border-color: var(--ok); background: #e3f4ee; }
.status-warn { border-color: var(--warn); background: #fcf1dc; }
.status-fail { border-color: var(--fail); background: #fbe5da; }
.status-ok::before { content: "✓ " / ""; }
.status-warn::before { content: "! " / ""; }
.status-fail::before { content: "✗ " / ""; }
.status-none::before { content: "– " / ""; }
.problem { padding: 0.5rem; background: #fff; border: 1px solid #ddd; }
.chart { margin: 0.5rem 0 1rem; }
.chart svg[role="img"] { width: 100%; height: auto; max-height: 16rem; background: #fff; border: 1px solid #ddd; font-size: 11px; }
.legend { display: flex; flex-wrap: wrap; gap: 0.25rem 1rem; list-style: none; padding: 0; margin: 0.25rem 0 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; }
dt { font-weight: 700; }
dd { margin: 0; overflow-wrap: anywhere; }
`;
